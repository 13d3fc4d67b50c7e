//! Messaging against the emulator: a booking's notice, delivered again and handled at once by
//! racing invocations, sends one SMS and one e-mail; a notice of a change that a later one
//! replaced sends nothing; a customer marked "no messages" gets none (the skip recorded); a
//! no-show's offer goes once; verification codes keep their limits (three an hour, three tries,
//! ten minutes, one call).

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use book_appointment::BookAppointment;
use chrono::{Duration, Utc};
use integration_tests::tool_harness::{call, next_tuesday, put_company, salon_settings, service};
use integration_tests::{clients, endpoint, stack};
use messaging::Messaging;
use reschedule_appointment::RescheduleAppointment;
use serde_json::{json, Value};
use shared::booking::phone::PhoneNumber;
use shared::calendar::{AppointmentLedger, Attendance};
use shared::messaging::verification::{Checked, CodeStore, Issued};
use shared::messaging::Notice;
use shared::platform::aws::AwsClients;

/// A salon that messages by SMS and e-mail, with no quiet hours (the same at any hour).
async fn salon(aws: &AwsClients) -> (String, String) {
    aws.sdk.endpoint_url().expect("the emulator");
    aws_sdk_sesv2::Client::new(&aws.sdk)
        .create_email_identity()
        .email_identity("demo.example")
        .send()
        .await
        .ok(); // made by an earlier test: fine
    let mut settings = salon_settings();
    let messaging = settings.messaging.as_mut().expect("demo.json messages");
    messaging.quiet_hours = String::new();
    put_company(aws, &settings).await
}

fn mobile() -> String {
    format!(
        "+49176{:08}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default() % 100_000_000
    )
}

async fn outbox_to(who: &str) -> Vec<Value> {
    let client = shared::platform::http::client_builder()
        .build()
        .expect("client");
    let all: Value = client
        .get(format!("{}/_outbox", endpoint()))
        .send()
        .await
        .expect("outbox")
        .json()
        .await
        .expect("json");
    all["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| {
            m["to"] == json!(who) || m["to"].as_array().is_some_and(|a| a.contains(&json!(who)))
        })
        .collect()
}

fn job(aws: &AwsClients) -> Messaging {
    Messaging::build(&stack().env("messaging"), aws).expect("messaging config")
}

