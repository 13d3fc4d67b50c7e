//! Staff and resources against the emulator, through the real tool handlers: three stylists
//! take three bookings at one time (each a different person, however many callers race), a
//! person asked for by name is booked or refused with who else is free, the one colour station
//! holds one colouring at a time, and the round trips stay one Query and one transaction.

use std::sync::Arc;

use integration_tests::tool_harness::{
    call, names, next_tuesday, put_company, salon_settings, service,
};
use integration_tests::{clients, counted_clients};
use serde_json::{json, Value};

use book_appointment::BookAppointment;
use check_availability::CheckAvailability;
use get_customer_info::GetCustomerInfo;
use reschedule_appointment::RescheduleAppointment;

#[tokio::test]
async fn sixteen_callers_for_one_time_get_the_three_stylists() {
    let aws = clients().await;
    let (_, agent) = put_company(&aws, &salon_settings()).await;
    let book = Arc::new(service(BookAppointment, &aws));
    let day = next_tuesday().to_string();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (book, agent, day) = (book.clone(), agent.clone(), day.clone());
        tasks.push(tokio::spawn(async move {
            call(
                &book,
                &agent,
                &format!("+49176555600{i:02}"),
                json!({"date": day, "time": "10:00", "service_id": "haircut"}),
            )
            .await
        }));
    }
    let mut staff = Vec::new();
    for task in tasks {
        let reply = task.await.expect("join");
        if reply["success"] == json!(true) {
            staff.push(reply["staff"].as_str().unwrap_or_default().to_owned());
        } else {
            assert!(
                reply["alternatives"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty()),
                "a refused caller is offered other times: {reply}"
            );
        }
    }
    staff.sort();
    assert_eq!(
        staff,
        ["Anna", "Ben", "Clara"],
        "three bookings, three different people"
    );
}

#[tokio::test]
async fn a_person_asked_for_is_booked_or_refused_with_who_else_is_free() {
    let aws = clients().await;
    let (_, agent) = put_company(&aws, &salon_settings()).await;
    let book = service(BookAppointment, &aws);
    let check = service(CheckAvailability, &aws);
    let day = next_tuesday().to_string();
    let first = call(
        &book,
        &agent,
        "+4917655570001",
        json!({"date": day, "time": "11:00", "service_id": "haircut", "staff": "Frau Berg"}),
    )
    .await;
    assert_eq!(first["success"], json!(true), "{first}");
    assert_eq!(first["staff"], json!("Anna"));
    assert!(first["message"]
        .as_str()
        .unwrap_or_default()
        .contains("bei Anna"));
    // Anna is taken at eleven now: the next caller who wants her hears who else is free.
    let second = call(
        &book,
        &agent,
        "+4917655570002",
        json!({"date": day, "time": "11:00", "service_id": "haircut", "staff": "anna"}),
    )
    .await;
    assert_eq!(second["success"], json!(false), "{second}");
    assert_eq!(names(&second, "others_free"), ["Ben", "Clara"]);
    let said = second["message"].as_str().unwrap_or_default();
    assert!(
        said.contains("Anna hat dann keine Zeit, Ben und Clara aber schon"),
        "{said}"
    );
    let checked = call(
        &check,
        &agent,
        "+4917655570002",
        json!({"date": day, "time": "11:00", "service_id": "haircut", "staff": "Anna"}),
    )
    .await;
    assert_eq!(checked["available"], json!(false));
    assert_eq!(names(&checked, "others_free"), ["Ben", "Clara"]);
    assert!(!names(&checked, "slots").contains(&"11:00".to_owned()));
    // Asked without a person, eleven is still free (with Ben and Clara).
    let anyone = call(
        &check,
        &agent,
        "+4917655570002",
        json!({"date": day, "time": "11:00", "service_id": "haircut"}),
    )
    .await;
    assert_eq!(anyone["available"], json!(true), "{anyone}");
    assert_eq!(anyone["staff"]["11:00"], json!(["Ben", "Clara"]));
    // Ben does not colour: refused with who does, never a silent switch.
    let ben = call(
        &book,
        &agent,
        "+4917655570003",
        json!({"date": day, "time": "14:00", "service_id": "coloring", "staff": "Herr Weber"}),
    )
    .await;
    assert_eq!(ben["success"], json!(false));
    assert_eq!(ben["argument"], json!("staff"));
    let said = ben["message"].as_str().unwrap_or_default();
    assert!(said.contains("Anna und Clara"), "{said}");
}

