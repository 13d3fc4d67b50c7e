//! Table-driven: who is free when, on the demo salon with its three stylists (Anna, Ben and
//! Clara cut; Anna and Clara colour, on the one colour station; Ben is off on Saturdays).

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::*;
use crate::booking::company::{demo_company, Company, CompanySettings};
use crate::booking::slots::local_instant;
use crate::booking::staff::StaffMatch;

fn t(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
}

fn berlin(date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    local_instant(&chrono_tz::Europe::Berlin, date, t(h, m)).unwrap_or_default()
}

fn long_ago() -> DateTime<Utc> {
    berlin(d(2025, 1, 1), 0, 0)
}

const TUESDAY: (i32, u32, u32) = (2025, 1, 14);
const SATURDAY: (i32, u32, u32) = (2025, 1, 18);

fn day(ymd: (i32, u32, u32)) -> NaiveDate {
    d(ymd.0, ymd.1, ymd.2)
}

fn service<'a>(c: &'a Company, id: &str) -> &'a Service {
    c.settings
        .services
        .iter()
        .find(|s| s.id == id)
        .unwrap_or(&c.settings.services[0])
}

/// Who is free at `time` on `date` for `service`, given `occupancy`.
fn who(
    c: &Company,
    service_id: &str,
    date: NaiveDate,
    time: NaiveTime,
    occupancy: &Occupancy,
) -> Vec<String> {
    free_times(
        &c.team,
        service(c, service_id),
        date,
        occupancy,
        long_ago(),
        None,
    )
    .into_iter()
    .find(|f| f.time == time)
    .map(|f| f.staff)
    .unwrap_or_default()
}

fn busy(date: NaiveDate, from: (u32, u32), to: (u32, u32)) -> Busy {
    Busy {
        start: berlin(date, from.0, from.1),
        end: berlin(date, to.0, to.1),
    }
}

#[test]
fn the_demo_salon_has_three_stylists_and_one_colour_station() {
    let c = demo_company();
    assert!(c.team.is_staffed());
    let ids: Vec<&str> = c.team.members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["anna", "ben", "clara"]);
    let colour: Vec<&str> = c
        .team
        .qualified("coloring")
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(colour, ["anna", "clara"]);
    assert_eq!(c.team.resource_for("coloring").map(|r| r.capacity), Some(1));
    assert!(c.team.resource_for("haircut").is_none());
}

#[test]
fn who_is_free_when() {
    let c = demo_company();
    let tue = day(TUESDAY);
    let sat = day(SATURDAY);
    let none = Occupancy::default();
    let mut anna_at_ten = Occupancy::default();
    anna_at_ten.staff_busy("anna", busy(tue, (10, 0), (10, 30)));
    anna_at_ten.appointment("anna", tue);
    let mut station_taken = Occupancy::default();
    station_taken.unit_busy("color-station", 0, busy(tue, (10, 0), (11, 45)));
    let mut ben_busier = Occupancy::default();
    ben_busier.staff_busy("ben", busy(tue, (9, 0), (9, 30)));
    ben_busier.appointment("ben", tue);
    ben_busier.staff_busy("anna", busy(tue, (9, 0), (9, 30)));
    ben_busier.appointment("anna", tue);
    ben_busier.staff_busy("anna", busy(tue, (15, 0), (15, 30)));
    ben_busier.appointment("anna", tue);
    type Case<'a> = (
        &'a str,
        &'a str,
        NaiveDate,
        NaiveTime,
        &'a Occupancy,
        Vec<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "nobody booked: all three, file order",
            "haircut",
            tue,
            t(10, 0),
            &none,
            vec!["anna", "ben", "clara"],
        ),
        (
            "colouring: only Anna and Clara",
            "coloring",
            tue,
            t(10, 0),
            &none,
            vec!["anna", "clara"],
        ),
        (
            "Anna booked at ten: Ben and Clara",
            "haircut",
            tue,
            t(10, 0),
            &anna_at_ten,
            vec!["ben", "clara"],
        ),
        (
            "Anna free again at half past",
            "haircut",
            tue,
            t(10, 30),
            &anna_at_ten,
            vec!["ben", "clara", "anna"],
        ),
        (
            "the one colour station taken: no colouring",
            "coloring",
            tue,
            t(10, 0),
            &station_taken,
            vec![],
        ),
        (
            "the station does not matter for a haircut",
            "haircut",
            tue,
            t(10, 0),
            &station_taken,
            vec!["anna", "ben", "clara"],
        ),
        (
            "colouring after the station is free again",
            "coloring",
            tue,
            t(13, 0),
            &station_taken,
            vec!["anna", "clara"],
        ),
        (
            "Saturday: Ben is off",
            "haircut",
            sat,
            t(10, 0),
            &none,
            vec!["anna", "clara"],
        ),
        (
            "the lunch break holds for everyone",
            "haircut",
            tue,
            t(12, 0),
            &none,
            vec![],
        ),
        (
            "fewest bookings that day first",
            "haircut",
            tue,
            t(16, 0),
            &ben_busier,
            vec!["clara", "ben", "anna"],
        ),
    ];
    for (what, service_id, date, time, occupancy, want) in cases {
        assert_eq!(who(&c, service_id, date, time, occupancy), want, "{what}");
    }
}

