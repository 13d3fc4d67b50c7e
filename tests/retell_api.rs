//! The Retell API client against the local Retell simulator over HTTP (the simulator itself is
//! checked against the official SDK in tests/e2e/test_retell_simulator.py), and reconciliation
//! against the simulator and the AWS emulator.

use std::collections::HashMap;
use std::time::Duration;

use integration_tests::{clients, stack, RetellSimulator};
use serde_json::json;
use shared::booking::company::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::calls::queue::SqsEventQueue;
use shared::calls::reconcile::{Reconciler, RetellAccount};
use shared::calls::store::DynamoCallStore;
use shared::retell::api::{
    AgentSettings, LlmSettings, PhoneNumberUpdate, ResponseEngine, RetellApiError, RetellClient,
    RetryPolicy,
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
    let bad = retell
        .update_agent(
            &agent_id,
            &AgentSettings {
                voice_speed: Some(50.0),
                ..Default::default()
            },
        )
        .await;
    if let Err(e) = bad {
        assert!(matches!(e, RetellApiError::Rejected { .. }), "{e}");
    }
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

    let s = stack();
    let aws = clients().await;
    let queue_urls: HashMap<_, _> = EventKind::ALL
        .iter()
        .map(|k| (*k, s.resource(queue_logical(*k), "QueueUrl")))
        .collect();
    for url in queue_urls.values() {
        let _ = aws.sqs.purge_queue().queue_url(url).send().await;
    }
    let reconciler = Reconciler {
        queue: SqsEventQueue::new(
            aws.sqs.clone(),
            aws.s3.clone(),
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
    };
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
    assert_eq!(report.checkpoint_ms, Some(start + 1_099 * 1000));
    let depth = |url: String| {
        let sqs = aws.sqs.clone();
        async move {
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                )
                .send()
                .await
                .expect("attributes")
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                        .cloned()
                })
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        }
    };
    assert_eq!(depth(queue_urls[&EventKind::CallEnded].clone()).await, 1100);
    assert_eq!(
        depth(queue_urls[&EventKind::CallAnalyzed].clone()).await,
        1100
    );
    assert_eq!(depth(queue_urls[&EventKind::CallStarted].clone()).await, 0);
}

fn queue_logical(kind: EventKind) -> &'static str {
    match kind {
        EventKind::CallStarted => "CallStartedQueue",
        EventKind::CallEnded => "CallEndedQueue",
        EventKind::CallAnalyzed => "CallAnalyzedQueue",
    }
}
