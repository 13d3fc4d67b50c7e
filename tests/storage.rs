//! Consumers and storage against the emulator: order independence, exactly-once statistics,
//! conditional-write conflicts, claim-checked payloads, partial batch failures and redrive, and the
//! transaction isolation of the emulator itself (infra/local/aws_emulator.py).

use std::collections::{BTreeMap, HashMap};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono_tz::Tz;
use integration_tests::{call_id, clients, stack};
use local_pump::{Invoker, Pump};
use proptest::prelude::*;
use serde_json::{json, Value};
use shared::calls::archive::transfer_key;
use shared::calls::consumer::Consumer;
use shared::calls::event::CallEvent;
use shared::calls::queue::{AcceptedEvent, EventQueue, SqsEventQueue};
use shared::calls::record::{Applied, CallRecord};
use shared::calls::stats::CallStats;
use shared::calls::store::{apply_event, ApplyOutcome, CallStore, DynamoCallStore, StoreError};
use shared::platform::aws::AwsClients;
use shared::platform::config::ConsumerConfig;
use shared::retell::{CallId, EventKind, TransferEvent};

const BERLIN: Tz = chrono_tz::Europe::Berlin;
const START: i64 = 1_736_330_400_000; // 2025-01-08 10:00 UTC

fn config(function: &str) -> ConsumerConfig {
    ConsumerConfig::from_env(&stack().env(function)).expect("template env is complete")
}

fn store(aws: &AwsClients) -> DynamoCallStore {
    let c = config("call-ended");
    DynamoCallStore::new(aws.dynamodb.clone(), c.calls_table, c.stats_table)
}

fn bodies(id: &str) -> [String; 3] {
    let base = json!({"call_id": id, "agent_id": "agent_demo", "call_type": "phone_call", "direction": "inbound",
        "from_number": "+4917611112222", "to_number": "+493012345678", "start_timestamp": START});
    let mut started = base.clone();
    started["call_status"] = json!("ongoing");
    let mut ended = base.clone();
    ended["call_status"] = json!("ended");
    ended["end_timestamp"] = json!(START + 185_000);
    ended["duration_ms"] = json!(185_000);
    ended["transcript"] = json!("Agent: Guten Tag!\nUser: Ich möchte einen Termin.");
    ended["disconnection_reason"] = json!("user_hangup");
    let mut analyzed = ended.clone();
    analyzed["call_analysis"] = json!({"call_summary": "Termin gebucht", "user_sentiment": "Positive",
        "call_successful": true, "in_voicemail": false, "custom_analysis_data": {"service": "haircut"}});
    analyzed["call_cost"] = json!({"combined_cost": 31.7});
    [
        json!({"event": "call_started", "call": started}).to_string(),
        json!({"event": "call_ended", "call": ended}).to_string(),
        json!({"event": "call_analyzed", "call": analyzed}).to_string(),
    ]
}

fn events(id: &str, company: &str) -> Vec<CallEvent> {
    EventKind::ALL
        .iter()
        .zip(bodies(id))
        .map(|(kind, body)| {
            CallEvent::from_payload(*kind, company, START, body.as_bytes()).expect("valid")
        })
        .collect()
}

/// The record and statistics the pure merge gives for a set of events in canonical order.
fn reference(events: &[CallEvent]) -> (CallRecord, CallStats) {
    let mut record: Option<CallRecord> = None;
    for e in events {
        if let Some(applied) = CallRecord::apply(record.as_ref(), e, &BERLIN) {
            record = Some(applied.record);
        }
    }
    let record = record.expect("one event");
    let stats = record.stats();
    (record, stats)
}

