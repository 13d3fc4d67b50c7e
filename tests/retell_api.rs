//! The Retell API client against the local Retell simulator over HTTP (the simulator itself is
//! checked against the official SDK in tests/e2e/test_retell_simulator.py), and reconciliation
//! against the simulator and the AWS emulator.

use std::collections::HashMap;
use std::time::Duration;

use integration_tests::{clients, stack, RetellSimulator};
use serde_json::json;
use shared::booking::directory::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::calls::event::CallEvent;
use shared::calls::queue::SqsEventQueue;
use shared::calls::reconcile::{CallOutcome, Reconciler, RetellAccount, StuckPolicy};
use shared::calls::store::{apply_event, DynamoCallStore};
use shared::retell::api::{
    AgentSettings, LlmSettings, PhoneCallRequest, PhoneNumberUpdate, ResponseEngine,
    RetellApiError, RetellClient, RetryPolicy,
};
use shared::retell::EventKind;

const KEY: &str = "key_rust_client_test";

fn client(sim: &RetellSimulator, key: &str) -> RetellClient {
    RetellClient::new(&sim.url, key, Duration::from_secs(10))
        .expect("client")
        .with_retry(RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
        })
}

async fn new_agent(retell: &RetellClient, name: &str) -> (String, String) {
    let llm = retell
        .create_llm(&LlmSettings {
            model: Some("gpt-4.1".into()),
            general_prompt: Some("Du bist die Rezeption.".into()),
            general_tools: Some(vec![json!({
                "type": "custom", "name": "check_availability", "url": "https://example.com/x",
                "description": "Freie Termine", "args_at_root": false, "timeout_ms": 10000,
                "parameters": {"type": "object", "properties": {"date": {"type": "string"}}}
            })]),
            ..Default::default()
        })
        .await
        .expect("create llm");
    let voice = retell.list_voices().await.expect("voices")[0]
        .voice_id
        .clone();
    let agent = retell
        .create_agent(&AgentSettings {
            agent_name: Some(name.into()),
            voice_id: Some(voice),
            language: Some("de-DE".into()),
            response_engine: Some(ResponseEngine::retell_llm(&llm.llm_id)),
            ..Default::default()
        })
        .await
        .expect("create agent");
    (agent.agent_id, llm.llm_id)
}

