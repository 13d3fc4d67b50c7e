//! The Cal.com backend through the real tool handlers: a company whose settings choose Cal.com,
//! its API key in the emulator's Secrets Manager, and Cal.com played by the local stub
//! (`infra/calcom-stub`), which follows Cal.com's documented API v2 requests and answers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use book_appointment::BookAppointment;
use calcom_stub::{CalComStub, Fault, StubConfig};
use cancel_appointment::CancelAppointment;
use check_availability::CheckAvailability;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use get_customer_info::GetCustomerInfo;
use integration_tests::tool_harness::{
    assert_arguments_are_read_never_guessed, calendar, call, demo_settings, names, next_tuesday,
    put_company, salon_settings, service, settings_with_horizon, slots, Tools,
};
use integration_tests::{call_id, clients, counted_clients};
use reschedule_appointment::RescheduleAppointment;
use serde_json::{json, Value};
use shared::booking::company::{CalComHost, CalComSettings, CalendarBackend, Company};
use shared::booking::slots::local_instant;
use shared::calendar::{appointment_id, Calendar, CALCOM_BOOKINGS_VERSION, CALCOM_SLOTS_VERSION};
use shared::platform::aws::AwsClients;

struct Tenant {
    stub: CalComStub,
    company_id: String,
    agent: String,
}

/// A fresh company on Cal.com (the demo salon's settings), its own stub and API key.
async fn calcom_company(aws: &AwsClients, timeout_ms: u64, stored_key: Option<&str>) -> Tenant {
    calcom_company_with(aws, demo_settings(), timeout_ms, stored_key).await
}

/// A fresh company on Cal.com with these settings (calendar replaced), its own stub and key.
async fn calcom_company_with(
    aws: &AwsClients,
    settings: shared::booking::company::CompanySettings,
    timeout_ms: u64,
    stored_key: Option<&str>,
) -> Tenant {
    calcom_company_on(aws, settings, timeout_ms, stored_key, StubConfig::salon).await
}

/// As [`calcom_company_with`], with the stub's host as `host` configures it (from its key).
async fn calcom_company_on(
    aws: &AwsClients,
    mut settings: shared::booking::company::CompanySettings,
    timeout_ms: u64,
    stored_key: Option<&str>,
    host: impl FnOnce(&str) -> StubConfig,
) -> Tenant {
    let key = call_id("cal_test");
    let stub = CalComStub::start(host(&key), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("start the Cal.com stub");
    let secret = format!("test/calcom/{}", settings.company_id);
    aws.secrets
        .create_secret()
        .name(&secret)
        .secret_string(json!({"api_key": stored_key.unwrap_or(&key)}).to_string())
        .send()
        .await
        .expect("create the Cal.com key secret");
    // With staff, each person is the Cal.com host calcom-demo.json maps them to.
    let hosts = if settings.staff.is_empty() {
        Default::default()
    } else {
        demo_hosts()
    };
    settings.calendar = CalendarBackend::CalCom(CalComSettings {
        base_url: stub.url(),
        api_key_secret: secret,
        event_types: HashMap::from([
            ("haircut".into(), 1001),
            ("coloring".into(), 1002),
            ("beard".into(), 1003),
        ]),
        timeout_ms,
        hosts,
    });
    let (company_id, agent) = put_company(aws, &settings).await;
    Tenant {
        stub,
        company_id,
        agent,
    }
}

/// The staff → Cal.com host mapping of the Cal.com demo company.
fn demo_hosts() -> std::collections::BTreeMap<String, CalComHost> {
    let settings: shared::booking::company::CompanySettings =
        serde_json::from_str(include_str!("../infra/local/companies/calcom-demo.json"))
            .expect("calcom-demo.json");
    match settings.calendar {
        CalendarBackend::CalCom(cal) => cal.hosts,
        other => panic!("calcom-demo.json is not on Cal.com: {other:?}"),
    }
}

fn berlin(day: NaiveDate, hh: u32, mm: u32) -> DateTime<Utc> {
    let t = NaiveTime::from_hms_opt(hh, mm, 0).expect("time");
    local_instant(&chrono_tz::Europe::Berlin, day, t).expect("exists")
}

async fn company(aws: &AwsClients, tenant: &Tenant) -> Company {
    integration_tests::tool_harness::directory(aws)
        .find(&shared::booking::directory::CompanyKey::Id(
            tenant.company_id.clone(),
        ))
        .await
        .map(|c| (*c).clone())
        .expect("company")
}

const CALLER: &str = "+4917612345678";

fn is_calendar_fallback(reply: &Value) -> bool {
    reply["success"] == json!(false)
        && reply["message"]
            .as_str()
            .is_some_and(|m| m.contains("Kalender"))
}

#[tokio::test]
async fn slots_come_from_calcom_where_the_company_schedule_agrees() {
    let aws = clients().await;
    let t = calcom_company(&aws, 2000, None).await;
    let day = next_tuesday();
    t.stub.add_booking(1001, berlin(day, 10, 0), 30);
    let svc = service(CheckAvailability, &aws);
    let reply = call(
        &svc,
        &t.agent,
        CALLER,
        json!({"date": day.to_string(), "service_id": "Haarschnitt"}),
    )
    .await;
    assert_eq!(reply["available"], json!(true), "{reply}");
    let free = slots(&reply);
    assert!(free.contains(&"09:00".into()) && free.contains(&"17:30".into()));
    assert!(!free.contains(&"10:00".into()), "booked in Cal.com");
    assert!(
        !free.contains(&"12:00".into()),
        "Cal.com offers the lunch break, the company does not"
    );
    assert!(
        !free.contains(&"09:15".into()),
        "on the company's 15-minute grid but not a Cal.com slot"
    );
    let request = t.stub.received().pop().expect("a request");
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/v2/slots")
    );
    assert_eq!(request.api_version.as_deref(), Some(CALCOM_SLOTS_VERSION));
    let query = request.query.unwrap_or_default();
    // The company's local day as instants (Cal.com reads a bare date as a UTC day).
    let midnight = berlin(day, 0, 0)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        .replace(':', "%3A");
    for part in [
        "eventTypeId=1001".to_owned(),
        format!("start={midnight}"),
        "timeZone=Europe%2FBerlin".to_owned(),
    ] {
        assert!(query.contains(&part), "{query} lacks {part}");
    }
}