fn with_staff(json: serde_json::Value) -> Company {
    let mut settings: CompanySettings =
        serde_json::from_str(include_str!("../../../../infra/local/companies/demo.json"))
            .unwrap_or_else(|e| panic!("demo.json: {e}"));
    settings.staff = serde_json::from_value(json).unwrap_or_else(|e| panic!("staff: {e}"));
    settings.resources.clear();
    Company::from_settings(settings).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn own_hours_breaks_and_absences() {
    let c = with_staff(serde_json::json!([
        {"id": "anna", "name": "Anna", "hours": {"tue": ["14:00-18:00"]}},
        {"id": "ben", "name": "Ben", "breaks": [{"days": ["tue"], "from": "10:00", "to": "11:00"}]},
        {"id": "clara", "name": "Clara", "absences": ["2025-01-14", {"from": "2025-01-20", "to": "2025-01-24"}]}
    ]));
    let tue = day(TUESDAY);
    let none = Occupancy::default();
    assert_eq!(
        who(&c, "haircut", tue, t(9, 0), &none),
        ["ben"],
        "Anna starts at two, Clara is away"
    );
    assert_eq!(
        who(&c, "haircut", tue, t(10, 0), &none),
        Vec::<String>::new(),
        "Ben's own break"
    );
    assert_eq!(
        who(&c, "haircut", tue, t(12, 0), &none),
        ["ben"],
        "Ben's own breaks replace the company's lunch"
    );
    assert_eq!(who(&c, "haircut", tue, t(14, 0), &none), ["anna", "ben"]);
    assert_eq!(
        who(&c, "haircut", d(2025, 1, 15), t(14, 0), &none),
        ["ben", "clara"],
        "Anna only works Tuesdays"
    );
    assert_eq!(
        who(&c, "haircut", d(2025, 1, 22), t(14, 0), &none),
        ["ben"],
        "Clara's holiday week"
    );
}

#[test]
fn clock_changes_keep_each_persons_local_hours() {
    let c = demo_company();
    // 2025-03-29 is the Saturday before the spring change, 2025-10-25 before the autumn one;
    // Monday 2025-03-31 and 2025-10-27 come after them.
    for date in [d(2025, 3, 31), d(2025, 10, 27)] {
        let free = free_times(
            &c.team,
            service(&c, "haircut"),
            date,
            &Occupancy::default(),
            long_ago(),
            None,
        );
        assert_eq!(free.first().map(|f| f.time), Some(t(9, 0)), "{date}");
        assert_eq!(
            free.first().map(|f| f.start),
            Some(berlin(date, 9, 0)),
            "{date}"
        );
        assert_eq!(free.first().map(|f| f.staff.len()), Some(3), "{date}");
    }
}

#[test]
fn one_person_only_and_names_as_callers_say_them() {
    let c = demo_company();
    let tue = day(TUESDAY);
    let ben = c.team.member("ben");
    let only_ben = free_times(
        &c.team,
        service(&c, "haircut"),
        tue,
        &Occupancy::default(),
        long_ago(),
        ben,
    );
    assert!(only_ben.iter().all(|f| f.staff == ["ben"]));
    let found = |spoken: &str| match c.team.find(spoken) {
        StaffMatch::One(m) => m.id.clone(),
        StaffMatch::Several(_) => "several".into(),
        StaffMatch::Nobody => "nobody".into(),
        StaffMatch::Anyone => "anyone".into(),
    };
    let two_annas = with_staff(serde_json::json!([
        {"id": "anna-b", "name": "Anna Berg"},
        {"id": "anna-m", "name": "Anna Müller"},
        {"id": "ben", "name": "Ben"}
    ]));
    let found_of = |spoken: &str| match two_annas.team.find(spoken) {
        StaffMatch::One(m) => m.id.clone(),
        StaffMatch::Several(people) => people
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        _ => "none".into(),
    };
    assert_eq!(found_of("Anna"), "anna-b+anna-m", "two Annas: asked which");
    assert_eq!(found_of("Frau Müller"), "anna-m");
    assert_eq!(found_of("Anna Mueller"), "anna-m");
    assert_eq!(found_of("anna berg"), "anna-b");
    for (spoken, want) in [
        ("Anna", "anna"),
        ("anna", "anna"),
        ("bei Anna", "anna"),
        ("Frau Berg", "anna"),
        ("frau berg", "anna"),
        ("Herrn Weber", "ben"),
        ("Herr Weber", "ben"),
        ("Clára", "clara"),
        ("Anna Berg", "anna"),
        ("egal", "anyone"),
        ("Dieter", "nobody"),
        ("Frau", "nobody"),
        ("", "nobody"),
        ("{{system}} ignore", "nobody"),
    ] {
        assert_eq!(found(spoken), want, "{spoken:?}");
    }
}

#[test]
fn staff_files_are_checked_field_by_field() {
    let base: CompanySettings =
        serde_json::from_str(include_str!("../../../../infra/local/companies/demo.json"))
            .unwrap_or_else(|e| panic!("demo.json: {e}"));
    let cases = [
        (
            serde_json::json!({"staff": [{"id": "Anna!", "name": "Anna"}]}),
            "staff[0].id",
        ),
        (
            serde_json::json!({"staff": [{"id": "a", "name": "A"}, {"id": "a", "name": "B"}]}),
            "listed twice",
        ),
        (
            serde_json::json!({"staff": [{"id": "a", "name": "Anna"}, {"id": "b", "name": "Bea", "aliases": ["anna"]}]}),
            "also \"a\"'s",
        ),
        (
            serde_json::json!({"staff": [{"id": "a", "name": "Anna {{x}}"}]}),
            "staff[0].name",
        ),
        (
            serde_json::json!({"staff": [{"id": "a", "name": "Anna", "services": ["nails"]}]}),
            "unknown service",
        ),
        (
            serde_json::json!({"staff": [{"id": "a", "name": "Anna", "hours": {"mon": ["18:00-09:00"]}}]}),
            "staff[0].hours",
        ),
        (
            serde_json::json!({"staff": [{"id": "a", "name": "Anna", "hours": {"funday": ["09:00-10:00"]}}]}),
            "staff[0].hours",
        ),
        (
            serde_json::json!({"staff": [{"id": "a", "name": "Anna", "absences": [{"from": "2025-02-01", "to": "2025-01-01"}]}]}),
            "staff[0].absences",
        ),
        (
            serde_json::json!({"staff": [{"id": "a", "name": "Anna", "services": ["haircut"]}]}),
            "nobody in staff performs it",
        ),
        (
            serde_json::json!({"resources": [{"id": "r", "name": "Room", "capacity": 0, "services": ["haircut"]}]}),
            "capacity",
        ),
        (
            serde_json::json!({"resources": [{"id": "r", "name": "Room", "capacity": 1, "services": ["x"]}]}),
            "unknown service",
        ),
    ];
    for (patch, want) in cases {
        let mut json = serde_json::to_value(&base).unwrap_or_default();
        json["staff"] = serde_json::json!([]);
        json["resources"] = serde_json::json!([]);
        for (k, v) in patch.as_object().into_iter().flatten() {
            json[k] = v.clone();
        }
        let settings: Result<CompanySettings, _> = serde_json::from_value(json);
        let err = match settings {
            Err(e) => e.to_string(),
            Ok(s) => match Company::from_settings(s) {
                Err(e) => e.to_string(),
                Ok(_) => "accepted".into(),
            },
        };
        assert!(err.contains(want), "{patch}: {err}");
    }
    // A wrong type is refused by the file format itself.
    let mut json = serde_json::to_value(&base).unwrap_or_default();
    json["staff"] = serde_json::json!([{"id": {"x": 1}, "name": "Anna"}]);
    assert!(serde_json::from_value::<CompanySettings>(json).is_err());
}
