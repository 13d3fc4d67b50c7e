//! Companies (tenants): their settings, the JSON file format operators write them in, and the
//! directory that finds a company by Retell agent id or called number.
//!
//! File format (one object per company; see `infra/local/companies/demo.json` and
//! docs/custom-functions.md):
//!
//! ```json
//! {"company_id": "demo", "name": "Salon Demo", "time_zone": "Europe/Berlin", "language": "de",
//!  "agent_ids": ["agent_demo"], "phone_numbers": ["+493012345678"],
//!  "hours": {"mon": ["09:00-18:00"], "sat": ["10:00-14:00"]},
//!  "breaks": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "12:00", "to": "13:00"}],
//!  "closures": ["2025-12-25", {"from": "2025-08-01", "to": "2025-08-14"}],
//!  "services": [{"id": "haircut", "names": ["Haarschnitt"], "duration_minutes": 30}],
//!  "slot_step_minutes": 15, "min_notice_minutes": 60}
//! ```

use std::collections::{BTreeSet, HashMap};

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub use crate::booking::calcom_settings::{CalComHost, CalComSettings};
use crate::booking::directory::CompanyKey;
pub use crate::booking::messaging_settings::MessagingSettings;
use crate::booking::phone::PhoneNumber;
pub use crate::booking::privacy_settings::PrivacySettings;
use crate::booking::slots::{OpenInterval, Schedule, ServiceTiming};
use crate::booking::staff::{ResourceSettings, StaffSettings, Team};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    /// Names and aliases callers use ("Haarschnitt", "Schneiden"); the first is spoken back.
    #[serde(default)]
    pub names: Vec<String>,
    pub duration_minutes: u32,
    #[serde(default)]
    pub buffer_minutes: u32,
    /// What it costs, as written (`"45"`, `"45-60"`, `"ab 45"`; `crate::booking::price`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<crate::booking::price::Price>,
    /// What the service is, as the agent may describe it (at most 500 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Longest service description (a sentence or two the agent reads out).
pub const MAX_DESCRIPTION_CHARS: usize = 500;

impl Service {
    pub fn timing(&self) -> ServiceTiming {
        ServiceTiming {
            duration_minutes: self.duration_minutes,
            buffer_minutes: self.buffer_minutes,
        }
    }