#[tokio::test]
async fn booking_is_idempotent_and_keeps_ownership_records() {
    let (aws, log) = counted_clients().await;
    let t = calcom_company(&aws, 2000, None).await;
    let day = next_tuesday();
    let book = service(BookAppointment, &aws);
    let args = json!({"date": day.to_string(), "time": "14 Uhr", "service_id": "haircut",
                      "customer_name": "Erika Muster", "notes": "Kurz bitte"});
    // Warm the company cache and the API key, as a running container has them.
    call(&book, &t.agent, CALLER, json!({"date": "gestern"})).await;
    log.take();

    let first = call(&book, &t.agent, CALLER, args.clone()).await;
    assert_eq!(first["success"], json!(true), "{first}");
    assert!(
        log.take_dynamodb_count() <= 2,
        "a Cal.com booking costs at most two DynamoDB round trips"
    );
    let id = first["appointment_id"].as_str().expect("id").to_owned();
    let bookings = t.stub.bookings();
    assert_eq!(bookings.len(), 1);
    let b = &bookings[0];
    assert_eq!(b["metadata"]["appointment_id"], json!(id));
    assert_eq!(b["attendees"][0]["phoneNumber"], json!(CALLER));
    assert_eq!(b["attendees"][0]["name"], json!("Erika Muster"));
    assert_eq!(b["attendees"][0]["timeZone"], json!("Europe/Berlin"));
    assert_eq!(b["bookingFieldsResponses"]["notes"], json!("Kurz bitte"));
    let start: DateTime<Utc> = b["start"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("start");
    assert_eq!(start, berlin(day, 14, 0));
    let post = t
        .stub
        .received()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == "/v2/bookings")
        .expect("POST /v2/bookings");
    assert_eq!(post.api_version.as_deref(), Some(CALCOM_BOOKINGS_VERSION));
    assert_eq!(
        post.body.as_ref().map(|b| b["eventTypeId"].clone()),
        Some(json!(1001))
    );

    // Retell retries the same call: the same appointment, no second Cal.com booking.
    let again = call(&book, &t.agent, CALLER, args).await;
    assert_eq!(again["success"], json!(true), "{again}");
    assert_eq!(again["appointment_id"], json!(id));
    assert_eq!(t.stub.bookings().len(), 1);

    let info = call(&service(GetCustomerInfo, &aws), &t.agent, CALLER, json!({})).await;
    assert_eq!(info["name"], json!("Erika Muster"));
    assert_eq!(info["upcoming"][0]["appointment_id"], json!(id), "{info}");
}

#[tokio::test]
async fn a_taken_slot_gets_alternatives_and_leaves_no_record() {
    let aws = clients().await;
    let t = calcom_company(&aws, 2000, None).await;
    let day = next_tuesday();
    t.stub.add_booking(1001, berlin(day, 15, 0), 30);
    let reply = call(
        &service(BookAppointment, &aws),
        &t.agent,
        CALLER,
        json!({"date": day.to_string(), "time": "15:00", "service_id": "haircut"}),
    )
    .await;
    assert_eq!(reply["success"], json!(false), "{reply}");
    assert!(!reply["alternatives"].as_array().is_none_or(Vec::is_empty));
    assert!(reply["message"]
        .as_str()
        .is_some_and(|m| m.contains("vergeben")));
    let c = company(&aws, &t).await;
    let id = appointment_id(&t.company_id, CALLER, berlin(day, 15, 0), "haircut");
    assert_eq!(calendar(&aws).appointment(&c, &id).await, Ok(None));
}

#[tokio::test]
async fn a_booking_cut_off_after_calcom_took_it_is_found_on_retry() {
    let aws = clients().await;
    let t = calcom_company(&aws, 500, None).await;
    let day = next_tuesday();
    let book = service(BookAppointment, &aws);
    let args = json!({"date": day.to_string(), "time": "11:00", "service_id": "haircut"});
    t.stub
        .set_fault(Fault::AnswerLate(Duration::from_millis(1500)));
    let first = call(&book, &t.agent, CALLER, args.clone()).await;
    // Cal.com took it after we stopped waiting: the reply must not say it failed.
    assert!(is_unknown_outcome(&first), "{first}");
    assert_eq!(t.stub.bookings().len(), 1, "Cal.com booked it nonetheless");

    t.stub.set_fault(Fault::None);
    let retry = call(&book, &t.agent, CALLER, args).await;
    assert_eq!(retry["success"], json!(true), "{retry}");
    let bookings = t.stub.bookings();
    assert_eq!(bookings.len(), 1, "no second booking: {bookings:?}");
    assert_eq!(
        bookings[0]["metadata"]["appointment_id"],
        retry["appointment_id"]
    );
    assert!(t
        .stub
        .received()
        .iter()
        .any(|r| r.method == "GET" && r.path == "/v2/bookings"));
}

