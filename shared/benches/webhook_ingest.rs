//! Verify + parse + route for Retell webhook bodies of 10 KB, 200 KB and 2 MB: the webhook's
//! CPU work per request, through the production path (`ingest`: size limit, signature header,
//! the agent's company from a warm directory, the key from a warm key provider, HMAC, routing,
//! the storability checks) into a queue that keeps nothing. `benches/python_sdk_verify.py` does
//! the same work through the official Python retell-sdk for comparison (docs/performance.md).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shared::booking::company::{Company, CompanySettings};
use shared::booking::directory::{CompanyDirectory, CompanyKey};
use shared::calls::ingest::ingest;
use shared::calls::queue::{AcceptedEvent, Delivery, EventQueue, QueueError};
use shared::platform::secrets::StaticSecret;
use shared::retell::auth::RequestAuth;
use shared::retell::keys::{KeyProvider, DEFAULT_REFRESH_INTERVAL};
use shared::retell::signature::{sign, verify_signature, SignatureHeader};
use shared::retell::{exceeds_json_depth, WebhookPeek, MAX_JSON_DEPTH};

const KEY: &str = "key_bench_0123456789abcdef";
const MAX_BODY_BYTES: usize = 8 << 20;

/// SQS's part is I/O, not what this measures.
struct NoQueue;

impl EventQueue for NoQueue {
    async fn enqueue(&self, _: &AcceptedEvent) -> Result<Delivery, QueueError> {
        Ok(Delivery::Inline)
    }
}

/// The webhook as a warm container has it: the key document read, and the demo company known
/// for `agent_demo` (the bodies' agent), so no request leaves the process.
fn warm_webhook(rt: &tokio::runtime::Runtime) -> RequestAuth<StaticSecret> {
    let keys = KeyProvider::new(
        StaticSecret(format!(
            r#"{{"default": {{"company_id": "default", "api_key": "key_other"}},
                "companies": [{{"company_id": "demo", "api_key": "{KEY}"}}]}}"#
        )),
        "default",
        DEFAULT_REFRESH_INTERVAL,
    );
    let settings: CompanySettings =
        serde_json::from_str(include_str!("../../infra/local/companies/demo.json"))
            .expect("demo.json parses");
    let company = Arc::new(Company::from_settings(settings).expect("demo.json is valid"));
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("eu-central-1"))
            .build(),
    );
    let directory = CompanyDirectory::new(dynamodb, "companies", Duration::from_secs(86_400));
    rt.block_on(directory.remember([CompanyKey::Agent("agent_demo".into())], Some(company)));
    RequestAuth::new(keys, directory)
}

/// A call_ended body of about `size` bytes; same recipe as the Python bench.
pub fn body(size: usize) -> String {
    let line = "User: Ich hätte gern einen Termin am Dienstag um halb drei.\n";
    let mut transcript = String::new();
    while transcript.len() + 400 < size {
        transcript.push_str(line);
    }
    serde_json::json!({
        "event": "call_ended",
        "call": {
            "call_id": "call_bench_0001", "agent_id": "agent_demo", "call_status": "ended",
            "from_number": "+4917611112222", "to_number": "+493012345678",
            "start_timestamp": 1_700_000_000_000i64, "end_timestamp": 1_700_000_300_000i64,
            "transcript": transcript,
        }
    })
    .to_string()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let webhook = warm_webhook(&rt);
    let now = 1_700_000_100_000;
    let mut group = c.benchmark_group("verify_parse_route");
    for (label, size) in [("10KB", 10_000), ("200KB", 200_000), ("2MB", 2_000_000)] {
        let body = Bytes::from(body(size));
        let signature = sign(&body, KEY, now);
        let accepted = rt.block_on(ingest(
            &webhook,
            &NoQueue,
            body.clone(),
            Some(&signature),
            now,
            MAX_BODY_BYTES,
        ));
        assert!(accepted.is_ok(), "the bench body is accepted: {accepted:?}");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label), &body, |b, body| {
            b.iter(|| {
                let outcome = rt.block_on(ingest(
                    &webhook,
                    &NoQueue,
                    black_box(body.clone()),
                    Some(&signature),
                    now,
                    MAX_BODY_BYTES,
                ));
                black_box(outcome.is_ok())
            })
        });
    }
    group.finish();

    // The two parts of that work, to see where the time goes.
    let mut parts = c.benchmark_group("parts");
    for (label, size) in [("10KB", 10_000), ("2MB", 2_000_000)] {
        let body = body(size);
        let signature = sign(body.as_bytes(), KEY, now);
        let header = SignatureHeader::parse(&signature).expect("valid header");
        parts.throughput(Throughput::Bytes(body.len() as u64));
        parts.bench_with_input(BenchmarkId::new("hmac_verify", label), &body, |b, body| {
            b.iter(|| verify_signature(black_box(body.as_bytes()), KEY, &header, now).is_ok())
        });
        parts.bench_with_input(BenchmarkId::new("json_peek", label), &body, |b, body| {
            b.iter(|| WebhookPeek::parse(black_box(body.as_bytes())).is_ok())
        });
        parts.bench_with_input(BenchmarkId::new("utf8_check", label), &body, |b, body| {
            b.iter(|| shared::retell::is_utf8(black_box(body.as_bytes())))
        });
        parts.bench_with_input(BenchmarkId::new("depth_check", label), &body, |b, body| {
            b.iter(|| exceeds_json_depth(black_box(body.as_bytes()), MAX_JSON_DEPTH))
        });
    }
    // Retell's word-level transcript: many small objects and strings, the depth check's worst
    // realistic case.
    let words: Vec<serde_json::Value> = (0..25_000)
        .map(|i| serde_json::json!({"word": "Haarschnitt", "start": i as f64 * 0.3, "end": i as f64 * 0.3 + 0.25}))
        .collect();
    let words = serde_json::json!({"event": "call_ended", "call": {"call_id": "call_bench_0001",
        "transcript_object": [{"role": "user", "content": "…", "words": words}]}})
    .to_string();
    parts.throughput(Throughput::Bytes(words.len() as u64));
    parts.bench_with_input(
        BenchmarkId::new("depth_check", "words"),
        &words,
        |b, body| b.iter(|| exceeds_json_depth(black_box(body.as_bytes()), MAX_JSON_DEPTH)),
    );
    parts.bench_with_input(BenchmarkId::new("json_peek", "words"), &words, |b, body| {
        b.iter(|| WebhookPeek::parse(black_box(body.as_bytes())).is_ok())
    });
    parts.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