async fn stored(store: &DynamoCallStore, id: &str) -> CallRecord {
    store
        .load(&CallId::parse(id).expect("id"))
        .await
        .expect("load")
        .expect("record exists")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any permutation with any duplication of a call's events gives the in-order record, and
    /// the company's day counts the call once.
    #[test]
    fn any_order_and_duplication_gives_the_same_record(order in prop::collection::vec(0usize..3, 1..9)) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let aws = clients().await;
            let store = store(&aws);
            let id = call_id("prop");
            let company = format!("prop-{id}");
            let all = events(&id, &company);
            for i in &order {
                apply_event(&store, &all[*i], &BERLIN).await.expect("apply");
            }
            let mut seen: Vec<usize> = order.clone();
            seen.sort_unstable();
            seen.dedup();
            let (want, want_stats) = reference(&seen.iter().map(|i| all[*i].clone()).collect::<Vec<_>>());
            let got = stored(&store, &id).await;
            prop_assert_eq!(&got.fields, &want.fields);
            prop_assert_eq!(&got.events_applied, &want.events_applied);
            prop_assert_eq!(got.version as usize, seen.len(), "one write per distinct event");
            let stats = store.daily_stats(&company, "2025-01-08").await.expect("stats");
            prop_assert_eq!(stats, want_stats);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn analyzed_then_started_ends_ended_and_counts_once() {
    let aws = clients().await;
    let store = store(&aws);
    let id = call_id("order");
    let company = format!("c-{id}");
    let e = events(&id, &company);
    assert!(matches!(
        apply_event(&store, &e[2], &BERLIN).await.expect("apply"),
        ApplyOutcome::Applied { version: 1, .. }
    ));
    assert!(matches!(
        apply_event(&store, &e[0], &BERLIN).await.expect("apply"),
        ApplyOutcome::Applied { version: 2, .. }
    ));
    assert_eq!(
        apply_event(&store, &e[0], &BERLIN).await.expect("apply"),
        ApplyOutcome::Duplicate
    );
    let r = stored(&store, &id).await;
    assert_eq!(r.call_status(), Some("ended"));
    assert_eq!(r.str("call_summary"), Some("Termin gebucht"));
    assert_eq!(r.fields["combined_cost"], json!(31.7));
    let stats = store
        .daily_stats(&company, "2025-01-08")
        .await
        .expect("stats");
    assert_eq!(
        (
            stats.calls,
            stats.minutes,
            stats.successful,
            stats.sentiment_positive
        ),
        (1, 4, 1, 1)
    );
}

#[tokio::test]
async fn concurrent_deliveries_of_one_call_converge() {
    let aws = clients().await;
    let store = store(&aws);
    let id = call_id("race");
    let company = format!("c-{id}");
    let e = events(&id, &company);
    let mut tasks = Vec::new();
    for i in [2, 1, 0, 1, 2, 0, 2, 1] {
        let (store, event) = (store.clone(), e[i].clone());
        tasks.push(tokio::spawn(async move {
            apply_event(&store, &event, &BERLIN).await
        }));
    }
    let mut applied = 0;
    for t in tasks {
        if let ApplyOutcome::Applied { .. } = t.await.expect("join").expect("apply") {
            applied += 1;
        }
    }
    assert_eq!(applied, 3, "each distinct event applied exactly once");
    let (want, want_stats) = reference(&e);
    assert_eq!(stored(&store, &id).await.fields, want.fields);
    assert_eq!(
        store
            .daily_stats(&company, "2025-01-08")
            .await
            .expect("stats"),
        want_stats
    );
}

/// The store's exactly-once counting rests on DynamoDB applying each transaction in isolation: a
/// cancelled transaction leaves no trace and undoes nothing another one committed. Plain moto
/// breaks this under concurrency (a cancelled transaction restores a snapshot of the table taken
/// before another one committed), which is why the tests run it through
/// infra/local/aws_emulator.py. A table of a few thousand items makes each snapshot slow enough
/// that racing transactions do overlap, so this fails on plain moto.
#[tokio::test]
async fn concurrent_transactions_are_isolated_by_the_emulator() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, Put, PutRequest,
        ScalarAttributeType, TransactWriteItem, Update, WriteRequest,
    };
    let aws = clients().await;
    let db = aws.dynamodb.clone();
    let table = call_id("isolation");
    db.create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("create table");
    let item = |pk: String| HashMap::from([("pk".to_owned(), AttributeValue::S(pk))]);
    for chunk in (0..3000).collect::<Vec<_>>().chunks(25) {
        let writes = chunk
            .iter()
            .map(|i| {
                let put = PutRequest::builder()
                    .set_item(Some(item(format!("filler_{i}"))))
                    .build()
                    .expect("put request");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        db.batch_write_item()
            .request_items(&table, writes)
            .send()
            .await
            .expect("fill");
    }
    let write = |key: String| {
        let (db, table) = (db.clone(), table.clone());
        async move {
            let put = Put::builder()
                .table_name(&table)
                .set_item(Some(item(key)))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .expect("put");
            let add = Update::builder()
                .table_name(&table)
                .key("pk", AttributeValue::S("counter".into()))
                .update_expression("ADD n :one")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .build()
                .expect("update");
            db.transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put).build())
                .transact_items(TransactWriteItem::builder().update(add).build())
                .send()
                .await
                .is_ok()
        }
    };
    // Half the writers hit an existing key and must be cancelled; the others must all count.
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let key = if i % 2 == 0 {
                "filler_0".to_owned()
            } else {
                format!("fresh_{i}")
            };
            tokio::spawn(write(key))
        })
        .collect();
    let mut committed = 0;
    for t in tasks {
        committed += i64::from(t.await.expect("join"));
    }
    let counter = db
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("counter".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("read counter")
        .item
        .and_then(|i| i.get("n").and_then(|n| n.as_n().ok()).cloned())
        .unwrap_or_default();
    let kept = db
        .scan()
        .table_name(&table)
        .filter_expression("begins_with(pk, :fresh)")
        .expression_attribute_values(":fresh", AttributeValue::S("fresh_".into()))
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .expect("count fresh items")
        .count;
    db.delete_table()
        .table_name(&table)
        .send()
        .await
        .expect("drop table");
    assert_eq!(committed, 12, "exactly the writers of fresh keys commit");
    assert_eq!(
        (counter, kept),
        (committed.to_string(), 12),
        "every committed write is kept"
    );
}

