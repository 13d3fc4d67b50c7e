//! The control center's router against the AWS emulator, with real Cognito logins (the
//! emulator's cognito-idp issues RS256 tokens that the router verifies against the pool's JWKS):
//! the tenant rule where data is read, authentication of pages and API, CSRF, escaping of what
//! callers said, and the security headers.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use control_center::ControlCenter;
use integration_tests::cc_harness::{
    app, get, id_token, post_form, post_json, put_salon, send, ADMIN, OTHER, STAFF,
};
use integration_tests::{call_id, clients, sdk_config, stack};
use serde_json::{json, Value};
use shared::booking::company::CompanySettings;
use shared::booking::directory::CompanyDirectory;
use shared::calls::event::CallEvent;
use shared::calls::store::{apply_event, apply_transfer, DynamoCallStore};
use shared::calls::transfer::Transfer;
use shared::platform::config::ControlCenterConfig;
use shared::retell::{EventKind, TransferEvent};

/// A finished call of `company` whose transcript and summary carry markup.
/// The stack's calls and statistics tables.
async fn call_store() -> DynamoCallStore {
    let s = stack();
    DynamoCallStore::new(
        clients().await.dynamodb.clone(),
        s.resource("CallsTable", "Ref"),
        s.resource("CallStatsTable", "Ref"),
    )
}

async fn stored_call(company: &str) -> String {
    stored_call_from(company, "+4917611112222").await
}

/// As [`stored_call`], an inbound call from `from_number`.
async fn stored_call_from(company: &str, from_number: &str) -> String {
    let id = call_id(company);
    let store = call_store().await;
    let start = chrono::Utc::now().timestamp_millis() - 60_000;
    let body = json!({"event": "call_ended", "call": {
        "call_id": id, "agent_id": "agent_x", "call_status": "ended", "start_timestamp": start,
        "end_timestamp": start + 30_000, "duration_ms": 30_000, "disconnection_reason": "user_hangup",
        "direction": "inbound", "from_number": from_number, "to_number": "+493012345678",
        "transcript": "Agent: Guten Tag\nUser: Ich heiße <script>alert(1)</script>",
        "transcript_object": [
            {"role": "agent", "content": "Guten Tag"},
            {"role": "user", "content": "Ich heiße <script>alert(1)</script>"}
        ],
        "call_analysis": {"call_summary": "<img src=x onerror=alert(2)>", "user_sentiment": "Positive"}
    }});
    let event = CallEvent::from_payload(
        EventKind::CallEnded,
        company,
        start,
        body.to_string().as_bytes(),
    )
    .expect("event");
    apply_event(&store, &event, &chrono_tz::Europe::Berlin)
        .await
        .expect("stored");
    let transfer = json!({"event": "transfer_bridged", "call": {"call_id": id},
        "transfer_destination": "sip:empfang@salon.example<b>", "transfer_option": {"type": "warm_transfer"}});
    let transfer = Transfer::from_payload(
        TransferEvent::Bridged,
        company,
        start + 20_000,
        transfer.to_string().as_bytes(),
    )
    .expect("transfer");
    apply_transfer(&store, &transfer, &chrono_tz::Europe::Berlin)
        .await
        .expect("stored");
    id
}

