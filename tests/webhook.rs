//! The webhook Lambda's handler against the emulator: real Secrets Manager, SQS and S3.

use std::collections::HashMap;
use std::time::Duration;

use integration_tests::{
    call_id, clients, counted_clients, now_ms, sdk_sign, sdk_verify, stack, DEFAULT_KEY,
};
use lambda_http::{Body, Request};
use serde_json::{json, Value};
use shared::booking::company::CompanySettings;
use shared::booking::directory::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::calls::queue::{Envelope, SqsEventQueue};
use shared::platform::aws::AwsClients;
use shared::platform::config::WebhookConfig;
use shared::retell::auth::RequestAuth;
use shared::retell::keys::{KeyProvider, SecretsManagerSource};
use shared::retell::signature::sign;
use shared::retell::{EventKind, TransferEvent};
use webhook::Webhook;

type TestWebhook = Webhook<SecretsManagerSource, SqsEventQueue>;

/// Fresh queues and a fresh secret per test, so tests running in parallel cannot see each
/// other's messages; the bucket and settings come from template.yaml's webhook environment.
struct Fixture {
    aws: AwsClients,
    config: WebhookConfig,
    secret_id: String,
}

async fn fixture(aws: AwsClients, secret: &str) -> Fixture {
    let mut config =
        WebhookConfig::from_env(&stack().env("webhook")).expect("template env is complete");
    let tag = call_id("q");
    for kind in EventKind::ALL {
        let url = aws
            .sqs
            .create_queue()
            .queue_name(format!("{tag}-{}", kind.as_str()))
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("url");
        config.queue_urls.insert(kind, url);
    }
    let secret_id = aws
        .secrets
        .create_secret()
        .name(format!("{tag}-keys"))
        .secret_string(secret)
        .send()
        .await
        .expect("create secret")
        .arn
        .expect("arn");
    Fixture {
        aws,
        config,
        secret_id,
    }
}

impl Fixture {
    fn webhook(&self, refresh: Duration) -> TestWebhook {
        Webhook {
            auth: RequestAuth::new(
                KeyProvider::new(
                    SecretsManagerSource::new(self.aws.secrets.clone(), self.secret_id.clone()),
                    self.config.auth.default_company_id.clone(),
                    refresh,
                )
                .with_max_age(refresh.max(Duration::from_millis(1))),
                self.directory(),
            ),
            queue: SqsEventQueue::new(
                self.aws.sqs.client(),
                self.aws.s3.client(),
                self.config.bucket.clone(),
                self.config.queue_urls.clone(),
                self.config.inline_limit_bytes,
            ),
            max_body_bytes: self.config.max_body_bytes,
            deadline: webhook::WEBHOOK_DEADLINE,
        }
    }

    fn directory(&self) -> CompanyDirectory {
        CompanyDirectory::new(
            self.aws.dynamodb.clone(),
            self.config.auth.companies_table.clone(),
            COMPANY_CACHE_TTL,
        )
    }