#[tokio::test]
async fn never_connected_calls_are_stored_with_their_reason() {
    let aws = clients().await;
    let store = store(&aws);
    let id = call_id("nc");
    let company = format!("c-{id}");
    let call = json!({"call_id": id, "call_status": "not_connected", "direction": "outbound",
        "from_number": "+493012345678", "to_number": "+4917611112222",
        "disconnection_reason": "dial_no_answer", "end_timestamp": START});
    for kind in [EventKind::CallAnalyzed, EventKind::CallEnded] {
        let body = json!({"event": kind.as_str(), "call": call}).to_string();
        let event = CallEvent::from_payload(kind, &company, START, body.as_bytes()).expect("valid");
        apply_event(&store, &event, &BERLIN).await.expect("apply");
    }
    let r = stored(&store, &id).await;
    assert_eq!(r.str("disconnection_reason"), Some("dial_no_answer"));
    assert_eq!(r.call_status(), Some("not_connected"));
    let stats = store
        .daily_stats(&company, "2025-01-08")
        .await
        .expect("stats");
    assert_eq!((stats.calls, stats.connected, stats.minutes), (1, 0, 0));
}

async fn query_count(aws: &AwsClients, index: &str, key: &str, value: &str) -> usize {
    let out = aws
        .dynamodb
        .query()
        .table_name(config("call-ended").calls_table)
        .index_name(index)
        .key_condition_expression("#k = :v AND call_ts BETWEEN :from AND :to")
        .expression_attribute_names("#k", key)
        .expression_attribute_values(":v", AttributeValue::S(value.into()))
        .expression_attribute_values(":from", AttributeValue::N((START - 3_600_000).to_string()))
        .expression_attribute_values(":to", AttributeValue::N((START + 86_400_000).to_string()))
        .send()
        .await
        .expect("query");
    out.items.unwrap_or_default().len()
}