#[tokio::test]
async fn an_outage_is_a_spoken_fallback_within_three_seconds_then_the_breaker_opens() {
    let aws = clients().await;
    let t = calcom_company(&aws, 500, None).await;
    let day = next_tuesday().to_string();
    let svc = service(CheckAvailability, &aws);
    let args = json!({"date": day, "service_id": "haircut"});
    t.stub.set_fault(Fault::Hang(Duration::from_secs(10)));
    for _ in 0..3 {
        let started = Instant::now();
        let reply = call(&svc, &t.agent, CALLER, args.clone()).await;
        assert!(is_calendar_fallback(&reply), "{reply}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    let sent = t.stub.received().len();
    let reply = call(&svc, &t.agent, CALLER, args.clone()).await;
    assert!(is_calendar_fallback(&reply), "{reply}");
    assert_eq!(
        t.stub.received().len(),
        sent,
        "the open breaker answers without calling Cal.com"
    );

    // 5xx count as failures too; another company's breaker is its own.
    let other = calcom_company(&aws, 500, None).await;
    other.stub.set_fault(Fault::ServerError);
    let reply = call(&svc, &other.agent, CALLER, args).await;
    assert!(is_calendar_fallback(&reply), "{reply}");
    assert_eq!(other.stub.received().len(), 1);
}

#[tokio::test]
async fn a_slow_calendar_is_cut_off_at_the_reply_deadline() {
    let aws = clients().await;
    let t = calcom_company(&aws, 2500, None).await;
    t.stub.set_fault(Fault::Hang(Duration::from_secs(10)));
    let started = Instant::now();
    let reply = call(
        &service(BookAppointment, &aws),
        &t.agent,
        CALLER,
        json!({"date": next_tuesday().to_string(), "time": "10:00", "service_id": "beard"}),
    )
    .await;
    // The booking request is on its way: its outcome is unknown, not a failure.
    assert!(is_unknown_outcome(&reply), "{reply}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// The reply when a write may have happened: "being checked", never failed or succeeded.
fn is_unknown_outcome(reply: &Value) -> bool {
    reply["success"] == json!(false)
        && reply["outcome"] == json!("unknown")
        && reply["pending_write"]["action"] == json!("book")
        && reply["message"]
            .as_str()
            .is_some_and(|m| m.contains("prüfe"))
}

#[tokio::test]
async fn a_refused_api_key_is_a_spoken_fallback() {
    let aws = clients().await;
    let t = calcom_company(&aws, 2000, Some("cal_live_wrong")).await;
    let reply = call(
        &service(CheckAvailability, &aws),
        &t.agent,
        CALLER,
        json!({"date": next_tuesday().to_string(), "service_id": "haircut"}),
    )
    .await;
    assert!(is_calendar_fallback(&reply), "{reply}");
}

#[tokio::test]
async fn an_unreadable_api_key_counts_as_an_outage() {
    let (aws, log) = counted_clients().await;
    let t = calcom_company(&aws, 2000, None).await;
    aws.secrets
        .delete_secret()
        .secret_id(format!("test/calcom/{}", t.company_id))
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete the key");
    let svc = service(CheckAvailability, &aws);
    let args = json!({"date": next_tuesday().to_string(), "service_id": "haircut"});
    let key_reads = |log: &integration_tests::RequestLog| {
        log.take()
            .iter()
            .filter(|r| r.ends_with("GetSecretValue"))
            .count()
    };
    for _ in 0..3 {
        let reply = call(&svc, &t.agent, CALLER, args.clone()).await;
        assert!(is_calendar_fallback(&reply), "{reply}");
    }
    assert!(key_reads(&log) >= 3, "each call tried to read the key");
    let reply = call(&svc, &t.agent, CALLER, args).await;
    assert!(is_calendar_fallback(&reply), "{reply}");
    assert_eq!(key_reads(&log), 0, "the open breaker does not read the key");
    assert!(t.stub.received().is_empty(), "nothing reached Cal.com");
}

#[tokio::test]
async fn reschedule_and_cancel_go_through_calcom_for_the_owner_only() {
    let aws = clients().await;
    let t = calcom_company(&aws, 2000, None).await;
    let day = next_tuesday();
    let booked = call(
        &service(BookAppointment, &aws),
        &t.agent,
        CALLER,
        json!({"date": day.to_string(), "time": "10:00", "service_id": "haircut"}),
    )
    .await;
    let id = booked["appointment_id"]
        .as_str()
        .expect("booked")
        .to_owned();
    let first_uid = t.stub.bookings()[0]["uid"].clone();

    t.stub.add_booking(1001, berlin(day, 17, 0), 30);
    let reschedule = service(RescheduleAppointment, &aws);
    let refused = call(
        &reschedule,
        &t.agent,
        CALLER,
        json!({"new_date": day.to_string(), "new_time": "17:00"}),
    )
    .await;
    assert_eq!(refused["success"], json!(false), "{refused}");
    assert_eq!(
        t.stub.bookings()[0]["status"],
        json!("accepted"),
        "nothing changed"
    );

    let moved = call(
        &reschedule,
        &t.agent,
        CALLER,
        json!({"new_date": day.to_string(), "new_time": "16:00"}),
    )
    .await;
    assert_eq!(moved["success"], json!(true), "{moved}");
    assert_eq!(moved["appointment_id"], json!(id), "the caller's id stays");
    let bookings = t.stub.bookings();
    let old = bookings
        .iter()
        .find(|b| b["uid"] == first_uid)
        .expect("old");
    assert_eq!(old["status"], json!("cancelled"));
    let new_uid = old["rescheduledToUid"].as_str().expect("moved").to_owned();
    let c = company(&aws, &t).await;
    let record = calendar(&aws)
        .appointment(&c, &id)
        .await
        .expect("read")
        .expect("record");
    assert_eq!(record.external_uid.as_deref(), Some(new_uid.as_str()));
    assert_eq!(
        record.time,
        NaiveTime::from_hms_opt(16, 0, 0).expect("time")
    );

    let cancel = service(CancelAppointment, &aws);
    let stranger = call(
        &cancel,
        &t.agent,
        "+4915199999999",
        json!({"appointment_id": id}),
    )
    .await;
    assert_eq!(stranger["success"], json!(false), "{stranger}");
    let cancelled = call(&cancel, &t.agent, CALLER, json!({"appointment_id": id})).await;
    assert_eq!(cancelled["success"], json!(true), "{cancelled}");
    let new = t
        .stub
        .bookings()
        .into_iter()
        .find(|b| b["uid"] == json!(new_uid))
        .expect("new booking");
    assert_eq!(new["status"], json!("cancelled"));
    let record = calendar(&aws).appointment(&c, &id).await.expect("read");
    assert_eq!(
        record.map(|a| a.status),
        Some(shared::calendar::AppointmentStatus::Cancelled)
    );
}

/// docs/custom-functions.md, "Arguments", on Cal.com: the same table as on the native calendar.
/// No refused call reaches Cal.com's booking endpoints; the stored text arrives as given.
#[tokio::test]
async fn arguments_are_read_never_guessed_on_calcom() {
    let aws = clients().await;
    let last = next_tuesday();
    let t = calcom_company_with(
        &aws,
        settings_with_horizon(demo_settings(), last),
        2000,
        None,
    )
    .await;
    let tools = Tools::new(&aws);
    let (first, second) =
        assert_arguments_are_read_never_guessed(&tools, &t.agent, CALLER, last).await;
    let bookings = t.stub.bookings();
    let ours = |b: &Value| b["metadata"]["appointment_id"].as_str().map(str::to_owned);
    assert!(
        bookings
            .iter()
            .all(|b| ours(b) == Some(first.clone()) || ours(b) == Some(second.clone())),
        "only the two readable bookings reached Cal.com: {bookings:?}"
    );
    let accepted: Vec<&Value> = bookings
        .iter()
        .filter(|b| b["status"] == json!("accepted"))
        .collect();
    assert_eq!(accepted.len(), 2, "{bookings:?}");
    let moved = accepted
        .iter()
        .find(|b| ours(b) == Some(second.clone()))
        .expect("the second booking, moved");
    assert_eq!(moved["attendees"][0]["name"], json!("ä".repeat(100)));
    assert_eq!(
        moved["bookingFieldsResponses"]["notes"],
        json!("Bitte klingeln\nHintereingang")
    );
    let start: DateTime<Utc> = moved["start"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("start");
    assert_eq!(start, berlin(last, 16, 0));
}

/// A deployed stack calls calendars over https on public addresses only: a company whose
/// Cal.com base URL is this machine gets the spoken fallback, and nothing is sent there (not
/// even its API key read). Only the local stack allows its stand-in on 127.0.0.1.
#[tokio::test]
async fn a_deployed_stack_never_calls_a_calendar_on_this_machine() {
    let (aws, log) = counted_clients().await;
    let t = calcom_company(&aws, 2000, None).await;
    let mut config = integration_tests::tool_harness::tool_config();
    config.loopback_calendars = false;
    let svc = shared::tools::ToolService::build(CheckAvailability, &config, &aws);
    log.take();
    let reply = call(
        &svc,
        &t.agent,
        CALLER,
        json!({"date": next_tuesday().to_string(), "service_id": "haircut"}),
    )
    .await;
    assert!(is_calendar_fallback(&reply), "{reply}");
    assert!(t.stub.received().is_empty(), "nothing reached the stand-in");
    assert_eq!(
        log.take()
            .iter()
            .filter(|r| r.ends_with("GetSecretValue"))
            .count(),
        1,
        "the Retell keys only: the Cal.com key is not even read"
    );
}

/// Cal.com refuses a booking for a reason other than a taken time (here an invalid phone
/// number): the caller hears the calendar fallback, not alternatives that would fail the same
/// way; the reason is logged and the pending item goes, so the same booking works once Cal.com
/// takes it.
#[tokio::test]
async fn a_refusal_that_is_not_a_taken_time_offers_no_alternatives() {
    let aws = clients().await;
    let t = calcom_company(&aws, 2000, None).await;
    let book = service(BookAppointment, &aws);
    let day = next_tuesday().to_string();
    let args = json!({"date": day, "time": "11:00", "service_id": "haircut"});
    t.stub.set_fault(Fault::Refuse("Invalid phone number"));
    let refused = call(&book, &t.agent, CALLER, args.clone()).await;
    t.stub.set_fault(Fault::None);
    assert!(is_calendar_fallback(&refused), "{refused}");
    assert!(refused.get("alternatives").is_none(), "{refused}");
    let booked = call(&book, &t.agent, CALLER, args).await;
    assert_eq!(booked["success"], json!(true), "{booked}");
}

/// A company west of UTC open until nine in the evening: its evening is the next UTC day. The
/// slots are asked for the company's local day as instants, so the evening is offered (asked by
/// date alone, Cal.com would read a UTC day and cut it).
#[tokio::test]
async fn a_company_west_of_utc_gets_its_evening_slots() {
    fn new_york(key: &str) -> StubConfig {
        let day = NaiveTime::from_hms_opt(9, 0, 0).zip(NaiveTime::from_hms_opt(21, 0, 0));
        StubConfig {
            time_zone: chrono_tz::America::New_York,
            hours: [day, day, day, day, day, day, None],
            ..StubConfig::salon(key)
        }
    }
    let aws = clients().await;
    let mut settings = demo_settings();
    settings.time_zone = "America/New_York".into();
    settings.language = "en".into();
    settings.breaks.clear();
    settings.hours = ["mon", "tue", "wed", "thu", "fri"]
        .into_iter()
        .map(|d| (d.to_owned(), vec!["09:00-21:00".to_owned()]))
        .collect();
    let t = calcom_company_on(&aws, settings, 2000, None, new_york).await;
    let check = service(CheckAvailability, &aws);
    let reply = call(
        &check,
        &t.agent,
        CALLER,
        json!({"date": next_tuesday().to_string(), "service_id": "haircut"}),
    )
    .await;
    let free = slots(&reply);
    assert_eq!(free.first().map(String::as_str), Some("09:00"), "{reply}");
    assert_eq!(free.last().map(String::as_str), Some("20:30"), "{reply}");
    let asked = t.stub.received();
    let query = asked
        .iter()
        .filter(|r| r.path == "/v2/slots")
        .filter_map(|r| r.query.clone())
        .next_back()
        .unwrap_or_default();
    // The local day's bounds as instants: New York's midnight, not a bare date.
    let midnight = local_instant(
        &chrono_tz::America::New_York,
        next_tuesday(),
        NaiveTime::MIN,
    )
    .expect("midnight exists");
    let expected = midnight
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        .replace(':', "%3A");
    assert!(query.contains(&format!("start={expected}")), "{query}");
}

/// The booking in the stub that carries `appointment_id`, live (accepted).
fn live_booking(t: &Tenant, appointment_id: &Value) -> Value {
    t.stub
        .bookings()
        .into_iter()
        .find(|b| &b["metadata"]["appointment_id"] == appointment_id && b["status"] == "accepted")
        .unwrap_or_else(|| panic!("no live booking for {appointment_id}"))
}

/// Staff on Cal.com: each person is a host with their own event types; "anyone" books the
/// round-robin team type, and Cal.com's choice of host comes back as the staff member. Asked for
/// a person, their own type is booked; a person who is busy in Cal.com is not offered; moving to
/// another person is a booking on their type and the old one cancelled.
#[tokio::test]
async fn staff_on_calcom_are_hosts_with_their_own_event_types() {
    let aws = clients().await;
    let mut settings = salon_settings();
    settings.resources.clear();
    let t = calcom_company_on(&aws, settings, 2000, None, StubConfig::salon_team).await;
    let day = next_tuesday();
    let d = day.to_string();
    // Anna has a booking at ten in Cal.com (made on its booking page).
    t.stub.add_booking(2001, berlin(day, 10, 0), 30);
    let check = service(CheckAvailability, &aws);
    let anyone = call(
        &check,
        &t.agent,
        CALLER,
        json!({"date": d, "time": "10:00", "service_id": "haircut"}),
    )
    .await;
    assert_eq!(anyone["available"], json!(true), "{anyone}");
    assert_eq!(
        anyone["staff"]["10:00"],
        json!(["Ben", "Clara"]),
        "{anyone}"
    );
    assert_eq!(
        anyone["staff"]["10:30"],
        json!(["Anna", "Ben", "Clara"]),
        "{anyone}"
    );
    let asked = t.stub.received();
    let types: std::collections::BTreeSet<String> = asked
        .iter()
        .filter(|r| r.path == "/v2/slots")
        .filter_map(|r| {
            r.query
                .as_deref()?
                .split('&')
                .find(|p| p.starts_with("eventTypeId="))
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        ["eventTypeId=2001", "eventTypeId=2101", "eventTypeId=2201"],
        "each qualified person's own type"
    );
    let anna = call(
        &check,
        &t.agent,
        CALLER,
        json!({"date": d, "time": "10:00", "service_id": "haircut", "staff": "Frau Berg"}),
    )
    .await;
    assert_eq!(anna["available"], json!(false), "{anna}");
    assert_eq!(names(&anna, "others_free"), ["Ben", "Clara"], "{anna}");

    // Anyone at ten: Cal.com's round robin picks the free host with the fewest bookings (Ben).
    let book = service(BookAppointment, &aws);
    let first = call(
        &book,
        &t.agent,
        CALLER,
        json!({"date": d, "time": "10:00", "service_id": "haircut"}),
    )
    .await;
    assert_eq!(first["success"], json!(true), "{first}");
    assert_eq!(first["staff"], json!("Ben"), "{first}");
    let booking = live_booking(&t, &first["appointment_id"]);
    assert_eq!(booking["eventTypeId"], json!(1001), "the team type");
    assert_eq!(booking["hosts"][0]["id"], json!(12));
    // Clara by name: her own type.
    let second = call(
        &book,
        &t.agent,
        "+4917655580002",
        json!({"date": d, "time": "10:00", "service_id": "haircut", "staff": "Clara"}),
    )
    .await;
    assert_eq!(second["success"], json!(true), "{second}");
    assert_eq!(second["staff"], json!("Clara"));
    assert_eq!(
        live_booking(&t, &second["appointment_id"])["eventTypeId"],
        json!(2201)
    );
    // Anna by name at ten: Cal.com says she is taken; the caller hears the alternatives.
    let third = call(
        &book,
        &t.agent,
        "+4917655580003",
        json!({"date": d, "time": "10:00", "service_id": "haircut", "staff": "Anna"}),
    )
    .await;
    assert_eq!(third["success"], json!(false), "{third}");
    assert!(
        third["alternatives"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{third}"
    );
    // Ben does not colour: refused with who does, before Cal.com is asked.
    let ben = call(
        &book,
        &t.agent,
        "+4917655580004",
        json!({"date": d, "time": "14:00", "service_id": "coloring", "staff": "Herr Weber"}),
    )
    .await;
    assert_eq!(ben["argument"], json!("staff"), "{ben}");

    // Moved within Ben: Cal.com reschedules the booking and keeps him.
    let reschedule = service(RescheduleAppointment, &aws);
    let later = call(
        &reschedule,
        &t.agent,
        CALLER,
        json!({"new_date": d, "new_time": "11:00"}),
    )
    .await;
    assert_eq!(later["success"], json!(true), "{later}");
    assert_eq!(later["staff"], json!("Ben"), "{later}");
    let moved = live_booking(&t, &first["appointment_id"]);
    assert_eq!(
        (
            moved["hosts"][0]["id"].clone(),
            moved["rescheduledFromUid"].is_string()
        ),
        (json!(12), true)
    );
    // A round-robin booking moved to a time its host is busy: Cal.com gives it to another free
    // host, and the appointment names who it is with now (never the one it was with before).
    let third_caller = "+4917655580009";
    let rr = call(
        &book,
        &t.agent,
        third_caller,
        json!({"date": d, "time": "16:00", "service_id": "haircut"}),
    )
    .await;
    let first_host = rr["staff"].as_str().unwrap_or_default().to_owned();
    let busy_type = match first_host.as_str() {
        "Anna" => 2001,
        "Ben" => 2101,
        _ => 2201,
    };
    t.stub.add_booking(busy_type, berlin(day, 16, 30), 30);
    let rr_moved = call(
        &reschedule,
        &t.agent,
        third_caller,
        json!({"new_date": d, "new_time": "16:30"}),
    )
    .await;
    assert_eq!(rr_moved["success"], json!(true), "{rr_moved}");
    assert_ne!(rr_moved["staff"], json!(first_host), "{rr_moved}");
    let host = live_booking(&t, &rr["appointment_id"])["hosts"][0]["name"].clone();
    assert!(
        host.as_str()
            .unwrap_or_default()
            .starts_with(rr_moved["staff"].as_str().unwrap_or("?")),
        "{host} {rr_moved}"
    );
    // To Anna: a booking on her type, Ben's cancelled, the ledger names her.
    let to_anna = call(
        &reschedule,
        &t.agent,
        CALLER,
        json!({"new_date": d, "new_time": "11:30", "staff": "Anna"}),
    )
    .await;
    assert_eq!(to_anna["success"], json!(true), "{to_anna}");
    assert_eq!(to_anna["staff"], json!("Anna"), "{to_anna}");
    assert_eq!(
        to_anna["appointment_id"], first["appointment_id"],
        "the caller's id stays"
    );
    let now = live_booking(&t, &first["appointment_id"]);
    assert_eq!(
        (now["eventTypeId"].clone(), now["hosts"][0]["id"].clone()),
        (json!(2001), json!(11))
    );
    let old = t
        .stub
        .bookings()
        .into_iter()
        .find(|b| b["uid"] == moved["uid"])
        .expect("Ben's booking");
    assert_eq!(old["status"], json!("cancelled"), "{old}");
    let c = company(&aws, &t).await;
    let id = first["appointment_id"].as_str().unwrap_or_default();
    let record = calendar(&aws)
        .appointment(&c, id)
        .await
        .expect("read")
        .expect("record");
    assert_eq!(record.staff_id.as_deref(), Some("anna"));
    assert_eq!(record.external_uid, now["uid"].as_str().map(str::to_owned));
    let info = call(&service(GetCustomerInfo, &aws), &t.agent, CALLER, json!({})).await;
    assert_eq!(info["upcoming"][0]["staff"], json!("Anna"), "{info}");
}

/// The Cal.com webhook function behind a local HTTP server (as API Gateway would call it): the
/// URL the stub delivers to for `company_id`, and the function.
async fn serve_inbox(
    aws: &AwsClients,
    company_id: &str,
) -> (String, std::sync::Arc<calcom_webhook::CalComInbox>) {
    let tools = integration_tests::tool_harness::tool_config();
    let inbox = std::sync::Arc::new(calcom_webhook::CalComInbox::build(
        &shared::platform::config::CalComWebhookConfig {
            companies_table: tools.auth.companies_table.clone(),
            appointments_table: tools.appointments_table.clone(),
        },
        aws,
    ));
    let served = inbox.clone();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let inbox = served.clone();
        async move {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let mut forwarded = lambda_http::http::Request::builder()
                .method(parts.method.as_str())
                .uri(parts.uri.path());
            for (name, value) in &parts.headers {
                forwarded = forwarded.header(name.as_str(), value.as_bytes());
            }
            let answer = inbox
                .handle(
                    forwarded
                        .body(lambda_http::Body::from(bytes.to_vec()))
                        .expect("request"),
                )
                .await;
            (
                axum::http::StatusCode::from_u16(answer.status().as_u16()).unwrap_or_default(),
                answer.body().to_vec(),
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (
        format!("http://{addr}/api/calcom/webhook/{company_id}"),
        inbox,
    )
}

/// Waits until `check` holds of the company's appointments on `day` (deliveries are async).
async fn appointments_until(
    aws: &AwsClients,
    company_id: &str,
    day: NaiveDate,
    check: impl Fn(&[shared::calendar::Appointment]) -> bool,
) -> Vec<shared::calendar::Appointment> {
    let ledger = shared::calendar::ledger::AppointmentLedger::new(
        aws.dynamodb.clone(),
        integration_tests::tool_harness::tool_config().appointments_table,
    );
    let from = berlin(day, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = ledger
            .appointments_between(company_id, from, from + chrono::Duration::days(1), 100)
            .await
            .expect("ledger");
        if check(&list) || Instant::now() > deadline {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A stub request with the tenant's key, as a client of Cal.com's API would send it.
async fn stub_post(t: &Tenant, key: &str, path: &str, body: Value) -> Value {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .post(format!("{}{path}", t.stub.url()))
        .bearer_auth(key)
        .header("cal-api-version", CALCOM_BOOKINGS_VERSION)
        .json(&body)
        .send()
        .await
        .expect("stub")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn bookings_made_on_calcom_reach_the_ledger_once_and_a_caller_can_cancel_them_by_phone() {
    let aws = clients().await;
    let mut settings = salon_settings();
    settings.resources.clear();
    let key = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = key.clone();
    let t = calcom_company_on(&aws, settings, 2000, None, move |k| {
        *seen.lock().expect("key") = k.to_owned();
        StubConfig::salon_team(k)
    })
    .await;
    let key = key.lock().expect("key").clone();
    let company = company(&aws, &t).await;
    let CalendarBackend::CalCom(cal) = &company.settings.calendar else {
        panic!("not on Cal.com");
    };
    let (url, inbox) = serve_inbox(&aws, &t.company_id).await;
    // What `retell-ops sync` does: a secret of the company's own, and the webhook at Cal.com.
    aws.secrets
        .create_secret()
        .name(cal.webhook_secret_id())
        .secret_string("whsec-test-0123456789")
        .send()
        .await
        .expect("secret");
    let client = shared::calendar::CalComClient::new(cal, aws.secrets.clone(), true);
    client
        .create_webhook(&url, "whsec-test-0123456789")
        .await
        .expect("webhook");
    assert_eq!(client.webhooks().await.expect("list").len(), 1);

    // A booking on Cal.com's page with Anna (her own event type), with a phone number.
    let day = next_tuesday() + chrono::Duration::weeks(2);
    let caller = "+4917655501234";
    let made = stub_post(
        &t,
        &key,
        "/v2/bookings",
        json!({"eventTypeId": 2001, "start": berlin(day, 11, 0).to_rfc3339(),
               "attendee": {"name": "Lea Online", "email": "lea@example.com",
                            "timeZone": "Europe/Berlin", "phoneNumber": caller}}),
    )
    .await;
    let uid = made["data"]["uid"].as_str().expect("uid").to_owned();
    let list = appointments_until(&aws, &t.company_id, day, |l| !l.is_empty()).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let online = &list[0];
    assert_eq!(
        (
            online.service_id.as_str(),
            online.staff_id.as_deref(),
            online.customer_phone.as_str()
        ),
        ("haircut", Some("anna"), caller)
    );
    assert_eq!(online.external_uid.as_deref(), Some(uid.as_str()));
    assert_eq!(online.source(), shared::calendar::AppointmentSource::CalCom);

    // The same delivery again (a replay, or Cal.com retrying): nothing changes.
    let first = t.stub.delivered().into_iter().next().expect("delivered");
    assert_eq!(first.status, 200);
    let signature =
        shared::calendar::calcom_webhook::sign(first.body.as_bytes(), "whsec-test-0123456789");
    let replay = |sig: Option<String>, body: String, path: String| {
        let inbox = inbox.clone();
        async move {
            let mut r = lambda_http::http::Request::builder()
                .method("POST")
                .uri(path);
            if let Some(sig) = sig {
                r = r.header("x-cal-signature-256", sig);
            }
            let answer = inbox
                .handle(r.body(lambda_http::Body::from(body)).expect("request"))
                .await;
            (
                answer.status().as_u16(),
                String::from_utf8_lossy(answer.body().as_ref()).into_owned(),
            )
        }
    };
    let path = format!("/api/calcom/webhook/{}", t.company_id);
    let (status, text) = replay(Some(signature.clone()), first.body.clone(), path.clone()).await;
    assert_eq!((status, text.contains("replay")), (200, true), "{text}");
    // Refusals: unsigned, no secret, a wrong signature, another body, no such company.
    for (sig, body, at, want) in [
        (None, first.body.clone(), path.clone(), 401),
        (
            Some("no-secret-provided".to_owned()),
            first.body.clone(),
            path.clone(),
            401,
        ),
        (Some("ab".repeat(32)), first.body.clone(), path.clone(), 401),
        (
            Some(signature.clone()),
            first.body.replace("Lea", "Eve"),
            path.clone(),
            401,
        ),
        (
            Some(signature.clone()),
            first.body.clone(),
            "/api/calcom/webhook/nobody-here".to_owned(),
            404,
        ),
        (
            Some(signature.clone()),
            first.body.clone(),
            "/api/calcom/webhook/a%23b".to_owned(),
            404,
        ),
        (
            Some(shared::calendar::calcom_webhook::sign(
                b"{\"triggerEvent\": 5}",
                "whsec-test-0123456789",
            )),
            "{\"triggerEvent\": 5}".to_owned(),
            path.clone(),
            400,
        ),
        (None, "x".repeat(300_000), path.clone(), 413),
    ] {
        let (status, text) = replay(sig, body, at).await;
        assert_eq!(status, want, "{text}");
    }
    assert_eq!(
        appointments_until(&aws, &t.company_id, day, |_| true)
            .await
            .len(),
        1
    );

    // The caller rings and cancels it: the tool finds it by their number; Cal.com's echo of
    // that cancel changes nothing more.
    let cancel = service(CancelAppointment, &aws);
    let reply = call(&cancel, &t.agent, caller, json!({"date": day.to_string()})).await;
    assert_eq!(reply["success"], json!(true), "{reply}");
    let list = appointments_until(&aws, &t.company_id, day, |l| {
        l.iter()
            .all(|a| a.status == shared::calendar::AppointmentStatus::Cancelled)
    })
    .await;
    assert_eq!(
        list[0].status,
        shared::calendar::AppointmentStatus::Cancelled
    );
    let log: Vec<(&str, &str)> = list[0]
        .changes
        .iter()
        .map(|c| (c.by.as_str(), c.what.as_str()))
        .collect();
    assert_eq!(
        log,
        [("calcom", "booked"), ("phone:call_tools", "cancelled")],
        "who changed it, in order"
    );
    let booking = t
        .stub
        .bookings()
        .into_iter()
        .find(|b| b["uid"] == json!(uid))
        .expect("booking");
    assert_eq!(booking["status"], json!("cancelled"));

    // Another booked online, then moved and cancelled on Cal.com: the ledger follows.
    let made = stub_post(
        &t,
        &key,
        "/v2/bookings",
        json!({"eventTypeId": 1001, "start": berlin(day, 14, 0).to_rfc3339(),
               "attendee": {"name": "Max Online", "email": "max@example.com",
                            "timeZone": "Europe/Berlin", "phoneNumber": "+4917655501235"}}),
    )
    .await;
    let uid2 = made["data"]["uid"].as_str().expect("uid").to_owned();
    appointments_until(&aws, &t.company_id, day, |l| l.len() == 2).await;
    let moved = stub_post(
        &t,
        &key,
        &format!("/v2/bookings/{uid2}/reschedule"),
        json!({"start": berlin(day, 15, 0).to_rfc3339(), "reschedulingReason": "later"}),
    )
    .await;
    let uid3 = moved["data"]["uid"].as_str().expect("uid").to_owned();
    let list = appointments_until(&aws, &t.company_id, day, |l| {
        l.iter()
            .any(|a| a.external_uid.as_deref() == Some(uid3.as_str()))
    })
    .await;
    let max = list
        .iter()
        .find(|a| a.external_uid.as_deref() == Some(uid3.as_str()))
        .expect("moved in the ledger");
    assert_eq!(max.time, NaiveTime::from_hms_opt(15, 0, 0).expect("time"));
    assert_eq!(list.len(), 2, "moved, not added: {list:?}");
    stub_post(
        &t,
        &key,
        &format!("/v2/bookings/{uid3}/cancel"),
        json!({"cancellationReason": "Can't make it"}),
    )
    .await;
    let list = appointments_until(&aws, &t.company_id, day, |l| {
        l.iter()
            .all(|a| a.status == shared::calendar::AppointmentStatus::Cancelled)
    })
    .await;
    assert!(
        list.iter()
            .all(|a| a.status == shared::calendar::AppointmentStatus::Cancelled),
        "{list:?}"
    );
    assert!(
        t.stub.delivered().iter().all(|d| d.status == 200),
        "every delivery taken"
    );
}