    /// The name to say to the caller.
    pub fn display_name(&self) -> &str {
        self.names.first().map(String::as_str).unwrap_or(&self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Break {
    pub days: Vec<String>,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Closure {
    Day(NaiveDate),
    Range { from: NaiveDate, to: NaiveDate },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum CalendarBackend {
    /// Appointments in this service's DynamoDB table.
    Native,
    /// Appointments in the company's Cal.com account (API v2).
    #[serde(rename = "calcom")]
    CalCom(CalComSettings),
}

/// At most 64 characters of something a file said, for an error message.
pub(crate) fn short(text: &str) -> String {
    text.chars().take(64).collect()
}

fn default_language() -> String {
    "de".into()
}
fn default_step() -> u32 {
    15
}
fn default_notice() -> u32 {
    60
}
fn default_calendar() -> CalendarBackend {
    CalendarBackend::Native
}
fn default_callback_promise() -> u32 {
    crate::callbacks::deadline::DEFAULT_PROMISE_MINUTES
}
fn default_max_advance_days() -> u32 {
    DEFAULT_MAX_ADVANCE_DAYS
}

/// How far ahead callers may book when a company does not say (`max_advance_days`): half a year.
pub const DEFAULT_MAX_ADVANCE_DAYS: u32 = 180;
/// The longest booking horizon a company may set: two years.
pub const MAX_ADVANCE_DAYS_LIMIT: u32 = 730;

/// Settings as written in the company file and stored in DynamoDB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanySettings {
    pub company_id: String,
    pub name: String,
    pub time_zone: String,
    #[serde(default = "default_language")]
    pub language: String,
    #[serde(default)]
    pub agent_ids: Vec<String>,
    #[serde(default)]
    pub phone_numbers: Vec<String>,
    /// Weekday (`mon`…`sun`) → opening intervals `"HH:MM-HH:MM"`; missing days are closed.
    pub hours: HashMap<String, Vec<String>>,
    #[serde(default)]
    pub breaks: Vec<Break>,
    #[serde(default)]
    pub closures: Vec<Closure>,
    pub services: Vec<Service>,
    #[serde(default = "default_step")]
    pub slot_step_minutes: u32,
    #[serde(default = "default_notice")]
    pub min_notice_minutes: u32,
    /// Booking horizon: new appointments (check, book, reschedule) may be at most this many
    /// days after the company's local today. 1..=730, default 180.
    #[serde(default = "default_max_advance_days")]
    pub max_advance_days: u32,
    #[serde(default = "default_calendar")]
    pub calendar: CalendarBackend,
    /// Agent to answer inbound calls with (call_inbound); defaults to the first of `agent_ids`.
    #[serde(default)]
    pub inbound_agent_id: Option<String>,
    /// Agent for VIP callers (`crate::booking::routing`); without it they get the usual agent
    /// and the prompt variable `is_vip`.
    #[serde(default)]
    pub vip_agent_id: Option<String>,
    /// Callers who are VIPs whatever their customer record says (E.164).
    #[serde(default)]
    pub vip_numbers: Vec<String>,
    /// A human to transfer callers to, and when someone is there to pick up.
    #[serde(default)]
    pub transfer: Option<TransferSettings>,
    /// Numbers the company's staff may have the agent call from the control center (E.164;
    /// admins may call any ordinary number).
    #[serde(default)]
    pub test_numbers: Vec<String>,
    /// Who takes appointments (`crate::booking::staff`); none listed: one implicit person, as
    /// before staff existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub staff: Vec<StaffSettings>,
    /// Rooms and stations with a capacity, and the services that need one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceSettings>,
    /// Within how many minutes of opening hours staff promise to call back
    /// (`crate::callbacks`): an open callback after that is overdue. 1..=10080, default 120.
    #[serde(default = "default_callback_promise")]
    pub callback_promise_minutes: u32,
    /// Confirmations, reminders and notices (`crate::booking::messaging_settings`); none: the
    /// company sends nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging: Option<MessagingSettings>,
    /// Retention, recording and the agent's disclosure (`crate::booking::privacy_settings`);
    /// none: the stack's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<PrivacySettings>,
    /// The currency of the services' prices (`EUR`, `CHF`, `GBP`, `USD`); none: euro.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<crate::booking::price::Currency>,
    /// Questions callers ask and their answers (`crate::booking::faq`), the agent's knowledge
    /// base at Retell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faq: Vec<crate::booking::faq::FaqEntry>,
}

/// `transfer`: the number a caller can be put through to, and the hours it is staffed
/// (weekday → `"HH:MM-HH:MM"`, as `hours`; closures apply too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferSettings {
    pub number: String,
    pub hours: HashMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompanyError {
    #[error("company settings are invalid: {0}")]
    Invalid(String),
    #[error("no company for {0}")]
    NotFound(String),
    #[error("company directory unavailable: {0}")]
    Backend(String),
    /// An agent or number the company lists is another company's.
    #[error("{0}")]
    Conflict(String),
    /// The settings were written since the version an edit was made on.
    #[error("the settings were changed meanwhile; load them again")]
    Stale,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn hhmm(text: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").map_err(|_| format!("{text:?} is not HH:MM"))
}

/// `weekly_intervals` for the other settings that name weekly hours.
pub(crate) fn weekly_hours(
    hours: &HashMap<String, Vec<String>>,
) -> Result<[Vec<OpenInterval>; 7], String> {
    weekly_intervals(hours)
}

/// Weekday → `"HH:MM-HH:MM"` intervals as a week, Monday first, each day sorted.
fn weekly_intervals(
    hours: &HashMap<String, Vec<String>>,
) -> Result<[Vec<OpenInterval>; 7], String> {
    for day in hours.keys() {
        if !WEEKDAYS.contains(&day.as_str()) {
            return Err(format!("unknown weekday {day:?} (use mon…sun)"));
        }
    }
    let mut weekly: [Vec<OpenInterval>; 7] = Default::default();
    for (i, day) in WEEKDAYS.iter().enumerate() {
        for range in hours.get(*day).into_iter().flatten() {
            let (a, b) = range
                .split_once('-')
                .ok_or_else(|| format!("{range:?} is not HH:MM-HH:MM"))?;
            let (start, end) = (hhmm(a)?, hhmm(b)?);
            if start >= end {
                return Err(format!("{range:?} ends before it starts"));
            }
            weekly[i].push(OpenInterval { start, end });
        }
        weekly[i].sort_by_key(|iv| iv.start);
    }
    Ok(weekly)
}

/// Opening hours with the breaks cut out, Monday first, each day sorted.
pub(crate) fn opening_week(
    hours: &HashMap<String, Vec<String>>,
    breaks: &[Break],
) -> Result<[Vec<OpenInterval>; 7], String> {
    let opening = weekly_intervals(hours)?;
    let mut weekly: [Vec<OpenInterval>; 7] = Default::default();
    for (i, day) in WEEKDAYS.iter().enumerate() {
        let mut intervals = opening[i].clone();
        for br in breaks.iter().filter(|b| b.days.iter().any(|d| d == day)) {
            let (from, to) = (hhmm(&br.from)?, hhmm(&br.to)?);
            if from >= to {
                return Err(format!("break {}-{} ends before it starts", br.from, br.to));
            }
            intervals = intervals
                .into_iter()
                .flat_map(|iv| {
                    if to <= iv.start || from >= iv.end {
                        return vec![iv];
                    }
                    let mut parts = Vec::new();
                    if iv.start < from {
                        parts.push(OpenInterval {
                            start: iv.start,
                            end: from,
                        });
                    }
                    if to < iv.end {
                        parts.push(OpenInterval {
                            start: to,
                            end: iv.end,
                        });
                    }
                    parts
                })
                .collect();
        }
        intervals.sort_by_key(|iv| iv.start);
        weekly[i] = intervals;
    }
    for br in breaks {
        for day in &br.days {
            if !WEEKDAYS.contains(&day.as_str()) {
                return Err(format!(
                    "break: unknown weekday {:?} (use mon…sun)",
                    short(day)
                ));
            }
        }
    }
    Ok(weekly)
}

/// Closed days (single days and ranges of at most a year) as a set.
pub(crate) fn closure_days(closures: &[Closure]) -> Result<BTreeSet<NaiveDate>, String> {
    let mut days = BTreeSet::new();
    for c in closures {
        match *c {
            Closure::Day(d) => {
                days.insert(d);
            }
            Closure::Range { from, to } => {
                if to < from || (to - from).num_days() > 366 {
                    return Err(format!(
                        "closure {from}..{to} is not a range of at most a year"
                    ));
                }
                days.extend(from.iter_days().take_while(|d| *d <= to));
            }
        }
    }
    Ok(days)
}

/// A company ready to answer tool calls: settings validated and turned into a schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Company {
    pub settings: CompanySettings,
    pub time_zone: Tz,
    /// The business's hours (each staff member's own are in `team`).
    pub schedule: Schedule,
    /// Who takes appointments and what they need (one implicit member if no staff is listed).
    pub team: Team,
    /// `vip_numbers`, read once.
    pub vip_numbers: Vec<PhoneNumber>,
    /// The transfer number and when it is staffed (Monday first), if the company has one.
    pub transfer: Option<(PhoneNumber, [Vec<OpenInterval>; 7])>,
}

impl Company {
    pub fn from_settings(settings: CompanySettings) -> Result<Self, CompanyError> {
        let invalid = |m: String| CompanyError::Invalid(format!("{}: {m}", settings.company_id));
        // The id is part of table keys and archive paths (`calls/<company_id>/…`).
        if !CompanyKey::Id(settings.company_id.clone()).is_well_formed()
            || settings.company_id.len() > 64
        {
            return Err(invalid(
                "company_id must be 1-64 letters, digits, '_', '-', '.' or ':'".into(),
            ));
        }
        let time_zone: Tz = settings
            .time_zone
            .parse()
            .map_err(|_| invalid(format!("unknown time zone {}", settings.time_zone)))?;
        if settings.services.is_empty() {
            return Err(invalid("at least one service is needed".into()));
        }
        if settings.slot_step_minutes == 0 || 1440 % settings.slot_step_minutes != 0 {
            return Err(invalid("slot_step_minutes must divide a day".into()));
        }
        if !(1..=MAX_ADVANCE_DAYS_LIMIT).contains(&settings.max_advance_days) {
            return Err(invalid(format!(
                "max_advance_days must be 1..={MAX_ADVANCE_DAYS_LIMIT}"
            )));
        }
        if !(1..=crate::callbacks::deadline::MAX_PROMISE_MINUTES)
            .contains(&settings.callback_promise_minutes)
        {
            return Err(invalid(format!(
                "callback_promise_minutes must be 1..={}",
                crate::callbacks::deadline::MAX_PROMISE_MINUTES
            )));
        }
        if let Some(messaging) = &settings.messaging {
            messaging.check(&settings.agent_ids).map_err(invalid)?;
        }
        if let Some(privacy) = &settings.privacy {
            privacy.check().map_err(invalid)?;
        }
        for s in &settings.services {
            if s.duration_minutes == 0 {
                return Err(invalid(format!("service {} has no duration", s.id)));
            }
            if let Some(d) = &s.description {
                if d.chars().count() > MAX_DESCRIPTION_CHARS
                    || d.chars().any(|c| c.is_control() && c != '\n')
                {
                    return Err(invalid(format!(
                        "service {}: the description must be at most {MAX_DESCRIPTION_CHARS} characters of text",
                        short(&s.id)
                    )));
                }
            }
        }
        crate::booking::faq::check_faq(&settings.faq).map_err(invalid)?;
        if let CalendarBackend::CalCom(cal) = &settings.calendar {
            cal.check_base_url().map_err(invalid)?;
            cal.secret_stack(&settings.company_id).map_err(invalid)?;
            if !(100..=2500).contains(&cal.timeout_ms) {
                return Err(invalid("calendar.timeout_ms must be 100..=2500".into()));
            }
        }
        for n in &settings.phone_numbers {
            PhoneNumber::parse(n).map_err(|e| invalid(format!("phone number {n}: {e}")))?;
        }
        // An agent answering for the company must be one of its agents: webhooks and tool calls
        // find their company by the agent.
        for (field, agent) in [
            ("inbound_agent_id", &settings.inbound_agent_id),
            ("vip_agent_id", &settings.vip_agent_id),
        ] {
            if let Some(agent) = agent {
                if !settings.agent_ids.contains(agent) {
                    return Err(invalid(format!(
                        "{field} {:?} is not one of agent_ids",
                        agent.chars().take(64).collect::<String>()
                    )));
                }
            }
        }
        for n in &settings.test_numbers {
            let number =
                PhoneNumber::parse(n).map_err(|e| invalid(format!("test number {n}: {e}")))?;
            if number.destination() != crate::booking::phone::Destination::Ordinary {
                return Err(invalid(format!(
                    "test number {n} is a premium-rate, service or short number"
                )));
            }
        }
        let vip_numbers = settings
            .vip_numbers
            .iter()
            .map(|n| PhoneNumber::parse(n).map_err(|e| invalid(format!("vip number {n}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let transfer = match &settings.transfer {
            None => None,
            Some(t) => Some((
                PhoneNumber::parse(&t.number)
                    .map_err(|e| invalid(format!("transfer number {}: {e}", t.number)))?,
                weekly_intervals(&t.hours).map_err(|e| invalid(format!("transfer hours: {e}")))?,
            )),
        };
        let weekly = opening_week(&settings.hours, &settings.breaks).map_err(invalid)?;
        let closures = closure_days(&settings.closures).map_err(invalid)?;
        let schedule = Schedule {
            time_zone,
            weekly,
            closures,
            slot_step_minutes: settings.slot_step_minutes,
            min_notice_minutes: settings.min_notice_minutes,
        };
        let team = Team::build(
            &settings.staff,
            &settings.resources,
            &settings.services,
            &schedule,
            &settings.hours,
            &settings.breaks,
            &settings.name,
        )
        .map_err(invalid)?;
        if let CalendarBackend::CalCom(cal) = &settings.calendar {
            cal.check_event_types(&settings.services, &team)
                .map_err(invalid)?;
        }
        Ok(Self {
            settings,
            time_zone,
            schedule,
            vip_numbers,
            transfer,
            team,
        })
    }

    pub fn id(&self) -> &str {
        &self.settings.company_id
    }

    pub fn is_german(&self) -> bool {
        self.settings.language.starts_with("de")
    }

    /// The currency the services' prices are in.
    pub fn currency(&self) -> crate::booking::price::Currency {
        self.settings.currency.unwrap_or_default()
    }

    /// The last day a new appointment may be on, `today` being the company's local date.
    pub fn last_bookable_day(&self, today: NaiveDate) -> NaiveDate {
        today
            .checked_add_days(chrono::Days::new(u64::from(self.settings.max_advance_days)))
            .unwrap_or(NaiveDate::MAX)
    }

    /// A service by id, name or alias, case- and umlaut-insensitive; a name inside a phrase
    /// ("einen Herrenhaarschnitt bitte") counts when exactly one service matches.
    pub fn service(&self, spoken: &str) -> Option<&Service> {
        let want = fold(spoken);
        if want.is_empty() {
            return None;
        }
        let services = &self.settings.services;
        let names = |s: &Service| {
            std::iter::once(fold(&s.id))
                .chain(s.names.iter().map(|n| fold(n)))
                .collect::<Vec<_>>()
        };
        if let Some(s) = services.iter().find(|s| names(s).contains(&want)) {
            return Some(s);
        }
        let partial: Vec<&Service> = services
            .iter()
            .filter(|s| {
                names(s).iter().any(|n| {
                    n.len() >= 4 && (want.contains(n.as_str()) || n.contains(want.as_str()))
                })
            })
            .collect();
        match partial[..] {
            [one] => Some(one),
            _ => None,
        }
    }
}

/// Lower case with umlauts folded, other accents dropped and non-letters dropped, for matching
/// spoken names.
pub(crate) fn fold(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'à' | 'á' | 'â' | 'ã' | 'å' => out.push('a'),
            'ç' | 'č' | 'ć' => out.push('c'),
            'è' | 'é' | 'ê' | 'ë' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' => out.push('i'),
            'ñ' | 'ń' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ø' => out.push('o'),
            'ù' | 'ú' | 'û' => out.push('u'),
            'š' | 'ś' => out.push('s'),
            'ž' | 'ź' | 'ż' => out.push('z'),
            c if c.is_alphanumeric() => out.push(c),
            _ => {}
        }
    }
    out
}

/// The demo salon `make dev` seeds and the docs, tests and benches use.
#[cfg(test)]
pub(crate) fn demo_company() -> Company {
    let json = include_str!("../../../infra/local/companies/demo.json");
    let settings: CompanySettings = serde_json::from_str(json).expect("demo.json parses");
    Company::from_settings(settings).expect("demo.json is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Company {
        demo_company()
    }

    #[test]
    fn descriptions_currency_and_faq_are_checked_with_the_company() {
        let base = || demo().settings;
        for (change, why) in [
            (
                Box::new(|s: &mut CompanySettings| {
                    s.services[0].description = Some("x".repeat(501))
                }) as Box<dyn Fn(&mut CompanySettings)>,
                "description",
            ),
            (
                Box::new(|s: &mut CompanySettings| {
                    s.services[0].description = Some("Schnitt\u{0}".into())
                }),
                "description",
            ),
            (
                Box::new(|s: &mut CompanySettings| {
                    s.faq = vec![crate::booking::faq::FaqEntry {
                        question: "q".into(),
                        answer: String::new(),
                    }]
                }),
                "empty",
            ),
        ] {
            let mut s = base();
            change(&mut s);
            let e = Company::from_settings(s).expect_err(why).to_string();
            assert!(e.contains(why), "{e}");
        }
        for bad in [
            r#"{"currency": "euro"}"#,
            r#"{"currency": {"code": "EUR"}}"#,
            r#"{"faq": "Parken im Hof"}"#,
            r#"{"faq": [{"question": "q", "answer": "a", "extra": 1}]}"#,
        ] {
            let mut doc = serde_json::to_value(base()).unwrap_or_default();
            let patch: serde_json::Value = serde_json::from_str(bad).unwrap_or_default();
            for (k, v) in patch.as_object().into_iter().flatten() {
                doc[k] = v.clone();
            }
            assert!(
                serde_json::from_value::<CompanySettings>(doc).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn demo_file_gives_the_demo_schedule() {
        let c = demo();
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
        let iv = |a: (u32, u32), b: (u32, u32)| OpenInterval {
            start: at(a.0, a.1),
            end: at(b.0, b.1),
        };
        let weekday = vec![iv((9, 0), (12, 0)), iv((13, 0), (18, 0))];
        for day in 0..5 {
            assert_eq!(c.schedule.weekly[day], weekday, "day {day}");
        }
        assert_eq!(c.schedule.weekly[5], vec![iv((10, 0), (14, 0))]);
        assert!(c.schedule.weekly[6].is_empty());
        assert_eq!(
            (c.schedule.slot_step_minutes, c.schedule.min_notice_minutes),
            (15, 60)
        );
        assert_eq!(c.time_zone, chrono_tz::Europe::Berlin);
        assert!(c.is_german());
    }

    #[test]
    fn services_by_id_name_alias_and_phrase() {
        let c = demo();
        let cases = [
            ("haircut", Some("haircut")),
            ("Haarschnitt", Some("haircut")),
            ("haarschnitt", Some("haircut")),
            ("Haare schneiden", Some("haircut")),
            ("einen Haarschnitt bitte", Some("haircut")),
            ("Färben", Some("coloring")),
            ("faerben", Some("coloring")),
            ("Bartpflege", Some("beard")),
            ("Bart", Some("beard")),
            ("Maniküre", None),
            ("", None),
        ];
        for (spoken, want) in cases {
            assert_eq!(c.service(spoken).map(|s| s.id.as_str()), want, "{spoken}");
        }
    }

    #[test]
    fn invalid_settings_are_rejected() {
        let base: CompanySettings =
            serde_json::from_str(include_str!("../../../infra/local/companies/demo.json"))
                .expect("parses");
        let mut bad = base.clone();
        bad.time_zone = "Mars/Base".into();
        assert!(Company::from_settings(bad).is_err());
        let mut bad = base.clone();
        bad.hours.insert("mon".into(), vec!["18:00-09:00".into()]);
        assert!(Company::from_settings(bad).is_err());
        let mut bad = base.clone();
        bad.hours
            .insert("monday".into(), vec!["09:00-18:00".into()]);
        assert!(Company::from_settings(bad).is_err());
        let mut bad = base.clone();
        bad.services.clear();
        assert!(Company::from_settings(bad).is_err());
        let mut bad = base.clone();
        bad.slot_step_minutes = 7;
        assert!(Company::from_settings(bad).is_err());
        for days in [0, MAX_ADVANCE_DAYS_LIMIT + 1] {
            let mut bad = base.clone();
            bad.max_advance_days = days;
            assert!(
                Company::from_settings(bad).is_err(),
                "max_advance_days {days}"
            );
        }
        for minutes in [0, 10_081] {
            let mut bad = base.clone();
            bad.callback_promise_minutes = minutes;
            assert!(
                Company::from_settings(bad).is_err(),
                "callback_promise_minutes {minutes}"
            );
        }
        assert_eq!(base.callback_promise_minutes, 120, "the default");
        assert!(
            serde_json::from_str::<CompanySettings>(r#"{"company_id": "x", "unknown": 1}"#)
                .is_err()
        );
    }

    #[test]
    fn calcom_settings_need_an_event_type_per_service() {
        let json = include_str!("../../../infra/local/companies/demo.json").replace(
            r#""calendar": {"type": "native"}"#,
            r#""calendar": {"type": "calcom", "api_key_secret": "stack/calcom/demo",
                            "event_types": {"haircut": 1001, "coloring": 1002, "beard": 1003}}"#,
        );
        let mut settings: CompanySettings = serde_json::from_str(&json).expect("parses");
        let with_staff = settings.clone();
        assert!(
            Company::from_settings(with_staff).is_err_and(|e| e
                .to_string()
                .contains("resources are for the native calendar")),
            "a colour station is Cal.com's to keep"
        );
        settings.staff.clear();
        settings.resources.clear();
        let CalendarBackend::CalCom(cal) = &settings.calendar else {
            panic!("not Cal.com: {:?}", settings.calendar);
        };
        assert_eq!(cal.base_url, "https://api.cal.com");
        assert_eq!(cal.timeout_ms, 2000);
        assert!(Company::from_settings(settings.clone()).is_ok());
        let mut bad = settings.clone();
        if let CalendarBackend::CalCom(cal) = &mut bad.calendar {
            cal.event_types.remove("beard");
        }
        assert!(
            Company::from_settings(bad).is_err(),
            "beard has no event type"
        );
        let mut bad = settings;
        if let CalendarBackend::CalCom(cal) = &mut bad.calendar {
            cal.timeout_ms = 10_000;
        }
        assert!(
            Company::from_settings(bad).is_err(),
            "longer than the reply deadline"
        );
    }

    #[test]
    fn the_booking_horizon_defaults_to_half_a_year() {
        let json = include_str!("../../../infra/local/companies/demo.json")
            .replace(r#""max_advance_days": 180,"#, "");
        assert!(!json.contains("max_advance_days"));
        let settings: CompanySettings = serde_json::from_str(&json).expect("parses");
        assert_eq!(settings.max_advance_days, DEFAULT_MAX_ADVANCE_DAYS);
        let c = Company::from_settings(settings).expect("valid");
        let today = NaiveDate::from_ymd_opt(2025, 1, 15).unwrap_or_default();
        assert_eq!(
            c.last_bookable_day(today),
            NaiveDate::from_ymd_opt(2025, 7, 14).unwrap_or_default()
        );
    }

    #[test]
    fn closure_ranges_expand() {
        let mut s: CompanySettings =
            serde_json::from_str(include_str!("../../../infra/local/companies/demo.json"))
                .expect("parses");
        s.closures = vec![Closure::Range {
            from: NaiveDate::from_ymd_opt(2025, 8, 1).unwrap_or_default(),
            to: NaiveDate::from_ymd_opt(2025, 8, 3).unwrap_or_default(),
        }];
        let c = Company::from_settings(s).expect("valid");
        assert_eq!(c.schedule.closures.len(), 3);
    }
}
