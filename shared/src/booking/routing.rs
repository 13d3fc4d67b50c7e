//! How an inbound call is answered, decided in the inbound-call webhook from what it already
//! has (the company's settings and the caller's customer record, one read): which agent, whether
//! the caller is a VIP, whether a human can take a transfer now, and whether the business is open
//! (and when it opens next, so an agent answering after hours can say so and still book).

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::booking::company::Company;
use crate::booking::phone::PhoneNumber;
use crate::booking::slots::{local_instant, OpenInterval};

/// How far ahead the next opening is looked for (a company closed longer says nothing).
const NEXT_OPENING_HORIZON_DAYS: i64 = 21;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// None: the number's own inbound agent.
    pub agent_id: Option<String>,
    pub vip: bool,
    /// The human to transfer to, only while that number is staffed.
    pub transfer_number: Option<String>,
    pub open_now: bool,
    /// When the business next opens (local time), if it is closed now.
    pub next_opening: Option<DateTime<Tz>>,
}

/// The decision for a call from `caller` (a VIP by `customer_vip`, their record's flag, or by
/// the company's `vip_numbers`) at `now`.
pub fn route(
    company: &Company,
    caller: Option<&PhoneNumber>,
    customer_vip: bool,
    now: DateTime<Utc>,
) -> Routing {
    let settings = &company.settings;
    let vip = customer_vip || caller.is_some_and(|c| company.vip_numbers.contains(c));
    let usual = settings
        .inbound_agent_id
        .clone()
        .or_else(|| settings.agent_ids.first().cloned());
    let agent_id = match (&settings.vip_agent_id, vip) {
        (Some(vip_agent), true) => Some(vip_agent.clone()),
        _ => usual,
    };
    let tz = company.time_zone;
    let closed_day = |d: NaiveDate| company.schedule.closures.contains(&d);
    let today = now.with_timezone(&tz).date_naive();
    let open_now = !closed_day(today) && within(&company.schedule.weekly, tz, now);
    let staffed = company
        .transfer
        .as_ref()
        .filter(|(_, hours)| !closed_day(today) && within(hours, tz, now))
        .map(|(number, _)| number.as_str().to_owned());
    let next_opening = if open_now {
        None
    } else {
        next_start(&company.schedule.weekly, tz, now, &closed_day)
    };
    Routing {
        agent_id,
        vip,
        transfer_number: staffed,
        open_now,
        next_opening,
    }
}

/// Whether `now` falls in one of the week's intervals (wall-clock time of its day in `tz`;
/// an interval's end is exclusive).
fn within(weekly: &[Vec<OpenInterval>; 7], tz: Tz, now: DateTime<Utc>) -> bool {
    let local = now.with_timezone(&tz);
    let day = local.date_naive();
    weekly[day.weekday().num_days_from_monday() as usize]
        .iter()
        .any(|iv| {
            match (
                local_instant(&tz, day, iv.start),
                local_instant(&tz, day, iv.end),
            ) {
                (Some(a), Some(b)) => a <= now && now < b,
                // An edge a clock change skipped: compare wall-clock times.
                _ => iv.start <= local.time() && local.time() < iv.end,
            }
        })
}