    async fn drain(&self, kind: EventKind) -> Vec<String> {
        let mut bodies = Vec::new();
        loop {
            let out = self
                .aws
                .sqs
                .receive_message()
                .queue_url(&self.config.queue_urls[&kind])
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            for m in messages {
                bodies.push(m.body.unwrap_or_default());
                self.aws
                    .sqs
                    .delete_message()
                    .queue_url(&self.config.queue_urls[&kind])
                    .receipt_handle(m.receipt_handle.unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }

    async fn total_queued(&self) -> usize {
        let mut n = 0;
        for kind in EventKind::ALL {
            n += self.drain(kind).await.len();
        }
        n
    }

    /// Every archived key of a call, whatever its company.
    async fn archived_keys_of(&self, call_id: &str) -> Vec<String> {
        let out = self
            .aws
            .s3
            .list_objects_v2()
            .bucket(&self.config.bucket)
            .prefix("calls/")
            .send()
            .await
            .expect("list");
        out.contents()
            .iter()
            .filter_map(|o| o.key())
            .filter(|k| k.contains(&format!("/{call_id}/")))
            .map(str::to_owned)
            .collect()
    }

    async fn archived(&self, key: &str) -> Option<Vec<u8>> {
        let out = self
            .aws
            .s3
            .get_object()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
            .ok()?;
        Some(out.body.collect().await.ok()?.into_bytes().to_vec())
    }
}

fn request(method: &str, body: Vec<u8>, signature: Option<&str>) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri("/api/retell/webhook")
        .header("content-type", "application/json");
    if let Some(sig) = signature {
        builder = builder.header("x-retell-signature", sig);
    }
    builder.body(Body::from(body)).expect("request")
}

async fn post(webhook: &TestWebhook, body: &str, signature: Option<&str>) -> (u16, Value) {
    let response = webhook
        .handle(request("POST", body.as_bytes().to_vec(), signature))
        .await;
    let status = response.status().as_u16();
    let json = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (status, json)
}

/// Posts `body` signed with `key` now.
async fn post_signed(webhook: &TestWebhook, body: &str, key: &str) -> (u16, Value) {
    post(webhook, body, Some(&sign(body.as_bytes(), key, now_ms()))).await
}

fn event_body(event: &str, call_id: &str, agent_id: &str) -> String {
    json!({"event": event, "call": {"call_id": call_id, "agent_id": agent_id, "call_status": "ongoing",
        "from_number": "+4917611112222", "to_number": "+493012345678", "start_timestamp": now_ms()}})
    .to_string()
}

#[tokio::test]
async fn sdk_signed_event_is_queued_with_one_send_message() {
    let (aws, log) = counted_clients().await;
    let f = fixture(aws, DEFAULT_KEY).await;
    log.take();
    let webhook = f.webhook(Duration::from_secs(60));
    let id = call_id("sdk");
    let body = event_body("call_started", &id, "agent_x");
    let sig = &sdk_sign(std::slice::from_ref(&body), DEFAULT_KEY, now_ms())[0];

    assert_eq!(
        post(&webhook, &body, Some(sig)).await,
        (200, json!({"status": "accepted"}))
    );
    assert_eq!(
        log.take(),
        [
            "DynamoDB.GetItem",
            "Secrets Manager.GetSecretValue",
            "SQS.SendMessage"
        ]
    );
    // Warm container: the agent's company (here: nobody's) and the key are cached; one
    // SendMessage per webhook and nothing else.
    assert_eq!(post(&webhook, &body, Some(sig)).await.0, 200);
    assert_eq!(log.take(), ["SQS.SendMessage"]);

    let queued = f.drain(EventKind::CallStarted).await;
    assert_eq!(
        queued.len(),
        2,
        "Retell's retry is queued again; the consumer dedupes"
    );
    let envelope: Envelope<'_> = serde_json::from_str(&queued[0]).expect("envelope");
    assert_eq!(envelope.call_id, id);
    assert_eq!(envelope.company_id, "default");
    assert_eq!(
        envelope.payload.map(|p| p.get()),
        Some(body.as_str()),
        "raw bytes, not re-serialised"
    );
}

#[tokio::test]
async fn rust_and_python_sdk_agree_on_signatures() {
    let bodies: Vec<String> = vec![
        r#"{"event":"call_ended"}"#.into(),
        json!({"event": "call_ended", "call": {"call_id": "c", "transcript": "Grüße aus Köln – 👋 \"quoted\"\n"}}).to_string(),
        "{\n  \"event\" : \"call_started\",\n  \"call\": {\"call_id\": \"c\"}\n}".into(),
        json!({"event": "call_ended", "call": {"call_id": "c", "transcript": "wort ".repeat(200_000)}}).to_string(),
    ];
    let ts = now_ms();
    let python = sdk_sign(&bodies, "key_äöü-rotated", ts);
    for (body, py_sig) in bodies.iter().zip(&python) {
        assert_eq!(&sign(body.as_bytes(), "key_äöü-rotated", ts), py_sig);
        assert!(sdk_verify(
            body,
            "key_äöü-rotated",
            &sign(body.as_bytes(), "key_äöü-rotated", ts)
        ));
    }
    let fixed = sdk_sign(
        &[r#"{"event":"call_ended"}"#.into()],
        "test-api-key",
        1_700_000_000_000,
    );
    assert_eq!(
        fixed[0],
        "v=1700000000000,d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e"
    );
}

#[tokio::test]
async fn rejections_have_a_status_and_leave_nothing_behind() {
    let f = fixture(clients().await, DEFAULT_KEY).await;
    let webhook = f.webhook(Duration::from_secs(3600));
    let id = call_id("rej");
    let good = event_body("call_ended", &id, "agent_x");
    let now = now_ms();
    let signed = |body: &str, key: &str, ts: i64| sign(body.as_bytes(), key, ts);
    let cases: Vec<(&str, String, Option<String>, u16, &str)> = vec![
        ("no signature", good.clone(), None, 401, "signature_missing"),
        (
            "garbage signature",
            good.clone(),
            Some("garbage".into()),
            401,
            "signature_malformed",
        ),
        (
            "wrong key",
            good.clone(),
            Some(signed(&good, "key_wrong", now)),
            401,
            "signature_mismatch",
        ),
        (
            "stale",
            good.clone(),
            Some(signed(&good, DEFAULT_KEY, now - 301_000)),
            401,
            "signature_stale",
        ),
        (
            "future",
            good.clone(),
            Some(signed(&good, DEFAULT_KEY, now + 301_000)),
            401,
            "signature_stale",
        ),
        (
            "signed other body",
            good.clone(),
            Some(signed(&good.replace("ended", "started"), DEFAULT_KEY, now)),
            401,
            "signature_mismatch",
        ),
        (
            "malformed json",
            format!("{good}}}"),
            None,
            400,
            "malformed_json",
        ),
        (
            "missing call_id",
            r#"{"event":"call_ended","call":{"agent_id":"a"}}"#.into(),
            None,
            400,
            "missing_call_id",
        ),
        (
            "invalid call_id",
            r#"{"event":"call_ended","call":{"call_id":"../x"}}"#.into(),
            None,
            400,
            "invalid_call_id",
        ),
    ];
    for (name, body, sig, status, reason) in cases {
        let sig = sig.or_else(|| (status == 400).then(|| signed(&body, DEFAULT_KEY, now)));
        let (got, json) = post(&webhook, &body, sig.as_deref()).await;
        assert_eq!(
            (got, json["error"].as_str()),
            (status, Some(reason)),
            "{name}"
        );
    }
    // Above the size limit: 413 before any work.
    let huge = format!(
        r#"{{"event":"call_ended","call":{{"call_id":"{id}","t":"{}"}}}}"#,
        "x".repeat(f.config.max_body_bytes)
    );
    let (got, json) = post(&webhook, &huge, Some(&signed(&huge, DEFAULT_KEY, now))).await;
    assert_eq!((got, json["error"].as_str()), (413, Some("body_too_large")));
    let response = webhook.handle(request("GET", Vec::new(), None)).await;
    assert_eq!(response.status().as_u16(), 405);

    assert_eq!(
        f.total_queued().await,
        0,
        "nothing queued for rejected requests"
    );
    assert_eq!(
        f.archived_keys_of(&id).await,
        Vec::<String>::new(),
        "nothing stored under the unverified call_id"
    );
}

#[tokio::test]
async fn events_we_do_not_store_are_acknowledged() {
    let f = fixture(clients().await, DEFAULT_KEY).await;
    let webhook = f.webhook(Duration::from_secs(60));
    for event in ["transcript_updated", "call_something_new"] {
        let body = json!({"event": event, "call": {"call_id": call_id("ign")}}).to_string();
        let (status, json) = post_signed(&webhook, &body, DEFAULT_KEY).await;
        assert_eq!(
            (status, json),
            (200, json!({"status": "ignored"})),
            "{event}"
        );
    }
    assert_eq!(f.total_queued().await, 0);
}

/// Retell's transfer events travel on the call_started queue under their own names.
#[tokio::test]
async fn transfer_events_are_queued_with_the_live_call() {
    let f = fixture(clients().await, DEFAULT_KEY).await;
    let webhook = f.webhook(Duration::from_secs(60));
    let id = call_id("xfer");
    for event in TransferEvent::ALL {
        let body = json!({"event": event.as_str(), "call": {"call_id": id, "agent_id": "agent_x"},
                          "transfer_destination": "+493012345678"})
        .to_string();
        let (status, json) = post_signed(&webhook, &body, DEFAULT_KEY).await;
        assert_eq!(
            (status, json),
            (200, json!({"status": "accepted"})),
            "{event:?}"
        );
    }
    let queued = f.drain(TransferEvent::QUEUE).await;
    let names: Vec<String> = queued
        .iter()
        .map(|m| {
            serde_json::from_str::<Envelope<'_>>(m)
                .expect("envelope")
                .event
        })
        .collect();
    assert_eq!(
        names,
        TransferEvent::ALL.map(|e| e.as_str().to_owned()).to_vec()
    );
    assert_eq!(f.total_queued().await, 0, "nothing on the other queues");
}

#[tokio::test]
async fn queue_failure_is_a_5xx_so_retell_retries() {
    let mut f = fixture(clients().await, DEFAULT_KEY).await;
    let missing = format!(
        "{}-does-not-exist",
        f.config.queue_urls[&EventKind::CallEnded]
    );
    f.config.queue_urls.insert(EventKind::CallEnded, missing);
    let webhook = f.webhook(Duration::from_secs(60));
    let body = event_body("call_ended", &call_id("q5"), "agent_x");
    let (status, json) = post_signed(&webhook, &body, DEFAULT_KEY).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (503, Some("queue_unavailable"))
    );
}

#[tokio::test]
async fn rotated_key_is_used_after_a_failure_without_redeploy() {
    let f = fixture(clients().await, "key_old").await;
    let eager = f.webhook(Duration::ZERO);
    let throttled = f.webhook(Duration::from_secs(3600));
    let body = event_body("call_started", &call_id("rot"), "agent_x");
    let old_sig = sign(body.as_bytes(), "key_old", now_ms());
    assert_eq!(post(&eager, &body, Some(&old_sig)).await.0, 200);
    assert_eq!(post(&throttled, &body, Some(&old_sig)).await.0, 200);

    f.aws
        .secrets
        .put_secret_value()
        .secret_id(&f.secret_id)
        .secret_string("key_new")
        .send()
        .await
        .expect("rotate");
    let new_sig = sign(body.as_bytes(), "key_new", now_ms());
    // Re-read after a failure once the refresh interval has passed...
    assert_eq!(post(&eager, &body, Some(&new_sig)).await.0, 200);
    assert_eq!(
        post(&eager, &body, Some(&old_sig)).await.0,
        401,
        "old key no longer valid"
    );
    // ...but not more often than the interval allows.
    assert_eq!(post(&throttled, &body, Some(&new_sig)).await.0, 401);
}

/// A signature's time is checked before anything is looked up: a stale or replayed request
/// costs no read of the keys or the directory.
#[tokio::test]
async fn a_stale_signature_costs_no_lookup() {
    let (aws, log) = counted_clients().await;
    let f = fixture(aws, DEFAULT_KEY).await;
    let webhook = f.webhook(Duration::from_secs(60));
    let body = event_body("call_started", &call_id("stale"), "agent_never_seen");
    log.take();
    for at in [now_ms() - 6 * 60_000, now_ms() + 6 * 60_000] {
        let (status, json) = post(
            &webhook,
            &body,
            Some(&sign(body.as_bytes(), DEFAULT_KEY, at)),
        )
        .await;
        assert_eq!(
            (status, json["error"].clone()),
            (401, json!("signature_stale"))
        );
    }
    assert_eq!(log.take(), Vec::<String>::new(), "no AWS request at all");
}

/// During a key rotation a company holds its new key and the previous one: requests signed
/// with either pass until the previous one is removed from the secret.
#[tokio::test]
async fn a_company_holds_two_keys_during_a_rotation() {
    let doc = |previous: Option<&str>| {
        let mut default = json!({"company_id": "ops", "api_key": "key_new"});
        if let Some(p) = previous {
            default["previous_api_key"] = json!(p);
        }
        json!({"default": default}).to_string()
    };
    let f = fixture(clients().await, &doc(Some("key_old"))).await;
    let webhook = f.webhook(Duration::ZERO);
    let body = event_body("call_started", &call_id("rotation"), "agent_x");
    assert_eq!(post_signed(&webhook, &body, "key_old").await.0, 200);
    assert_eq!(post_signed(&webhook, &body, "key_new").await.0, 200);
    assert_eq!(post_signed(&webhook, &body, "key_other").await.0, 401);
    f.aws
        .secrets
        .put_secret_value()
        .secret_id(&f.secret_id)
        .secret_string(doc(None))
        .send()
        .await
        .expect("rotation done");
    assert_eq!(post_signed(&webhook, &body, "key_new").await.0, 200);
    assert_eq!(
        post_signed(&webhook, &body, "key_old").await.0,
        401,
        "the previous key ends with the rotation"
    );
}

#[tokio::test]
async fn each_company_is_verified_with_its_own_key() {
    // The directory says whose agent it is; the secret holds only the keys.
    let tag = call_id("salon").replace('_', "-");
    let agent = format!("agent_{tag}");
    let doc = json!({"default": {"company_id": "ops", "api_key": "key_ops"},
        "companies": [{"company_id": tag, "api_key": "key_salon"}]})
    .to_string();
    let f = fixture(clients().await, &doc).await;
    let mut settings: CompanySettings =
        serde_json::from_str(include_str!("../infra/local/companies/demo.json")).expect("demo");
    settings.company_id = tag.clone();
    settings.agent_ids = vec![agent.clone()];
    settings.phone_numbers = vec![];
    f.directory().put(&settings).await.expect("put company");
    let webhook = f.webhook(Duration::from_secs(60));
    let id = call_id("mt");
    let body = event_body("call_started", &id, &agent);
    assert_eq!(post_signed(&webhook, &body, "key_ops").await.0, 401);
    assert_eq!(post_signed(&webhook, &body, "key_salon").await.0, 200);
    let other = event_body("call_started", &call_id("mt"), "agent_unknown");
    assert_eq!(post_signed(&webhook, &other, "key_ops").await.0, 200);

    let companies: HashMap<String, String> = f
        .drain(EventKind::CallStarted)
        .await
        .iter()
        .map(|b| {
            let e: Envelope<'_> = serde_json::from_str(b).expect("envelope");
            (e.call_id, e.company_id)
        })
        .collect();
    assert_eq!(companies.get(&id).map(String::as_str), Some(tag.as_str()));
    assert_eq!(companies.len(), 2);
    assert!(companies.values().any(|c| c == "ops"));
}

#[tokio::test]
async fn multi_megabyte_call_ended_is_claim_checked_to_s3() {
    let (aws, log) = counted_clients().await;
    let f = fixture(aws, DEFAULT_KEY).await;
    let webhook = f.webhook(Duration::from_secs(60));
    let id = call_id("big");
    let words: Vec<Value> = (0..30_000)
        .map(|i| json!({"word": "Haarschnitt", "start": i as f64 * 0.3, "end": i as f64 * 0.3 + 0.25}))
        .collect();
    let body = json!({"event": "call_ended", "call": {"call_id": id, "call_status": "ended",
        "transcript": "Agent: Guten Tag\n".repeat(20_000),
        "transcript_object": [{"role": "user", "content": "...", "words": words}]}})
    .to_string();
    assert!(body.len() > 2_000_000, "{}", body.len());
    log.take();
    let (status, _) = post_signed(&webhook, &body, DEFAULT_KEY).await;
    assert_eq!(status, 200);
    assert_eq!(
        log.take(),
        [
            "Secrets Manager.GetSecretValue",
            "S3.PutObject",
            "SQS.SendMessage"
        ]
    );
    let key = format!("calls/default/{id}/call_ended.json");
    assert_eq!(f.archived(&key).await.as_deref(), Some(body.as_bytes()));
    let queued = f.drain(EventKind::CallEnded).await;
    assert_eq!(queued.len(), 1);
    assert!(queued[0].len() < 1024);
    let envelope: Envelope<'_> = serde_json::from_str(&queued[0]).expect("envelope");
    assert_eq!(envelope.payload_ref.as_deref(), Some(key.as_str()));
}

/// A body nested `depth` levels deep (the root and `call` are two of them).
fn nested_body(id: &str, depth: usize, with_status: bool) -> String {
    let inner = depth - 2;
    let status = if with_status {
        r#""call_status":"ended","#
    } else {
        ""
    };
    format!(
        r#"{{"event":"call_ended","call":{{"call_id":"{id}",{status}"agent_id":"agent_x","start_timestamp":{},"custom":{}1{}}}}}"#,
        now_ms(),
        "[".repeat(inner),
        "]".repeat(inner)
    )
}

#[tokio::test]
async fn whatever_the_webhook_accepts_a_consumer_stores() {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    use shared::calls::consumer::Consumer;
    use shared::calls::store::{CallStore, DynamoCallStore};
    use shared::retell::{CallId, MAX_JSON_DEPTH};

    let f = fixture(clients().await, DEFAULT_KEY).await;
    let webhook = f.webhook(Duration::from_secs(60));
    // Deeper than DynamoDB or serde_json take: refused, nothing queued.
    for depth in [MAX_JSON_DEPTH + 1, 129, 5_000] {
        let body = nested_body(&call_id("deep"), depth, true);
        assert_eq!(
            post_signed(&webhook, &body, DEFAULT_KEY).await,
            (400, json!({"error": "too_deeply_nested"})),
            "depth {depth}"
        );
    }
    // Not UTF-8 inside a field the syntax check skips: refused.
    let mut bytes = nested_body(&call_id("utf"), 3, true).into_bytes();
    let at = bytes.len() - 2;
    bytes.splice(
        at..at,
        [b',', b'"', b'x', b'"', b':', b'"', 0xff, 0xfe, b'"'],
    );
    let sig = sign(&bytes, DEFAULT_KEY, now_ms());
    let response = webhook
        .handle(request("POST", bytes.clone(), Some(&sig)))
        .await;
    assert_eq!(response.status().as_u16(), 400, "{:?}", response.body());
    assert_eq!(f.total_queued().await, 0);

    // At the limit, and without a call_status: accepted, and the consumer stores it.
    let id = call_id("limit");
    let body = nested_body(&id, MAX_JSON_DEPTH, false);
    assert_eq!(post_signed(&webhook, &body, DEFAULT_KEY).await.0, 200);
    let queued = f.drain(EventKind::CallEnded).await;
    assert_eq!(queued.len(), 1);
    let consumer_env = stack().env("call-ended");
    let c = shared::platform::config::ConsumerConfig::from_env(&consumer_env).expect("env");
    let store = DynamoCallStore::new(
        f.aws.dynamodb.clone(),
        c.calls_table.clone(),
        c.stats_table.clone(),
    );
    let consumer = Consumer::build(EventKind::CallEnded, &c, &f.aws);
    let mut event = SqsEvent::default();
    let mut message = SqsMessage::default();
    message.message_id = Some("m1".into());
    message.body = Some(queued[0].clone());
    event.records.push(message);
    let failures = consumer.handle_batch(event).await.batch_item_failures;
    assert!(failures.is_empty(), "the consumer stores what was accepted");
    let record = store
        .load(&CallId::parse(&id).expect("id"))
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(
        record.call_status(),
        Some("ended"),
        "call_ended says the call ended"
    );
    assert!(record.fields.contains_key("custom"));
}

/// API Gateway's HTTP API hands a body that is not UTF-8 to the function base64-encoded
/// (`isBase64Encoded`): a JSON event cannot carry it as text. That event, through lambda_http's
/// own conversion, is refused with 400.
#[tokio::test]
async fn a_base64_encoded_body_that_is_not_utf8_is_refused() {
    use lambda_http::request::LambdaRequest;

    let f = fixture(clients().await, DEFAULT_KEY).await;
    let webhook = f.webhook(Duration::from_secs(60));
    let mut bytes = format!(
        r#"{{"event":"call_started","call":{{"call_id":"{}","transcript":"Gr"#,
        call_id("b64")
    )
    .into_bytes();
    bytes.extend_from_slice(&[0xfc, 0xdf, 0x65]);
    bytes.extend_from_slice(br#""}}"#);
    let signature = sign(&bytes, DEFAULT_KEY, now_ms());
    let event = json!({
        "version": "2.0", "routeKey": "POST /api/retell/webhook", "rawPath": "/api/retell/webhook",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-retell-signature": signature},
        "requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "r1", "routeKey": "POST /api/retell/webhook",
            "stage": "$default", "time": "25/Nov/2026:10:00:00 +0000", "timeEpoch": 1_795_000_000_000i64,
            "http": {"method": "POST", "path": "/api/retell/webhook", "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.1", "userAgent": "Retell"}},
        "body": base64_encode(&bytes),
        "isBase64Encoded": true
    });
    let lambda_request: LambdaRequest = serde_json::from_value(event).expect("HTTP API event");
    let request = Request::from(lambda_request);
    assert_eq!(request.body().as_ref(), bytes.as_slice(), "decoded as sent");
    let response = webhook.handle(request).await;
    assert_eq!(response.status().as_u16(), 400);
    let reply: Value = serde_json::from_slice(response.body().as_ref()).expect("json");
    assert_eq!(reply, json!({"error": "invalid_utf8"}));
    assert_eq!(f.total_queued().await, 0);
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A claim that could name nobody (a megabyte agent id, an object where the id goes) costs no
/// directory lookup: it is verified with the default key, so a forged one is a 401, never a 503.
#[tokio::test]
async fn implausible_agent_ids_are_not_looked_up() {
    let (aws, log) = counted_clients().await;
    let f = fixture(aws, DEFAULT_KEY).await;
    let webhook = f.webhook(Duration::from_secs(60));
    let huge = "a".repeat(1_000_000);
    log.take();
    let forged = event_body("call_started", &call_id("huge"), &huge);
    assert_eq!(post_signed(&webhook, &forged, "key_wrong").await.0, 401);
    assert!(
        !log.take().iter().any(|r| r.starts_with("DynamoDB")),
        "no lookup for an id nobody could have"
    );
    let wrong_type = json!({"event": "call_started", "call": {"call_id": call_id("obj"),
        "agent_id": {"id": "agent_x"}}})
    .to_string();
    assert_eq!(
        post_signed(&webhook, &wrong_type, DEFAULT_KEY).await,
        (400, json!({"error": "malformed_json"}))
    );
    // Signed with the default key, an implausible agent is the default company's.
    let signed = event_body("call_started", &call_id("huge"), &huge);
    assert_eq!(post_signed(&webhook, &signed, DEFAULT_KEY).await.0, 200);
    let queued = f.drain(EventKind::CallStarted).await;
    assert_eq!(queued.len(), 1);
    let envelope: Envelope<'_> = serde_json::from_str(&queued[0]).expect("envelope");
    assert_eq!(envelope.company_id, "default");
}