#[tokio::test]
async fn hostile_staff_values_are_refused_never_guessed() {
    let aws = clients().await;
    let (_, agent) = put_company(&aws, &salon_settings()).await;
    let book = service(BookAppointment, &aws);
    let day = next_tuesday().to_string();
    let megabyte = "A".repeat(1 << 20);
    for (staff, error) in [
        (json!({"name": "Anna"}), Some("wrong_type")),
        (json!(["Anna"]), Some("wrong_type")),
        (json!(7), Some("wrong_type")),
        (json!(megabyte), Some("too_long")),
        (json!("Anna\n{{system}}"), Some("control_characters")),
        (json!("Dieter"), None),
        (json!("{{customer_name}}"), None),
    ] {
        let reply = call(
            &book,
            &agent,
            "+4917655580001",
            json!({"date": day, "time": "15:00", "service_id": "haircut", "staff": staff}),
        )
        .await;
        assert_eq!(reply["success"], json!(false), "{staff}: {reply}");
        assert_eq!(reply["argument"], json!("staff"), "{staff}: {reply}");
        if let Some(code) = error {
            assert_eq!(reply["error"], json!(code), "{staff}");
        } else {
            let said = reply["message"].as_str().unwrap_or_default();
            assert!(said.contains("Anna, Ben und Clara"), "{staff}: {said}");
        }
    }
    // "egal" is no preference: booked with whoever is fairest.
    let anyone = call(
        &book,
        &agent,
        "+4917655580001",
        json!({"date": day, "time": "15:00", "service_id": "haircut", "staff": "egal"}),
    )
    .await;
    assert_eq!(anyone["success"], json!(true), "{anyone}");
}

#[tokio::test]
async fn the_colour_station_holds_one_colouring_at_a_time() {
    let aws = clients().await;
    let (_, agent) = put_company(&aws, &salon_settings()).await;
    let book = service(BookAppointment, &aws);
    let check = service(CheckAvailability, &aws);
    let day = next_tuesday().to_string();
    let first = call(
        &book,
        &agent,
        "+4917655590001",
        json!({"date": day, "time": "09:00", "service_id": "coloring"}),
    )
    .await;
    assert_eq!(first["success"], json!(true), "{first}");
    // Clara is free at nine, but the station is not.
    let second = call(
        &book,
        &agent,
        "+4917655590002",
        json!({"date": day, "time": "09:00", "service_id": "coloring", "staff": "Clara"}),
    )
    .await;
    assert_eq!(second["success"], json!(false), "{second}");
    let after = call(
        &check,
        &agent,
        "+4917655590002",
        json!({"date": day, "service_id": "coloring"}),
    )
    .await;
    let free = names(&after, "slots");
    assert!(!free.contains(&"09:00".to_owned()) && !free.contains(&"10:30".to_owned()));
    // The station is busy 09:00-10:45 (90 minutes and the 15-minute buffer); a colouring
    // from 10:45 would run into the lunch break, so the next one is at one.
    assert_eq!(free.first().map(String::as_str), Some("13:00"), "{free:?}");
    // A haircut with Clara at nine needs no station.
    let haircut = call(
        &book,
        &agent,
        "+4917655590002",
        json!({"date": day, "time": "09:00", "service_id": "haircut", "staff": "Clara"}),
    )
    .await;
    assert_eq!(haircut["success"], json!(true), "{haircut}");
}

#[tokio::test]
async fn reschedule_keeps_the_person_and_customer_info_names_them() {
    let aws = clients().await;
    let (_, agent) = put_company(&aws, &salon_settings()).await;
    let book = service(BookAppointment, &aws);
    let move_it = service(RescheduleAppointment, &aws);
    let info = service(GetCustomerInfo, &aws);
    let day = next_tuesday().to_string();
    let me = "+4917655591001";
    let booked = call(
        &book,
        &agent,
        me,
        json!({"date": day, "time": "13:00", "service_id": "haircut", "staff": "Clara"}),
    )
    .await;
    assert_eq!(booked["staff"], json!("Clara"));
    // Clara is booked by someone else at three.
    let other = call(
        &book,
        &agent,
        "+4917655591002",
        json!({"date": day, "time": "15:00", "service_id": "haircut", "staff": "Clara"}),
    )
    .await;
    assert_eq!(other["success"], json!(true));
    let refused = call(
        &move_it,
        &agent,
        me,
        json!({"new_date": day, "new_time": "15:00"}),
    )
    .await;
    assert_eq!(refused["success"], json!(false), "{refused}");
    assert_eq!(names(&refused, "others_free"), ["Anna", "Ben"]);
    let moved = call(
        &move_it,
        &agent,
        me,
        json!({"new_date": day, "new_time": "16:00"}),
    )
    .await;
    assert_eq!(moved["success"], json!(true), "{moved}");
    assert_eq!(moved["staff"], json!("Clara"));
    // Asked for, another person: the appointment moves to Ben at three (Clara's three stays
    // the other caller's).
    let to_ben = call(
        &move_it,
        &agent,
        me,
        json!({"new_date": day, "new_time": "15:00", "staff": "Ben"}),
    )
    .await;
    assert_eq!(to_ben["success"], json!(true), "{to_ben}");
    assert_eq!(to_ben["staff"], json!("Ben"));
    let back = call(
        &move_it,
        &agent,
        me,
        json!({"new_date": day, "new_time": "16:00", "staff": "Clara"}),
    )
    .await;
    assert_eq!(
        back["staff"],
        json!("Clara"),
        "Clara's four o'clock was freed: {back}"
    );
    let known = call(&info, &agent, me, json!({})).await;
    let said = known.to_string();
    assert!(said.contains("Clara"), "{said}");
}