/// The first interval start after `now` on a day that is not closed.
fn next_start(
    weekly: &[Vec<OpenInterval>; 7],
    tz: Tz,
    now: DateTime<Utc>,
    closed_day: &dyn Fn(NaiveDate) -> bool,
) -> Option<DateTime<Tz>> {
    let today = now.with_timezone(&tz).date_naive();
    (0..=NEXT_OPENING_HORIZON_DAYS)
        .map(|d| today + Duration::days(d))
        .filter(|d| !closed_day(*d))
        .flat_map(|d| {
            weekly[d.weekday().num_days_from_monday() as usize]
                .iter()
                .filter_map(move |iv| {
                    // A start a clock change skipped opens at the first moment after it.
                    local_instant(&tz, d, iv.start)
                        .or_else(|| local_instant(&tz, d, iv.start + Duration::hours(1)))
                })
        })
        .find(|start| *start > now)
        .map(|t| t.with_timezone(&tz))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::company::CompanySettings;
    use serde_json::json;

    fn company(extra: serde_json::Value) -> Company {
        let mut settings = json!({
            "company_id": "demo", "name": "Salon", "time_zone": "Europe/Berlin",
            "agent_ids": ["agent_usual", "agent_vip", "agent_inbound"], "phone_numbers": ["+493012345678"],
            "hours": {"mon": ["09:00-18:00"], "tue": ["09:00-18:00"], "sat": ["10:00-14:00"],
                      "sun": ["01:00-04:00"]},
            "breaks": [{"days": ["mon", "tue"], "from": "12:00", "to": "13:00"}],
            "closures": ["2026-12-24", {"from": "2026-12-25", "to": "2026-12-26"}],
            "services": [{"id": "haircut", "names": ["Haarschnitt"], "duration_minutes": 30}],
            "vip_agent_id": "agent_vip", "vip_numbers": ["+491511111111"],
            "transfer": {"number": "+493099999999", "hours": {"mon": ["10:00-16:00"], "tue": ["10:00-16:00"],
                                                              "sun": ["02:00-03:30"]}},
        });
        for (k, v) in extra.as_object().unwrap() {
            settings[k] = v.clone();
        }
        let settings: CompanySettings = serde_json::from_value(settings).unwrap();
        Company::from_settings(settings).unwrap()
    }

    fn at(utc: &str) -> DateTime<Utc> {
        utc.parse().unwrap()
    }

    /// (case, caller, VIP by record, now) → (agent, VIP, transfer, open, next opening).
    type Case<'a> = (
        &'a str,
        Option<&'a PhoneNumber>,
        bool,
        &'a str,
        &'a str,
        bool,
        bool,
        bool,
        Option<&'a str>,
    );

    #[test]
    fn inbound_decisions() {
        let c = company(json!({}));
        let vip = PhoneNumber::parse("+491511111111").unwrap();
        let other = PhoneNumber::parse("+491512222222").unwrap();
        // (case, caller, vip record, now UTC) → (agent, vip, transfer, open, next opening local)
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("a usual caller on Monday 11:00 (CET)", Some(&other), false, "2026-11-30T10:00:00Z",
             "agent_usual", false, true, true, None),
            ("a VIP by the list", Some(&vip), false, "2026-11-30T10:00:00Z", "agent_vip", true, true, true, None),
            ("a VIP by the customer record", Some(&other), true, "2026-11-30T10:00:00Z",
             "agent_vip", true, true, true, None),
            ("no caller number", None, false, "2026-11-30T10:00:00Z", "agent_usual", false, true, true, None),
            ("Monday 09:30: open, nobody at the transfer number yet", Some(&other), false,
             "2026-11-30T08:30:00Z", "agent_usual", false, false, true, None),
            ("Monday 12:30: the lunch break is closed, staff is in", Some(&other), false, "2026-11-30T11:30:00Z",
             "agent_usual", false, true, false, Some("2026-11-30T13:00:00+01:00")),
            ("Monday 16:00 sharp: transfer hours end", Some(&other), false, "2026-11-30T15:00:00Z",
             "agent_usual", false, false, true, None),
            ("Monday 18:00 sharp: closed until Tuesday 09:00", Some(&other), false, "2026-11-30T17:00:00Z",
             "agent_usual", false, false, false, Some("2026-12-01T09:00:00+01:00")),
            ("Saturday evening: next Sunday 01:00", Some(&other), false, "2026-12-05T19:00:00Z",
             "agent_usual", false, false, false, Some("2026-12-06T01:00:00+01:00")),
            ("Thursday 24 December is a closure: after it, Sunday 27th 01:00 (25th, 26th closed)", Some(&other),
             false, "2026-12-24T10:00:00Z", "agent_usual", false, false, false, Some("2026-12-27T01:00:00+01:00")),
            ("Saturday 26th, in the closure range", Some(&other), false, "2026-12-26T10:00:00Z",
             "agent_usual", false, false, false, Some("2026-12-27T01:00:00+01:00")),
        ];
        for (case, caller, record_vip, now, agent, is_vip, transfer, open, next) in cases {
            let r = route(&c, caller, record_vip, at(now));
            assert_eq!(r.agent_id.as_deref(), Some(agent), "{case}");
            assert_eq!(r.vip, is_vip, "{case}");
            assert_eq!(r.transfer_number.is_some(), transfer, "{case}");
            assert_eq!(r.open_now, open, "{case}");
            assert_eq!(
                r.next_opening.map(|t| t.to_rfc3339()).as_deref(),
                next,
                "{case}"
            );
        }
    }

    #[test]
    fn clock_changes() {
        let c = company(json!({}));
        // Sunday 29 March 2026, Berlin springs forward at 02:00 to 03:00: 01:00-04:00 is open
        // for two real hours, the 02:00-03:30 transfer hours for half an hour.
        assert!(route(&c, None, false, at("2026-03-29T00:30:00Z")).open_now); // 01:30 CET
        let r = route(&c, None, false, at("2026-03-29T01:15:00Z")); // 03:15 CEST
        assert!(r.open_now && r.transfer_number.is_some());
        let r = route(&c, None, false, at("2026-03-29T01:45:00Z")); // 03:45 CEST
        assert!(r.open_now && r.transfer_number.is_none());
        // 04:00 CEST: closed.
        assert!(!route(&c, None, false, at("2026-03-29T02:00:00Z")).open_now);

        // Sunday 25 October 2026, 03:00 CEST falls back to 02:00 CET: 01:00-04:00 lasts four
        // hours, and 02:30 happens twice (staffed both times, wall clock inside 02:00-03:30).
        let staffed = |utc: &str| route(&c, None, false, at(utc)).transfer_number.is_some();
        assert!(staffed("2026-10-25T00:30:00Z")); // 02:30 CEST
        assert!(staffed("2026-10-25T01:30:00Z")); // 02:30 CET
        assert!(route(&c, None, false, at("2026-10-25T02:45:00Z")).open_now); // 03:45 CET

        // Closed on a Saturday night before the spring change: next opening is 01:00 CET.
        let r = route(&c, None, false, at("2026-03-28T20:00:00Z"));
        assert_eq!(
            r.next_opening.expect("opens again").to_rfc3339(),
            "2026-03-29T01:00:00+01:00"
        );
    }

    #[test]
    fn without_vip_agent_or_transfer_the_usual_answer() {
        let c = company(
            json!({"vip_agent_id": null, "transfer": null, "inbound_agent_id": "agent_inbound"}),
        );
        let r = route(
            &c,
            Some(&PhoneNumber::parse("+491511111111").unwrap()),
            false,
            at("2026-11-30T10:00:00Z"),
        );
        assert_eq!(
            (r.agent_id.as_deref(), r.vip, r.transfer_number),
            (Some("agent_inbound"), true, None)
        );
    }

    #[test]
    fn bad_routing_settings_are_refused() {
        for bad in [
            json!({"vip_numbers": ["not a number"]}),
            json!({"transfer": {"number": "12", "hours": {}}}),
            json!({"transfer": {"number": "+493099999999", "hours": {"mon": ["18:00-09:00"]}}}),
            json!({"transfer": {"number": "+493099999999", "hours": {"someday": ["09:00-10:00"]}}}),
            // Not one of the company's agents: its calls would find no company.
            json!({"vip_agent_id": "agent_elsewhere"}),
            json!({"vip_agent_id": ""}),
            json!({"inbound_agent_id": "agent_elsewhere"}),
        ] {
            let mut settings = serde_json::to_value(company(json!({})).settings).unwrap();
            for (k, v) in bad.as_object().unwrap() {
                settings[k] = v.clone();
            }
            let settings: CompanySettings = serde_json::from_value(settings).unwrap();
            assert!(Company::from_settings(settings).is_err(), "{bad}");
        }
    }
}
