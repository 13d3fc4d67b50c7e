//! A company's settings edited through the control center against the emulator: the API's
//! versioned GET/PUT (a stale version 409, what `companies load` refuses 400, what routes calls
//! admin-only, another company 404), the settings page's forms, and an absence marked at the
//! desk: written to the settings, its colliding appointments listed (none cancelled), and the
//! phone agent no longer offering that person that day.

use axum::http::StatusCode;
use check_availability::CheckAvailability;
use integration_tests::cc_harness::{
    app, get, id_token, post_form, post_json, put_salon, send, ADMIN, OTHER, STAFF,
};
use integration_tests::clients;
use integration_tests::tool_harness::{call, next_tuesday, service};
use serde_json::{json, Value};

const COMPANY: &str = "ccdemo";

fn body(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn put(path: &str, token: &str, body: String) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::put(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .expect("request")
}

#[tokio::test]
async fn settings_are_edited_with_their_version_by_whom_may() {
    let (app, config) = app().await;
    put_salon(&config, COMPANY).await;
    let staff = id_token(&config, STAFF).await;
    let other = id_token(&config, OTHER).await;
    let path = format!("/api/retell/companies/{COMPANY}/settings");

    let (status, _, text) = send(&app, get(&path, Some(&staff))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let stored = body(&text);
    let version = stored["version"].as_u64().expect("version");
    assert!(version >= 1, "a load counts: {text}");
    assert_eq!(
        stored["changes"]
            .as_array()
            .and_then(|c| c.last())
            .map(|c| c["by"].clone()),
        Some(json!("companies load"))
    );
    // Another company's staff: 404 for reading and writing.
    let (status, _, _) = send(&app, get(&path, Some(&other))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = send(
        &app,
        put(
            &path,
            &other,
            json!({"version": version, "settings": stored["settings"]}).to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Closed on a day: saved, logged, and the agent says so at once.
    let closed = next_tuesday() + chrono::Duration::weeks(5);
    let mut settings = stored["settings"].clone();
    settings["closures"] = json!([closed.to_string()]);
    let (status, _, text) = send(
        &app,
        put(
            &path,
            &staff,
            json!({"version": version, "settings": settings}).to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(body(&text)["version"], json!(version + 1));
    assert_eq!(body(&text)["changed"], json!(["closures"]));
    let aws = clients().await;
    let check = service(CheckAvailability, &aws);
    let reply = call(
        &check,
        &format!("agent_{COMPANY}"),
        "+4915155588001",
        json!({"date": closed.to_string(), "service_id": "haircut"}),
    )
    .await;
    assert_ne!(reply["available"], json!(true), "closed that day: {reply}");

    // The same edit again on the old version: 409, nothing overwritten.
    settings["closures"] = json!([]);
    let (status, _, text) = send(
        &app,
        put(
            &path,
            &staff,
            json!({"version": version, "settings": settings}).to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    let (_, _, text) = send(&app, get(&path, Some(&staff))).await;
    assert_eq!(
        body(&text)["settings"]["closures"],
        json!([closed.to_string()])
    );
    let version = version + 1;

    // Staff may not reroute calls; settings `companies load` refuses are refused the same.
    let mut rerouted = body(&text)["settings"].clone();
    rerouted["agent_ids"] = json!(["agent_ccdemo", "agent_someone_else"]);
    let (status, _, text) = send(
        &app,
        put(
            &path,
            &staff,
            json!({"version": version, "settings": rerouted}).to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("agent_ids"), "{text}");
    let current = body(&send(&app, get(&path, Some(&staff))).await.2)["settings"].clone();
    let with = |key: &str, value: Value| {
        let mut s = current.clone();
        s[key] = value;
        json!({"version": version, "settings": s}).to_string()
    };
    for (request, named) in [
        (with("slot_step_minutes", json!(7)), "slot_step_minutes"),
        (
            with("callback_promise_minutes", json!(0)),
            "callback_promise_minutes",
        ),
        (with("hours", json!({"monday": ["09:00-18:00"]})), "monday"),
        (
            with(
                "services",
                json!([{"id": "x", "duration_minutes": 30, "price": "gratis"}]),
            ),
            "gratis",
        ),
        (with("company_id", json!("ccother")), "company_id"),
        (with("colour", json!("red")), "colour"),
        (
            json!({"version": "1", "settings": current}).to_string(),
            "version",
        ),
        (json!({"settings": current}).to_string(), "version"),
        ("[".repeat(100_000), "body"),
        (
            format!(
                "{{\"version\": 1, \"settings\": \"{}\"}}",
                "x".repeat(300_000)
            ),
            "body",
        ),
    ] {
        let (status, _, text) = send(&app, put(&path, &staff, request.clone())).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::PAYLOAD_TOO_LARGE,
            "{status} {text}"
        );
        assert!(text.contains(named), "{named}: {text}");
    }
    let (_, _, text) = send(&app, get(&path, Some(&staff))).await;
    assert_eq!(
        body(&text)["version"],
        json!(version),
        "nothing was written: {text}"
    );

    // The settings page's form: one section, with the version shown.
    let form = format!(
        "section=breaks&version={version}&breaks={}",
        "mon+tue+12%3A00-13%3A00"
    );
    let (status, headers, text) = send(
        &app,
        post_form(&format!("{}/settings", config.base_path), &staff, &form),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{text}");
    assert!(headers["location"]
        .to_str()
        .unwrap_or("")
        .contains("saved=breaks"));
    let (_, _, text) = send(&app, get(&path, Some(&staff))).await;
    let stored = body(&text);
    assert_eq!(
        stored["settings"]["breaks"],
        json!([{"days": ["mon", "tue"], "from": "12:00", "to": "13:00"}])
    );
    let last = stored["changes"]
        .as_array()
        .and_then(|c| c.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (last["by"].clone(), last["what"].clone()),
        (json!("desk:staff@cc.example"), json!("breaks"))
    );
    // The same form again (its version is old now): 409 on the page.
    let (status, _, page) = send(
        &app,
        post_form(&format!("{}/settings", config.base_path), &staff, &form),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        page.contains("inzwischen") || page.contains("meanwhile"),
        "{page}"
    );
    let (status, _, _) = send(
        &app,
        post_form(
            &format!("{}/settings", config.base_path),
            &staff,
            &format!(
                "section=services&version={}&service.0.id=haircut&service.0.duration=abc",
                version + 1
            ),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_absence_lists_its_collisions_and_the_agent_stops_offering_the_person() {
    let (app, config) = app().await;
    let company = "ccabsent";
    put_salon(&config, company).await;
    let admin = id_token(&config, ADMIN).await;
    let day = next_tuesday() + chrono::Duration::weeks(6);
    let (status, _, text) = send(
        &app,
        post_json(
            &format!("/api/retell/appointments?company_id={company}"),
            &admin,
            json!({"company_id": company, "service_id": "haircut", "date": day.to_string(), "time": "10:00",
                   "staff": "anna", "customer_name": "Ida Kurz", "customer_phone": "+4915155588002"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let booked = body(&text)["appointment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let base = &config.base_path;
    let (status, _, page) = send(
        &app,
        post_form(
            &format!("{base}/appointments/absence?company={company}&lang=en"),
            &admin,
            &format!(
                "staff=anna&from={day}&to={}",
                day + chrono::Duration::days(2)
            ),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(&format!(r#"<li data-id="{booked}">"#)),
        "listed: {page}"
    );
    assert!(page.contains("nothing was cancelled"), "{page}");
    // Still booked, marked on the day.
    let (_, _, text) = send(
        &app,
        get(
            &format!("/api/retell/appointments?company_id={company}&from={day}"),
            Some(&admin),
        ),
    )
    .await;
    assert_eq!(
        body(&text)["appointments"][0]["status"],
        json!("booked"),
        "{text}"
    );
    let (_, _, page) = send(
        &app,
        get(
            &format!("{base}/appointments?company={company}&date={day}"),
            Some(&admin),
        ),
    )
    .await;
    assert!(
        page.contains(&format!(r#"data-id="{booked}" data-collides="true""#)),
        "{page}"
    );
    // In the settings, and the agent offers Anna nothing that day.
    let (_, _, text) = send(
        &app,
        get(
            &format!("/api/retell/companies/{company}/settings"),
            Some(&admin),
        ),
    )
    .await;
    assert_eq!(
        body(&text)["settings"]["staff"][0]["absences"],
        json!([{"from": day.to_string(), "to": (day + chrono::Duration::days(2)).to_string()}])
    );
    let aws = clients().await;
    let check = service(CheckAvailability, &aws);
    let reply = call(
        &check,
        &format!("agent_{company}"),
        "+4915155588003",
        json!({"date": day.to_string(), "service_id": "haircut", "staff": "Anna"}),
    )
    .await;
    let offered_anna = reply["slots"]
        .as_array()
        .is_some_and(|s| s.iter().any(|slot| slot.to_string().contains("Anna")))
        || (reply["available"] == json!(true) && reply["date"] == json!(day.to_string()));
    assert!(!offered_anna, "{reply}");
    // Hostile absence forms: refused by field, nothing written.
    for form in [
        "staff=zoe&from=2027-01-05",
        "staff=anna&from=morgen",
        "staff=anna&from=2027-01-05&to=2027-01-01",
        "staff=anna&from=2027-01-01&to=2028-06-01",
    ] {
        let (status, _, _) = send(
            &app,
            post_form(
                &format!("{base}/appointments/absence?company={company}"),
                &admin,
                form,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form}");
    }
}