#[tokio::test]
async fn staff_see_their_company_only_and_admins_see_all() {
    let (app, config) = app().await;
    let staff = id_token(&config, STAFF).await;
    let admin = id_token(&config, ADMIN).await;
    let own = stored_call("ccdemo").await;
    let foreign = stored_call("ccother").await;
    let base = &config.base_path;

    // Pages: a staff member's own call renders, with the caller's words as text.
    let (status, _, page) = send(&app, get(&format!("{base}/calls/{own}"), Some(&staff))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Ich heiße &lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped transcript"
    );
    assert!(
        !page.contains("<script>alert(1)"),
        "no markup from a caller"
    );
    assert!(
        page.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "escaped summary"
    );
    // The transfer log: when, how it went, to whom (as text).
    assert!(
        page.contains("<td>Verbunden</td>")
            && page.contains("sip:empfang@salon.example&lt;b&gt; (warm_transfer)"),
        "transfer shown"
    );
    // Another company's call is not there for them, as if it did not exist.
    let (status, _, _) = send(&app, get(&format!("{base}/calls/{foreign}"), Some(&staff))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = send(
        &app,
        get(&format!("{base}/calls/call_does_not_exist"), Some(&staff)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nor another company's lists or figures.
    let (status, _, _) = send(
        &app,
        get(&format!("{base}/calls?company=ccother"), Some(&staff)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = send(
        &app,
        get("/api/retell/status?company=ccother", Some(&staff)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, body) = send(&app, get("/api/retell/status", Some(&staff))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let status_json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(status_json["company_id"], "ccdemo");
    assert!(
        status_json["system"].is_null(),
        "the system's health is for admins"
    );
    // The day's list of the company shows the call.
    let (status, _, list) = send(&app, get(&format!("{base}/calls"), Some(&staff))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains(&own) && !list.contains(&foreign),
        "own calls only"
    );

    // An admin sees both companies.
    let (status, _, _) = send(&app, get(&format!("{base}/calls/{foreign}"), Some(&admin))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, list) = send(
        &app,
        get(&format!("{base}/calls?company=ccother"), Some(&admin)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains(&foreign));
    let (status, _, body) = send(
        &app,
        get("/api/retell/status?company=ccother", Some(&admin)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let admin_status: Value = serde_json::from_str(&body).expect("json");
    assert!(
        admin_status["today"]["calls"].as_i64().unwrap_or(0) >= 1,
        "{admin_status}"
    );
    assert!(
        admin_status["system"]["dead_letters"].is_u64(),
        "the dead-letter depths, over SQS's JSON protocol: {admin_status}"
    );

    // Staff may not delete agents (admins only), and the API says why.
    let request = Request::delete("/api/retell/agents/agent_x")
        .header(header::AUTHORIZATION, format!("Bearer {staff}"))
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = send(&app, request).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn no_token_a_forged_token_or_a_missing_csrf_token_is_refused() {
    let (app, config) = app().await;
    let base = &config.base_path;
    let (status, headers, _) = send(&app, get(&format!("{base}/calls"), None)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], format!("{base}/login"));
    let (status, _, body) = send(&app, get("/api/retell/status", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // A real token with one claim changed no longer verifies.
    let token = id_token(&config, STAFF).await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value =
        serde_json::from_slice(&engine.decode(&parts[1]).expect("b64")).expect("json");
    claims["custom:company_id"] = json!("ccother");
    parts[1] = engine.encode(claims.to_string());
    let (status, _, body) = send(&app, get("/api/retell/status", Some(&parts.join(".")))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("signature"), "{body}");

    // The login form: a CSRF cookie first, and a POST without its token is refused.
    let (status, headers, form) = send(&app, get(&format!("{base}/login"), None)).await;
    assert_eq!(status, StatusCode::OK);
    let csrf_cookie = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-cc_csrf="))
        .expect("csrf cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let csrf = csrf_cookie.trim_start_matches("__Host-cc_csrf=").to_owned();
    assert!(form.contains(&csrf), "the form carries the token");
    let post = |body: String| {
        Request::post(format!("{base}/login"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, csrf_cookie.clone())
            .body(Body::from(body))
            .expect("request")
    };
    let user = STAFF.0.replace('@', "%40");
    let (status, _, _) = send(&app, post(format!("username={user}&password={}", STAFF.1))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    let (status, _, page) = send(
        &app,
        post(format!(
            "csrf={csrf}&username={user}&password=wrong-Password1"
        )),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        page.contains("Benutzername oder Passwort ist falsch"),
        "{page}"
    );
    let (status, headers, _) = send(
        &app,
        post(format!("csrf={csrf}&username={user}&password={}", STAFF.1)),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookies: Vec<String> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-cc_id="))
        .expect("session cookie");
    // `__Host-`: set only by this host over https, for the whole host, never a sibling's.
    for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/;"] {
        assert!(session.contains(flag), "{session}");
    }
    assert!(!session.contains("Domain="), "{session}");
    let jar = cookies
        .iter()
        .filter_map(|c| c.split(';').next())
        .chain(std::iter::once(csrf_cookie.as_str()))
        .collect::<Vec<_>>()
        .join("; ");
    let (status, headers, page) = send(
        &app,
        Request::get(base.to_string())
            .header(header::COOKIE, jar.clone())
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    // Recordings play only from Retell's storage (RecordingHosts), voice previews from Retell's
    // preview storage; nothing local in AWS.
    assert!(
        csp.contains(
            "media-src 'self' https://dxc03zgurdly9.cloudfront.net \
             https://retell-utils-public.s3.us-west-2.amazonaws.com;"
        ) && !csp.contains("http:")
            && !csp.contains("127.0.0.1"),
        "{csp}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(!page.contains(&token), "no token in a page");

    // The session's own CSRF token is in its pages; the one from before the login is not it.
    let session_csrf = csrf_of_page(&page);
    assert_ne!(
        session_csrf, csrf,
        "bound to the session, not the login form's"
    );
    let logout = |token: Option<&str>, jar: &str| {
        let mut r = Request::post(format!("{base}/logout")).header(header::COOKIE, jar.to_owned());
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        r.body(Body::empty()).expect("request")
    };
    // A state-changing request with the session cookie but without the CSRF token, with the
    // pre-login one, or with another session's.
    let (status, _, _) = send(&app, logout(None, &jar)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(&app, logout(Some(&csrf), &jar)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the pre-login token");
    let other_jar = login_jar(&app, &config, OTHER).await;
    let (_, _, other_page) = send(
        &app,
        Request::get(base.to_string())
            .header(header::COOKIE, other_jar)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    let (status, _, _) = send(&app, logout(Some(&csrf_of_page(&other_page)), &jar)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another session's token");
    let (status, headers, _) = send(&app, logout(Some(&session_csrf), &jar)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cleared = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("__Host-cc_id=;") && c.contains("Max-Age=0"));
    assert!(cleared, "logout clears the session");
}

/// The CSRF token a page carries for htmx (`hx-headers`).
fn csrf_of_page(page: &str) -> String {
    let at = page.find("x-csrf-token").expect("a CSRF token in the page");
    page[at..]
        .split(|c: char| !c.is_ascii_hexdigit())
        .find(|part| part.len() == 64)
        .expect("64 hex digits")
        .to_owned()
}

/// A browser's cookies after logging in through the form.
async fn login_jar(
    app: &Arc<ControlCenter>,
    config: &ControlCenterConfig,
    (user, password): (&str, &str),
) -> String {
    let base = &config.base_path;
    let (_, headers, _) = send(app, get(&format!("{base}/login"), None)).await;
    let csrf_cookie = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-cc_csrf="))
        .and_then(|c| c.split(';').next())
        .expect("csrf cookie")
        .to_owned();
    let csrf = csrf_cookie.trim_start_matches("__Host-cc_csrf=").to_owned();
    let body = format!(
        "csrf={csrf}&username={}&password={password}",
        user.replace('@', "%40")
    );
    let (status, headers, _) = send(
        app,
        Request::post(format!("{base}/login"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, csrf_cookie.clone())
            .body(Body::from(body))
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .chain(std::iter::once(csrf_cookie.as_str()))
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn hostile_query_values_are_refused_with_a_reason() {
    let (app, config) = app().await;
    let staff = id_token(&config, STAFF).await;
    let base = &config.base_path;
    for (path, expected) in [
        (
            format!("{base}/calls?day=31.12.2026"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{base}/calls?day=99999-01-01"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{base}/calls?status=%3Cscript%3E"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{base}/calls?caller=not-a-number"),
            StatusCode::BAD_REQUEST,
        ),
        (format!("{base}/calls?cursor=zz"), StatusCode::BAD_REQUEST),
        (
            format!("{base}/calls?cursor={}", "7b".repeat(400)),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{base}/analytics?from=2020-01-01&to=2026-01-01"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{base}/analytics?from=2026-12-01&to=2026-11-01"),
            StatusCode::BAD_REQUEST,
        ),
        (format!("{base}/logs?call_id=%00"), StatusCode::BAD_REQUEST),
        (
            format!("{base}/logs?function=nope"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{base}/logs?function=webhook%00"),
            StatusCode::BAD_REQUEST,
        ),
        (format!("{base}/logs?level=loud"), StatusCode::BAD_REQUEST),
        (format!("{base}/logs?problems=yes"), StatusCode::BAD_REQUEST),
        (format!("{base}/logs/lines"), StatusCode::BAD_REQUEST),
        (
            format!("{base}/logs/lines?after_ms=-1"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{base}/logs/lines?after_ms=99999999999999999999"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{base}/logs/lines?function=nope&after_ms=1"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{base}/calls/{}", "x".repeat(5000)),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, _, body) = send(&app, get(&path, Some(&staff))).await;
        assert_eq!(status, expected, "{path}: {body:.200}");
    }
    let big = format!("{{\"to_number\": \"{}\"}}", "9".repeat(300_000));
    let request = Request::post("/api/retell/test-call")
        .header(header::AUTHORIZATION, format!("Bearer {staff}"))
        .body(Body::from(big))
        .expect("request");
    let (status, _, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    for body in [
        r#"{"to_number": 5}"#,
        r#"{"to_number": "+4917612345678", "extra": 1}"#,
        "[",
        r#"{"to_number": "030 1234"}"#,
    ] {
        let request = Request::post("/api/retell/test-call")
            .header(header::AUTHORIZATION, format!("Bearer {staff}"))
            .body(Body::from(body))
            .expect("request");
        let (status, _, answer) = send(&app, request).await;
        assert!(
            [
                StatusCode::BAD_REQUEST,
                StatusCode::CONFLICT,
                StatusCode::FORBIDDEN
            ]
            .contains(&status),
            "{body}: {status} {answer}"
        );
    }
}

/// A page that fills only in a later DynamoDB round (a filter dropped the calls of the first)
/// must still point at the calls after it: every call of the range comes back once, whatever
/// the page size.
#[tokio::test]
async fn paging_a_filtered_list_never_loses_a_call() {
    use shared::calls::views::CallFilter;
    let company = format!("paging{}", std::process::id());
    let store = call_store().await;
    // Newest first: one ended call, five still ongoing, then three ended ones.
    let now = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let mut ended = std::collections::BTreeSet::new();
    for (i, status) in [
        "ended", "ongoing", "ongoing", "ongoing", "ongoing", "ongoing", "ended", "ended", "ended",
    ]
    .iter()
    .enumerate()
    {
        let id = call_id("paging");
        let start = now - i as i64 * 60_000;
        let (kind, call) = if *status == "ended" {
            ended.insert(id.clone());
            (
                EventKind::CallEnded,
                json!({"call_id": id, "agent_id": "agent_x", "call_status": "ended",
                       "start_timestamp": start, "end_timestamp": start + 30_000, "duration_ms": 30_000}),
            )
        } else {
            (
                EventKind::CallStarted,
                json!({"call_id": id, "agent_id": "agent_x", "call_status": "ongoing", "start_timestamp": start}),
            )
        };
        let body = json!({"event": kind.as_str(), "call": call}).to_string();
        let event = CallEvent::from_payload(kind, &company, start, body.as_bytes()).expect("event");
        apply_event(&store, &event, &chrono_tz::Europe::Berlin)
            .await
            .expect("stored");
    }
    let filter = CallFilter {
        from_ms: now - 86_400_000,
        to_ms: now + 1,
        status: Some("ended".into()),
        ..Default::default()
    };
    for limit in 1..=5 {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..20 {
            let page = store
                .company_calls(&company, &filter, limit, cursor.as_deref())
                .await
                .expect("page");
            seen.extend(page.calls.into_iter().map(|c| c.call_id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let unique: std::collections::BTreeSet<_> = seen.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "limit {limit}: a call twice: {seen:?}"
        );
        assert_eq!(unique, ended, "limit {limit}");
    }
}

#[tokio::test]
async fn admins_list_and_redrive_dead_letters_and_staff_may_not() {
    let (app, config) = app().await;
    let staff = id_token(&config, STAFF).await;
    let admin = id_token(&config, ADMIN).await;
    let s = stack();
    let sqs = &clients().await.sqs;
    let dlq = s.resource("CallAnalyzedDeadLetterQueue", "QueueUrl");
    let queue = s.resource("CallAnalyzedQueue", "QueueUrl");
    let id = call_id("dlq");
    let envelope = json!({"v": 1, "event": "call_analyzed", "call_id": id, "company_id": "ccdemo",
                          "received_at_ms": 1, "payload_ref": format!("calls/{id}/missing.json")});
    let sent = sqs
        .send_message()
        .queue_url(&dlq)
        .message_body(envelope.to_string())
        .send()
        .await
        .expect("send");
    let message_id = sent.message_id.expect("message id");

    let redrive = |token: &str, body: Value| {
        send(
            &app,
            post_json("/api/retell/dead-letters/redrive", token, body),
        )
    };
    let only_mine = json!({"message_ids": [message_id]});

    // Staff see neither the list nor the page, nor may they redrive.
    let (status, _, _) = send(&app, get("/api/retell/dead-letters", Some(&staff))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let base = &config.base_path;
    let (status, _, _) = send(&app, get(&format!("{base}/dead-letters"), Some(&staff))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = redrive(&staff, only_mine.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // An admin sees it, with what it is, on the API and the page.
    let (status, _, body) = send(&app, get("/api/retell/dead-letters", Some(&admin))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed: Value = serde_json::from_str(&body).expect("json");
    let mine: Vec<&Value> = listed["dead_letters"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|l| l["message_id"] == message_id.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{listed}");
    assert_eq!(mine[0]["call_id"], id.as_str());
    assert_eq!(mine[0]["queue"], "call_analyzed");
    let (status, _, page) = send(&app, get(&format!("{base}/dead-letters"), Some(&admin))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&id) && page.contains(&message_id),
        "listed on the page"
    );

    // Hostile requests are refused with a reason, and nothing moves.
    for bad in [
        json!({}),
        json!({"message_ids": ["x"], "all": true}),
        json!({"message_ids": ["../../etc"]}),
        json!({"message_ids": "not-a-list"}),
        json!({"message_ids": [message_id], "extra": 1}),
    ] {
        let (status, _, body) = redrive(&admin, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    // Redriven: back on its queue, gone from the dead letters; again: not found.
    let (status, _, body) = redrive(&admin, only_mine.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["redriven"][0]["call_id"], id.as_str());
    let mut found = false;
    for _ in 0..10 {
        let got = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        for m in got.messages() {
            if m.body().is_some_and(|b| b.contains(&id)) {
                found = true;
                // Taken off again: no consumer runs here to fail on it.
                sqs.delete_message()
                    .queue_url(&queue)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
        if found {
            break;
        }
    }
    assert!(found, "the redriven message is on its queue");
    let (_, _, body) = redrive(&admin, only_mine.clone()).await;
    let again: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(again["ok"], false);
    assert_eq!(again["not_found"][0], message_id.as_str());
}

#[tokio::test]
async fn staff_mark_their_own_callers_vip_and_no_one_elses() {
    let (app, config) = app().await;
    let staff = id_token(&config, STAFF).await;
    let base = &config.base_path;
    // Customer records are a configured company's (one without settings has none).
    put_salon(&config, "ccdemo").await;
    let phone = format!("+49151{:08}", std::process::id() % 100_000_000);
    let call = stored_call_from("ccdemo", &phone).await;
    let form = |company: &str, phone: &str, vip: &str| {
        format!(
            "company={company}&phone={}&vip={vip}&call_id={call}",
            phone.replace('+', "%2B")
        )
    };
    let vip_path = format!("{base}/customers/vip");
    let post_vip = |body: String| send(&app, post_form(&vip_path, &staff, &body));
    let (status, headers, _) = post_vip(form("ccdemo", &phone, "true")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers[header::LOCATION]
        .to_str()
        .unwrap_or_default()
        .ends_with(&format!("/calls/{call}")));
    let table = stack().resource("AppointmentsTable", "Ref");
    let vip_of = |company: &'static str| {
        let table = table.clone();
        let phone = phone.clone();
        async move {
            clients()
                .await
                .dynamodb
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S(format!("C#{company}")))
                .key("sk", AttributeValue::S(format!("U#{phone}")))
                .consistent_read(true)
                .send()
                .await
                .expect("get")
                .item
                .and_then(|i| i.get("vip").cloned())
        }
    };
    assert_eq!(vip_of("ccdemo").await, Some(AttributeValue::Bool(true)));
    // Another company's customer: as if it did not exist; nothing written.
    let (status, _, _) = post_vip(form("ccother", &phone, "true")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(vip_of("ccother").await, None);
    // Not a number, not a yes/no, not a call: refused.
    for bad in [
        form("ccdemo", "0151 123", "true"),
        form("ccdemo", &phone, "maybe"),
        // The salon's own line (the call's other number), or anyone but the call's customer.
        form("ccdemo", "+493012345678", "true"),
        form("ccdemo", "+4915199990000", "true"),
        "company=ccdemo&phone=%2B4915112345678&vip=true&call_id=..%2Fx".to_owned(),
    ] {
        let (status, _, _) = post_vip(bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, _, _) = post_vip(form("ccdemo", &phone, "false")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(vip_of("ccdemo").await, Some(AttributeValue::Bool(false)));
}

/// A stand-in for the pool's JWKS endpoint that can be down (500) or serve the real keys.
async fn jwks_stand_in(real: String) -> (String, Arc<std::sync::atomic::AtomicBool>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = down.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let answer = if flag.load(std::sync::atomic::Ordering::SeqCst) {
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
            } else {
                let keys = reqwest::get(&real)
                    .await
                    .expect("jwks")
                    .text()
                    .await
                    .expect("body");
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{keys}",
                    keys.len()
                )
            };
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    (url, down)
}

/// Cognito's keys unreadable for a moment: the page says to try again (503) and the session is
/// kept (no redirect, no cleared cookie); the next request soon after tries again and passes.
#[tokio::test]
async fn a_failed_key_fetch_is_a_retry_page_not_a_logout() {
    let (working, mut config) = app().await;
    let jar = login_jar(&working, &config, STAFF).await;
    // A fresh container (no keys in hand) while Cognito's keys cannot be fetched.
    let (url, down) = jwks_stand_in(config.jwks_url.clone()).await;
    config.jwks_url = url;
    let app = Arc::new(ControlCenter::build(&config, &sdk_config().await).expect("build"));
    let base = &config.base_path;
    let page = |jar: &str| {
        Request::get(format!("{base}/calls"))
            .header(header::COOKIE, jar.to_owned())
            .body(Body::empty())
            .expect("request")
    };
    let (status, headers, body) = send(&app, page(&jar)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert!(
        !headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|c| c.contains("Max-Age=0")),
        "the session is kept"
    );
    let token = id_token(&config, STAFF).await;
    let (status, _, _) = send(&app, get("/api/retell/status", Some(&token))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // Cognito answers again: the next request a moment later passes, not a minute later.
    down.store(false, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _, body) = send(&app, page(&jar)).await;
    assert_eq!(status, StatusCode::OK, "{body:.300}");
}

/// Staff have the agent call only their company's test numbers, nobody calls premium-rate or
/// short numbers, and a user starts at most five test calls an hour.
#[tokio::test]
async fn test_calls_go_only_where_they_may_and_not_too_often() {
    let (app, config) = app().await;
    let sim = integration_tests::RetellSimulator::start_seeded(integration_tests::DEFAULT_KEY);
    let mut config = config;
    config.retell_base_url = sim.url.clone();
    let app_sim = Arc::new(ControlCenter::build(&config, &sdk_config().await).expect("build"));
    drop(app);
    // Company ccdemo: a number, an agent of the simulator's seed, one test number.
    let mut settings: CompanySettings =
        serde_json::from_str(include_str!("../infra/local/companies/demo.json")).expect("demo");
    settings.company_id = "ccdemo".into();
    settings.agent_ids = vec!["agent_demo".into()];
    settings.phone_numbers = vec!["+493012345678".into()];
    settings.test_numbers = vec!["+4917612345678".into()];
    let directory = CompanyDirectory::new(
        clients().await.dynamodb.clone(),
        config.auth.companies_table.clone(),
        std::time::Duration::from_secs(1),
    );
    let _ = directory.put(&settings).await;
    let staff = id_token(&config, STAFF).await;
    let admin = id_token(&config, ADMIN).await;
    let call = |token: &str, to: &str| {
        Request::post("/api/retell/test-call")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(
                json!({"to_number": to, "company_id": "ccdemo"}).to_string(),
            ))
            .expect("request")
    };
    let (status, _, body) = send(&app_sim, call(&staff, "+4917699998888")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an unlisted number: {body}");
    for never in ["+49900123456789", "+491805123456"] {
        let (status, _, body) = send(&app_sim, call(&admin, never)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{never}: {body}");
    }
    let mut started = 0;
    let mut limited = false;
    for _ in 0..6 {
        let (status, _, body) = send(&app_sim, call(&staff, "+4917612345678")).await;
        match status {
            StatusCode::ACCEPTED => started += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited = true;
                break;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(limited && started <= 5, "at most five an hour: {started}");
}
