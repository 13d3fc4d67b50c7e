//! Free slots for one day with 200 existing bookings (target < 50 µs; docs/performance.md): one
//! schedule, and a team of 8 staff with 2 resources.

use chrono::{Duration, NaiveDate, NaiveTime};
use criterion::{criterion_group, criterion_main, Criterion};
use shared::booking::availability::{free_times, Occupancy};
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

    // 8 staff (everyone cuts, every other one colours, one off on Tuesdays' mornings), a colour
    // station and two washing chairs; the 200 bookings spread over staff and units.
    let mut settings: CompanySettings =
        serde_json::from_str(include_str!("../../infra/local/companies/demo.json"))
            .expect("demo.json");
    settings.staff = serde_json::from_value(serde_json::json!((0..8)
        .map(|i| {
            let mut person =
                serde_json::json!({"id": format!("s{i}"), "name": format!("Stylist {i}")});
            if i % 2 == 1 {
                person["services"] = serde_json::json!(["haircut", "beard"]);
            }
            if i == 7 {
                person["hours"] = serde_json::json!({"tue": ["13:00-18:00"]});
            }
            person
        })
        .collect::<Vec<_>>()))
    .expect("staff");
    settings.resources = serde_json::from_value(serde_json::json!([
        {"id": "color-station", "name": "Farbplatz", "capacity": 2, "services": ["coloring"]},
        {"id": "wash", "name": "Waschplatz", "capacity": 2, "services": ["haircut"]}
    ]))
    .expect("resources");
    let company = Company::from_settings(settings).expect("valid");
    let mut occupancy = Occupancy::default();
    for (i, b) in busy.iter().enumerate() {
        occupancy.staff_busy(&format!("s{}", i % 8), *b);
        occupancy.appointment(&format!("s{}", i % 8), day);
        if i % 4 == 0 {
            occupancy.unit_busy("wash", (i % 2) as u32, *b);
        }
        if i % 5 == 0 {
            occupancy.unit_busy("color-station", (i % 2) as u32, *b);
        }
    }
    for service_id in ["haircut", "coloring"] {
        let service = company
            .settings
            .services
            .iter()
            .find(|s| s.id == service_id)
            .expect("demo service");
        c.bench_function(
            &format!("free_times/8_staff_2_resources_200_bookings/{service_id}"),
            |b| {
                b.iter(|| {
                    free_times(
                        &company.team,
                        service,
                        black_box(day),
                        black_box(&occupancy),
                        now,
                        None,
                    )
                })
            },
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
