//! Fixtures for the tool tests: fresh tenants, the real `ToolService`, signed calls.

use std::time::Duration;

use chrono::{Datelike, Duration as Days, NaiveDate, Utc, Weekday};
use lambda_http::{Body, Request};
use serde_json::{json, Value};
use shared::booking::company::CompanySettings;
use shared::booking::directory::CompanyDirectory;
use shared::calendar::NativeCalendar;
use shared::platform::aws::AwsClients;
use shared::platform::config::{Env, ToolConfig};
use shared::retell::keys::SecretsManagerSource;
use shared::retell::signature::sign;
use shared::tools::{Tool, ToolService};

use crate::{call_id, now_ms, stack, DEFAULT_KEY};

pub fn env() -> Env {
    stack().env("check-availability")
}

/// The demo salon's settings (infra/local/companies/demo.json) under a unique id and agent.
/// The demo salon as a company without staff (one booking per time, as before staff existed),
/// under a fresh id and agent.
pub fn demo_settings() -> CompanySettings {
    let mut settings = salon_settings();
    settings.staff.clear();
    settings.resources.clear();
    settings
}

/// The demo salon with its staff (Anna, Ben, Clara) and colour station, under a fresh id and
/// agent.
pub fn salon_settings() -> CompanySettings {
    let tag = call_id("co");
    let mut settings: CompanySettings =
        serde_json::from_str(include_str!("../infra/local/companies/demo.json"))
            .expect("demo.json");
    settings.company_id = tag.replace('_', "-");
    settings.agent_ids = vec![format!("agent_{tag}")];
    settings.phone_numbers = vec![];
    settings
}

/// Stores a tenant; its company id and agent id.
pub async fn put_company(aws: &AwsClients, settings: &CompanySettings) -> (String, String) {
    directory(aws).put(settings).await.expect("put company");
    (settings.company_id.clone(), settings.agent_ids[0].clone())
}

/// A fresh tenant with the demo salon's settings.
pub async fn company(aws: &AwsClients) -> (String, String) {
    company_with_numbers(aws, vec![]).await
}

pub async fn company_with_numbers(aws: &AwsClients, numbers: Vec<String>) -> (String, String) {
    let mut settings = demo_settings();
    settings.phone_numbers = numbers;
    put_company(aws, &settings).await
}

pub fn directory(aws: &AwsClients) -> CompanyDirectory {
    let table = env().required("COMPANIES_TABLE").expect("env");
    CompanyDirectory::new(aws.dynamodb.clone(), table, Duration::from_secs(60))
}

pub fn calendar(aws: &AwsClients) -> NativeCalendar {
    let table = env().required("APPOINTMENTS_TABLE").expect("env");
    NativeCalendar::new(aws.dynamodb.clone(), table)
}

/// The tools' configuration, from template.yaml's environment for them, with the Cal.com
/// stand-ins on 127.0.0.1 allowed as the local stack allows them (`CALENDAR_LOOPBACK`).
pub fn tool_config() -> ToolConfig {
    let mut config = ToolConfig::from_env(&env()).expect("env");
    config.loopback_calendars = true;
    config
}

/// A tool behind the real service, as its Lambda builds it.
pub fn service<T: Tool>(tool: T, aws: &AwsClients) -> ToolService<T, SecretsManagerSource> {
    ToolService::build(tool, &tool_config(), aws)
}

pub fn request(body: &Value, key: Option<&str>) -> Request {
    let text = body.to_string();
    let mut b = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/api/retell/functions/x");
    if let Some(key) = key {
        b = b.header("x-retell-signature", sign(text.as_bytes(), key, now_ms()));
    }
    b.body(Body::from(text)).expect("request")
}

/// A signed tool call from `caller` to `agent`; the JSON reply (always HTTP 200).
pub async fn call<T: Tool>(
    svc: &ToolService<T, SecretsManagerSource>,
    agent: &str,
    caller: &str,
    args: Value,
) -> Value {
    let body = json!({"name": svc.tool.definition().name, "args": args,
        "call": {"call_id": "call_tools", "agent_id": agent, "from_number": caller}});
    let response = svc.handle(request(&body, Some(DEFAULT_KEY))).await;
    assert_eq!(response.status().as_u16(), 200);
    serde_json::from_slice(response.body().as_ref()).expect("json reply")
}

