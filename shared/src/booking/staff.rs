//! Who takes an appointment: a company's staff (each with the services they perform, their own
//! hours, breaks and absences) and its resources (a colour station, two treatment rooms: a
//! capacity and the services that need one). A company that lists no staff has one implicit
//! member, whose bookings lock the time as they always did (docs/data-model.md, "Lock items").
//!
//! File format (beside `hours` and `services` in the company file):
//!
//! ```json
//! "staff": [{"id": "anna", "name": "Anna", "aliases": ["Frau Berg"], "services": ["haircut"],
//!            "hours": {"sat": ["10:00-14:00"]}, "absences": [{"from": "2026-08-01", "to": "2026-08-14"}]}],
//! "resources": [{"id": "color-station", "name": "Farbplatz", "capacity": 1, "services": ["coloring"]}]
//! ```

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::company::{closure_days, fold, opening_week, Break, Closure, Service};
use super::slots::Schedule;

/// At most this many staff and resources per company: the slot search and a booking's
/// transaction (one lock item per step unit and person) stay small.
pub const MAX_STAFF: usize = 50;
pub const MAX_RESOURCES: usize = 10;
/// Units of one resource (chairs, rooms).
pub const MAX_CAPACITY: u32 = 20;
/// A display name or alias: it is spoken and reaches the agent's prompt.
const MAX_NAME_CHARS: usize = 60;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffSettings {
    /// Lower-case letters, digits, `_` and `-` (it is part of the lock items' keys).
    pub id: String,
    /// The name the agent says ("Anna").
    pub name: String,
    /// Other names callers use ("Frau Berg", "Annie").
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Service ids this person performs; absent: all of them.
    #[serde(default)]
    pub services: Option<Vec<String>>,
    /// Own weekly hours (as the company's `hours`); absent: the company's.
    #[serde(default)]
    pub hours: Option<HashMap<String, Vec<String>>>,
    /// Own breaks; absent: the company's.
    #[serde(default)]
    pub breaks: Option<Vec<Break>>,
    /// Days off (holiday, sick day), as the company's `closures`.
    #[serde(default)]
    pub absences: Vec<Closure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSettings {
    pub id: String,
    pub name: String,
    /// How many bookings it holds at once (1..=20).
    pub capacity: u32,
    /// The services that need one unit of it.
    pub services: Vec<String>,
}

/// One person who takes appointments, ready for the slot search.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffMember {
    /// Empty for the implicit member of a company without staff.
    pub id: String,
    pub name: String,
    /// Folded whole names a caller may say: id, name, aliases (each one person's only).
    keys: Vec<String>,
    /// Folded single words of the name and aliases ("anna", "berg"; may be shared).
    words: Vec<String>,
    /// `None`: every service.
    services: Option<BTreeSet<String>>,
    /// The company's schedule with this person's hours, breaks and absences.
    pub schedule: Schedule,
}

impl StaffMember {
    pub fn performs(&self, service_id: &str) -> bool {
        self.services
            .as_ref()
            .is_none_or(|services| services.contains(service_id))
    }

    /// The implicit member of a company that lists no staff.
    pub fn is_implicit(&self) -> bool {
        self.id.is_empty()
    }
}

/// A resource with `capacity` units; a booking of one of its services takes one unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub id: String,
    pub name: String,
    pub capacity: u32,
    services: BTreeSet<String>,
}

/// What a name said by a caller matches.
#[derive(Debug, PartialEq)]
pub enum StaffMatch<'a> {
    One(&'a StaffMember),
    /// Several people answer to it ("Anna" when there are two).
    Several(Vec<&'a StaffMember>),
    /// Nobody: the caller's words name no one of the staff.
    Nobody,
    /// "egal", "anyone": no preference.
    Anyone,
}

/// A company's staff and resources.
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    /// In file order (the fair choice breaks ties in it); one implicit member if none listed.
    pub members: Vec<StaffMember>,
    pub resources: Vec<Resource>,
}

/// Words around a name that name nobody: titles and the prepositions a caller puts before it.
const NOT_NAMES: &[&str] = &[
    "frau",
    "herr",
    "herrn",
    "fr",
    "hr",
    "dr",
    "doktor",
    "prof",
    "professor",
    "mr",
    "mrs",
    "ms",
    "miss",
    "bei",
    "zu",
    "mit",
    "von",
    "der",
    "die",
    "dem",
    "den",
    "with",
    "to",
    "at",
];
/// "No preference" as callers say it.
const ANYONE: &[&str] = &[
    "egal",
    "jeder",
    "jede",
    "jemand",
    "irgendwer",
    "beliebig",
    "anyone",
    "any",
    "anybody",
    "whoever",
    "nopreference",
];