#[tokio::test]
async fn indexes_serve_the_documented_access_patterns() {
    let aws = clients().await;
    let store = store(&aws);
    let id = call_id("gsi");
    let company = format!("c-{id}");
    let caller = format!("+49176{:08}", std::process::id() % 100_000_000);
    let mut e = events(&id, &company);
    for ev in &mut e {
        ev.fields.insert("from_number".into(), json!(caller));
    }
    apply_event(&store, &e[0], &BERLIN).await.expect("apply");
    assert_eq!(
        query_count(&aws, "active-calls", "active_company", &company).await,
        1,
        "live call is active"
    );
    assert_eq!(
        query_count(&aws, "company-calls", "company_id", &company).await,
        1
    );
    assert_eq!(
        query_count(&aws, "caller-calls", "from_number", &caller).await,
        1
    );
    apply_event(&store, &e[1], &BERLIN).await.expect("apply");
    assert_eq!(
        query_count(&aws, "active-calls", "active_company", &company).await,
        0,
        "ended call left the index"
    );
    assert_eq!(
        query_count(&aws, "company-calls", "company_id", &company).await,
        1
    );
}

/// Runs consumers in-process, as the Lambda runtime would.
struct InProcess<S>(HashMap<String, Consumer<S>>);

impl<S: CallStore + Sync + Send> Invoker for InProcess<S> {
    async fn invoke(&self, function: &str, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        let consumer = self.0.get(function).ok_or("no such function")?;
        Ok(consumer.handle_batch(event.clone()).await)
    }
}

fn consumers(aws: &AwsClients) -> InProcess<DynamoCallStore> {
    let mut map = HashMap::new();
    for kind in EventKind::ALL {
        let name = kind.as_str().replace('_', "-");
        let c = config(&name);
        map.insert(name, Consumer::build(kind, &c, aws));
    }
    InProcess(map)
}

async fn queue_depth(aws: &AwsClients, url: &str) -> usize {
    let out = aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        )
        .send()
        .await
        .expect("attributes");
    out.attributes
        .unwrap_or_default()
        .values()
        .map(|v| v.parse::<usize>().unwrap_or(0))
        .sum()
}

/// The queue the webhook sends to, as the webhook's environment in template.yaml configures it.
fn webhook_queue(aws: &AwsClients) -> (SqsEventQueue, shared::platform::config::WebhookConfig) {
    let env = stack().env("webhook");
    let cfg = shared::platform::config::WebhookConfig::from_env(&env).expect("env");
    let queue = SqsEventQueue::new(
        aws.sqs.client(),
        aws.s3.client(),
        cfg.bucket.clone(),
        cfg.queue_urls.clone(),
        cfg.inline_limit_bytes,
    );
    (queue, cfg)
}