fn batch(notice: &Notice) -> SqsEvent {
    let mut message = SqsMessage::default();
    message.message_id = Some(format!(
        "m-{}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    message.body = Some(serde_json::to_string(notice).expect("notice"));
    let mut event = SqsEvent::default();
    event.records = vec![message];
    event
}

fn ledger(aws: &AwsClients) -> AppointmentLedger {
    AppointmentLedger::new(
        aws.dynamodb.clone(),
        stack().resource("AppointmentsTable", "Ref"),
    )
}

#[tokio::test]
async fn one_message_per_change_and_channel_whatever_is_delivered_again() {
    let aws = clients().await;
    let (company, agent) = salon(&aws).await;
    let job = job(&aws);
    let phone = mobile();
    let mail = format!("eva.{}@example.org", &phone[6..]);
    let book = service(BookAppointment, &aws);
    let day = next_tuesday() + chrono::Days::new(14);
    let booked = call(
        &book,
        &agent,
        &phone,
        json!({"date": day.to_string(), "time": "10:00", "service_id": "haircut",
               "customer_name": "Eva Fett", "customer_email": mail}),
    )
    .await;
    assert_eq!(booked["success"], json!(true), "{booked}");
    let id = booked["appointment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let notice = Notice::Appointment {
        company_id: company.clone(),
        appointment_id: id.clone(),
        change: 0,
        channel: None,
    };
    // Three deliveries of the same notice at once, then once more: one SMS, one e-mail.
    let (a, b, c) = tokio::join!(
        job.handle_batch(batch(&notice)),
        job.handle_batch(batch(&notice)),
        job.handle_batch(batch(&notice)),
    );
    let failed = [a, b, c]
        .iter()
        .map(|r| r.batch_item_failures.len())
        .sum::<usize>();
    // A send in progress elsewhere is retried by SQS: the retry finds it done.
    for _ in 0..failed {
        assert!(job
            .handle_batch(batch(&notice))
            .await
            .batch_item_failures
            .is_empty());
    }
    assert!(job
        .handle_batch(batch(&notice))
        .await
        .batch_item_failures
        .is_empty());
    let sms = outbox_to(&phone).await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert!(sms[0]["text"]
        .as_str()
        .unwrap_or_default()
        .contains("ist gebucht"));
    let mails = outbox_to(&mail).await;
    assert_eq!(mails.len(), 1, "{mails:?}");

    // Moved: the notice of the booking is now out of date and sends nothing; the move's does.
    let move_ = service(RescheduleAppointment, &aws);
    let moved = call(
        &move_,
        &agent,
        &phone,
        json!({"new_date": day.to_string(), "new_time": "11:00"}),
    )
    .await;
    assert_eq!(moved["success"], json!(true), "{moved}");
    let stale = Notice::Appointment {
        company_id: company.clone(),
        appointment_id: id.clone(),
        change: 0,
        channel: Some(shared::messaging::Channel::Sms),
    };
    assert!(job
        .handle_batch(batch(&stale))
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(
        outbox_to(&phone).await.len(),
        1,
        "nothing for a replaced change"
    );
    let current = Notice::Appointment {
        company_id: company,
        appointment_id: id,
        change: 1,
        channel: None,
    };
    assert!(job
        .handle_batch(batch(&current))
        .await
        .batch_item_failures
        .is_empty());
    let sms = outbox_to(&phone).await;
    assert_eq!(sms.len(), 2, "{sms:?}");
    assert!(sms[1]["text"]
        .as_str()
        .unwrap_or_default()
        .contains("11:00"));
}

#[tokio::test]
async fn a_customer_marked_no_messages_gets_none_and_a_no_show_gets_one_offer() {
    let aws = clients().await;
    let (company, agent) = salon(&aws).await;
    let job = job(&aws);
    let book = service(BookAppointment, &aws);
    let day = next_tuesday() + chrono::Days::new(21);

    let quiet = mobile();
    ledger(&aws)
        .set_no_messages(
            &company,
            &PhoneNumber::parse(&quiet).expect("number"),
            true,
            0,
        )
        .await
        .expect("mark");
    let booked = call(
        &book,
        &agent,
        &quiet,
        json!({"date": day.to_string(), "time": "09:00", "service_id": "haircut"}),
    )
    .await;
    let id = booked["appointment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let notice = Notice::Appointment {
        company_id: company.clone(),
        appointment_id: id.clone(),
        change: 0,
        channel: None,
    };
    assert!(job
        .handle_batch(batch(&notice))
        .await
        .batch_item_failures
        .is_empty());
    assert!(outbox_to(&quiet).await.is_empty());
    let records = job
        .dispatcher
        .store
        .records(&company, 50)
        .await
        .expect("records");
    let skipped = records
        .iter()
        .find(|r| r.key == format!("{id}#0#confirmation#sms"))
        .expect("the skip is recorded");
    assert_eq!(
        (skipped.status.as_str(), skipped.detail.as_deref()),
        ("skipped", Some("no_messages"))
    );
    assert!(
        !skipped
            .recipient
            .clone()
            .unwrap_or_default()
            .contains(&quiet[4..]),
        "masked"
    );

    let missed = mobile();
    let booked = call(
        &book,
        &agent,
        &missed,
        json!({"date": day.to_string(), "time": "10:00", "service_id": "haircut"}),
    )
    .await;
    let id = booked["appointment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let no_show = Notice::NoShow {
        company_id: company.clone(),
        appointment_id: id.clone(),
    };
    // Not a no-show (yet): nothing.
    assert!(job
        .handle_batch(batch(&no_show))
        .await
        .batch_item_failures
        .is_empty());
    assert!(outbox_to(&missed)
        .await
        .iter()
        .all(|m| !m["text"].as_str().unwrap_or_default().contains("Schade")));
    ledger(&aws)
        .set_attendance(&company, &id, Attendance::NoShow, "desk:test")
        .await
        .expect("no-show");
    for _ in 0..2 {
        assert!(job
            .handle_batch(batch(&no_show))
            .await
            .batch_item_failures
            .is_empty());
    }
    let offers: Vec<Value> = outbox_to(&missed)
        .await
        .into_iter()
        .filter(|m| m["text"].as_str().unwrap_or_default().contains("Schade"))
        .collect();
    assert_eq!(offers.len(), 1, "{offers:?}");
}

#[tokio::test]
async fn unreadable_notices_are_failed_for_the_dead_letter_queue() {
    let aws = clients().await;
    let job = job(&aws);
    for body in [
        "",
        "{}",
        "[1]",
        "{\"kind\":\"appointment\"}",
        &"x".repeat(300_000),
    ] {
        let mut message = SqsMessage::default();
        message.message_id = Some("bad".into());
        message.body = Some(body.to_owned());
        let mut event = SqsEvent::default();
        event.records = vec![message];
        let response = job.handle_batch(event).await;
        assert_eq!(response.batch_item_failures.len(), 1, "{body:.40}");
    }
}

#[tokio::test]
async fn verification_codes_keep_their_limits() {
    let aws = clients().await;
    let codes = CodeStore::new(
        aws.dynamodb.clone(),
        stack().resource("AppointmentsTable", "Ref"),
    );
    let phone = PhoneNumber::parse(&mobile()).expect("number");
    let now = Utc::now();
    let Issued::Code(code) = codes
        .issue("vc", &phone, "call_a", now)
        .await
        .expect("issue")
    else {
        panic!("first code refused")
    };
    assert_eq!(code.len(), 6);
    // Another call cannot use it.
    assert_eq!(
        codes
            .check("vc", &phone, "call_b", &code, now)
            .await
            .expect("check"),
        Checked::NoValidCode
    );
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap_or(0) + 1) % 1_000_000);
    assert_eq!(
        codes
            .check("vc", &phone, "call_a", &wrong, now)
            .await
            .expect("check"),
        Checked::Wrong { tries_left: 2 }
    );
    // Expired after ten minutes.
    let later = now + Duration::minutes(11);
    assert_eq!(
        codes
            .check("vc", &phone, "call_a", &code, later)
            .await
            .expect("check"),
        Checked::NoValidCode
    );
    assert_eq!(
        codes
            .check("vc", &phone, "call_a", &code, now)
            .await
            .expect("check"),
        Checked::Verified
    );
    assert_eq!(
        codes
            .check("vc", &phone, "call_a", &code, now)
            .await
            .expect("check"),
        Checked::NoValidCode,
        "spent"
    );

    // Three codes an hour; two racing requests for the third and fourth: one gets it.
    assert!(matches!(
        codes
            .issue("vc", &phone, "call_a", now)
            .await
            .expect("issue"),
        Issued::Code(_)
    ));
    let (x, y) = tokio::join!(
        codes.issue("vc", &phone, "call_a", now),
        codes.issue("vc", &phone, "call_a", now)
    );
    let issued = [x.expect("issue"), y.expect("issue")];
    assert_eq!(
        issued
            .iter()
            .filter(|i| matches!(i, Issued::Code(_)))
            .count(),
        1,
        "{issued:?}"
    );
    assert_eq!(
        codes
            .issue("vc", &phone, "call_a", now)
            .await
            .expect("issue"),
        Issued::RateLimited
    );
    // An hour later, again.
    let next_hour = now + Duration::minutes(61);
    assert!(matches!(
        codes
            .issue("vc", &phone, "call_d", next_hour)
            .await
            .expect("issue"),
        Issued::Code(_)
    ));

    // Three wrong tries spend the code.
    let Issued::Code(code) = codes
        .issue("vc", &phone, "call_c", next_hour)
        .await
        .expect("issue")
    else {
        panic!("refused")
    };
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap_or(0) + 7) % 1_000_000);
    for left in [2, 1, 0] {
        assert_eq!(
            codes
                .check("vc", &phone, "call_c", &wrong, next_hour)
                .await
                .expect("check"),
            Checked::Wrong { tries_left: left }
        );
    }
    assert_eq!(
        codes
            .check("vc", &phone, "call_c", &code, next_hour)
            .await
            .expect("check"),
        Checked::NoValidCode
    );

    // One call cannot have the business text a list of numbers: five codes a call.
    for i in 0..5 {
        let other = PhoneNumber::parse(&format!("+4917199900{i:03}")).expect("number");
        let issued = codes
            .issue("vc", &other, "call_many", now)
            .await
            .expect("issue");
        assert!(matches!(issued, Issued::Code(_)), "{issued:?}");
    }
    let sixth = PhoneNumber::parse("+4917199900999").expect("number");
    let refused = codes
        .issue("vc", &sixth, "call_many", now)
        .await
        .expect("issue");
    assert_eq!(refused, Issued::CallLimited);
}