#[tokio::test]
async fn agents_llms_numbers_and_concurrency_round_trip() {
    let sim = RetellSimulator::start(KEY);
    let retell = client(&sim, KEY);
    let (agent_id, llm_id) = new_agent(&retell, "Rezeption Test").await;

    let agent = retell.get_agent(&agent_id, None).await.expect("get");
    assert_eq!(agent.llm_id(), Some(llm_id.as_str()));
    assert_eq!(agent.agent_name.as_deref(), Some("Rezeption Test"));
    let updated = retell
        .update_agent(
            &agent_id,
            &AgentSettings {
                webhook_url: Some("https://stack.example.com/api/retell/webhook".into()),
                voice_speed: Some(1.1),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(
        updated.webhook_url.as_deref(),
        Some("https://stack.example.com/api/retell/webhook")
    );
    assert_eq!(updated.settings().expect("settings").voice_speed, Some(1.1));

    let llm = retell.get_llm(&llm_id).await.expect("llm");
    let tools = llm.custom_tools();
    assert_eq!(tools[0].name, "check_availability");
    assert_eq!(tools[0].timeout_ms, Some(10000));

    // Pagination: more agents than one page holds.
    for i in 0..3 {
        new_agent(&retell, &format!("Seite {i}")).await;
    }
    let first = retell.list_agents_page(None, 2).await.expect("page");
    assert_eq!(first.items.len(), 2);
    assert!(first.has_more && first.pagination_key.is_some());
    let all = retell.list_agents().await.expect("all");
    assert!(all.iter().any(|a| a.agent_id == agent_id));
    assert_eq!(
        all.len(),
        all.iter()
            .map(|a| a.agent_id.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );

    let draft = retell.get_agent(&agent_id, None).await.expect("draft");
    retell
        .publish_agent(&agent_id, draft.version)
        .await
        .expect("publish");
    let versions = retell
        .list_agent_versions(&agent_id)
        .await
        .expect("versions");
    assert!(versions.iter().any(|v| v.is_published), "{versions:?}");

    sim.api_post(
        "/import-phone-number",
        json!({"phone_number": "+493099999999", "termination_uri": "pbx.example.com",
               "inbound_agents": [{"agent_id": agent_id, "weight": 1}]}),
    )
    .await;
    let numbers = retell.list_phone_numbers().await.expect("numbers");
    let number = numbers
        .iter()
        .find(|n| n.phone_number == "+493099999999")
        .expect("seeded number");
    assert_eq!(number.inbound_agent_ids(), vec![agent_id.as_str()]);
    let changed = retell
        .update_phone_number(
            "+493099999999",
            &PhoneNumberUpdate {
                inbound_webhook_url: Some("https://stack.example.com/api/retell/inbound".into()),
                ..Default::default()
            },
        )
        .await
        .expect("update number");
    assert_eq!(
        changed.inbound_webhook_url.as_deref(),
        Some("https://stack.example.com/api/retell/inbound")
    );
    let concurrency = retell.get_concurrency().await.expect("concurrency");
    assert!(concurrency.concurrency_limit.is_some());

    retell.delete_agent(&agent_id).await.expect("delete");
    let gone = retell
        .get_agent(&agent_id, None)
        .await
        .expect_err("deleted");
    assert!(gone.is_not_found(), "{gone}");
    assert!(gone.to_string().contains(&agent_id), "{gone}");
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_and_a_bad_key_is_clear() {
    let sim = RetellSimulator::start(KEY);
    let retell = client(&sim, KEY);
    let (agent_id, _) = new_agent(&retell, "Retry").await;

    for status in [429, 500, 503] {
        sim.control(
            "/sim/faults",
            json!({"fail": {"path_prefix": "/get-agent", "status": status, "count": 2}}),
        )
        .await;
        let agent = retell.get_agent(&agent_id, None).await;
        assert!(
            agent.is_ok(),
            "HTTP {status} twice, then success: {agent:?}"
        );
    }

    sim.control(
        "/sim/faults",
        json!({"fail": {"path_prefix": "/get-agent", "status": 503, "count": 10}}),
    )
    .await;
    match retell.get_agent(&agent_id, None).await {
        Err(RetellApiError::Unavailable {
            status, attempts, ..
        }) => {
            assert_eq!(status, 503);
            assert_eq!(attempts, 4);
        }
        other => panic!("expected Unavailable after 4 attempts, got {other:?}"),
    }
    sim.control("/sim/faults", json!({"reset": true})).await;

    // A create is not repeated after a 500 (Retell may have acted on it), but is after a 429.
    sim.control(
        "/sim/faults",
        json!({"fail": {"path_prefix": "/create-retell-llm", "status": 500, "count": 1}}),
    )
    .await;
    let refused = retell
        .create_llm(&LlmSettings {
            general_prompt: Some("x".into()),
            ..Default::default()
        })
        .await
        .expect_err("500 on a create is final");
    assert_eq!(refused.status(), Some(500));
    sim.control(
        "/sim/faults",
        json!({"fail": {"path_prefix": "/create-retell-llm", "status": 429, "count": 1}}),
    )
    .await;
    retell
        .create_llm(&LlmSettings {
            general_prompt: Some("x".into()),
            ..Default::default()
        })
        .await
        .expect("429 on a create is retried");
    sim.control("/sim/faults", json!({"reset": true})).await;

    let wrong = client(&sim, "key_wrong");
    match wrong.list_agents().await {
        Err(e @ RetellApiError::Unauthorized { .. }) => {
            assert!(e.to_string().contains("refused the API key"), "{e}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    // A value Retell's API does not take: refused (400), not retried, the reason kept.
    let bad = retell
        .update_agent(
            &agent_id,
            &AgentSettings {
                language: Some("klingon".into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("an unknown language is refused");
    match bad {
        RetellApiError::Rejected {
            status, message, ..
        } => {
            assert_eq!(status, 400);
            assert!(message.contains("language"), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn lost_answers_are_settled_and_retry_after_is_honoured() {
    let sim = RetellSimulator::start(KEY);
    let retell = client(&sim, KEY);
    let (agent_id, llm_id) = new_agent(&retell, "Verloren").await;

    let updated = retell
        .update_llm(
            &llm_id,
            &LlmSettings {
                begin_message: Some("Guten Tag!".into()),
                ..Default::default()
            },
        )
        .await
        .expect("update llm");
    assert_eq!(
        updated
            .settings()
            .expect("settings")
            .begin_message
            .as_deref(),
        Some("Guten Tag!")
    );

    // A publish whose answer is lost: the retry is refused (published already), which is success.
    sim.control(
        "/sim/faults",
        json!({"fail": {"path_prefix": "/publish-agent-version", "status": 503, "count": 1, "after": true}}),
    )
    .await;
    let draft = retell.get_agent(&agent_id, None).await.expect("draft");
    retell
        .publish_agent(&agent_id, draft.version)
        .await
        .expect("published, though the first answer was lost");
    let published = retell
        .get_agent(&agent_id, Some(draft.version))
        .await
        .expect("published version");
    assert!(published.is_published);
    let llm_at = retell
        .get_llm_version(&llm_id, published.response_engine.version)
        .await
        .expect("the LLM version it was published with");
    assert_eq!(llm_at.version, published.response_engine.version);
    assert!(
        llm_at.other.get("is_published") == Some(&json!(true)),
        "{llm_at:?}"
    );

    // More versions than one page of list-agent-versions holds.
    for _ in 0..104 {
        let d = retell.get_agent(&agent_id, None).await.expect("draft");
        retell
            .publish_agent(&agent_id, d.version)
            .await
            .expect("publish");
    }
    let versions = retell
        .list_agent_versions(&agent_id)
        .await
        .expect("versions");
    let numbers: std::collections::BTreeSet<u64> = versions.iter().map(|v| v.version).collect();
    assert_eq!(numbers.len(), versions.len(), "no version twice");
    assert_eq!(
        numbers,
        (0..=105).collect(),
        "every version, page after page"
    );

    // A create-phone-call whose answer is lost: retried with the same idempotency key, one call.
    let from = "+493099990001";
    sim.api_post(
        "/import-phone-number",
        json!({"phone_number": from, "termination_uri": "pbx.example.com",
               "outbound_agents": [{"agent_id": agent_id, "weight": 1}]}),
    )
    .await;
    sim.control(
        "/sim/faults",
        json!({"fail": {"path_prefix": "/v2/create-phone-call", "status": 500, "count": 1, "after": true}}),
    )
    .await;
    let now = chrono::Utc::now().timestamp_millis();
    let call = retell
        .create_phone_call(&PhoneCallRequest {
            from_number: from.into(),
            to_number: "+4917612345678".into(),
            ..Default::default()
        })
        .await
        .expect("call started, though the first answer was lost");
    let state = sim.get("/sim/state").await;
    assert_eq!(state["calls"], json!(1), "{state}");
    let listed = retell
        .list_calls_page(now - 60_000, now + 600_000, None, 100)
        .await
        .expect("list");
    assert_eq!(
        listed
            .items
            .iter()
            .map(|c| c.call_id.as_str())
            .collect::<Vec<_>>(),
        vec![call.call_id.as_str()]
    );

    // A delete whose answer is lost: the retry finds nothing, which is success.
    sim.control(
        "/sim/faults",
        json!({"fail": {"path_prefix": "/delete-agent", "status": 502, "count": 1, "after": true}}),
    )
    .await;
    retell
        .delete_agent(&agent_id)
        .await
        .expect("deleted, though the first answer was lost");
    assert!(retell
        .get_agent(&agent_id, None)
        .await
        .expect_err("gone")
        .is_not_found());

    // Retell's other error shape, {"error_message": …}, over HTTP.
    sim.control(
        "/sim/faults",
        json!({"fail": {"path_prefix": "/get-concurrency", "status": 503, "count": 10, "shape": "error_message"}}),
    )
    .await;
    match retell.get_concurrency().await {
        Err(RetellApiError::Unavailable { message, .. }) => {
            assert_eq!(message, "Service unavailable")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    sim.control("/sim/faults", json!({"reset": true})).await;

    // Retry-After is a floor for the next attempt; an absurd one neither panics nor stalls.
    let patient = RetellClient::new(&sim.url, KEY, Duration::from_secs(10))
        .expect("client")
        .with_retry(RetryPolicy {
            max_retries: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(5),
        });
    sim.control(
        "/sim/faults",
        json!({"fail": {"path_prefix": "/get-concurrency", "status": 429, "count": 1, "retry_after": 1}}),
    )
    .await;
    let asked = std::time::Instant::now();
    patient.get_concurrency().await.expect("after waiting");
    assert!(asked.elapsed() >= Duration::from_secs(1), "waited as asked");
    sim.control(
        "/sim/faults",
        json!({"fail": {"path_prefix": "/get-concurrency", "status": 429, "count": 1, "retry_after": "1e20"}}),
    )
    .await;
    retell
        .get_concurrency()
        .await
        .expect("an absurd Retry-After is capped");
}

#[tokio::test]
async fn import_window_queues_each_missing_call_once_across_pages() {
    let sim = RetellSimulator::start(KEY);
    let retell = client(&sim, KEY);
    let (agent_id, _) = new_agent(&retell, "Bulk").await;
    let start = chrono::Utc::now().timestamp_millis() - 3_600_000;
    sim.control(
        "/sim/calls/bulk",
        json!({"count": 1100, "agent_id": agent_id, "from_number": "+4917611112222",
               "to_number": "+493012345678", "start_timestamp_ms": start, "spacing_ms": 1000}),
    )
    .await;

    let aws = clients().await;
    let queue_urls = private_queues(&aws, "window").await;
    let reconciler = reconciler(&aws, &queue_urls);
    let account = RetellAccount {
        client: retell,
        company_id: "default".into(),
    };
    let mut pages = 0;
    let report = reconciler
        .import_window(
            &account,
            start - 1,
            start + 1_100 * 1000 + 1,
            None,
            &|_| {},
            &mut |_| pages += 1,
        )
        .await
        .expect("import");
    assert_eq!(report.listed, 1100, "{report:?}");
    assert_eq!(report.imported, 1100, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(report.events_queued, 2200);
    assert_eq!(pages, 2, "1000 calls a page");
    assert_eq!(
        report.checkpoint.map(|c| c.start_ms),
        Some(start + 1_099 * 1000)
    );
    assert_eq!(depth(&aws, &queue_urls[&EventKind::CallEnded]).await, 1100);
    assert_eq!(
        depth(&aws, &queue_urls[&EventKind::CallAnalyzed]).await,
        1100
    );
    assert_eq!(depth(&aws, &queue_urls[&EventKind::CallStarted]).await, 0);
}

/// Queues of this test's own (the stack's are shared with the other tests of this binary,
/// which run at the same time).
async fn private_queues(
    aws: &shared::platform::aws::AwsClients,
    test: &str,
) -> HashMap<EventKind, String> {
    let run = chrono::Utc::now().timestamp_millis();
    let mut urls = HashMap::new();
    for kind in EventKind::ALL {
        let url = aws
            .sqs
            .create_queue()
            .queue_name(format!("reconcile-{test}-{run}-{}", kind.as_str()))
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        urls.insert(kind, url);
    }
    urls
}

fn reconciler(
    aws: &shared::platform::aws::AwsClients,
    queue_urls: &HashMap<EventKind, String>,
) -> Reconciler<SqsEventQueue, DynamoCallStore> {
    let s = stack();
    Reconciler {
        queue: SqsEventQueue::new(
            aws.sqs.client(),
            aws.s3.client(),
            s.resource("EventsBucket", "Ref"),
            queue_urls.clone(),
            200 * 1024,
        ),
        store: DynamoCallStore::new(
            aws.dynamodb.clone(),
            s.resource("CallsTable", "Ref"),
            s.resource("CallStatsTable", "Ref"),
        ),
        companies: CompanyDirectory::new(
            aws.dynamodb.clone(),
            s.resource("CompaniesTable", "Ref"),
            COMPANY_CACHE_TTL,
        ),
        concurrency: 8,
        page_size: shared::calls::reconcile::LIST_PAGE_SIZE,
    }
}

async fn depth(aws: &shared::platform::aws::AwsClients, url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages as Visible;
    aws.sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Visible)
        .send()
        .await
        .expect("attributes")
        .attributes()
        .and_then(|a| a.get(&Visible).cloned())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn stuck_calls_are_completed_from_retell_or_closed_when_retell_never_had_them() {
    let sim = RetellSimulator::start(KEY);
    let retell = client(&sim, KEY);
    let (agent_id, _) = new_agent(&retell, "Stuck").await;
    let from = "+493099990002";
    sim.api_post(
        "/import-phone-number",
        json!({"phone_number": from, "termination_uri": "pbx.example.com",
               "outbound_agents": [{"agent_id": agent_id, "weight": 1}]}),
    )
    .await;
    let now = chrono::Utc::now().timestamp_millis();
    let hour = 3_600_000;
    // A call that began 8 hours ago, outside any reconcile window, and ended at Retell; its
    // agent has no webhook, so all we ever stored is its start.
    let played = sim
        .control(
            "/sim/calls",
            json!({"direction": "outbound", "from_number": from, "to_number": "+4917611112222",
                   "script": [{"user": "Hallo"}], "start_timestamp_ms": now - 8 * hour, "wait": true}),
        )
        .await;
    let ended_at_retell = played["call_id"].as_str().expect("call id").to_owned();
    let company = format!("stuck-{now}");
    let gone_long_ago = format!("call_stuck_old_{now}");
    let gone_recently = format!("call_stuck_new_{now}");
    let aws = clients().await;
    let queue_urls = private_queues(&aws, "stuck").await;
    let reconciler = reconciler(&aws, &queue_urls);
    for (id, started) in [
        (&ended_at_retell, now - 8 * hour),
        (&gone_long_ago, now - 30 * hour),
        (&gone_recently, now - 3 * hour),
    ] {
        let body = json!({"event": "call_started", "call": {"call_id": id, "agent_id": agent_id,
                          "call_status": "ongoing", "start_timestamp": started}});
        let event = CallEvent::from_payload(
            EventKind::CallStarted,
            &company,
            started,
            body.to_string().as_bytes(),
        )
        .expect("event");
        apply_event(&reconciler.store, &event, &chrono_tz::Europe::Berlin)
            .await
            .expect("stored");
    }
    let account = RetellAccount {
        client: retell,
        company_id: company.clone(),
    };
    let outcomes = std::sync::Mutex::new(Vec::new());
    let report = reconciler
        .repair_stuck(
            &account,
            std::slice::from_ref(&company),
            StuckPolicy {
                started_before_ms: now - 2 * hour,
                give_up_before_ms: now - 24 * hour,
            },
            &|o| outcomes.lock().expect("lock").push(o.clone()),
        )
        .await
        .expect("repair");
    assert_eq!(
        (report.listed, report.imported, report.closed, report.failed),
        (3, 1, 1, 1),
        "{report:?}"
    );
    let outcomes = outcomes.into_inner().expect("lock");
    let of = |id: &str| {
        outcomes
            .iter()
            .find(|o| o.call_id() == id)
            .cloned()
            .expect("an outcome for each stuck call")
    };
    assert_eq!(
        of(&ended_at_retell),
        CallOutcome::Imported {
            call_id: ended_at_retell.clone(),
            company_id: company.clone(),
            events: vec!["call_ended".into(), "call_analyzed".into()],
        }
    );
    assert_eq!(
        of(&gone_long_ago),
        CallOutcome::Closed {
            call_id: gone_long_ago.clone(),
            company_id: company.clone(),
        }
    );
    assert!(
        matches!(of(&gone_recently), CallOutcome::Failed { ref reason, .. } if reason.contains("404")),
        "a call Retell does not know is left alone until the give-up age"
    );
    assert_eq!(depth(&aws, &queue_urls[&EventKind::CallEnded]).await, 2);
    assert_eq!(depth(&aws, &queue_urls[&EventKind::CallAnalyzed]).await, 1);
    assert_eq!(depth(&aws, &queue_urls[&EventKind::CallStarted]).await, 0);
}