/// A signed tool call in call `call_id`, from `caller` (None: a withheld number); the reply.
pub async fn call_in<T: Tool>(
    svc: &ToolService<T, SecretsManagerSource>,
    agent: &str,
    call_id: &str,
    caller: Option<&str>,
    args: Value,
) -> Value {
    let mut call = json!({"call_id": call_id, "agent_id": agent});
    if let Some(caller) = caller {
        call["from_number"] = json!(caller);
    }
    let body = json!({"name": svc.tool.definition().name, "args": args, "call": call});
    let response = svc.handle(request(&body, Some(DEFAULT_KEY))).await;
    assert_eq!(response.status().as_u16(), 200);
    serde_json::from_slice(response.body().as_ref()).expect("json reply")
}

/// A Tuesday at least two days ahead, in the salon's time zone.
pub fn next_tuesday() -> NaiveDate {
    let mut d = Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive()
        + Days::days(2);
    while d.weekday() != Weekday::Tue {
        d += Days::days(1);
    }
    d
}

pub fn slots(reply: &Value) -> Vec<String> {
    names(reply, "slots")
}

/// The strings of the array `field` of a reply (`slots`, `others_free`).
pub fn names(reply: &Value, field: &str) -> Vec<String> {
    reply[field]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The company's local today (the demo salons are in Berlin).
pub fn berlin_today() -> NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive()
}

/// Demo settings whose booking horizon ends on `last` (`max_advance_days` from today).
pub fn settings_with_horizon(mut settings: CompanySettings, last: NaiveDate) -> CompanySettings {
    settings.max_advance_days = u32::try_from((last - berlin_today()).num_days()).expect("ahead");
    settings
}

/// The agent's five tools behind the real service, called by name.
pub struct Tools {
    check: ToolService<check_availability::CheckAvailability, SecretsManagerSource>,
    book: ToolService<book_appointment::BookAppointment, SecretsManagerSource>,
    info: ToolService<get_customer_info::GetCustomerInfo, SecretsManagerSource>,
    cancel: ToolService<cancel_appointment::CancelAppointment, SecretsManagerSource>,
    reschedule: ToolService<reschedule_appointment::RescheduleAppointment, SecretsManagerSource>,
}

impl Tools {
    pub fn new(aws: &AwsClients) -> Self {
        Self {
            check: service(check_availability::CheckAvailability, aws),
            book: service(book_appointment::BookAppointment, aws),
            info: service(get_customer_info::GetCustomerInfo, aws),
            cancel: service(cancel_appointment::CancelAppointment, aws),
            reschedule: service(reschedule_appointment::RescheduleAppointment, aws),
        }
    }

    /// A signed call of the tool named `tool` (its Retell name); the reply.
    pub async fn call(&self, tool: &str, agent: &str, caller: &str, args: Value) -> Value {
        match tool {
            "check_availability" => call(&self.check, agent, caller, args).await,
            "book_appointment" => call(&self.book, agent, caller, args).await,
            "get_customer_info" => call(&self.info, agent, caller, args).await,
            "cancel_appointment" => call(&self.cancel, agent, caller, args).await,
            "reschedule_appointment" => call(&self.reschedule, agent, caller, args).await,
            other => panic!("no tool {other}"),
        }
    }
}

/// One argument rule: a call that must be refused, naming `argument` (what to ask again).
pub struct Refusal {
    pub tool: &'static str,
    pub args: Value,
    pub argument: &'static str,
}

