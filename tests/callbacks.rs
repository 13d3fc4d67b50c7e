//! Callbacks against the emulator: the agent's `request_callback` notes one (once per call,
//! hostile arguments refused), staff see it, assign it, note and finish it through the admin
//! API with the version they read, another company's staff never reach it, and an old one is
//! overdue by the company's business hours (page, API and the reconcile job's count).

use axum::http::StatusCode;
use integration_tests::cc_harness::{
    app, get, id_token, patch_json, put_salon, send, ADMIN, OTHER, STAFF,
};
use integration_tests::clients;
use integration_tests::tool_harness::{call_in, service, tool_config};
use request_callback::RequestCallback;
use serde_json::{json, Value};
use shared::booking::directory::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::booking::phone::PhoneNumber;
use shared::callbacks::{CallbackSource, CallbackStore, NewCallback};

const COMPANY: &str = "ccdemo";

fn body(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn unique(tag: &str) -> String {
    format!("call_{tag}_{}", fastrand_suffix())
}

fn fastrand_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    )
}

fn store(aws: &shared::platform::aws::AwsClients) -> CallbackStore {
    CallbackStore::new(aws.dynamodb.clone(), tool_config().appointments_table)
}

#[tokio::test]
async fn the_agent_notes_a_callback_and_staff_run_it_to_done() {
    let (app, config) = app().await;
    put_salon(&config, COMPANY).await;
    let staff = id_token(&config, STAFF).await;
    let other = id_token(&config, OTHER).await;
    let aws = clients().await;
    let tool = service(RequestCallback::new(store(&aws)), &aws);
    let agent = format!("agent_{COMPANY}");
    let call = unique("cb");
    let args = json!({"reason": "Frage zur Farbe", "customer_name": "Eva Fett",
                      "preferred_time": "morgen ab 14 Uhr"});
    let reply = call_in(&tool, &agent, &call, Some("+4915155566001"), args.clone()).await;
    assert_eq!(reply["success"], json!(true), "{reply}");
    let id = reply["callback_id"].as_str().unwrap_or_default().to_owned();
    assert!(shared::callbacks::is_callback_id(&id), "{reply}");
    let message = reply["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("001"),
        "the number's last digits: {message}"
    );
    // Retell retries, or the agent asks again in the same call: the same callback.
    let again = call_in(&tool, &agent, &call, Some("+4915155566001"), args).await;
    assert_eq!(again["callback_id"], json!(id), "{again}");

    // Staff see it: open, not overdue yet (a fresh one), with what the caller said.
    let (status, _, text) = send(&app, get("/api/retell/callbacks", Some(&staff))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let listed = body(&text)["callbacks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mine: Vec<&Value> = listed
        .iter()
        .filter(|c| c["callback_id"] == json!(id))
        .collect();
    assert_eq!(mine.len(), 1, "{text}");
    let cb = mine[0];
    assert_eq!(
        (
            &cb["status"],
            &cb["name"],
            &cb["phone"],
            &cb["preferred"],
            &cb["source"]
        ),
        (
            &json!("open"),
            &json!("Eva Fett"),
            &json!("+4915155566001"),
            &json!("morgen ab 14 Uhr"),
            &json!("phone")
        ),
        "{cb}"
    );
    assert_eq!(cb["call_id"], json!(call));
    assert_eq!(cb["version"], json!(1));

    // Another company's staff: not listed, and 404 for the id, however asked.
    let (_, _, text) = send(&app, get("/api/retell/callbacks", Some(&other))).await;
    assert!(!text.contains(&id), "{text}");
    let (status, _, _) = send(
        &app,
        get(
            &format!("/api/retell/callbacks?company_id={COMPANY}"),
            Some(&other),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let path = format!("/api/retell/callbacks/{id}");
    let (status, _, _) = send(&app, patch_json(&path, &other, json!({"status": "done"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = send(
        &app,
        patch_json(
            &format!("{path}?company_id={COMPANY}"),
            &other,
            json!({"status": "done"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Assigned, then a change made on the old version is refused, then done with a note.
    let (status, _, text) =
        send(&app, patch_json(&path, &staff, json!({"assignee": "Anna"}))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        (
            body(&text)["status"].clone(),
            body(&text)["version"].clone()
        ),
        (json!("assigned"), json!(2))
    );
    let (status, _, text) = send(
        &app,
        patch_json(&path, &staff, json!({"status": "done", "version": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    let (status, _, text) = send(
        &app,
        patch_json(
            &path,
            &staff,
            json!({"status": "done", "note": "erreicht, Termin gebucht", "version": 2}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let done = body(&text);
    assert_eq!(done["status"], json!("done"));
    assert_eq!(done["notes"][0]["text"], json!("erreicht, Termin gebucht"));
    assert_eq!(done["notes"][0]["by"], json!("api:staff@cc.example"));
    let log: Vec<&str> = done["changes"]
        .as_array()
        .map(|c| c.iter().filter_map(|e| e["what"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        log,
        [
            "assigned to Anna, status assigned",
            "status done, note added"
        ]
    );
    let (_, _, text) = send(&app, get("/api/retell/callbacks?status=done", Some(&staff))).await;
    assert!(text.contains(&id), "{text}");
    let (_, _, text) = send(&app, get("/api/retell/callbacks?status=open", Some(&staff))).await;
    assert!(!text.contains(&id), "{text}");
}

#[tokio::test]
async fn hostile_callback_requests_are_refused_by_name() {
    let (app, config) = app().await;
    put_salon(&config, COMPANY).await;
    let staff = id_token(&config, STAFF).await;
    let aws = clients().await;
    let tool = service(RequestCallback::new(store(&aws)), &aws);
    let agent = format!("agent_{COMPANY}");
    let huge = "x".repeat(1 << 20);
    for (args, caller, argument) in [
        (json!({}), Some("+4915155566002"), "reason"),
        (
            json!({"reason": {"a": 1}}),
            Some("+4915155566002"),
            "reason",
        ),
        (json!({"reason": huge}), Some("+4915155566002"), "reason"),
        (
            json!({"reason": "a\u{0}b"}),
            Some("+4915155566002"),
            "reason",
        ),
        (
            json!({"reason": "Preis", "phone": "0900 1234567"}),
            Some("+4915155566002"),
            "phone",
        ),
        (
            json!({"reason": "Preis", "phone": "112"}),
            Some("+4915155566002"),
            "phone",
        ),
        (
            json!({"reason": "Preis", "phone": ["+49"]}),
            Some("+4915155566002"),
            "phone",
        ),
        (json!({"reason": "Preis"}), None, "phone"),
        (
            json!({"reason": "Preis", "customer_name": "<script>"}),
            Some("+4915155566002"),
            "customer_name",
        ),
        (
            json!({"reason": "Preis", "preferred_time": "y".repeat(101)}),
            Some("+4915155566002"),
            "preferred_time",
        ),
    ] {
        let reply = call_in(&tool, &agent, &unique("hostile"), caller, args.clone()).await;
        assert_eq!(reply["success"], json!(false), "{args}: {reply}");
        assert_eq!(reply["argument"], json!(argument), "{args}: {reply}");
    }
    // Nothing of it was stored.
    let (_, _, text) = send(&app, get("/api/retell/callbacks", Some(&staff))).await;
    assert!(!text.contains("+4915155566002"), "{text}");

    // The admin API refuses what it cannot read, naming the field.
    let opened = store(&aws)
        .open(
            COMPANY,
            NewCallback {
                source: CallbackSource::Phone,
                reason: "Rückfrage".into(),
                name: None,
                phone: PhoneNumber::parse("+4915155566003").expect("number"),
                preferred: None,
                call_id: None,
            },
            chrono::Utc::now(),
        )
        .await
        .expect("open");
    let path = format!("/api/retell/callbacks/{}", opened.callback().callback_id);
    for (patch, field) in [
        (json!({}), "nothing to change"),
        (json!({"status": 5}), "status"),
        (json!({"status": "closed"}), "status"),
        (json!({"status": "assigned"}), "assignee"),
        (json!({"assignee": {"name": "x"}}), "assignee"),
        (json!({"note": "n".repeat(1001)}), "note"),
        (json!({"version": "1", "note": "x"}), "version"),
        (json!({"version": -1, "note": "x"}), "version"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let (status, _, text) = send(&app, patch_json(&path, &staff, patch.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}: {text}");
        assert!(text.contains(field), "{patch}: {text}");
    }
    for bad_id in ["cb_1", "apt_0123456789abcdef", "cb_1765000000000_zzzzzzzz"] {
        let (status, _, _) = send(
            &app,
            patch_json(
                &format!("/api/retell/callbacks/{bad_id}"),
                &staff,
                json!({"note": "x"}),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad_id}");
    }
    let (status, _, _) = send(
        &app,
        get("/api/retell/callbacks?status=everything", Some(&staff)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_callback_past_the_promise_is_overdue_on_page_api_and_metric() {
    let (app, config) = app().await;
    let company = format!("cbdue{}", &fastrand_suffix()[..8]);
    put_salon(&config, &company).await;
    let admin = id_token(&config, ADMIN).await;
    let aws = clients().await;
    let callbacks = store(&aws);
    // Opened ten days ago (two business hours have long passed), and one just now.
    let new = |n: &str| NewCallback {
        source: CallbackSource::Phone,
        reason: "Rückfrage".into(),
        name: None,
        phone: PhoneNumber::parse(n).expect("number"),
        preferred: None,
        call_id: None,
    };
    let old = callbacks
        .open(
            &company,
            new("+4915155566004"),
            chrono::Utc::now() - chrono::Duration::days(10),
        )
        .await
        .expect("open");
    callbacks
        .open(&company, new("+4915155566005"), chrono::Utc::now())
        .await
        .expect("open");
    let (status, _, text) = send(
        &app,
        get(
            &format!("/api/retell/callbacks?company_id={company}"),
            Some(&admin),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let board = body(&text);
    assert_eq!(
        (board["pending"].clone(), board["overdue"].clone()),
        (json!(2), json!(1))
    );
    // Oldest first, the overdue one red on the page.
    assert_eq!(
        board["callbacks"][0]["callback_id"],
        json!(old.callback().callback_id)
    );
    assert_eq!(board["callbacks"][0]["overdue"], json!(true));
    let (status, _, page) = send(
        &app,
        get(
            &format!("{}/callbacks?company={company}&lang=de", config.base_path),
            Some(&admin),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!(
            r#"id="{}" data-status="open" class="overdue""#,
            old.callback().callback_id
        )),
        "{page}"
    );
    // The reconcile job's count takes it in (every company's pending callbacks).
    let directory = CompanyDirectory::new(
        aws.dynamodb.clone(),
        config.auth.companies_table.clone(),
        COMPANY_CACHE_TTL,
    );
    let tally =
        reconcile::callbacks::count_overdue(&callbacks, &directory, chrono::Utc::now()).await;
    assert!(tally.overdue >= 1 && tally.pending >= 2, "{tally:?}");
    assert!(tally.errors.is_empty(), "{tally:?}");
}