#[tokio::test]
async fn a_reminder_call_is_placed_once_by_the_reminder_agent() {
    let sim = integration_tests::RetellSimulator::start_seeded(integration_tests::DEFAULT_KEY);
    let aws = clients().await;
    let mut settings = salon_settings();
    settings.agent_ids.push("agent_demo".into());
    let messaging = settings.messaging.as_mut().expect("demo.json messages");
    messaging.quiet_hours = String::new();
    messaging.reminder_call = Some(
        serde_json::from_value(
            json!({"agent_id": "agent_demo", "from_number": "+493012345678",
            "hours": {"mon": ["00:00-23:59"], "tue": ["00:00-23:59"], "wed": ["00:00-23:59"],
                      "thu": ["00:00-23:59"], "fri": ["00:00-23:59"], "sat": ["00:00-23:59"],
                      "sun": ["00:00-23:59"]}}),
        )
        .expect("reminder call"),
    );
    let (company, agent) = put_company(&aws, &settings).await;
    let mut env: std::collections::HashMap<String, String> =
        serde_json::from_value(stack().description["functions"]["messaging"]["env"].clone())
            .expect("env");
    env.insert("RETELL_BASE_URL".into(), sim.url.clone());
    let job =
        Messaging::build(&shared::platform::config::Env::from_map(env), &aws).expect("config");

    let phone = mobile();
    let book = service(BookAppointment, &aws);
    let day = next_tuesday() + chrono::Days::new(28);
    let booked = call(&book, &agent, &phone,
        json!({"date": day.to_string(), "time": "16:00", "service_id": "haircut", "customer_name": "Rolf Ruf"})).await;
    assert_eq!(booked["success"], json!(true), "{booked}");
    let id = booked["appointment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let reminder = Notice::Reminder {
        company_id: company.clone(),
        appointment_id: id.clone(),
        change: 0,
        channel: None,
    };
    for _ in 0..2 {
        let response = job.handle_batch(batch(&reminder)).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }
    let records = job
        .dispatcher
        .store
        .records(&company, 50)
        .await
        .expect("records");
    let placed: Vec<_> = records
        .iter()
        .filter(|r| r.key == format!("{id}#call"))
        .collect();
    assert_eq!(placed.len(), 1, "{records:?}");
    assert_eq!(placed[0].status, "sent", "{:?}", placed[0]);
    let call_id = placed[0].detail.clone().unwrap_or_default();
    let retell = shared::retell::api::RetellClient::new(
        &sim.url,
        integration_tests::DEFAULT_KEY,
        std::time::Duration::from_secs(10),
    )
    .expect("client");
    let placed = retell
        .get_call(&call_id)
        .await
        .expect("the call Retell placed");
    assert_eq!(placed.agent_id.as_deref(), Some("agent_demo"));
    assert_eq!(placed.other["to_number"], json!(phone));
    assert_eq!(placed.other["direction"], json!("outbound"));
    assert_eq!(
        placed.other["retell_llm_dynamic_variables"]["appointment_time"],
        json!("16:00"),
        "{:?}",
        placed.other
    );
    // And the reminder SMS beside it, once.
    let sms: Vec<Value> = outbox_to(&phone)
        .await
        .into_iter()
        .filter(|m| {
            m["text"]
                .as_str()
                .unwrap_or_default()
                .contains("Erinnerung")
        })
        .collect();
    assert_eq!(sms.len(), 1, "{sms:?}");
}

