//! Verify + parse + route for Retell webhook bodies of 10 KB, 200 KB and 2 MB: the webhook's
//! CPU work per request. `benches/python_sdk_verify.py` does the same work through the official
//! Python retell-sdk for comparison (see docs/performance.md).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shared::calls::ingest::authenticate;
use shared::retell::keys::KeyRing;
use shared::retell::signature::{sign, verify_signature, SignatureHeader};
use shared::retell::{exceeds_json_depth, WebhookPeek, MAX_JSON_DEPTH};
use std::hint::black_box;

const KEY: &str = "key_bench_0123456789abcdef";

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
    let ring = KeyRing::single("default", KEY);
    let now = 1_700_000_100_000;
    let mut group = c.benchmark_group("verify_parse_route");
    for (label, size) in [("10KB", 10_000), ("200KB", 200_000), ("2MB", 2_000_000)] {
        let body = body(size);
        let signature = sign(body.as_bytes(), KEY, now);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label), &body, |b, body| {
            b.iter(|| {
                let verified = authenticate(
                    &ring,
                    None,
                    black_box(body.as_bytes()),
                    Some(&signature),
                    now,
                );
                black_box(verified.is_ok())
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
