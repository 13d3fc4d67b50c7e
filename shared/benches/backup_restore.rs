//! A restore's own work per backed-up item (docs/performance.md): a data file of a table export
//! (gzip, one DynamoDB JSON item per line) unpacked and every line read into attribute values,
//! for 1,000 call items with a 3 kB transcript each. What a restore costs beyond this is one
//! conditional PutItem per item (a dry run: one BatchGetItem per 100).

use std::hint::black_box;
use std::io::{Read, Write};

use criterion::{criterion_group, criterion_main, Criterion};
use shared::backups::dynamo_json::item_of_line;

fn call_line(i: usize) -> String {
    let transcript = "Agent: Salon Mitte, guten Tag!\\nUser: Ich hätte gern einen Termin am Dienstag um 14 Uhr.\\n".repeat(30);
    format!(
        r#"{{"Item":{{"call_id":{{"S":"call_{i:032x}"}},"company_id":{{"S":"demo"}},"call_ts":{{"N":"1765000000{i:03}"}},"call_status":{{"S":"ended"}},"duration_ms":{{"N":"95000"}},"transcript":{{"S":"{transcript}"}},"events_applied":{{"SS":["call_started","call_ended","call_analyzed"]}},"call_analysis":{{"M":{{"call_summary":{{"S":"Termin gebucht"}},"call_successful":{{"BOOL":true}},"custom_analysis_data":{{"M":{{"service":{{"S":"haircut"}}}}}}}}}},"booked":{{"L":[{{"S":"apt_{i}"}}]}},"expires_at":{{"N":"1772776000"}}}}}}"#
    )
}

fn bench(c: &mut Criterion) {
    let lines: String = (0..1000).map(|i| call_line(i) + "\n").collect();
    let mut packed = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    packed.write_all(lines.as_bytes()).unwrap_or_default();
    let packed = packed.finish().unwrap_or_default();
    assert_eq!(
        lines.lines().filter(|l| item_of_line(l).is_ok()).count(),
        1000
    );
    c.bench_function("restore/unpack_and_read_1000_call_items", |b| {
        b.iter(|| {
            let mut text = String::new();
            flate2::read::GzDecoder::new(black_box(packed.as_slice()))
                .read_to_string(&mut text)
                .unwrap_or_default();
            text.lines()
                .filter_map(|l| item_of_line(l).ok())
                .map(|item| item.len())
                .sum::<usize>()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