impl Team {
    /// Whether `time` on `date` is a start the hours allow for `service`, bookings aside: the
    /// hours (breaks, absences, closures, notice from `now`, slot grid) of `person`, or of anyone
    /// who performs it. The tools and the desk check this before asking the calendar.
    pub fn is_bookable_start(
        &self,
        service: &crate::booking::company::Service,
        date: NaiveDate,
        time: chrono::NaiveTime,
        person: Option<&StaffMember>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        let works = |p: &StaffMember| {
            p.performs(&service.id)
                && crate::booking::slots::SlotFinder::new(&p.schedule)
                    .free_slots(date, service.timing(), &[], now)
                    .iter()
                    .any(|s| s.local == time)
        };
        match person {
            Some(p) => works(p),
            None => self.qualified(&service.id).any(works),
        }
    }

    /// The team of a company: `schedule` (with its `hours` and `breaks`) is the company's; each
    /// member's is derived from it.
    pub fn build(
        staff: &[StaffSettings],
        resources: &[ResourceSettings],
        services: &[Service],
        schedule: &Schedule,
        company_hours: &HashMap<String, Vec<String>>,
        company_breaks: &[Break],
        company_name: &str,
    ) -> Result<Self, String> {
        let known: BTreeSet<&str> = services.iter().map(|s| s.id.as_str()).collect();
        let check_services = |what: String, ids: &[String]| -> Result<BTreeSet<String>, String> {
            let mut set = BTreeSet::new();
            for id in ids {
                if !known.contains(id.as_str()) {
                    return Err(format!("{what}: unknown service {:?}", short(id)));
                }
                set.insert(id.clone());
            }
            Ok(set)
        };
        if staff.len() > MAX_STAFF {
            return Err(format!("staff: at most {MAX_STAFF} people"));
        }
        if resources.len() > MAX_RESOURCES {
            return Err(format!("resources: at most {MAX_RESOURCES}"));
        }
        let mut members = Vec::new();
        let mut taken_keys: HashMap<String, String> = HashMap::new();
        for (i, person) in staff.iter().enumerate() {
            let at = format!("staff[{i}]");
            check_id(&format!("{at}.id"), &person.id)?;
            if members.iter().any(|m: &StaffMember| m.id == person.id) {
                return Err(format!("{at}.id {:?} is listed twice", person.id));
            }
            check_name(&format!("{at}.name"), &person.name)?;
            for (j, alias) in person.aliases.iter().enumerate() {
                check_name(&format!("{at}.aliases[{j}]"), alias)?;
            }
            let services = match &person.services {
                None => None,
                Some(ids) if ids.is_empty() => {
                    return Err(format!(
                        "{at}.services is empty (omit it for every service)"
                    ))
                }
                Some(ids) => Some(check_services(format!("{at}.services"), ids)?),
            };
            // Own hours and own breaks each replace the company's; a day missing from own
            // hours is a day off.
            let weekly = opening_week(
                person.hours.as_ref().unwrap_or(company_hours),
                person.breaks.as_deref().unwrap_or(company_breaks),
            )
            .map_err(|e| format!("{at}.hours: {e}"))?;
            let mut closures = schedule.closures.clone();
            closures
                .extend(closure_days(&person.absences).map_err(|e| format!("{at}.absences: {e}"))?);
            // Whole names (id, name, aliases) name one person only; single words of them may
            // be shared (two Annas), and then a caller's "Anna" is asked which.
            let mut keys: Vec<String> = [fold(&person.id), fold(&person.name)]
                .into_iter()
                .chain(person.aliases.iter().map(|a| fold(&without_titles(a))))
                .filter(|k| !k.is_empty())
                .collect();
            keys.sort();
            keys.dedup();
            for key in &keys {
                if let Some(other) = taken_keys.insert(key.clone(), person.id.clone()) {
                    if other != person.id {
                        return Err(format!(
                            "{at}: the name {key:?} is also {other:?}'s; callers could not tell them apart"
                        ));
                    }
                }
            }
            let mut words: Vec<String> = std::iter::once(person.name.as_str())
                .chain(person.aliases.iter().map(String::as_str))
                .flat_map(str::split_whitespace)
                .map(fold)
                .filter(|w| w.chars().count() >= 2 && !NOT_NAMES.contains(&w.as_str()))
                .collect();
            words.sort();
            words.dedup();
            members.push(StaffMember {
                id: person.id.clone(),
                name: person.name.trim().to_owned(),
                keys,
                words,
                services,
                schedule: Schedule {
                    weekly,
                    closures,
                    ..schedule.clone()
                },
            });
        }
        if members.is_empty() {
            members.push(StaffMember {
                id: String::new(),
                name: company_name.to_owned(),
                keys: Vec::new(),
                words: Vec::new(),
                services: None,
                schedule: schedule.clone(),
            });
        }
        let mut built = Vec::new();
        let mut needed: HashMap<&str, &str> = HashMap::new();
        for (i, r) in resources.iter().enumerate() {
            let at = format!("resources[{i}]");
            check_id(&format!("{at}.id"), &r.id)?;
            if built.iter().any(|b: &Resource| b.id == r.id) {
                return Err(format!("{at}.id {:?} is listed twice", r.id));
            }
            check_name(&format!("{at}.name"), &r.name)?;
            if !(1..=MAX_CAPACITY).contains(&r.capacity) {
                return Err(format!("{at}.capacity must be 1..={MAX_CAPACITY}"));
            }
            let services = check_services(format!("{at}.services"), &r.services)?;
            for s in &r.services {
                if let Some(other) = needed.insert(s.as_str(), r.id.as_str()) {
                    return Err(format!(
                        "{at}: service {s:?} already needs resource {other:?} (one resource per service)"
                    ));
                }
            }
            built.push(Resource {
                id: r.id.clone(),
                name: r.name.trim().to_owned(),
                capacity: r.capacity,
                services,
            });
        }
        for service in services {
            if !members.iter().any(|m| m.performs(&service.id)) {
                return Err(format!(
                    "service {:?}: nobody in staff performs it",
                    service.id
                ));
            }
        }
        Ok(Team {
            members,
            resources: built,
        })
    }

