//! Retention and erasure against the emulator: the consumers store a company's calls with its
//! retention (the item's TTL, the objects' tag); erasing a caller leaves no item of the company
//! and no object that holds their number, another caller's call as it was, the statistics as
//! they were; a call_analyzed arriving after the erasure is merged without anything personal and
//! its raw body is not kept; a second erasure finds nothing; the audit trail never overwrites.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use book_appointment::BookAppointment;
use chrono::Utc;
use integration_tests::tool_harness::{call, next_tuesday, put_company, salon_settings, service};
use integration_tests::{call_id, clients, stack};
use serde_json::{json, Value};
use shared::booking::company::PrivacySettings;
use shared::booking::phone::PhoneNumber;
use shared::calls::consumer::Consumer;
use shared::calls::store::DynamoCallStore;
use shared::platform::aws::AwsClients;
use shared::platform::config::ConsumerConfig;
use shared::platform::dynamo::from_attribute;
use shared::privacy::erase::Erasure;
use shared::privacy::{AuditEntry, AuditLog, PrivacyStores, Subject};
use shared::retell::EventKind;

fn mobile(n: u64) -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
    format!("+49176{:08}", (nanos + n) % 100_000_000)
}

fn stores(aws: &AwsClients) -> PrivacyStores {
    PrivacyStores {
        dynamodb: aws.dynamodb.clone(),
        s3: aws.s3.client(),
        calls_table: stack().resource("CallsTable", "Ref"),
        appointments_table: stack().resource("AppointmentsTable", "Ref"),
        bucket: stack().resource("EventsBucket", "Ref"),
    }
}

fn audit(aws: &AwsClients) -> AuditLog {
    AuditLog::new(aws.dynamodb.clone(), stack().resource("AuditTable", "Ref"))
}

fn consumer(aws: &AwsClients, kind: EventKind) -> Consumer<DynamoCallStore> {
    let name = kind.as_str().replace('_', "-");
    let config = ConsumerConfig::from_env(&stack().env(&name)).expect("template env");
    Consumer::build(kind, &config, aws)
}

/// One event of a call from `from`, as the webhook queues it (inline).
fn batch(
    kind: EventKind,
    company: &str,
    agent: &str,
    id: &str,
    from: &str,
    start: i64,
) -> SqsEvent {
    let mut call = json!({"call_id": id, "agent_id": agent, "call_type": "phone_call",
        "direction": "inbound", "from_number": from, "to_number": "+493012345678",
        "start_timestamp": start, "call_status": "ongoing"});
    if kind != EventKind::CallStarted {
        call["call_status"] = json!("ended");
        call["end_timestamp"] = json!(start + 95_000);
        call["duration_ms"] = json!(95_000);
        call["disconnection_reason"] = json!("user_hangup");
        let national = format!("0{}", &from[3..]);
        call["transcript"] = json!(format!(
            "Agent: Guten Tag!\nUser: Meine Nummer ist {} {}, ich heiße Greta.",
            &national[..4],
            &national[4..]
        ));
        call["recording_url"] = json!(format!("https://recordings.example/{id}.wav"));
    }
    if kind == EventKind::CallAnalyzed {
        call["call_analysis"] = json!({"call_summary": "Greta möchte einen Termin.",
            "user_sentiment": "Positive", "call_successful": true, "in_voicemail": false});
    }
    let envelope = json!({"v": 1, "event": kind.as_str(), "call_id": id, "company_id": company,
        "received_at_ms": start, "payload": {"event": kind.as_str(), "call": call}});
    let mut message = SqsMessage::default();
    message.message_id = Some(format!("m-{id}-{}", kind.as_str()));
    message.body = Some(envelope.to_string());
    let mut event = SqsEvent::default();
    event.records = vec![message];
    event
}