#[tokio::test]
async fn with_staff_a_booking_is_one_query_and_one_transaction() {
    let (aws, log) = counted_clients().await;
    let (_, agent) = put_company(&aws, &salon_settings()).await;
    let check = service(CheckAvailability, &aws);
    let book = service(BookAppointment, &aws);
    let day = next_tuesday().to_string();
    let me = "+4917655592001";
    call(
        &check,
        &agent,
        me,
        json!({"date": day, "service_id": "haircut"}),
    )
    .await;
    // Warm the booking tool's caches too (company settings, keys).
    call(
        &book,
        &agent,
        me,
        json!({"date": day, "time": "09:00", "service_id": "beard"}),
    )
    .await;
    log.take();
    call(
        &check,
        &agent,
        me,
        json!({"date": day, "service_id": "haircut"}),
    )
    .await;
    assert_eq!(log.take(), ["DynamoDB.Query"], "check_availability");
    let booked = call(
        &book,
        &agent,
        me,
        json!({"date": day, "time": "16:30", "service_id": "haircut"}),
    )
    .await;
    assert_eq!(booked["success"], json!(true));
    assert_eq!(
        log.take(),
        ["DynamoDB.Query", "DynamoDB.TransactWriteItems"],
        "book_appointment with the fair choice"
    );
    let named = call(
        &book,
        &agent,
        "+4917655592002",
        json!({"date": day, "time": "16:30", "service_id": "haircut", "staff": "Clara"}),
    )
    .await;
    assert_eq!(named["success"], json!(true), "{named}");
    assert_eq!(
        log.take(),
        ["DynamoDB.TransactWriteItems"],
        "book_appointment with a person asked for"
    );
}

/// A company that starts listing staff: a booking from before (a lock of the time itself)
/// counts as its first staff member's, so Anna cannot be booked over it, by name or not.
#[tokio::test]
async fn bookings_from_before_staff_count_as_the_first_persons() {
    let aws = clients().await;
    let mut settings = salon_settings();
    let staff = std::mem::take(&mut settings.staff);
    let resources = std::mem::take(&mut settings.resources);
    let (_, agent) = put_company(&aws, &settings).await;
    let book = service(BookAppointment, &aws);
    let day = next_tuesday().to_string();
    let before = call(
        &book,
        &agent,
        "+4917655593001",
        json!({"date": day, "time": "10:00", "service_id": "haircut"}),
    )
    .await;
    assert_eq!(before["success"], json!(true), "{before}");
    assert!(before.get("staff").is_none_or(Value::is_null), "{before}");
    settings.staff = staff;
    settings.resources = resources;
    put_company(&aws, &settings).await;
    // A fresh tool service: the company is read anew, with its staff.
    let book = service(BookAppointment, &aws);
    let anna = call(
        &book,
        &agent,
        "+4917655593002",
        json!({"date": day, "time": "10:00", "service_id": "haircut", "staff": "Anna"}),
    )
    .await;
    assert_eq!(anna["success"], json!(false), "{anna}");
    assert_eq!(names(&anna, "others_free"), ["Ben", "Clara"]);
    let anyone = call(
        &book,
        &agent,
        "+4917655593003",
        json!({"date": day, "time": "10:00", "service_id": "haircut"}),
    )
    .await;
    assert_eq!(anyone["staff"], json!("Ben"), "{anyone}");
}

/// Retell retries a tool call whose answer it did not get: the retry of a booking with no
/// person asked for finds its own appointment (the time it holds is not "taken" for it).
#[tokio::test]
async fn the_retry_of_a_booking_with_whoever_is_free_finds_its_own_appointment() {
    let aws = clients().await;
    let (_, agent) = put_company(&aws, &salon_settings()).await;
    let book = service(BookAppointment, &aws);
    let args =
        json!({"date": next_tuesday().to_string(), "time": "15:00", "service_id": "coloring"});
    let first = call(&book, &agent, "+4917655590001", args.clone()).await;
    assert_eq!(first["success"], json!(true), "{first}");
    // The colour station is taken at 15:00 now: only this booking may have it again.
    let again = call(&book, &agent, "+4917655590001", args.clone()).await;
    assert_eq!(again["success"], json!(true), "{again}");
    assert_eq!(again["appointment_id"], first["appointment_id"]);
    assert_eq!(again["staff"], first["staff"]);
    let other = call(&book, &agent, "+4917655590002", args).await;
    assert_eq!(other["success"], json!(false), "{other}");
}