/// docs/performance.md, "Messaging": what one SMS confirmation costs in requests.
#[tokio::test]
async fn a_confirmation_costs_what_the_docs_say() {
    let (aws, log) = integration_tests::counted_clients().await;
    let (company, agent) = salon(&aws).await;
    let mut job = job(&aws);
    job.dispatcher.providers = shared::messaging::sender::Providers {
        sns: aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&aws.sdk)
                .interceptor(log.clone())
                .build(),
        ),
        ses: aws_sdk_sesv2::Client::from_conf(
            aws_sdk_sesv2::config::Builder::from(&aws.sdk)
                .interceptor(log.clone())
                .build(),
        ),
    };
    let phone = mobile();
    let book = service(BookAppointment, &aws);
    let day = next_tuesday() + chrono::Days::new(35);
    let booked = call(
        &book,
        &agent,
        &phone,
        json!({"date": day.to_string(), "time": "13:00", "service_id": "haircut"}),
    )
    .await;
    let id = booked["appointment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // The company in the directory's cache, as in a warm container.
    job.dispatcher
        .companies
        .lookup(&shared::booking::directory::CompanyKey::Id(company.clone()))
        .await
        .expect("company");
    log.take();
    let notice = Notice::Appointment {
        company_id: company,
        appointment_id: id,
        change: 0,
        channel: None,
    };
    assert!(job
        .handle_batch(batch(&notice))
        .await
        .batch_item_failures
        .is_empty());
    let mut requests = log.take();
    requests.sort();
    assert_eq!(
        requests,
        [
            "DynamoDB.GetItem",    // the appointment
            "DynamoDB.GetItem",    // the customer (no messages?)
            "DynamoDB.PutItem",    // the SMS's claim
            "DynamoDB.PutItem",    // the reminder in the due index
            "DynamoDB.UpdateItem", // the claim: sent
            "SNS.CheckIfPhoneNumberIsOptedOut",
            "SNS.Publish",
        ],
        "{requests:?}"
    );
}