/// The whole asynchronous path: webhook queueing (inline and claim-checked), the event source
/// mapping's batches with partial failures, and redrive of a poison message to the DLQ.
#[tokio::test]
async fn queued_events_reach_the_table_and_poison_goes_to_the_dead_letter_queue() {
    let aws = clients().await;
    let s = stack();
    let (queue, webhook_cfg) = webhook_queue(&aws);
    let id = call_id("pump");
    let company = format!("c-{id}");
    let mut all = bodies(&id);
    // A long call: call_ended with a word-level transcript of several MB.
    let mut ended: Value = serde_json::from_str(&all[1]).expect("json");
    let words: Vec<Value> = (0..40_000)
        .map(|i| json!({"word": "Termin", "start": i, "end": i + 1}))
        .collect();
    ended["call"]["transcript"] = json!("User: Ich hätte gern einen Termin.\n".repeat(15_000));
    ended["call"]["transcript_object"] = json!([{"role": "user", "words": words}]);
    all[1] = ended.to_string();
    assert!(all[1].len() > 2_000_000);
    // Shuffled and duplicated, as Retell's retries and SQS's at-least-once delivery allow.
    for i in [2, 1, 0, 2, 1] {
        let kind = EventKind::ALL[i];
        let accepted = AcceptedEvent {
            kind,
            transfer: None,
            call_id: CallId::parse(&id).expect("id"),
            company_id: company.clone(),
            received_at_ms: START,
            body: bytes::Bytes::from(all[i].clone()),
        };
        queue.enqueue(&accepted).await.expect("enqueue");
    }
    let ended_source = s.event_source("call-ended");
    aws.sqs
        .send_message()
        .queue_url(&ended_source.queue_url)
        .message_body("this is not an envelope")
        .send()
        .await
        .expect("send poison");

    let pump = Pump::new(aws.sqs.client(), consumers(&aws), s.region(), 0);
    let sources: Vec<_> = ["call-started", "call-ended", "call-analyzed"]
        .iter()
        .map(|f| s.event_source(f))
        .collect();
    let mut failures = 0;
    for _ in 0..20 {
        let mut received = 0;
        for source in &sources {
            let o = pump.poll_once(source, 0).await.expect("poll");
            received += o.received;
            failures += o.failed;
        }
        if received == 0 {
            break;
        }
    }
    // maxReceiveCount in template.yaml is 5: the poison message failed 5 times, then moved.
    assert_eq!(failures, 5, "poison message retried up to maxReceiveCount");
    assert_eq!(queue_depth(&aws, &ended_source.queue_url).await, 0);
    assert_eq!(
        queue_depth(&aws, &s.resource("CallEndedDeadLetterQueue", "QueueUrl")).await,
        1
    );

    let store = store(&aws);
    let r = stored(&store, &id).await;
    assert_eq!(r.call_status(), Some("ended"));
    assert_eq!(r.str("call_summary"), Some("Termin gebucht"));
    assert_eq!(r.version, 3);
    assert!(r.trimmed_fields.contains("transcript_object") || r.transcript_truncated);
    assert!(r.approximate_size() < 400_000);
    // Nothing is lost: the archived payload holds the full word-level transcript.
    let archived = aws
        .s3
        .get_object()
        .bucket(&webhook_cfg.bucket)
        .key(format!("calls/{company}/{id}/call_ended.json"))
        .send()
        .await
        .expect("archived");
    let bytes = archived.body.collect().await.expect("body").into_bytes();
    assert_eq!(bytes.as_ref(), all[1].as_bytes());
    let stats = store
        .daily_stats(&company, "2025-01-08")
        .await
        .expect("stats");
    assert_eq!((stats.calls, stats.successful), (1, 1));
}