async fn item(aws: &AwsClients, id: &str) -> HashMap<String, AttributeValue> {
    aws.dynamodb
        .get_item()
        .table_name(stack().resource("CallsTable", "Ref"))
        .key("call_id", AttributeValue::S(id.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item
        .expect("the call")
}

fn num(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().expect("number"),
        other => panic!("{name}: {other:?}"),
    }
}

async fn day_stats(aws: &AwsClients, company: &str, day: &str) -> Value {
    let out = aws
        .dynamodb
        .get_item()
        .table_name(stack().resource("CallStatsTable", "Ref"))
        .key("company_id", AttributeValue::S(company.to_owned()))
        .key("day", AttributeValue::S(day.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("stats");
    let mut stats: serde_json::Map<String, Value> = out
        .item
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| (k.clone(), from_attribute(v)))
        .collect();
    stats.remove("updated_at_ms");
    Value::Object(stats)
}

#[tokio::test]
async fn an_erased_caller_is_gone_the_figures_stay_and_a_late_event_brings_nothing_back() {
    let aws = clients().await;
    let mut settings = salon_settings();
    settings.privacy = Some(PrivacySettings {
        retention_days: Some(30),
        ..PrivacySettings::default()
    });
    settings.messaging = None;
    let (company, agent) = put_company(&aws, &settings).await;
    let phone = mobile(0);
    let other = mobile(17);
    let book = service(BookAppointment, &aws);
    let day = next_tuesday() + chrono::Days::new(7);
    let booked = call(
        &book,
        &agent,
        &phone,
        json!({"date": day.to_string(), "time": "10:00", "service_id": "haircut",
               "customer_name": "Greta Vergessen", "customer_email": "greta@example.org"}),
    )
    .await;
    assert_eq!(booked["success"], json!(true), "{booked}");
    // A callback they asked for, with a note staff added: erased with them, the board still
    // counts it.
    let callbacks = shared::callbacks::CallbackStore::new(
        aws.dynamodb.clone(),
        stack().resource("AppointmentsTable", "Ref"),
    );
    let opened = callbacks
        .open(
            &company,
            shared::callbacks::NewCallback {
                source: shared::callbacks::CallbackSource::Phone,
                reason: format!("Rückruf an {phone}, Greta"),
                name: Some("Greta Vergessen".into()),
                phone: PhoneNumber::parse(&phone).expect("number"),
                preferred: Some("morgens".into()),
                call_id: None,
            },
            Utc::now(),
        )
        .await
        .expect("callback");
    let callback_id = opened.callback().callback_id.clone();
    let noted = callbacks
        .update(
            &company,
            &callback_id,
            Some(opened.callback().version),
            &shared::callbacks::CallbackUpdate {
                note: Some(format!("Greta unter {phone} nicht erreicht")),
                ..Default::default()
            },
            "desk:anna",
            Utc::now(),
        )
        .await
        .expect("note");

    // Two calls: the caller's and another caller's, each started and ended.
    let start = Utc::now().timestamp_millis() - 3_600_000;
    let (mine, theirs) = (call_id("erase-me"), call_id("keep-me"));
    for kind in [EventKind::CallStarted, EventKind::CallEnded] {
        let c = consumer(&aws, kind);
        for (id, from) in [(&mine, &phone), (&theirs, &other)] {
            let done = c
                .handle_batch(batch(kind, &company, &agent, id, from, start))
                .await;
            assert!(done.batch_item_failures.is_empty(), "{kind:?} {id}");
        }
    }
    let stored = item(&aws, &mine).await;
    assert_eq!(num(&stored, "retention_days"), 30);
    assert_eq!(num(&stored, "expires_at"), start / 1000 + 30 * 86_400);
    let bucket = stack().resource("EventsBucket", "Ref");
    let key = format!("calls/{company}/{mine}/call_ended.json");
    let tags = aws
        .s3
        .client()
        .get_object_tagging()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .expect("tags");
    let tags: Vec<(String, String)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    assert_eq!(tags, [("retention-days".to_owned(), "30".to_owned())]);
    let stats_day = match stored.get("stats_day") {
        Some(AttributeValue::S(d)) => d.clone(),
        other => panic!("stats_day {other:?}"),
    };
    let before = day_stats(&aws, &company, &stats_day).await;

    let stores = stores(&aws);
    let audit = audit(&aws);
    let subject = Subject::new(&company, PhoneNumber::parse(&phone).expect("number"));
    let erasure = Erasure {
        stores: &stores,
        retell: None,
        audit: Some(&audit),
        by: "test".into(),
        proof: shared::privacy::proof::Scope::CompanyAndArchive,
    };
    let receipt = erasure
        .run(&subject, Utc::now().timestamp_millis())
        .await
        .expect("erase");
    assert_eq!(receipt.call_ids, vec![mine.clone()]);
    assert_eq!(receipt.appointment_ids.len(), 1, "{receipt:?}");
    assert!(
        receipt.customer_record && receipt.objects_deleted == 2,
        "{receipt:?}"
    );
    assert_eq!(receipt.retell, "not asked");
    assert_eq!(
        receipt.proof.scope,
        shared::privacy::proof::Scope::CompanyAndArchive
    );
    assert_eq!(receipt.callbacks, 1, "{receipt:?}");
    let callback = callbacks
        .get(&company, &callback_id)
        .await
        .expect("read")
        .expect("the callback stays");
    assert!(callback.phone.is_empty() && callback.reason.is_empty() && callback.notes.is_empty());
    assert!(callback.name.is_none() && callback.preferred.is_none());
    assert!(
        callback.version > noted.version,
        "a desk edit made before is refused"
    );
    assert!(receipt.proof.clean(), "{:?}", receipt.proof);
    let text = serde_json::to_string(&receipt).expect("json");
    assert!(!text.contains(&phone[3..]), "the receipt names the number");

    // The company's items: the number nowhere, the other caller's call as it was.
    let erased = item(&aws, &mine).await;
    for gone in ["from_number", "transcript", "recording_url", "payload_refs"] {
        assert!(!erased.contains_key(gone), "{gone} kept");
    }
    assert!(erased.contains_key("erased_at_ms") && erased.contains_key("duration_ms"));
    assert_eq!(num(&erased, "expires_at"), start / 1000 + 30 * 86_400);
    let kept = item(&aws, &theirs).await;
    assert!(kept.contains_key("transcript") && kept.contains_key("from_number"));
    assert_eq!(day_stats(&aws, &company, &stats_day).await, before);
    let appointment = shared::calendar::AppointmentLedger::new(
        aws.dynamodb.clone(),
        stack().resource("AppointmentsTable", "Ref"),
    );
    let company_view =
        shared::booking::company::Company::from_settings(settings.clone()).expect("company");
    let theirs_now = appointment
        .customer_appointments(&company_view, &PhoneNumber::parse(&phone).expect("n"))
        .await
        .expect("query");
    assert!(theirs_now.is_empty(), "{theirs_now:?}");

    // A call_analyzed after the erasure: merged without the caller, its body not kept.
    let late = consumer(&aws, EventKind::CallAnalyzed)
        .handle_batch(batch(
            EventKind::CallAnalyzed,
            &company,
            &agent,
            &mine,
            &phone,
            start,
        ))
        .await;
    assert!(late.batch_item_failures.is_empty());
    let after_late = item(&aws, &mine).await;
    assert!(
        after_late.contains_key("user_sentiment"),
        "the figures are merged"
    );
    for gone in ["from_number", "transcript", "call_summary", "recording_url"] {
        assert!(!after_late.contains_key(gone), "{gone} came back");
    }
    let raw = aws
        .s3
        .client()
        .head_object()
        .bucket(&bucket)
        .key(format!("calls/{company}/{mine}/call_analyzed.json"))
        .send()
        .await;
    assert!(raw.is_err(), "the late event's raw body is kept");
    // A redelivery of an event applied before the erasure: archived again, deleted again.
    let again = consumer(&aws, EventKind::CallEnded)
        .handle_batch(batch(
            EventKind::CallEnded,
            &company,
            &agent,
            &mine,
            &phone,
            start,
        ))
        .await;
    assert!(again.batch_item_failures.is_empty());
    let raw = aws
        .s3
        .client()
        .head_object()
        .bucket(&bucket)
        .key(format!("calls/{company}/{mine}/call_ended.json"))
        .send()
        .await;
    assert!(raw.is_err(), "a redelivered event's raw body is kept");
    let proof = shared::privacy::proof::scan(
        &stores,
        &subject,
        shared::privacy::proof::Scope::CompanyAndArchive,
        &[],
    )
    .await
    .expect("scan");
    assert!(proof.clean(), "{proof:?}");

    // Again: nothing held, nothing changed.
    let again = erasure
        .run(&subject, Utc::now().timestamp_millis())
        .await
        .expect("erase again");
    assert!(again.nothing_held(), "{again:?}");
    assert_eq!(item(&aws, &mine).await, after_late);

    let trail = audit.list(&company, 0, 100).await.expect("trail");
    assert_eq!(
        trail.iter().filter(|e| e.action == "erased").count(),
        2,
        "{trail:?}"
    );
}

#[tokio::test]
async fn the_audit_trail_never_overwrites_an_entry() {
    let aws = clients().await;
    let audit = audit(&aws);
    let company = call_id("audit").replace('_', "-");
    let entry = AuditEntry {
        company_id: company.clone(),
        at_ms: 1_800_000_000_000,
        by: "desk:anna".into(),
        action: "viewed_call".into(),
        subject: "call_x".into(),
        detail: json!({"transcript": true}),
    };
    // The same millisecond, many times at once: every entry is kept.
    let writes = (0..10).map(|_| audit.record(&entry));
    for done in futures::future::join_all(writes).await {
        done.expect("recorded");
    }
    let trail = audit.list(&company, 0, 100).await.expect("trail");
    assert_eq!(trail.len(), 10);
    assert!(trail.iter().all(|e| e == &entry));
    // A detail too long for an entry is cut, not refused.
    let long = AuditEntry {
        detail: json!({"x": "y".repeat(100_000)}),
        ..entry.clone()
    };
    audit.record(&long).await.expect("long detail");
}
