//! What a page costs the function beyond its DynamoDB round trips: rendering the calls list (a
//! full page of 50), a long call (200 utterances, 20 tool calls) and a year of analytics, from
//! data already read. Figures in docs/performance.md.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use control_center::auth::Viewer;
use control_center::data::CompanyView;
use control_center::i18n::Lang;
use control_center::pages::{analytics, appointments, call, calls, Ctx};
use control_center::ControlCenter;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use shared::calls::event::CallEvent;
use shared::calls::record::CallRecord;
use shared::calls::stats::CallStats;
use shared::calls::views::{CallFilter, CallPage, CallSummary};
use shared::platform::config::{ControlCenterConfig, Env};
use shared::retell::EventKind;

fn app() -> Arc<ControlCenter> {
    let vars: HashMap<String, String> = [
        ("AWS_REGION", "eu-central-1"),
        ("USER_POOL_ID", "eu-central-1_pool"),
        ("USER_POOL_CLIENT_ID", "client"),
        ("PUBLIC_BASE_URL", "https://api.example.com"),
        ("RETELL_SECRET_ID", "secret"),
        ("COMPANIES_TABLE", "companies"),
        ("CALLS_TABLE", "calls"),
        ("CALL_STATS_TABLE", "stats"),
        ("APPOINTMENTS_TABLE", "appointments"),
        ("CALL_STARTED_QUEUE_URL", "q1"),
        ("CALL_ENDED_QUEUE_URL", "q2"),
        ("CALL_ANALYZED_QUEUE_URL", "q3"),
        ("CALL_STARTED_DLQ_URL", "d1"),
        ("CALL_ENDED_DLQ_URL", "d2"),
        ("CALL_ANALYZED_DLQ_URL", "d3"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = ControlCenterConfig::from_env(&Env::from_map(vars)).expect("config");
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("eu-central-1"))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    Arc::new(ControlCenter::build(&config, &sdk).expect("build"))
}

fn ctx(app: &Arc<ControlCenter>) -> Ctx {
    Ctx {
        app: app.clone(),
        viewer: Viewer::Staff {
            user: "anna@salon.example".into(),
            company_id: "demo".into(),
        },
        csrf: "0".repeat(64),
        lang: Lang::De,
        company: CompanyView {
            id: "demo".into(),
            name: "Salon Demo".into(),
            time_zone: chrono_tz::Europe::Berlin,
            language: "de".into(),
            settings: None,
        },
        companies: vec!["demo".into()],
        set_cookies: Vec::new(),
    }
}

/// The demo salon with 8 staff (everyone cuts hair) and 200 appointments on one day, spread
/// over them: the desk's day page at its largest expected size.
fn busy_day() -> (
    shared::booking::company::Company,
    NaiveDate,
    Vec<shared::calendar::Appointment>,
) {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let mut settings: shared::booking::company::CompanySettings =
        serde_json::from_str(include_str!("../../../infra/local/companies/demo.json"))
            .expect("demo");
    settings.staff = (1..=8)
        .map(|i| {
            serde_json::from_value(json!({"id": format!("p{i}"), "name": format!("Person {i}")}))
                .expect("staff")
        })
        .collect();
    let company = shared::booking::company::Company::from_settings(settings).expect("company");
    let day = NaiveDate::from_ymd_opt(2026, 12, 15).expect("day");
    let list = (0..200)
        .map(|i: i64| {
            let start = 1_765_785_600_000 + (i % 25) * 1_200_000;
            let item: HashMap<String, A> = [
                ("appointment_id", A::S(format!("apt_{i:016x}"))),
                ("company_id", A::S("demo".into())),
                ("date", A::S(day.to_string())),
                (
                    "time",
                    A::S(format!("{:02}:{:02}", 9 + (i % 25) / 3, (i % 3) * 20)),
                ),
                ("start_ms", A::N(start.to_string())),
                ("end_ms", A::N((start + 1_800_000).to_string())),
                ("service_id", A::S("haircut".into())),
                ("customer_phone", A::S(format!("+49151{i:08}"))),
                ("customer_name", A::S(format!("Kundin {i}"))),
                ("status", A::S("booked".into())),
                ("staff_id", A::S(format!("p{}", 1 + i % 8))),
                ("call_id", A::S(format!("call_{i:026x}"))),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            shared::calendar::ledger::parse_appointment(&item).expect("appointment")
        })
        .collect();
    (company, day, list)
}

fn long_call() -> CallRecord {
    let mut transcript = Vec::new();
    let mut tools = Vec::new();
    for i in 0..200 {
        let role = if i % 2 == 0 { "agent" } else { "user" };
        transcript.push(json!({"role": role, "content": format!("Satz {i}: Ich hätte gern einen Termin am Dienstag um zehn Uhr, wenn das geht.")}));
    }
    for i in 0..20 {
        tools.push(json!({"role": "tool_call_invocation", "tool_call_id": format!("t{i}"), "name": "check_availability",
                          "arguments": "{\"date\":\"2026-12-01\",\"service_id\":\"haircut\"}"}));
        tools.push(json!({"role": "tool_call_result", "tool_call_id": format!("t{i}"),
                          "content": "{\"available\":true,\"slots\":[\"09:00\",\"09:15\",\"09:30\"]}"}));
    }
    let body = json!({"event": "call_analyzed", "call": {
        "call_id": "call_bench", "call_status": "ended", "start_timestamp": 1_764_000_000_000_i64,
        "duration_ms": 600_000, "transcript_object": transcript, "transcript_with_tool_calls": tools,
        "call_analysis": {"call_summary": "Termin gebucht", "user_sentiment": "Positive", "call_successful": true},
        "call_cost": {"combined_cost": 41.5}, "latency": {"e2e": {"p50": 900.0, "p90": 1400.0}}}});
    let event = CallEvent::from_payload(
        EventKind::CallAnalyzed,
        "demo",
        0,
        body.to_string().as_bytes(),
    )
    .expect("event");
    CallRecord::apply(None, &event, &chrono_tz::Europe::Berlin)
        .expect("record")
        .record
}

fn bench(c: &mut Criterion) {
    let app = app();
    let ctx = ctx(&app);
    let day = NaiveDate::from_ymd_opt(2026, 11, 30).expect("day");
    let page = CallPage {
        calls: (0..50)
            .map(|i| CallSummary {
                call_id: format!("call_{i:026x}"),
                call_ts: 1_764_500_000_000 + i * 60_000,
                call_status: Some("ended".into()),
                from_number: Some(format!("+49176111{i:05}")),
                direction: Some("inbound".into()),
                duration_ms: Some(185_000),
                user_sentiment: Some("Positive".into()),
                call_summary: Some("Der Anrufer hat einen Haarschnitt am Dienstag gebucht.".into()),
                ..Default::default()
            })
            .collect(),
        next: Some("7b".repeat(40)),
    };
    let names = (0..50)
        .filter(|i| i % 2 == 0)
        .map(|i| (format!("+49176111{i:05}"), format!("Kundin {i}")))
        .collect();
    c.bench_function("calls page (50 calls)", |b| {
        b.iter(|| {
            calls::render(&ctx, day, &CallFilter::default(), &page, &names)
                .into_string()
                .len()
        })
    });
    let record = long_call();
    let caller = shared::booking::phone::PhoneNumber::parse("+4917611112222").expect("phone");
    c.bench_function("call page (200 utterances, 20 tool calls)", |b| {
        b.iter(|| {
            call::render(
                &ctx,
                &record,
                &[],
                chrono_tz::Europe::Berlin,
                None,
                Some((
                    caller.clone(),
                    shared::calendar::ledger::CustomerRecord {
                        name: Some("Eva Fett".into()),
                        vip: false,
                        no_messages: false,
                    },
                )),
            )
            .into_string()
            .len()
        })
    });
    let (company, day, list) = busy_day();
    c.bench_function("desk day page (8 staff, 200 appointments)", |b| {
        b.iter(|| {
            appointments::render(&ctx, &company, day, false, &list, None)
                .into_string()
                .len()
        })
    });
    c.bench_function("desk week page (200 appointments)", |b| {
        b.iter(|| {
            appointments::render(&ctx, &company, day, true, &list, None)
                .into_string()
                .len()
        })
    });
    let from = NaiveDate::from_ymd_opt(2025, 12, 1).expect("from");
    let days: Vec<(NaiveDate, CallStats)> = (0..366)
        .map(|i| {
            let mut s = CallStats {
                calls: 30 + i % 7,
                minutes: 90,
                booked: 9,
                successful: 25,
                unsuccessful: 5,
                ..Default::default()
            };
            s.by_hour[9 + (i as usize % 8)] = 30;
            (from + chrono::Duration::days(i), s)
        })
        .collect();
    let to = days.last().map(|d| d.0).unwrap_or(from);
    let staff = [("Anna", 120), ("Ben", 80), ("Clara", 95)]
        .map(|(name, n)| (name.to_owned(), n))
        .into();
    c.bench_function("analytics page (366 days)", |b| {
        b.iter(|| {
            analytics::render(&ctx, from, to, &days, &staff, None)
                .into_string()
                .len()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