/// Transfer events through the real queue and consumer: queued on the call_started queue (one
/// claim-checked), each logged once on the call however often delivered, each body archived
/// under its own key; the call is counted once.
#[tokio::test]
async fn transfer_events_are_logged_on_the_call_once_each() {
    let aws = clients().await;
    let s = stack();
    let (queue, webhook_cfg) = webhook_queue(&aws);
    let id = call_id("transfer");
    let company = format!("c-{id}");
    let transfer_body = |event: TransferEvent, transcript: &str| {
        json!({"event": event.as_str(), "transfer_destination": "+493012345678",
               "transfer_option": {"type": "cold_transfer"},
               "call": {"call_id": id, "agent_id": "agent_x", "call_status": "ongoing",
                        "start_timestamp": START, "transcript": transcript}})
        .to_string()
    };
    let started = transfer_body(TransferEvent::Started, "Agent: Ich verbinde Sie.");
    let bridged = transfer_body(TransferEvent::Bridged, &"Agent: Moment.\n".repeat(30_000));
    assert!(
        bridged.len() > webhook_cfg.inline_limit_bytes,
        "claim-checked"
    );
    let all = bodies(&id);
    let deliveries = [
        (Some(TransferEvent::Started), &started),
        (None, &all[0]),
        (Some(TransferEvent::Bridged), &bridged),
        (Some(TransferEvent::Started), &started),
        (Some(TransferEvent::Bridged), &bridged),
    ];
    for (transfer, body) in deliveries {
        let accepted = AcceptedEvent {
            kind: transfer.map_or(EventKind::CallStarted, |_| TransferEvent::QUEUE),
            transfer,
            call_id: CallId::parse(&id).expect("id"),
            company_id: company.clone(),
            received_at_ms: START + 5_000,
            body: bytes::Bytes::from(body.clone()),
        };
        queue.enqueue(&accepted).await.expect("enqueue");
    }
    let pump = Pump::new(aws.sqs.client(), consumers(&aws), s.region(), 0);
    let source = s.event_source("call-started");
    for _ in 0..10 {
        let o = pump.poll_once(&source, 0).await.expect("poll");
        assert_eq!(o.failed, 0);
        if o.received == 0 {
            break;
        }
    }
    let store = store(&aws);
    let r = stored(&store, &id).await;
    let log = r.fields["transfers"].as_array().expect("log");
    let events: Vec<_> = log
        .iter()
        .map(|e| e["event"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(events.contains(&"transfer_started") && events.contains(&"transfer_bridged"));
    assert!(log.iter().all(|e| e["destination"] == "+493012345678"));
    assert!(r.events_applied.contains(&EventKind::CallStarted));
    for (event, body) in [
        (TransferEvent::Started, &started),
        (TransferEvent::Bridged, &bridged),
    ] {
        let key = transfer_key(&r.company_id, &r.call_id, event, body.as_bytes());
        let archived = aws
            .s3
            .get_object()
            .bucket(&webhook_cfg.bucket)
            .key(&key)
            .send()
            .await
            .expect("archived");
        let bytes = archived.body.collect().await.expect("body").into_bytes();
        assert_eq!(bytes.as_ref(), body.as_bytes(), "{key}");
    }
    let stats = store
        .daily_stats(&company, "2025-01-08")
        .await
        .expect("stats");
    assert_eq!(stats.calls, 1);
}

/// A store that panics for one call: the panic must fail that message only.
#[derive(Clone)]
struct PanicsOn(DynamoCallStore, String);

impl CallStore for PanicsOn {
    async fn load(&self, call_id: &CallId) -> Result<Option<CallRecord>, StoreError> {
        if call_id.as_str() == self.1 {
            panic!("simulated bug");
        }
        self.0.load(call_id).await
    }

    async fn save(&self, applied: &Applied, expected: Option<u64>) -> Result<(), StoreError> {
        self.0.save(applied, expected).await
    }
}

#[tokio::test]
async fn a_panic_fails_one_message_not_the_batch() {
    let aws = clients().await;
    let c = config("call-started");
    let bad = call_id("panic");
    let consumer = Consumer::new(
        EventKind::CallStarted,
        PanicsOn(store(&aws), bad.clone()),
        aws.s3.client(),
        c.bucket,
        c.time_zone,
    );
    let mut event = SqsEvent::default();
    let ids: Vec<String> = vec![call_id("ok"), bad.clone(), call_id("ok")];
    for (n, id) in ids.iter().enumerate() {
        let body = &bodies(id)[0];
        let envelope = json!({"v": 1, "event": "call_started", "call_id": id, "company_id": "acme",
            "received_at_ms": START, "payload": serde_json::from_str::<Value>(body).expect("json")});
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("m{n}"));
        m.body = Some(envelope.to_string());
        event.records.push(m);
    }
    let response = consumer.handle_batch(event).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m1"]);
    let store = store(&aws);
    let mut found = BTreeMap::new();
    for id in &ids {
        found.insert(
            id.clone(),
            store
                .load(&CallId::parse(id).expect("id"))
                .await
                .expect("load")
                .is_some(),
        );
    }
    assert_eq!(found.values().filter(|v| **v).count(), 2);
    assert!(!found[&bad]);
}

/// A call id is Retell's: an event for a call already stored under another company (a
/// misrouted agent, or one tenant replaying another's call id) is not merged into that call.
/// It is logged with both companies and counted, and the message is done: never retried into
/// the dead-letter queue. Its raw body is archived under its own company's key, next to (not
/// over) the first company's.
#[tokio::test]
async fn an_event_for_another_companys_call_is_not_merged() {
    let aws = clients().await;
    let s = stack();
    let (queue, webhook_cfg) = webhook_queue(&aws);
    let id = call_id("collide");
    let (owner, intruder) = (format!("owner-{id}"), format!("intruder-{id}"));
    let [started, ended, _] = bodies(&id);
    let send = |company: &str, kind: EventKind, body: &str| AcceptedEvent {
        kind,
        transfer: None,
        call_id: CallId::parse(&id).expect("id"),
        company_id: company.to_owned(),
        received_at_ms: START,
        body: bytes::Bytes::from(body.to_owned()),
    };
    queue
        .enqueue(&send(&owner, EventKind::CallStarted, &started))
        .await
        .expect("enqueue");
    let mut forged: Value = serde_json::from_str(&ended).expect("json");
    forged["call"]["call_summary"] = json!("Alle Termine wurden abgesagt.");
    forged["call"]["transcript"] = json!("Agent: Hier ist die andere Firma.");
    queue
        .enqueue(&send(&intruder, EventKind::CallEnded, &forged.to_string()))
        .await
        .expect("enqueue");
    let pump = Pump::new(aws.sqs.client(), consumers(&aws), s.region(), 0);
    let mut failed = 0;
    for _ in 0..5 {
        for f in ["call-started", "call-ended"] {
            failed += pump
                .poll_once(&s.event_source(f), 0)
                .await
                .expect("poll")
                .failed;
        }
    }
    assert_eq!(failed, 0, "done, not retried");
    assert_eq!(
        queue_depth(&aws, &s.resource("CallEndedDeadLetterQueue", "QueueUrl")).await,
        0
    );
    let record = stored(&store(&aws), &id).await;
    assert_eq!(record.company_id, owner);
    assert_eq!(
        record.call_status(),
        Some("ongoing"),
        "the intruder's end is not merged"
    );
    assert!(record.str("call_summary").is_none());
    assert!(!record.events_applied.contains(&EventKind::CallEnded));
    let stats = store(&aws)
        .daily_stats(&intruder, "2025-01-08")
        .await
        .expect("stats");
    assert_eq!(stats.calls, 0, "nothing counted for the intruder");
    for company in [&owner, &intruder] {
        let kind = if *company == owner {
            "call_started"
        } else {
            "call_ended"
        };
        aws.s3
            .head_object()
            .bucket(&webhook_cfg.bucket)
            .key(format!("calls/{company}/{id}/{kind}.json"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{company}'s event archived under its own key: {e:?}"));
    }
}

/// A stand-in for recording storage on 127.0.0.1: `/big.wav` (20 MiB, streamed), `/small.wav`,
/// `/to-metadata.wav` (a redirect to the instance metadata address), `/to-small.wav` (a redirect
/// on the same origin); it counts the requests it gets.
async fn recording_storage() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = vec![0u8; 4096];
                let n = socket.read(&mut head).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&head[..n]).to_string();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let answer = |status: &str, headers: &str, length: usize| {
                    format!("HTTP/1.1 {status}\r\n{headers}content-length: {length}\r\nconnection: close\r\n\r\n")
                };
                match path.split('?').next().unwrap_or("/") {
                    "/big.wav" => {
                        let _ = socket
                            .write_all(
                                answer("200 OK", "content-type: audio/wav\r\n", 20 << 20)
                                    .as_bytes(),
                            )
                            .await;
                        let chunk = vec![7u8; 64 * 1024];
                        for _ in 0..(20 << 20) / chunk.len() {
                            if socket.write_all(&chunk).await.is_err() {
                                return;
                            }
                        }
                    }
                    "/small.wav" => {
                        let _ = socket
                            .write_all(
                                format!(
                                    "{}RIFFsmall",
                                    answer("200 OK", "content-type: audio/wav\r\n", 9)
                                )
                                .as_bytes(),
                            )
                            .await;
                    }
                    "/to-metadata.wav" => {
                        let _ = socket
                            .write_all(
                                answer(
                                    "302 Found",
                                    "location: http://169.254.169.254/latest/meta-data/\r\n",
                                    0,
                                )
                                .as_bytes(),
                            )
                            .await;
                    }
                    "/to-small.wav" => {
                        let _ = socket
                            .write_all(
                                answer(
                                    "302 Found",
                                    "location: /small.wav?X-Amz-Signature=s\r\n",
                                    0,
                                )
                                .as_bytes(),
                            )
                            .await;
                    }
                    _ => {
                        let _ = socket
                            .write_all(answer("404 Not Found", "", 0).as_bytes())
                            .await;
                    }
                }
            });
        }
    });
    (origin, hits)
}