/// Every argument rule of docs/custom-functions.md ("Arguments") that ends in a refusal, for a
/// caller who has one appointment `appointment_id`, with `last` the last bookable day (open).
pub fn refusal_cases(last: NaiveDate, appointment_id: &str) -> Vec<Refusal> {
    let day = last.to_string();
    let after = (last + Days::days(1)).to_string();
    let megabyte = "x".repeat(1 << 20);
    let r = |tool, args, argument| Refusal {
        tool,
        args,
        argument,
    };
    let check = "check_availability";
    let book = "book_appointment";
    let cancel = "cancel_appointment";
    let reschedule = "reschedule_appointment";
    let booking = |extra: Value| {
        let mut args = json!({"date": day, "time": "15:00", "service_id": "beard"});
        if let (Some(a), Value::Object(extra)) = (args.as_object_mut(), extra) {
            a.extend(extra);
        }
        args
    };
    vec![
        // Days: wrong types, absurd and impossible dates, the horizon, megabytes, null.
        r(check, json!({"date": 15, "service_id": "haircut"}), "date"),
        r(
            check,
            json!({"date": {"day": 15}, "service_id": "haircut"}),
            "date",
        ),
        r(
            check,
            json!({"date": [day], "service_id": "haircut"}),
            "date",
        ),
        r(
            check,
            json!({"date": null, "service_id": "haircut"}),
            "date",
        ),
        r(
            check,
            json!({"date": after, "service_id": "haircut"}),
            "date",
        ),
        r(
            check,
            json!({"date": "9999-12-31", "service_id": "haircut"}),
            "date",
        ),
        r(
            check,
            json!({"date": "0000-01-01", "service_id": "haircut"}),
            "date",
        ),
        r(
            check,
            json!({"date": "2025-02-30", "service_id": "haircut"}),
            "date",
        ),
        r(
            check,
            json!({"date": megabyte, "service_id": "haircut"}),
            "date",
        ),
        r(
            check,
            json!({"date": "morgen\u{0}", "service_id": "haircut"}),
            "date",
        ),
        // Services, times and durations.
        r(check, json!({"date": day, "service_id": 7}), "service_id"),
        r(
            check,
            json!({"date": day, "service_id": "haircut", "time": true}),
            "time",
        ),
        r(
            check,
            json!({"date": day, "service_id": "haircut", "time": 14.5}),
            "time",
        ),
        r(
            check,
            json!({"date": day, "service_id": "haircut", "time": {"h": 14}}),
            "time",
        ),
        r(
            check,
            json!({"date": day, "service_id": "haircut", "time": 1430}),
            "time",
        ),
        r(
            check,
            json!({"date": day, "service_id": "haircut", "duration": "lang"}),
            "duration",
        ),
        r(
            check,
            json!({"date": day, "service_id": "haircut", "duration": [30]}),
            "duration",
        ),
        // Booking: the horizon, wrong types, and bounded stored text.
        r(book, booking(json!({"date": after})), "date"),
        r(book, booking(json!({"date": "9999-01-01"})), "date"),
        r(book, booking(json!({"time": ["15:00"]})), "time"),
        r(
            book,
            booking(json!({"service_id": ["beard"]})),
            "service_id",
        ),
        r(
            book,
            booking(json!({"customer_phone": 4917611112222_u64})),
            "customer_phone",
        ),
        r(
            book,
            booking(json!({"customer_name": "N".repeat(20_000)})),
            "customer_name",
        ),
        r(
            book,
            booking(json!({"customer_name": "N".repeat(101)})),
            "customer_name",
        ),
        r(book, booking(json!({"customer_name": 42})), "customer_name"),
        r(
            book,
            booking(json!({"customer_name": "Anna\u{7}"})),
            "customer_name",
        ),
        r(
            book,
            booking(json!({"customer_name": "Anna\nSchmidt"})),
            "customer_name",
        ),
        r(
            book,
            booking(json!({"customer_email": "anna at example dot com"})),
            "customer_email",
        ),
        r(
            book,
            booking(json!({"customer_email": {"address": "a@b.de"}})),
            "customer_email",
        ),
        r(book, booking(json!({"notes": "n".repeat(501)})), "notes"),
        r(book, booking(json!({"notes": "bitte \u{1b}[31m"})), "notes"),
        // Finding the caller's appointment: an unreadable id or day never means "the only one".
        r(cancel, json!({"appointment_id": 12345}), "appointment_id"),
        r(
            cancel,
            json!({"appointment_id": {"id": appointment_id}}),
            "appointment_id",
        ),
        r(
            cancel,
            json!({"appointment_id": [appointment_id]}),
            "appointment_id",
        ),
        r(cancel, json!({"appointment_id": false}), "appointment_id"),
        r(cancel, json!({"date": 15}), "date"),
        r(cancel, json!({"date": {"day": 15}}), "date"),
        r(cancel, json!({"date": "2025-02-30"}), "date"),
        r(cancel, json!({"phone": 4917611112222_u64}), "phone"),
        r(
            cancel,
            json!({"appointment_id": appointment_id, "date": [day]}),
            "date",
        ),
        r(
            reschedule,
            json!({"appointment_id": 12345, "new_date": day, "new_time": "16:00"}),
            "appointment_id",
        ),
        r(
            reschedule,
            json!({"date": [day], "new_date": day, "new_time": "16:00"}),
            "date",
        ),
        r(
            reschedule,
            json!({"new_date": after, "new_time": "16:00"}),
            "new_date",
        ),
        r(
            reschedule,
            json!({"new_date": "9999-01-01", "new_time": "16:00"}),
            "new_date",
        ),
        r(
            reschedule,
            json!({"new_date": day, "new_time": 16.5}),
            "new_time",
        ),
        r("get_customer_info", json!({"phone": {}}), "phone"),
    ]
}

