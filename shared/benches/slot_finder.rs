//! Free slots for one day with 200 existing bookings (target < 50 µs; docs/performance.md).

use chrono::{Duration, NaiveDate, NaiveTime};
use criterion::{criterion_group, criterion_main, Criterion};
use shared::booking::company::{Company, CompanySettings};
use shared::booking::slots::{local_instant, Busy, ServiceTiming, SlotFinder};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    // The demo salon, from the same file `make dev` loads.
    let settings: CompanySettings =
        serde_json::from_str(include_str!("../../infra/local/companies/demo.json"))
            .expect("demo.json");
    let schedule = Company::from_settings(settings).expect("valid").schedule;
    let day = NaiveDate::from_ymd_opt(2025, 1, 14).unwrap_or_default();
    let tz = schedule.time_zone;
    let open = local_instant(
        &tz,
        day,
        NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
    );
    let open = open.unwrap_or_default();
    // 200 short bookings (several chairs' worth) spread over the day, unsorted.
    let busy: Vec<Busy> = (0..200)
        .map(|i| {
            let start = open + Duration::minutes(((i * 37) % 530) as i64);
            Busy {
                start,
                end: start + Duration::minutes(5),
            }
        })
        .collect();
    let now = open - Duration::days(1);
    let service = ServiceTiming {
        duration_minutes: 30,
        buffer_minutes: 5,
    };
    c.bench_function("free_slots/200_bookings", |b| {
        b.iter(|| {
            SlotFinder::new(&schedule).free_slots(black_box(day), service, black_box(&busy), now)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
