//! The agent's tools against the emulator: signed requests through the real handlers, the
//! native calendar's atomic bookings, ownership, tenant isolation and round-trip counts.

use std::time::Duration;

use chrono::{Duration as Days, Utc};
use integration_tests::tool_harness::{
    assert_arguments_are_read_never_guessed, berlin_today, calendar, call, company,
    company_with_numbers, demo_settings, directory, next_tuesday, put_company, request, service,
    settings_with_horizon, slots, Tools,
};
use integration_tests::{clients, counted_clients, now_ms, stack, DEFAULT_KEY};
use lambda_http::Body;
use serde_json::{json, Value};
use shared::calendar::Calendar;
use shared::retell::signature::sign;
use shared::tools::Tool;

use book_appointment::BookAppointment;
use cancel_appointment::CancelAppointment;
use check_availability::CheckAvailability;
use get_customer_info::GetCustomerInfo;
use reschedule_appointment::RescheduleAppointment;

#[tokio::test]
async fn availability_follows_hours_breaks_and_closed_days() {
    let aws = clients().await;
    let (_, agent) = company(&aws).await;
    let svc = service(CheckAvailability, &aws);
    let day = next_tuesday();
    let reply = call(
        &svc,
        &agent,
        "+4917600000001",
        json!({"date": day.to_string(), "service_id": "Haarschnitt"}),
    )
    .await;
    assert_eq!(reply["available"], json!(true), "{reply}");
    let free = slots(&reply);
    assert!(
        free.contains(&"09:00".into())
            && free.contains(&"11:30".into())
            && free.contains(&"17:30".into())
    );
    assert!(!free.contains(&"12:00".into()) && !free.contains(&"11:45".into()));
    assert!(reply["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Am Dienstag"));

    let sunday = day + Days::days(5);
    let reply = call(
        &svc,
        &agent,
        "+4917600000001",
        json!({"date": sunday.to_string(), "service_id": "haircut"}),
    )
    .await;
    assert_eq!(reply["available"], json!(false));
    assert_eq!(
        reply["next_days"][0]["date"],
        json!((sunday + Days::days(1)).to_string())
    );

    for (args, fragment) in [
        (
            json!({"date": "irgendwann", "service_id": "haircut"}),
            "nicht verstanden",
        ),
        (
            json!({"date": day.to_string(), "service_id": "Maniküre"}),
            "bieten wir leider nicht an",
        ),
        (
            json!({"date": "2020-01-01", "service_id": "haircut"}),
            "Vergangenheit",
        ),
        (json!({"service_id": "haircut"}), "Für welchen Tag"),
    ] {
        let reply = call(&svc, &agent, "+4917600000001", args.clone()).await;
        assert_eq!(reply["success"], json!(false), "{args}");
        assert!(
            reply["message"]
                .as_str()
                .unwrap_or_default()
                .contains(fragment),
            "{args}: {reply}"
        );
    }
}

#[tokio::test]
async fn booking_is_atomic_idempotent_and_blocks_the_slot() {
    let aws = clients().await;
    let (_, agent) = company(&aws).await;
    let book = service(BookAppointment, &aws);
    let check = service(CheckAvailability, &aws);
    let day = next_tuesday().to_string();
    let args = json!({"date": day, "time": "10 Uhr", "service_id": "haircut", "customer_name": "Anna Schmidt"});
    let first = call(&book, &agent, "+4917611112222", args.clone()).await;
    assert_eq!(first["success"], json!(true), "{first}");
    assert_eq!(first["time"], json!("10:00"));
    // Retell's retry of the same call's booking: the same appointment, not "slot taken".
    let retry = call(&book, &agent, "+4917611112222", args.clone()).await;
    assert_eq!(retry["success"], json!(true));
    assert_eq!(retry["appointment_id"], first["appointment_id"]);
    // Another caller: taken, with alternatives.
    let other = call(&book, &agent, "+4917633334444", args).await;
    assert_eq!(other["success"], json!(false));
    assert!(
        !other["alternatives"]
            .as_array()
            .map(Vec::is_empty)
            .unwrap_or(true),
        "{other}"
    );
    let free = slots(
        &call(
            &check,
            &agent,
            "+4917600000001",
            json!({"date": day, "service_id": "haircut"}),
        )
        .await,
    );
    assert!(
        !free.contains(&"10:00".into()) && !free.contains(&"09:45".into()),
        "overlapping starts are gone"
    );
    assert!(free.contains(&"09:30".into()) && free.contains(&"10:30".into()));
}