/// The argument rules against one company (either calendar): its horizon must end on `last`
/// (an open day). The caller books one appointment; every case of [`refusal_cases`] is
/// refused, names its argument and leaves that appointment alone; then the readable edge
/// cases (numbers as times, the longest name, notes with a line break, `null` as absent) work.
/// The booked appointment ids, for the backend's own checks.
pub async fn assert_arguments_are_read_never_guessed(
    tools: &Tools,
    agent: &str,
    caller: &str,
    last: NaiveDate,
) -> (String, String) {
    let day = last.to_string();
    let booked = tools
        .call(
            "book_appointment",
            agent,
            caller,
            json!({"date": day, "time": "10:00", "service_id": "haircut", "customer_name": "Jonas"}),
        )
        .await;
    assert_eq!(booked["success"], json!(true), "{booked}");
    let first = booked["appointment_id"].as_str().expect("id").to_owned();

    for case in refusal_cases(last, &first) {
        let reply = tools
            .call(case.tool, agent, caller, case.args.clone())
            .await;
        let shown: String = case.args.to_string().chars().take(120).collect();
        assert_eq!(
            reply["success"],
            json!(false),
            "{} {shown}: {reply}",
            case.tool
        );
        assert_eq!(
            reply["argument"],
            json!(case.argument),
            "{} {shown}: {reply}",
            case.tool
        );
        let message = reply["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty()
                && message.chars().count() < 400
                && !message.contains("nicht auf den Kalender zugreifen"),
            "a short spoken answer, not the outage fallback: {message}"
        );
    }
    let info = tools
        .call("get_customer_info", agent, caller, json!({}))
        .await;
    assert_eq!(
        info["upcoming"],
        json!([{"appointment_id": first, "date": day, "time": "10:00", "service_id": "haircut"}]),
        "no refused call booked, moved or cancelled anything: {info}"
    );

    // Readable edge cases. A whole number is a time; the horizon's last day is bookable and
    // nothing past it is offered.
    let checked = tools
        .call(
            "check_availability",
            agent,
            caller,
            json!({"date": day, "service_id": "haircut", "time": 14, "duration": "30", "notes": null}),
        )
        .await;
    assert_eq!(checked["time"], json!("14:00"), "{checked}");
    assert_eq!(checked["available"], json!(true), "{checked}");
    assert_eq!(checked["next_days"], json!([]), "nothing past the horizon");
    let longest = "ä".repeat(100);
    let second = tools
        .call(
            "book_appointment",
            agent,
            caller,
            json!({"date": day, "time": 15, "service_id": "beard", "customer_name": longest,
                   "customer_email": null, "notes": "Bitte klingeln\nHintereingang", "appointment_id": ""}),
        )
        .await;
    assert_eq!(second["success"], json!(true), "{second}");
    assert_eq!(second["time"], json!("15:00"));
    let second = second["appointment_id"].as_str().expect("id").to_owned();
    let moved = tools
        .call(
            "reschedule_appointment",
            agent,
            caller,
            json!({"appointment_id": second, "date": "", "new_date": day, "new_time": 16}),
        )
        .await;
    assert_eq!(moved["success"], json!(true), "{moved}");
    assert_eq!(moved["time"], json!("16:00"));
    (first, second)
}