    /// Whether the company lists its staff (bookings then name a person).
    pub fn is_staffed(&self) -> bool {
        self.members.first().is_some_and(|m| !m.is_implicit())
    }

    pub fn member(&self, id: &str) -> Option<&StaffMember> {
        self.members.iter().find(|m| m.id == id)
    }

    /// Who a lock or appointment without a person belongs to: the implicit member, or, once a
    /// company lists staff, the first of them (bookings made before staff existed).
    pub fn default_member(&self) -> &StaffMember {
        &self.members[0]
    }

    /// The member an appointment's `staff_id` names (`None`, or an id no longer listed: the
    /// default member).
    pub fn member_or_default(&self, id: Option<&str>) -> &StaffMember {
        id.and_then(|id| self.member(id))
            .unwrap_or_else(|| self.default_member())
    }

    /// The staff who work on `date` (hours that day, not absent, the business not closed), in
    /// file order; none for a company without staff.
    pub fn working_on(&self, date: NaiveDate) -> impl Iterator<Item = &StaffMember> {
        self.members.iter().filter(move |m| {
            !m.is_implicit() && crate::booking::slots::SlotFinder::new(&m.schedule).is_open_on(date)
        })
    }

    /// Those who perform `service_id`, in file order.
    pub fn qualified<'a>(&'a self, service_id: &'a str) -> impl Iterator<Item = &'a StaffMember> {
        self.members.iter().filter(move |m| m.performs(service_id))
    }

    /// The resource a service needs, if any.
    pub fn resource_for(&self, service_id: &str) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.services.contains(service_id))
    }

    /// The staff a caller's words name: by id, name, a word of the name or an alias; case,
    /// accents and titles ("Frau", "Herrn", "bei") do not matter.
    pub fn find(&self, spoken: &str) -> StaffMatch<'_> {
        let bare = without_titles(spoken);
        let want = fold(&bare);
        if want.is_empty() {
            return StaffMatch::Nobody;
        }
        if ANYONE.contains(&want.as_str()) || ANYONE.contains(&fold(spoken).as_str()) {
            return StaffMatch::Anyone;
        }
        let by_key = |key: &str| -> Vec<&StaffMember> {
            self.members
                .iter()
                .filter(|m| m.keys.iter().any(|k| k == key))
                .collect()
        };
        let by_word = |word: &str| -> Vec<&StaffMember> {
            self.members
                .iter()
                .filter(|m| m.keys.iter().chain(&m.words).any(|k| k == word))
                .collect()
        };
        let mut found = by_key(&want);
        if found.is_empty() {
            // "Anna Schmidt" for an Anna listed by first name, "Berg" for Anna Berg: each word
            // on its own; several people named that way are several.
            let mut people: Vec<&StaffMember> = bare
                .split_whitespace()
                .map(fold)
                .filter(|w| !w.is_empty())
                .flat_map(|w| by_word(&w))
                .collect();
            people.sort_by(|a, b| a.id.cmp(&b.id));
            people.dedup_by(|a, b| a.id == b.id);
            found = people;
        }
        match found.len() {
            0 => StaffMatch::Nobody,
            1 => StaffMatch::One(found[0]),
            _ => StaffMatch::Several(found),
        }
    }
}

/// The words of `spoken` that are not titles or prepositions.
fn without_titles(spoken: &str) -> String {
    spoken
        .split(|c: char| c.is_whitespace() || c == '.' || c == ',')
        .filter(|w| !w.is_empty() && !NOT_NAMES.contains(&fold(w).as_str()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn check_id(field: &str, id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field} {:?} must be 1-32 lower-case letters, digits, '_' or '-'",
            short(id)
        ))
    }
}

/// A name that is spoken and reaches the prompt: letters, spaces, `.`, `-`, `'`; no braces or
/// line breaks that could carry instructions.
fn check_name(field: &str, name: &str) -> Result<(), String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("{field} must be 1-{MAX_NAME_CHARS} characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '-' | '\''))
    {
        return Err(format!(
            "{field} {:?} may hold letters, digits, spaces, '.', '-' and ' only",
            short(name)
        ));
    }
    Ok(())
}

fn short(text: &str) -> String {
    text.chars().take(64).collect()
}