#[tokio::test]
async fn simultaneous_bookings_of_one_slot_have_one_winner() {
    let aws = clients().await;
    let (_, agent) = company(&aws).await;
    let book = std::sync::Arc::new(service(BookAppointment, &aws));
    let day = next_tuesday().to_string();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (book, agent, day) = (book.clone(), agent.clone(), day.clone());
        tasks.push(tokio::spawn(async move {
            // Different services and lengths that all overlap 15:00–15:15.
            let (time, service) = [
                ("15:00", "haircut"),
                ("14:30", "coloring"),
                ("15:00", "beard"),
                ("14:45", "haircut"),
            ][i % 4];
            call(
                &book,
                &agent,
                &format!("+49176555500{i:02}"),
                json!({"date": day, "time": time, "service_id": service}),
            )
            .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("join")["success"] == json!(true) {
            wins += 1;
        }
    }
    assert_eq!(wins, 1, "exactly one of the overlapping bookings wins");
}

#[tokio::test]
async fn buffers_keep_time_free_after_long_services() {
    let aws = clients().await;
    let (_, agent) = company(&aws).await;
    let book = service(BookAppointment, &aws);
    let day = next_tuesday().to_string();
    let colored = call(
        &book,
        &agent,
        "+4917611110000",
        json!({"date": day, "time": "14:00", "service_id": "Färben"}),
    )
    .await;
    assert_eq!(colored["success"], json!(true), "{colored}");
    // 90 minutes + 15 minutes buffer: 15:30 is still blocked, 15:45 is free.
    let blocked = call(
        &book,
        &agent,
        "+4917611110001",
        json!({"date": day, "time": "15:30", "service_id": "beard"}),
    )
    .await;
    assert_eq!(blocked["success"], json!(false));
    let free = call(
        &book,
        &agent,
        "+4917611110001",
        json!({"date": day, "time": "15:45", "service_id": "beard"}),
    )
    .await;
    assert_eq!(free["success"], json!(true), "{free}");
    let closed = call(
        &book,
        &agent,
        "+4917611110001",
        json!({"date": day, "time": "12:15", "service_id": "beard"}),
    )
    .await;
    assert_eq!(closed["success"], json!(false), "lunch break");
}

#[tokio::test]
async fn cancel_and_reschedule_only_own_appointments() {
    let aws = clients().await;
    let (_, agent) = company(&aws).await;
    let book = service(BookAppointment, &aws);
    let cancel = service(CancelAppointment, &aws);
    let reschedule = service(RescheduleAppointment, &aws);
    let check = service(CheckAvailability, &aws);
    let info = service(GetCustomerInfo, &aws);
    let day = next_tuesday().to_string();
    let me = "+4917622223333";
    let booked = call(
        &book,
        &agent,
        me,
        json!({"date": day, "time": "11:00", "service_id": "haircut", "customer_name": "Jonas"}),
    )
    .await;
    assert_eq!(booked["success"], json!(true));

    let stranger = call(&cancel, &agent, "+4917699998888", json!({"date": day})).await;
    assert_eq!(
        stranger["success"],
        json!(false),
        "someone else's appointment is not found"
    );
    let stranger = call(
        &cancel,
        &agent,
        "+4917699998888",
        json!({"appointment_id": booked["appointment_id"]}),
    )
    .await;
    assert_eq!(stranger["success"], json!(false));

    let who = call(&info, &agent, me, json!({})).await;
    assert_eq!(
        (who["known"].clone(), who["name"].clone()),
        (json!(true), json!("Jonas"))
    );
    assert_eq!(who["upcoming"][0]["time"], json!("11:00"));

    // Move by 15 minutes (overlapping lock units), then back out of reach of a taken slot.
    let moved = call(
        &reschedule,
        &agent,
        me,
        json!({"new_date": day, "new_time": "11:15"}),
    )
    .await;
    assert_eq!(moved["success"], json!(true), "{moved}");
    let free = slots(
        &call(
            &check,
            &agent,
            me,
            json!({"date": day, "service_id": "haircut"}),
        )
        .await,
    );
    assert!(
        free.contains(&"10:30".into())
            && !free.contains(&"11:00".into())
            && !free.contains(&"11:15".into())
    );
    let other = call(
        &book,
        &agent,
        "+4917677776666",
        json!({"date": day, "time": "16:00", "service_id": "haircut"}),
    )
    .await;
    assert_eq!(other["success"], json!(true));
    let clash = call(
        &reschedule,
        &agent,
        me,
        json!({"new_date": day, "new_time": "16:00"}),
    )
    .await;
    assert_eq!(clash["success"], json!(false), "taken: nothing changes");
    let who = call(&info, &agent, me, json!({})).await;
    assert_eq!(who["upcoming"][0]["time"], json!("11:15"));

    let cancelled = call(&cancel, &agent, me, json!({})).await;
    assert_eq!(cancelled["success"], json!(true), "{cancelled}");
    let free = slots(
        &call(
            &check,
            &agent,
            me,
            json!({"date": day, "service_id": "haircut"}),
        )
        .await,
    );
    assert!(
        free.contains(&"11:15".into()),
        "cancelled time is free again"
    );
    let again = call(&cancel, &agent, me, json!({})).await;
    assert_eq!(again["success"], json!(false));
}

#[tokio::test]
async fn one_company_never_sees_another_companys_customers() {
    let aws = clients().await;
    let (_, agent_a) = company(&aws).await;
    let (_, agent_b) = company(&aws).await;
    let book = service(BookAppointment, &aws);
    let info = service(GetCustomerInfo, &aws);
    let cancel = service(CancelAppointment, &aws);
    let day = next_tuesday().to_string();
    let caller = "+4917612121212";
    let a = call(
        &book,
        &agent_a,
        caller,
        json!({"date": day, "time": "09:00", "service_id": "haircut", "customer_name": "Eva"}),
    )
    .await;
    assert_eq!(a["success"], json!(true));
    // The same slot at the other company is free: calendars are separate.
    let b = call(
        &book,
        &agent_b,
        "+4917634343434",
        json!({"date": day, "time": "09:00", "service_id": "haircut"}),
    )
    .await;
    assert_eq!(b["success"], json!(true));
    let seen_by_b = call(&info, &agent_b, caller, json!({})).await;
    assert_eq!(seen_by_b["known"], json!(false), "{seen_by_b}");
    let cancel_via_b = call(
        &cancel,
        &agent_b,
        caller,
        json!({"appointment_id": a["appointment_id"]}),
    )
    .await;
    assert_eq!(cancel_via_b["success"], json!(false));
    let still = call(&info, &agent_a, caller, json!({})).await;
    assert_eq!(still["upcoming"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn unsigned_or_wrongly_signed_tool_calls_are_rejected() {
    let aws = clients().await;
    let (_, agent) = company(&aws).await;
    let svc = service(CheckAvailability, &aws);
    let body = json!({"name": "check_availability", "args": {"date": "morgen", "service_id": "haircut"}, "call": {"agent_id": agent}});
    assert_eq!(
        svc.handle(request(&body, None)).await.status().as_u16(),
        401
    );
    assert_eq!(
        svc.handle(request(&body, Some("key_wrong")))
            .await
            .status()
            .as_u16(),
        401
    );
    // Args-only variant with the company in the query string.
    let args_only = json!({"date": next_tuesday().to_string(), "service_id": "haircut"});
    let text = args_only.to_string();
    let req = lambda_http::http::Request::builder()
        .method("POST")
        .uri(format!(
            "/api/retell/functions/check_availability?agent_id={agent}"
        ))
        .header(
            "x-retell-signature",
            sign(text.as_bytes(), DEFAULT_KEY, now_ms()),
        )
        .body(Body::from(text))
        .expect("request");
    let response = svc.handle(req).await;
    let reply: Value = serde_json::from_slice(response.body().as_ref()).expect("json");
    assert_eq!(reply["available"], json!(true), "{reply}");
}

#[tokio::test]
async fn each_tool_call_is_at_most_two_dynamodb_round_trips() {
    let (aws, log) = counted_clients().await;
    let (_, agent) = company(&aws).await;
    let day = next_tuesday().to_string();
    let me = "+4917656565656";
    let check = service(CheckAvailability, &aws);
    let book = service(BookAppointment, &aws);
    let info = service(GetCustomerInfo, &aws);
    let cancel = service(CancelAppointment, &aws);
    // Warm the caches (company settings, keys).
    let warm = call(
        &check,
        &agent,
        me,
        json!({"date": day, "service_id": "haircut"}),
    )
    .await;
    assert_eq!(warm["available"], json!(true));
    call(
        &book,
        &agent,
        me,
        json!({"date": day, "time": "09:00", "service_id": "beard"}),
    )
    .await;
    call(&info, &agent, me, json!({})).await;
    call(&cancel, &agent, me, json!({"date": "1.1.2000"})).await;
    log.take();
    call(
        &check,
        &agent,
        me,
        json!({"date": day, "service_id": "haircut"}),
    )
    .await;
    assert_eq!(log.take_dynamodb_count(), 1, "check_availability");
    call(
        &book,
        &agent,
        me,
        json!({"date": day, "time": "13:00", "service_id": "haircut"}),
    )
    .await;
    assert_eq!(log.take_dynamodb_count(), 1, "book_appointment");
    call(&info, &agent, me, json!({})).await;
    assert_eq!(log.take_dynamodb_count(), 2, "get_customer_info");
    let c = call(&cancel, &agent, me, json!({"date": day})).await;
    assert_eq!(
        c["success"],
        json!(false),
        "two appointments that day: asks which"
    );
    assert_eq!(log.take_dynamodb_count(), 1);
    let c = call(
        &cancel,
        &agent,
        me,
        json!({"appointment_id": c["appointments"][0]["appointment_id"]}),
    )
    .await;
    assert_eq!(c["success"], json!(true));
    assert_eq!(log.take_dynamodb_count(), 2, "cancel_appointment");
}

/// docs/custom-functions.md, "Arguments", on the native calendar: every refusal of the table in
/// `tool_harness::refusal_cases`, then the readable edge cases, with a horizon ending next
/// Tuesday.
#[tokio::test]
async fn arguments_are_read_never_guessed_on_the_native_calendar() {
    let aws = clients().await;
    let last = next_tuesday();
    let settings = settings_with_horizon(demo_settings(), last);
    let (company_id, agent) = put_company(&aws, &settings).await;
    let tools = Tools::new(&aws);
    let (_, second) =
        assert_arguments_are_read_never_guessed(&tools, &agent, "+4917687654321", last).await;
    let company = directory(&aws)
        .find(&shared::booking::company::CompanyKey::Id(company_id))
        .await
        .expect("company");
    let stored = calendar(&aws)
        .appointment(&company, &second)
        .await
        .expect("read")
        .expect("booked");
    assert_eq!(
        stored.customer_name.as_deref(),
        Some("ä".repeat(100).as_str()),
        "the longest name is kept whole"
    );
}

#[tokio::test]
async fn the_booking_horizon_bounds_check_book_and_reschedule() {
    let aws = clients().await;
    let tools = Tools::new(&aws);
    let (_, agent) = company(&aws).await;
    let me = "+4917687650000";
    let last = berlin_today()
        + Days::days(i64::from(
            shared::booking::company::DEFAULT_MAX_ADVANCE_DAYS,
        ));
    for (tool, args) in [
        (
            "check_availability",
            json!({"date": (last + Days::days(1)).to_string(), "service_id": "haircut"}),
        ),
        (
            "book_appointment",
            json!({"date": "31.12.9999", "time": "10:00", "service_id": "haircut"}),
        ),
        (
            "reschedule_appointment",
            json!({"new_date": "9999-06-01", "new_time": "10:00"}),
        ),
    ] {
        let reply = tools.call(tool, &agent, me, args).await;
        assert_eq!(reply["success"], json!(false), "{tool}: {reply}");
        assert_eq!(
            reply["last_bookable_date"],
            json!(last.to_string()),
            "{tool}: {reply}"
        );
        assert!(
            reply["message"]
                .as_str()
                .is_some_and(|m| m.contains("So weit im Voraus")),
            "{tool}: {reply}"
        );
    }
    // Alternatives are searched up to the horizon, not past it.
    let reply = tools
        .call(
            "check_availability",
            &agent,
            me,
            json!({"date": last.to_string(), "service_id": "haircut", "time": "23:00"}),
        )
        .await;
    assert!(
        reply["next_days"]
            .as_array()
            .is_some_and(|days| days.is_empty()),
        "{reply}"
    );
}

#[test]
fn every_tool_has_its_route_in_the_template() {
    let tools: Vec<(&str, shared::tools::ToolDefinition)> = vec![
        ("check-availability", CheckAvailability.definition()),
        ("book-appointment", BookAppointment.definition()),
        ("get-customer-info", GetCustomerInfo.definition()),
        ("cancel-appointment", CancelAppointment.definition()),
        ("reschedule-appointment", RescheduleAppointment.definition()),
    ];
    let functions = &stack().description["functions"];
    for (binary, def) in tools {
        let routes = functions[binary]["routes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            routes
                .iter()
                .any(|r| r["path"] == json!(def.path()) && r["method"] == json!("POST")),
            "{binary} needs POST {} in template.yaml",
            def.path()
        );
        assert_eq!(def.parameters["type"], json!("object"));
        assert!(def.retell_json("https://x").to_string().len() < 4000);
    }
}

#[tokio::test]
async fn inbound_calls_get_the_agent_and_todays_date() {
    let aws = clients().await;
    let number = format!("+4930{:08}", std::process::id() % 100_000_000);
    let (_, agent) = company_with_numbers(&aws, vec![number.clone()]).await;
    let book = service(BookAppointment, &aws);
    let caller = "+4917645454545";
    let booked = call(&book, &agent, caller, json!({"date": next_tuesday().to_string(), "time": "10:00", "service_id": "haircut", "customer_name": "Frau Weber"})).await;
    assert_eq!(booked["success"], json!(true));

    let inbound =
        call_inbound::InboundCall::build(&integration_tests::tool_harness::tool_config(), &aws);
    let body = json!({"event": "call_inbound", "call_inbound": {"from_number": caller, "to_number": number}});
    let reply: Value = serde_json::from_slice(
        inbound
            .handle(request(&body, Some(DEFAULT_KEY)))
            .await
            .body()
            .as_ref(),
    )
    .expect("json");
    let answer = &reply["call_inbound"];
    assert_eq!(answer["override_agent_id"], json!(agent));
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive();
    assert_eq!(
        answer["dynamic_variables"]["current_date"],
        json!(today.to_string())
    );
    assert_eq!(
        answer["dynamic_variables"]["tomorrow_date"],
        json!((today + Days::days(1)).to_string())
    );
    assert_eq!(
        answer["dynamic_variables"]["customer_name"],
        json!("Frau Weber")
    );

    let unknown = json!({"event": "call_inbound", "call_inbound": {"from_number": caller, "to_number": "+4989999999999"}});
    let reply: Value = serde_json::from_slice(
        inbound
            .handle(request(&unknown, Some(DEFAULT_KEY)))
            .await
            .body()
            .as_ref(),
    )
    .expect("json");
    assert_eq!(
        reply,
        json!({"call_inbound": {}}),
        "unknown number: Retell keeps the number's own agent"
    );
    assert_eq!(
        inbound
            .handle(request(&body, Some("key_wrong")))
            .await
            .status()
            .as_u16(),
        401
    );
}

/// A key document as the Retell secret holds it, without Secrets Manager.
struct KeyDocument(String);

impl shared::retell::keys::SecretSource for KeyDocument {
    async fn fetch(&self) -> Result<String, shared::platform::secrets::SecretError> {
        Ok(self.0.clone())
    }
}

#[tokio::test]
async fn args_only_calls_naming_a_company_need_that_companys_key() {
    let aws = clients().await;
    let (company_id, _) = company(&aws).await;
    let doc = json!({"default": {"company_id": "ops", "api_key": DEFAULT_KEY},
                     "companies": [{"company_id": company_id, "api_key": "key_company_own"},
                                   {"company_id": "someone-else", "api_key": "key_someone_else"}]});
    let svc = shared::tools::ToolService {
        tool: CheckAvailability,
        auth: shared::retell::auth::RequestAuth::new(
            shared::retell::keys::KeyProvider::new(
                KeyDocument(doc.to_string()),
                "ops",
                Duration::from_secs(60),
            ),
            directory(&aws),
        ),
        calendars: shared::calendar::Calendars::new(calendar(&aws), aws.secrets.clone()),
    };
    let text = json!({"date": next_tuesday().to_string(), "service_id": "haircut"}).to_string();
    let status_with = |key: &'static str| {
        let req = lambda_http::http::Request::builder()
            .method("POST")
            .uri(format!(
                "/api/retell/functions/check_availability?company_id={company_id}"
            ))
            .header("x-retell-signature", sign(text.as_bytes(), key, now_ms()))
            .body(Body::from(text.clone()))
            .expect("request");
        let svc = &svc;
        async move { svc.handle(req).await.status().as_u16() }
    };
    assert_eq!(status_with("key_company_own").await, 200);
    assert_eq!(status_with("key_someone_else").await, 401);
    assert_eq!(
        status_with(DEFAULT_KEY).await,
        401,
        "a company with its own key is verified with that key only"
    );
}