fn call_with_recording(id: &str, url: &str) -> CallRecord {
    let body = json!({"event": "call_ended", "call": {"call_id": id, "call_status": "ended",
        "start_timestamp": START, "end_timestamp": START + 60_000, "recording_url": url}})
    .to_string();
    let event = CallEvent::from_payload(EventKind::CallEnded, "demo", START, body.as_bytes())
        .expect("event");
    CallRecord::apply(None, &event, &BERLIN)
        .expect("applied")
        .record
}

/// Recordings are fetched only from where the stack says recordings are (locally exactly the
/// simulator's origin; in AWS Retell's storage over https), never from an address a call's data
/// names otherwise, not after a redirect either; a long one is streamed to S3 in parts.
#[tokio::test]
async fn recordings_are_fetched_only_from_recording_storage() {
    use shared::calls::recordings::{Copied, RecordingCopier, RecordingError};
    use shared::platform::outbound::OutboundPolicy;
    let aws = clients().await;
    let bucket = config("call-analyzed").bucket;
    let (origin, hits) = recording_storage().await;
    let (elsewhere, elsewhere_hits) = recording_storage().await;
    let copier = RecordingCopier::new(
        aws.s3.client(),
        bucket.clone(),
        OutboundPolicy::parse(&origin).expect("policy"),
    )
    .expect("copier");
    let copy = |id: &str, url: String| {
        let record = call_with_recording(&call_id(id), &url);
        let copier = &copier;
        async move { copier.copy(&record).await }
    };
    // Not where recordings are: refused before any connection.
    for url in [
        format!("{elsewhere}/small.wav"),
        "http://169.254.169.254/latest/meta-data/iam".to_owned(),
        "http://10.0.0.7/recording.wav".to_owned(),
        "https://dxc03zgurdly9.cloudfront.net.attacker.example/r.wav".to_owned(),
        format!("{}/small.wav", origin.replace("http://", "http://user:pw@")),
    ] {
        let result = copy("rec_refused", url.clone()).await;
        assert!(
            matches!(result, Err(RecordingError::HostNotAllowed(_))),
            "{url}: {result:?}"
        );
    }
    assert_eq!(elsewhere_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    // A redirect away from recording storage is not followed.
    let result = copy("rec_redirect", format!("{origin}/to-metadata.wav")).await;
    assert!(
        matches!(result, Err(RecordingError::Fetch(_))),
        "{result:?}"
    );
    // One within it is.
    let result = copy(
        "rec_same",
        format!("{origin}/to-small.wav?X-Amz-Signature=s"),
    )
    .await;
    assert!(
        matches!(result, Ok(Copied::Copied { bytes: 9, .. })),
        "{result:?}"
    );
    // 20 MiB: streamed in parts (S3 keeps it whole), never held at once.
    let id = call_id("rec_big");
    let record = call_with_recording(&id, &format!("{origin}/big.wav"));
    let Ok(Copied::Copied { key, bytes }) = copier.copy(&record).await else {
        panic!("not copied");
    };
    assert_eq!(bytes, 20 << 20);
    let head = aws
        .s3
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .part_number(1)
        .send()
        .await
        .expect("stored");
    assert_eq!(head.parts_count(), Some(3), "8 + 8 + 4 MiB");
    assert!(hits.load(std::sync::atomic::Ordering::SeqCst) >= 3);
}
