//! The appointment desk against the emulator: the desk and the phone agent book through one
//! calendar (a race for one person and time has one winner, the other hears who is free), the
//! desk's moves, marks and cancels, the tenant rule on every id, and hostile form values.

use std::sync::Arc;

use axum::http::StatusCode;
use book_appointment::BookAppointment;
use integration_tests::cc_harness::{
    app, delete, get, id_token, patch_json, post_form, post_json, put_salon, send, OTHER, STAFF,
};
use integration_tests::clients;
use integration_tests::tool_harness::{call, next_tuesday, service};
use serde_json::{json, Value};

const COMPANY: &str = "ccdemo";

/// A Tuesday `weeks` after the next: the tests of this binary share the company, each its day.
fn week_after(weeks: i64) -> String {
    (next_tuesday() + chrono::Duration::weeks(weeks)).to_string()
}

fn body(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// A phone booking and a desk booking for Anna at the same time, at once: exactly one is made,
/// and the other is told who is free (the phone: `others_free`; the desk: 409 with `free`).
#[tokio::test]
async fn a_desk_and_a_phone_booking_for_one_person_and_time_have_one_winner() {
    let (app, config) = app().await;
    put_salon(&config, COMPANY).await;
    let staff = id_token(&config, STAFF).await;
    let aws = clients().await;
    let book = Arc::new(service(BookAppointment, &aws));
    let day = next_tuesday().to_string();
    for (i, time) in ["09:00", "09:30", "10:00", "10:30", "11:00"]
        .iter()
        .enumerate()
    {
        let desk = send(
            &app,
            post_json(
                "/api/retell/appointments",
                &staff,
                json!({"service_id": "haircut", "date": day, "time": time, "staff": "anna",
                       "customer_name": "Walk-in", "customer_phone": format!("+4915155500{i:03}")}),
            ),
        );
        let (agent, caller) = (format!("agent_{COMPANY}"), format!("+4917655500{i:03}"));
        let phone = call(
            &book,
            &agent,
            &caller,
            json!({"date": day, "time": time, "service_id": "haircut", "staff": "Anna"}),
        );
        let ((status, _, text), reply) = tokio::join!(desk, phone);
        let desk_won = status == StatusCode::CREATED;
        let phone_won = reply["success"] == json!(true);
        assert!(
            desk_won ^ phone_won,
            "{time}: desk {status} {text}, phone {reply}"
        );
        if desk_won {
            assert_eq!(body(&text)["staff"], json!("Anna"), "{text}");
            let others = reply["others_free"].as_array().cloned().unwrap_or_default();
            assert_eq!(others, [json!("Ben"), json!("Clara")], "{reply}");
        } else {
            assert_eq!(status, StatusCode::CONFLICT, "{text}");
            assert_eq!(body(&text)["free"], json!(["Ben", "Clara"]), "{text}");
        }
    }
    // The day as the desk lists it: five appointments with Anna, none twice.
    let (status, _, text) = send(
        &app,
        get(
            &format!("/api/retell/appointments?from={day}&staff=anna"),
            Some(&staff),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let listed = body(&text)["appointments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let times: Vec<&str> = listed.iter().filter_map(|a| a["time"].as_str()).collect();
    assert_eq!(
        times,
        ["09:00", "09:30", "10:00", "10:30", "11:00"],
        "{text}"
    );
}

#[tokio::test]
async fn the_desk_books_moves_and_cancels_and_only_its_own_company() {
    let (app, config) = app().await;
    put_salon(&config, COMPANY).await;
    let staff = id_token(&config, STAFF).await;
    let other = id_token(&config, OTHER).await;
    let day = week_after(1);
    // Whoever is free: the fair choice (nobody has a booking that day: the first in the file).
    let (status, _, text) = send(
        &app,
        post_json(
            "/api/retell/appointments",
            &staff,
            json!({"service_id": "coloring", "date": day, "time": "14:00",
                   "customer_name": "Eva Fett", "customer_phone": "+4915155577001"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let made = body(&text);
    let id = made["appointment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        (made["staff"].clone(), made["source"].clone()),
        (json!("Anna"), json!("desk"))
    );
    let path = format!("/api/retell/appointments/{id}");
    // The same request again (a script's retry): the same booking, not a second one.
    let (status, _, text) = send(
        &app,
        post_json(
            "/api/retell/appointments",
            &staff,
            json!({"service_id": "coloring", "date": day, "time": "14:00",
                   "customer_name": "Eva Fett", "customer_phone": "+4915155577001"}),
        ),
    )
    .await;
    assert_eq!(
        (status, body(&text)["appointment_id"].clone()),
        (StatusCode::CREATED, json!(id)),
        "{text}"
    );
    // The colour station is one: Clara cannot colour at 14:00 as well.
    let (status, _, text) = send(
        &app,
        post_json(
            "/api/retell/appointments",
            &staff,
            json!({"service_id": "coloring", "date": day, "time": "14:00", "staff": "clara",
                   "customer_phone": "+4915155577002"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    // Moved to Ben at 16:00? Ben does not colour: refused with the reason, nothing moved.
    let (status, _, text) = send(&app, patch_json(&path, &staff, json!({"staff": "ben"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("does not perform"), "{text}");
    let (status, _, text) = send(
        &app,
        patch_json(&path, &staff, json!({"time": "15:00", "staff": "clara"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        (body(&text)["time"].clone(), body(&text)["staff"].clone()),
        (json!("15:00"), json!("Clara"))
    );
    // Whether the customer came is not known a week ahead; an empty person is no person; an id
    // that is not one is not looked up.
    for (request, expected) in [
        (
            patch_json(&path, &staff, json!({"attendance": "arrived"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            patch_json(&path, &staff, json!({"staff": ""})),
            StatusCode::BAD_REQUEST,
        ),
        (
            patch_json(
                &format!("/api/retell/appointments/{}", "a".repeat(5000)),
                &staff,
                json!({"time": "16:00"}),
            ),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, _, text) = send(&app, request).await;
        assert_eq!(status, expected, "{text}");
    }
    // Another company's staff: every id of this company is not found, nothing changes.
    for request in [
        get(
            &format!("/api/retell/appointments?company_id={COMPANY}"),
            Some(&other),
        ),
        patch_json(
            &format!("{path}?company_id={COMPANY}"),
            &other,
            json!({"time": "16:00"}),
        ),
        delete(&format!("{path}?company_id={COMPANY}"), &other),
        patch_json(&path, &other, json!({"time": "16:00"})),
        delete(&path, &other),
    ] {
        let (status, _, text) = send(&app, request).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    }
    let (status, _, text) = send(
        &app,
        get(
            &format!("/api/retell/appointments?from={day}"),
            Some(&staff),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mine = body(&text)["appointments"]
        .as_array()
        .and_then(|l| l.iter().find(|a| a["appointment_id"] == json!(id)).cloned())
        .unwrap_or_default();
    assert_eq!(
        (mine["time"].clone(), mine["attendance"].clone()),
        (json!("15:00"), Value::Null),
        "{text}"
    );
    // Every change of the desk is in the appointment's log: what, to what, by whom.
    let log: Vec<(String, String, String)> = mine["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (text("what"), text("detail"), text("by"))
        })
        .collect();
    let by = "api:staff@cc.example".to_owned();
    assert_eq!(
        log,
        [
            ("booked".to_owned(), format!("{day} 14:00 anna"), by.clone()),
            ("moved".to_owned(), format!("{day} 15:00 clara"), by),
        ],
        "{mine}"
    );
    let (status, _, _) = send(&app, delete(&path, &staff)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, text) = send(&app, delete(&path, &staff)).await;
    assert_eq!(
        (status, body(&text)["error"].clone()),
        (StatusCode::CONFLICT, json!("not_booked"))
    );
    // Clara is free at 15:00 again: the lock went with the cancel.
    let (status, _, text) = send(
        &app,
        post_json(
            "/api/retell/appointments",
            &staff,
            json!({"service_id": "coloring", "date": day, "time": "15:00", "staff": "clara",
                   "customer_phone": "+4915155577003"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
}

/// docs/openapi.yaml, appointments: a value of the wrong type or shape is refused with the
/// field named, never guessed, and books nothing.
#[tokio::test]
async fn hostile_desk_values_are_refused_with_the_field_named() {
    let (app, config) = app().await;
    put_salon(&config, COMPANY).await;
    let staff = id_token(&config, STAFF).await;
    let day = week_after(2);
    let good = json!({"service_id": "haircut", "date": day, "time": "13:30", "staff": "ben",
                      "customer_name": "Max", "customer_phone": "+4915155588001"});
    let with = |field: &str, value: Value| {
        let mut b = good.clone();
        b[field] = value;
        b
    };
    let cases = [
        (with("date", json!({"$gt": ""})), "date"),
        (with("time", json!(["10:00"])), "time"),
        (with("date", json!("9999-01-01")), "date"),
        (with("date", json!("2026-02-30")), "date"),
        (with("time", json!("25:00")), "time"),
        (with("time", json!("13:37")), "time"),
        (with("time", json!("22:00")), "time"),
        (
            with("customer_name", json!("x".repeat(300))),
            "customer_name",
        ),
        (
            with("customer_name", json!("Max\u{0}Mustermann")),
            "customer_name",
        ),
        (
            with("customer_phone", json!("0176 call me")),
            "customer_phone",
        ),
        (
            with("customer_phone", json!(4915155588001u64)),
            "customer_phone",
        ),
        (with("staff", json!("nobody")), "staff"),
        (with("service_id", json!("nails")), "service_id"),
        (with("admin", json!(true)), "admin"),
    ];
    for (request, field) in cases {
        let (status, _, text) = send(
            &app,
            post_json("/api/retell/appointments", &staff, request.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {text}");
        assert!(text.contains(field), "{field}: {text}");
    }
    // A megabyte body is refused before it is read.
    let (status, _, _) = send(
        &app,
        post_json(
            "/api/retell/appointments",
            &staff,
            with("customer_name", json!("x".repeat(1 << 20))),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    for nested in [json!([1, [2, [3]]]), json!("text"), json!(null)] {
        let (status, _, _) =
            send(&app, post_json("/api/retell/appointments", &staff, nested)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, _, text) = send(
        &app,
        get(
            &format!("/api/retell/appointments?from={day}&to=2030-01-01"),
            Some(&staff),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    // Nothing of the above was booked: 13:30 with Ben is still free.
    let (status, _, text) = send(&app, post_json("/api/retell/appointments", &staff, good)).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
}

/// The desk's page: the day with a column per person, a walk-in booked by the form, and a taken
/// person refused on the page with who is free (409).
#[tokio::test]
async fn the_day_page_shows_columns_and_books_walk_ins() {
    let (app, config) = app().await;
    put_salon(&config, COMPANY).await;
    let staff = id_token(&config, STAFF).await;
    let base = &config.base_path;
    let day = week_after(3);
    let form = format!(
        "service_id=haircut&date={day}&time=16%3A00&staff=ben&customer_name=Tom%20%3Cb%3E&customer_phone=%2B4915155599001"
    );
    let (status, headers, _) = send(
        &app,
        post_form(&format!("{base}/appointments"), &staff, &form),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers["location"].to_str().unwrap_or_default().to_owned();
    assert!(location.contains(&format!("date={day}")), "{location}");
    let (status, _, page) = send(
        &app,
        get(&format!("{base}/appointments?date={day}"), Some(&staff)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for name in ["Anna", "Ben", "Clara"] {
        assert!(page.contains(&format!("<h2>{name}</h2>")), "column {name}");
    }
    assert!(page.contains("Tom &lt;b&gt;"), "the name as text");
    assert!(page.contains("Empfang"), "made at the desk");
    let (status, _, page) = send(
        &app,
        post_form(
            &format!("{base}/appointments"),
            &staff,
            &form.replace("9001", "9002"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("Frei ist: Anna, Clara"), "{page}");
    let (status, _, page) = send(
        &app,
        get(
            &format!("{base}/appointments?date={day}&view=week"),
            Some(&staff),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("week-grid") && page.contains("16:00"),
        "{page}"
    );
    let (status, _, _) = send(
        &app,
        get(
            &format!("{base}/appointments?date=31.12.2026"),
            Some(&staff),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Arrived and no-show are marked from shortly before the start; a move clears the mark (the
/// moved appointment is a new visit), through the ledger the desk writes with.
#[tokio::test]
async fn attendance_is_marked_once_the_appointment_is_near_and_cleared_by_a_move() {
    use shared::calendar::{Attendance, BookingOutcome, BookingRequest, Calendar, NativeCalendar};
    let (app, config) = app().await;
    let settings = put_salon(&config, COMPANY).await;
    let company = shared::booking::company::Company::from_settings(settings).expect("company");
    let staff = id_token(&config, STAFF).await;
    // Booked directly for a past start (the desk itself never books the past).
    let calendar =
        NativeCalendar::new(clients().await.dynamodb.clone(), &config.appointments_table);
    // Two weeks before the next Tuesday (2 to 8 days ahead) is always past; one week before
    // was tomorrow when the tests ran on a Monday.
    let day = next_tuesday() - chrono::Duration::weeks(2);
    let service = company
        .settings
        .services
        .iter()
        .find(|s| s.id == "beard")
        .expect("beard");
    let phone = shared::booking::phone::PhoneNumber::parse("+4915155566001").expect("phone");
    let request = BookingRequest {
        date: day,
        time: chrono::NaiveTime::from_hms_opt(9, 0, 0).expect("time"),
        service,
        customer_phone: &phone,
        customer_name: Some("Gestern"),
        customer_email: None,
        notes: None,
        call_id: None,
        staff: company.team.member("ben"),
        contact_proven: true,
        booked_by: Some("desk:test"),
    };
    let BookingOutcome::Booked(a) = calendar.book(&company, &request).await.expect("book") else {
        panic!("not booked");
    };
    let path = format!("/api/retell/appointments/{}", a.appointment_id);
    let (status, _, text) = send(
        &app,
        patch_json(&path, &staff, json!({"attendance": "no_show"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let marked = calendar
        .ledger()
        .appointment(&company, &a.appointment_id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(marked.attendance, Some(Attendance::NoShow));
    let (status, _, text) = send(
        &app,
        patch_json(
            &path,
            &staff,
            json!({"date": week_after(4), "time": "10:00"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(body(&text)["attendance"], Value::Null, "{text}");
}
