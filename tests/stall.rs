//! When AWS stalls (the emulator frozen with SIGSTOP: connections open, no answers), nobody is
//! left believing something false: the webhook answers 503 well inside Retell's 10 s, and a
//! booking whose outcome is unknown is never reported as failed; its retry tells the truth, and
//! a call that ends without one has the write recorded for staff.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use integration_tests::tool_harness::next_tuesday;
use integration_tests::{call_id, now_ms, FreezableEmulator, DEFAULT_KEY};
use lambda_http::{Body, Request};
use serde_json::{json, Value};
use shared::booking::company::CompanySettings;
use shared::calendar::{Calendars, NativeCalendar};
use shared::calls::consumer::Consumer;
use shared::calls::store::{CallStore, DynamoCallStore};
use shared::platform::config::{ConsumerConfig, Env, RetellAuthConfig, WebhookConfig};
use shared::retell::auth::RequestAuth;
use shared::retell::keys::SecretsManagerSource;
use shared::retell::signature::sign;
use shared::retell::{CallId, EventKind};
use shared::tools::{Tool, ToolService};
use webhook::Webhook;

fn signed(body: &str) -> Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("/api/retell/x")
        .header(
            "x-retell-signature",
            sign(body.as_bytes(), DEFAULT_KEY, now_ms()),
        )
        .body(Body::from(body.to_owned()))
        .expect("request")
}

fn auth(env: &Env, aws: &shared::platform::aws::AwsClients) -> RequestAuth<SecretsManagerSource> {
    RequestAuth::build(&RetellAuthConfig::from_env(env).expect("env"), aws)
}

#[tokio::test]
async fn the_webhook_answers_503_in_time_while_aws_is_frozen() {
    let emulator = FreezableEmulator::start();
    let aws = emulator.clients().await;
    let env = emulator.stack.env("webhook");
    let config = WebhookConfig::from_env(&env).expect("env");
    let webhook = Webhook::build(&config, &aws);
    let body = |id: &str| {
        json!({"event": "call_started", "call": {"call_id": id, "agent_id": "agent_x",
            "call_status": "ongoing", "start_timestamp": now_ms()}})
        .to_string()
    };
    // Warm: the agent's company and the keys are cached.
    let warm = body(&call_id("warm"));
    assert_eq!(webhook.handle(signed(&warm)).await.status().as_u16(), 200);

    emulator.freeze();
    let started = Instant::now();
    let response = webhook.handle(signed(&body(&call_id("frozen")))).await;
    let took = started.elapsed();
    emulator.thaw();
    assert_eq!(
        response.status().as_u16(),
        503,
        "never 2xx without the queue"
    );
    assert!(
        took < Duration::from_secs(7),
        "answered in {took:?}: Retell gives up at 10 s"
    );
    // Cold container, frozen AWS: still in time.
    let cold = Webhook::build(&config, &aws);
    emulator.freeze();
    let started = Instant::now();
    let response = cold.handle(signed(&body(&call_id("cold")))).await;
    let took = started.elapsed();
    emulator.thaw();
    assert_eq!(response.status().as_u16(), 503);
    assert!(took < Duration::from_secs(7), "answered in {took:?}");
}

async fn tool_call<T: Tool>(
    svc: &ToolService<T, SecretsManagerSource>,
    call: &str,
    agent: &str,
    args: Value,
) -> (Value, Duration) {
    let body = json!({"name": svc.tool.definition().name, "args": args,
        "call": {"call_id": call, "agent_id": agent, "from_number": "+4917633334444"}})
    .to_string();
    let started = Instant::now();
    let response = svc.handle(signed(&body)).await;
    let took = started.elapsed();
    assert_eq!(response.status().as_u16(), 200);
    (
        serde_json::from_slice(response.body().as_ref()).expect("json"),
        took,
    )
}

/// The call_ended event Retell sends, with the tool results the agent saw.
fn call_ended(call: &str, agent: &str, results: &[(&str, &Value)]) -> Value {
    let mut transcript = Vec::new();
    for (i, (name, content)) in results.iter().enumerate() {
        transcript.push(
            json!({"role": "tool_call_invocation", "tool_call_id": format!("t{i}"),
            "name": name, "arguments": "{}"}),
        );
        transcript.push(
            json!({"role": "tool_call_result", "tool_call_id": format!("t{i}"),
            "content": content.to_string()}),
        );
    }
    json!({"event": "call_ended", "call": {"call_id": call, "agent_id": agent, "call_status": "ended",
        "direction": "inbound", "from_number": "+4915112345678", "to_number": "+493012345678",
        "start_timestamp": now_ms() - 60_000, "end_timestamp": now_ms(),
        "transcript_with_tool_calls": transcript}})
}

