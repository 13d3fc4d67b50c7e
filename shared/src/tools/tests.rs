use chrono::{NaiveDate, NaiveTime, Utc};
use serde_json::{json, Value};

use super::args::{looks_like_email, MAX_ARG_CHARS, MAX_NAME_CHARS, MAX_NOTES_CHARS};
use super::service::{cap_reply, company_key, parse_request, Claim};
use super::*;
use crate::booking::directory::CompanyKey;
use crate::calendar::is_appointment_id;
use crate::calendar::unresolved::{JournaledCalendar, WriteJournal};

#[test]
fn requests_with_and_without_the_envelope() {
    let (args, call) = parse_request(
            br#"{"name":"check_availability","args":{"date":"morgen"},"call":{"call_id":"c1","agent_id":"agent_demo","from_number":"+4917611112222"}}"#,
        )
        .expect("valid");
    assert_eq!(args.text("date"), Ok(Some("morgen")));
    assert_eq!(call.agent_id.as_deref(), Some("agent_demo"));
    let (args, call) =
        parse_request(br#"{"date":"morgen","service_id":"haircut"}"#).expect("valid");
    assert_eq!(args.text("service_id"), Ok(Some("haircut")));
    assert!(call.call_id.is_none());
    assert!(parse_request(b"[1]").is_err());
}

#[test]
fn company_from_agent_number_header_or_query() {
    let headers = lambda_http::http::HeaderMap::new();
    let call = CallInfo {
        agent_id: Some("agent_demo".into()),
        to_number: Some("+493012345678".into()),
        ..CallInfo::default()
    };
    assert_eq!(
        company_key(&call, &headers, ""),
        Claim::Signed(CompanyKey::Agent("agent_demo".into()))
    );
    let call = CallInfo {
        to_number: Some("030 12345678".into()),
        ..CallInfo::default()
    };
    assert_eq!(
        company_key(&call, &headers, ""),
        Claim::Signed(CompanyKey::Number("+493012345678".into()))
    );
    assert_eq!(
        company_key(&CallInfo::default(), &headers, "company_id=demo"),
        Claim::Unsigned(Some(CompanyKey::Id("demo".into())))
    );
    let mut headers = lambda_http::http::HeaderMap::new();
    headers.insert(
        "x-agent-id",
        lambda_http::http::HeaderValue::from_static("agent_x"),
    );
    assert_eq!(
        company_key(&CallInfo::default(), &headers, ""),
        Claim::Unsigned(Some(CompanyKey::Agent("agent_x".into())))
    );
    assert_eq!(
        company_key(
            &CallInfo::default(),
            &lambda_http::http::HeaderMap::new(),
            ""
        ),
        Claim::Unsigned(None)
    );
}

#[test]
fn replies_are_capped() {
    let slots: Vec<String> = (0..5000)
        .map(|i| format!("{:02}:{:02}", i % 24, i % 60))
        .collect();
    let reply = cap_reply(json!({"available": true, "slots": slots, "message": "ok"}));
    assert!(reply.to_string().chars().count() <= MAX_REPLY_CHARS);
    assert!(!reply["slots"].as_array().map(Vec::is_empty).unwrap_or(true));
}

fn args(value: Value) -> Args {
    match value {
        Value::Object(map) => Args(map),
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn arguments_are_absent_readable_or_refused() {
    let long = "x".repeat(1_000_000);
    let exactly = "y".repeat(MAX_ARG_CHARS);
    let a = args(json!({
        "missing_is_absent": null, "empty": "", "blank": "  \t ", "padded": "  morgen ",
        "number": 14, "float": 14.5, "bool": true, "object": {"day": 15}, "array": ["15"],
        "long": long, "exactly": exactly, "nul": "mor\u{0}gen", "newline": "mor\ngen",
        "bidi": "Anna\u{202e}", "umlaut": "Müller", "numeric_text": " 45 ", "word": "lang",
        "nan": "NaN", "huge": u64::MAX,
    }));
    let text: &[(&str, Result<Option<&str>, ArgError>)] = &[
        ("absent", Ok(None)),
        ("missing_is_absent", Ok(None)),
        ("empty", Ok(None)),
        ("blank", Ok(None)),
        ("padded", Ok(Some("morgen"))),
        ("umlaut", Ok(Some("Müller"))),
        ("exactly", Ok(Some(exactly.as_str()))),
        ("number", Err(ArgError::WrongType)),
        ("float", Err(ArgError::WrongType)),
        ("bool", Err(ArgError::WrongType)),
        ("object", Err(ArgError::WrongType)),
        ("array", Err(ArgError::WrongType)),
        (
            "long",
            Err(ArgError::TooLong {
                max_chars: MAX_ARG_CHARS,
            }),
        ),
        ("nul", Err(ArgError::ControlCharacters)),
        ("newline", Err(ArgError::ControlCharacters)),
        ("bidi", Err(ArgError::ControlCharacters)),
    ];
    for (name, want) in text {
        assert_eq!(a.text(name), *want, "text {name}");
    }
    let time: &[(&str, Result<Option<&str>, ArgError>)] = &[
        ("number", Ok(Some("14"))),
        ("huge", Ok(Some("18446744073709551615"))),
        ("padded", Ok(Some("morgen"))),
        ("absent", Ok(None)),
        ("float", Err(ArgError::WrongType)),
        ("bool", Err(ArgError::WrongType)),
        ("array", Err(ArgError::WrongType)),
    ];
    for (name, want) in time {
        assert_eq!(
            a.text_or_integer(name).as_ref().map(|t| t.as_deref()),
            want.as_ref().map(|t| *t),
            "text_or_integer {name}"
        );
    }
    let number: &[(&str, Result<Option<f64>, ArgError>)] = &[
        ("number", Ok(Some(14.0))),
        ("float", Ok(Some(14.5))),
        ("numeric_text", Ok(Some(45.0))),
        ("empty", Ok(None)),
        ("absent", Ok(None)),
        ("word", Err(ArgError::Unreadable)),
        ("nan", Err(ArgError::Unreadable)),
        ("bool", Err(ArgError::WrongType)),
        ("object", Err(ArgError::WrongType)),
        (
            "long",
            Err(ArgError::TooLong {
                max_chars: MAX_ARG_CHARS,
            }),
        ),
    ];
    for (name, want) in number {
        assert_eq!(a.number(name), *want, "number {name}");
    }
    assert_eq!(
        a.stored_text("newline", MAX_NOTES_CHARS, true),
        Ok(Some("mor\ngen"))
    );
    assert_eq!(
        a.stored_text("nul", MAX_NOTES_CHARS, true),
        Err(ArgError::ControlCharacters)
    );
    assert_eq!(
        a.stored_text("exactly", 10, false),
        Err(ArgError::TooLong { max_chars: 10 })
    );
}

#[test]
fn email_addresses_and_appointment_ids_have_a_shape() {
    for (email, ok) in [
        ("anna@example.com", true),
        ("anna.schmidt+salon@mail.example.de", true),
        ("anna", false),
        ("anna@", false),
        ("@example.com", false),
        ("anna@example", false),
        ("anna@@example.com", false),
        ("anna schmidt@example.com", false),
        ("anna@example..com", false),
        ("anna@-example.com", false),
        ("<anna@example.com>", false),
    ] {
        assert_eq!(looks_like_email(email), ok, "{email}");
    }
    for (id, ok) in [
        ("apt_0123456789abcdef", true),
        ("apt_0123456789ABCDEF", false),
        ("apt_0123456789abcde", false),
        ("0123456789abcdef", false),
        ("apt_0123456789abcdef#x", false),
        ("12345", false),
    ] {
        assert_eq!(is_appointment_id(id), ok, "{id}");
    }
}

#[test]
fn deeply_nested_requests_are_malformed_not_a_crash() {
    let deep = format!(
        r#"{{"args": {{"date": {}1{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(
        parse_request(deep.as_bytes()).is_err(),
        "serde's depth limit"
    );
}

fn unreachable_calendar() -> crate::calendar::CompanyCalendar {
    super::offline::unreachable_calendar()
}

/// A tool context for the demo salon on 2025-01-15 (a Wednesday), 08:00 in Berlin. Its
/// calendar points nowhere: these tests pass only if nothing asks it.
fn with_demo_context<R>(from_number: Option<&str>, f: impl FnOnce(&ToolContext<'_>) -> R) -> R {
    let company = crate::booking::company::demo_company();
    let calendar = unreachable_calendar();
    let journal = WriteJournal::default();
    let calendar = JournaledCalendar::new(&calendar, &journal);
    let call = CallInfo {
        from_number: from_number.map(str::to_owned),
        ..CallInfo::default()
    };
    let now = "2025-01-15T07:00:00Z".parse().unwrap_or_default();
    f(&ToolContext {
        company: &company,
        calendar: &calendar,
        call: &call,
        now,
    })
}

fn refused_argument(reply: &Value) -> Option<&str> {
    (reply["success"] == json!(false))
        .then(|| reply["argument"].as_str())
        .flatten()
}

#[test]
fn dates_outside_today_to_the_horizon_are_refused() {
    with_demo_context(None, |ctx| {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        // The demo salon books 180 days ahead: until 2025-07-14.
        assert_eq!(ctx.last_bookable_day(), day(2025, 7, 14));
        let cases: &[(Value, Option<NaiveDate>, &str)] = &[
            (json!("morgen"), Some(day(2025, 1, 16)), ""),
            (json!("2025-07-14"), Some(day(2025, 7, 14)), ""),
            (json!("14.07.2025"), Some(day(2025, 7, 14)), ""),
            (json!("2025-07-15"), None, "So weit im Voraus"),
            (json!("9999-12-31"), None, "So weit im Voraus"),
            (json!("1. Januar 9999"), None, "So weit im Voraus"),
            (json!("0000-01-01"), None, "Vergangenheit"),
            (json!("2025-02-30"), None, "gibt es im Kalender nicht"),
            (json!("30. Februar"), None, "gibt es im Kalender nicht"),
            (json!("irgendwann"), None, "nicht verstanden"),
            (json!(15), None, "nicht lesen"),
            (json!(20250115), None, "nicht lesen"),
            (json!({"day": 15}), None, "nicht lesen"),
            (json!(["morgen"]), None, "nicht lesen"),
            (json!(true), None, "nicht lesen"),
            (json!("x".repeat(20_000)), None, "zu lang"),
            (json!("morgen\u{7}"), None, "Steuerzeichen"),
            (Value::Null, None, "Für welchen Tag"),
            (json!(""), None, "Für welchen Tag"),
        ];
        for (value, want, fragment) in cases {
            let a = args(json!({ "date": value }));
            match (ctx.date(&a, "date"), want) {
                (Ok(got), Some(want)) => assert_eq!(got, *want, "{value}"),
                (Err(reply), None) => {
                    assert_eq!(refused_argument(&reply), Some("date"), "{value}: {reply}");
                    assert!(
                        reply["message"]
                            .as_str()
                            .unwrap_or_default()
                            .contains(fragment),
                        "{value}: {reply}"
                    );
                }
                (got, _) => panic!("{value}: {got:?}"),
            }
        }
        assert!(ctx
            .nothing_free(day(2025, 7, 10), 14)
            .starts_with("Bis Montag, 14. Juli 2025 ist leider nichts mehr frei"));
        assert!(ctx
            .nothing_free(day(2025, 1, 16), 14)
            .contains("zwei Wochen"));
        // Finding an existing appointment knows no horizon, but still no past.
        let a = args(json!({"date": "2025-12-01"}));
        assert_eq!(ctx.appointment_date(&a, "date"), Ok(Some(day(2025, 12, 1))));
        assert_eq!(ctx.appointment_date(&args(json!({})), "date"), Ok(None));
        let a = args(json!({"date": "2020-01-01"}));
        assert!(ctx.appointment_date(&a, "date").is_err());
    });
}

#[test]
fn times_phones_and_durations_are_read_or_refused() {
    with_demo_context(Some("+4917611112222"), |ctx| {
        let day = NaiveDate::from_ymd_opt(2025, 1, 21).unwrap_or_default();
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default();
        let cases: &[(Value, Option<NaiveTime>)] = &[
            (json!("halb drei"), Some(at(14, 30))),
            (json!(14), Some(at(14, 0))),
            (json!(3), Some(at(15, 0))),
            (json!(930), None),
            (json!(14.5), None),
            (json!("14:00\n"), Some(at(14, 0))),
            (json!("14:\u{0}00"), None),
            (json!({"hour": 14}), None),
            (json!(false), None),
        ];
        for (value, want) in cases {
            let a = args(json!({ "time": value }));
            match (ctx.time(&a, "time", day), want) {
                (Ok(got), Some(want)) => assert_eq!(got, *want, "{value}"),
                (Err(reply), None) => {
                    assert_eq!(refused_argument(&reply), Some("time"), "{value}: {reply}")
                }
                (got, _) => panic!("{value}: {got:?}"),
            }
        }
        assert_eq!(
            ctx.optional_time(&args(json!({"time": null})), "time", day),
            Ok(None)
        );

        let phone = |v: Value| {
            ctx.contact_number(&args(json!({ "phone": v })), "phone")
                .map(|(p, own_line)| (p.as_str().to_owned(), own_line))
        };
        assert_eq!(
            phone(Value::Null),
            Ok(("+4917611112222".to_owned(), true)),
            "absent: the caller's number"
        );
        assert_eq!(
            phone(json!("0176 1111 2222")),
            Ok(("+4917611112222".to_owned(), true)),
            "the caller's own number, said aloud"
        );
        assert_eq!(
            phone(json!("0176 3333 4444")),
            Ok(("+4917633334444".to_owned(), false)),
            "another number: a contact, not the caller's own line"
        );
        for bad in [
            json!(4917633334444_u64),
            json!({"n": "0176"}),
            json!(["0176"]),
        ] {
            let reply = phone(bad.clone());
            assert_eq!(
                reply.as_ref().err().and_then(refused_argument),
                Some("phone"),
                "{bad} is refused, not replaced by the caller's number"
            );
        }

        let duration = |v: Value| ctx.duration(&args(json!({ "duration": v })), "duration");
        assert_eq!(duration(json!(45)), Ok(Some(45)));
        assert_eq!(duration(json!("60")), Ok(Some(60)));
        assert_eq!(duration(Value::Null), Ok(None));
        for bad in [
            json!("eine Stunde"),
            json!(true),
            json!(4),
            json!(601),
            json!([30]),
        ] {
            let reply = duration(bad.clone());
            assert_eq!(
                reply.as_ref().err().and_then(refused_argument),
                Some("duration"),
                "{bad}"
            );
        }
    });
}

#[test]
fn stored_text_is_bounded_and_email_shaped() {
    with_demo_context(None, |ctx| {
        let name = |v: Value| {
            ctx.stored_text(
                &args(json!({ "customer_name": v })),
                "customer_name",
                MAX_NAME_CHARS,
                false,
            )
            .map(|n| n.map(str::to_owned))
        };
        assert_eq!(
            name(json!(" Anna Schmidt ")),
            Ok(Some("Anna Schmidt".into()))
        );
        let longest = "ä".repeat(MAX_NAME_CHARS);
        assert_eq!(
            name(json!(longest)),
            Ok(Some(longest.clone())),
            "characters, not bytes"
        );
        for bad in [
            json!("x".repeat(20_000)),
            json!(format!("{longest}x")),
            json!(42),
            json!("Anna\nSchmidt"),
        ] {
            let reply = name(bad.clone());
            assert_eq!(
                reply.as_ref().err().and_then(refused_argument),
                Some("customer_name"),
                "{bad}"
            );
        }
        let email = |v: Value| {
            ctx.email(&args(json!({ "customer_email": v })), "customer_email")
                .map(|e| e.map(str::to_owned))
        };
        assert_eq!(
            email(json!("anna@example.com")),
            Ok(Some("anna@example.com".into()))
        );
        assert_eq!(email(json!("")), Ok(None));
        for bad in [
            json!("anna at example dot com"),
            json!(1),
            json!(format!("{}@example.com", "a".repeat(300))),
        ] {
            let reply = email(bad.clone());
            assert_eq!(
                reply.as_ref().err().and_then(refused_argument),
                Some("customer_email"),
                "{bad}"
            );
        }
    });
}

#[tokio::test]
async fn an_unreadable_appointment_argument_never_picks_the_only_appointment() {
    let company = crate::booking::company::demo_company();
    let calendar = unreachable_calendar();
    let journal = WriteJournal::default();
    let calendar = JournaledCalendar::new(&calendar, &journal);
    let call = CallInfo {
        from_number: Some("+4917611112222".into()),
        ..CallInfo::default()
    };
    let ctx = ToolContext {
        company: &company,
        calendar: &calendar,
        call: &call,
        now: Utc::now(),
    };
    // Each is refused before the (unreachable) calendar is asked.
    for (value, argument) in [
        (json!({"appointment_id": 12345}), "appointment_id"),
        (
            json!({"appointment_id": {"id": "apt_0123456789abcdef"}}),
            "appointment_id",
        ),
        (
            json!({"appointment_id": ["apt_0123456789abcdef"]}),
            "appointment_id",
        ),
        (json!({"appointment_id": true}), "appointment_id"),
        (json!({"date": 15}), "date"),
        (json!({"date": {"day": 15}}), "date"),
        (json!({"date": "2025-02-30"}), "date"),
        (json!({"phone": 4917611112222_u64}), "phone"),
        (
            json!({"appointment_id": "apt_0123456789abcdef", "date": [1]}),
            "date",
        ),
    ] {
        let reply = ctx.own_appointment(&args(value.clone())).await;
        assert_eq!(
            reply.as_ref().err().and_then(refused_argument),
            Some(argument),
            "{value}: {reply:?}"
        );
    }
    let not_ours = ctx
        .own_appointment(&args(json!({"appointment_id": "12345"})))
        .await;
    let reply = not_ours.err().unwrap_or_default();
    assert!(
        reply["message"]
            .as_str()
            .is_some_and(|m| m.contains("keinen passenden Termin")),
        "an id we never issued is not found without a calendar read: {reply}"
    );
}