#[tokio::test]
async fn a_booking_cut_off_by_a_stall_is_never_reported_as_failed() {
    use book_appointment::BookAppointment;
    use check_availability::CheckAvailability;

    let emulator = FreezableEmulator::start();
    let aws = emulator.clients().await;
    let env = emulator.stack.env("book-appointment");
    let appointments = env.required("APPOINTMENTS_TABLE").expect("env");
    let tag = call_id("stall").replace('_', "-");
    let mut settings: CompanySettings =
        serde_json::from_str(include_str!("../infra/local/companies/demo.json")).expect("demo");
    settings.company_id = tag.clone();
    settings.agent_ids = vec![format!("agent_{tag}")];
    settings.phone_numbers = vec![];
    auth(&env, &aws)
        .companies
        .put(&settings)
        .await
        .expect("put company");
    let agent = settings.agent_ids[0].clone();
    let service = |aws: &shared::platform::aws::AwsClients| {
        Calendars::new(
            NativeCalendar::new(aws.dynamodb.clone(), appointments.clone()),
            aws.secrets.clone(),
        )
    };
    let check = ToolService {
        tool: CheckAvailability,
        auth: auth(&env, &aws),
        calendars: service(&aws),
    };
    let book = ToolService {
        tool: BookAppointment,
        auth: auth(&env, &aws),
        calendars: service(&aws),
    };
    let call = call_id("frozen_call");
    let date = next_tuesday().to_string();
    let args = json!({"date": date, "time": "10:00", "service_id": "haircut", "customer_name": "Frau Stall"});
    // Warm both: company and keys cached.
    let (reply, _) = tool_call(
        &check,
        &call,
        &agent,
        json!({"date": date, "service_id": "haircut"}),
    )
    .await;
    assert_eq!(reply["available"], json!(true), "{reply}");
    let (reply, _) = tool_call(&book, &call, &agent, json!({"date": "gestern"})).await;
    assert_eq!(reply["success"], json!(false));

    emulator.freeze();
    let (pending, took) = tool_call(&book, &call, &agent, args.clone()).await;
    emulator.thaw();
    assert!(took < Duration::from_millis(3000), "answered in {took:?}");
    assert_eq!(pending["success"], json!(false));
    assert_eq!(pending["outcome"], json!("unknown"), "{pending}");
    assert_eq!(pending["pending_write"]["action"], json!("book"));
    let appointment_id = pending["pending_write"]["appointment_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let message = pending["message"].as_str().unwrap_or_default();
    assert!(message.contains("prüfe"), "{message}");

    // The same call asks again: the idempotent retry answers the truth, one appointment.
    let (truth, _) = tool_call(&book, &call, &agent, args.clone()).await;
    assert_eq!(truth["success"], json!(true), "{truth}");
    assert_eq!(truth["appointment_id"], json!(appointment_id));

    // The call ends. Had the caller heard the retry, nothing is left open; if the caller hung
    // up after the "being checked", the booking is recorded on the call for staff.
    let consumer_env = emulator.stack.env("call-ended");
    let c = ConsumerConfig::from_env(&consumer_env).expect("env");
    let store = DynamoCallStore::new(
        aws.dynamodb.clone(),
        c.calls_table.clone(),
        c.stats_table.clone(),
    );
    let consumer = Consumer::build(EventKind::CallEnded, &c, &aws);
    let consume = |call: &str, payload: Value| {
        let envelope = json!({"v": 1, "event": "call_ended", "call_id": call, "company_id": tag,
            "received_at_ms": now_ms(), "payload": payload});
        let mut message = SqsMessage::default();
        message.message_id = Some(format!("m-{call}"));
        message.body = Some(envelope.to_string());
        let mut event = SqsEvent::default();
        event.records.push(message);
        event
    };
    let heard = call_id("heard");
    let failures = consumer
        .handle_batch(consume(
            &heard,
            call_ended(
                &heard,
                &agent,
                &[("book_appointment", &pending), ("book_appointment", &truth)],
            ),
        ))
        .await;
    assert!(failures.batch_item_failures.is_empty());
    let record = store
        .load(&CallId::parse(&heard).expect("id"))
        .await
        .expect("load")
        .expect("stored");
    assert!(!record.fields.contains_key("unresolved_writes"));

    let hung_up = call_id("hung_up");
    let failures = consumer
        .handle_batch(consume(
            &hung_up,
            call_ended(&hung_up, &agent, &[("book_appointment", &pending)]),
        ))
        .await;
    assert!(failures.batch_item_failures.is_empty());
    let record = store
        .load(&CallId::parse(&hung_up).expect("id"))
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(record.fields.get("needs_follow_up"), Some(&json!(true)));
    let unresolved = &record.fields["unresolved_writes"];
    assert_eq!(unresolved[0]["appointment_id"], json!(appointment_id));
    assert_eq!(unresolved[0]["outcome"], json!("booked_caller_not_told"));
    assert_eq!(unresolved[0]["tool"], json!("book_appointment"));

    // Staff get a callback for it, once however often the event comes.
    let callbacks = shared::callbacks::CallbackStore::new(aws.dynamodb.clone(), appointments);
    let callback = callbacks
        .of_call(&tag, &hung_up)
        .await
        .expect("read")
        .expect("a callback for staff");
    assert_eq!(callback.source, shared::callbacks::CallbackSource::FollowUp);
    assert_eq!(callback.phone, "+4915112345678");
    assert!(
        callback.reason.contains("booked_caller_not_told"),
        "{}",
        callback.reason
    );
    let failures = consumer
        .handle_batch(consume(
            &hung_up,
            call_ended(&hung_up, &agent, &[("book_appointment", &pending)]),
        ))
        .await;
    assert!(failures.batch_item_failures.is_empty());
    let pending_ones = callbacks.pending(&tag).await.expect("list");
    assert_eq!(
        pending_ones
            .iter()
            .filter(|c| c.call_id.as_deref() == Some(hung_up.as_str()))
            .count(),
        1
    );
}
