//! A company's Cal.com account in its settings: where it is, its API key's secret, which event
//! type each service books, and which Cal.com host each staff member is.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::company::{short, Service};
use super::staff::Team;

/// Where a company's Cal.com account is and how each service maps to an event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalComSettings {
    #[serde(default = "default_calcom_url")]
    pub base_url: String,
    /// Secrets Manager secret holding the Cal.com API key, as the bare key or
    /// `{"api_key": "cal_live_..."}`, named `<stack>/calcom/<company_id>` (the tools may read
    /// only secrets under `<stack>/calcom/`).
    pub api_key_secret: String,
    /// Service id → Cal.com event type id; every service needs one.
    pub event_types: HashMap<String, u64>,
    /// Per-request timeout; the whole tool call is cut off at 2.5 s regardless.
    #[serde(default = "default_calcom_timeout")]
    pub timeout_ms: u64,
    /// Staff id → that person in Cal.com, for a company that lists staff (then every staff
    /// member needs one, and `event_types` are round-robin team event types: "anyone").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, CalComHost>,
}

/// One staff member as a Cal.com host. Cal.com's `POST /v2/bookings` has no documented field
/// that picks a host, so a booking with a named person goes to that person's own event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalComHost {
    /// The Cal.com user id: a round-robin booking names its host by it (`hosts[].id`).
    pub user_id: u64,
    /// Service id → this person's own event type; one for each service they perform.
    pub event_types: HashMap<String, u64>,
}

impl CalComSettings {
    /// `base_url` is https, or plain http to a loopback address (a stand-in on the same
    /// machine: only the local stack allows that, [`CalComSettings::is_loopback`]).
    pub fn check_base_url(&self) -> Result<(), String> {
        let url = self.base_url.as_str();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!("calendar.base_url {:?} is not a URL", short(url)));
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || host.contains('@') {
            return Err(format!(
                "calendar.base_url {:?} has no plain host",
                short(url)
            ));
        }
        match scheme {
            "https" => Ok(()),
            "http" if self.is_loopback() => Ok(()),
            _ => Err(format!(
                "calendar.base_url {:?} must be https (plain http only to a local stand-in on 127.0.0.1)",
                short(url)
            )),
        }
    }

    /// Whether `base_url` points at this machine (`localhost`, 127.0.0.0/8, `[::1]`).
    pub fn is_loopback(&self) -> bool {
        let rest = self.base_url.split_once("://").map_or("", |(_, rest)| rest);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The stack whose secret `api_key_secret` is: it must be named `<stack>/calcom/<company_id>`,
    /// so a company can never name another company's (or anything else's) secret.
    pub fn secret_stack(&self, company_id: &str) -> Result<&str, String> {
        let name = self.api_key_secret.as_str();
        let suffix = format!("/calcom/{company_id}");
        match name.strip_suffix(&suffix) {
            Some(stack) if !stack.is_empty() && !stack.contains('/') => Ok(stack),
            _ => Err(format!(
                "calendar.api_key_secret {:?} must be named <stack>/calcom/{company_id}",
                short(name)
            )),
        }
    }
}

fn default_calcom_url() -> String {
    "https://api.cal.com".into()
}
fn default_calcom_timeout() -> u64 {
    2000
}

impl CalComSettings {
    /// The event type that books `service` with `staff_id` (empty: anyone, the team type).
    pub fn event_type(&self, service_id: &str, staff_id: &str) -> Option<u64> {
        if staff_id.is_empty() {
            self.event_types.get(service_id).copied()
        } else {
            self.hosts
                .get(staff_id)?
                .event_types
                .get(service_id)
                .copied()
        }
    }

    /// The staff member a Cal.com user id is, if `hosts` maps one.
    /// The service (and, for a person's own event type, the staff member) an event type is
    /// for: what a booking made on Cal.com's own pages is.
    pub fn service_of_event_type(&self, event_type_id: u64) -> Option<(&str, Option<&str>)> {
        if let Some((service, _)) = self
            .event_types
            .iter()
            .find(|(_, id)| **id == event_type_id)
        {
            return Some((service.as_str(), None));
        }
        self.hosts.iter().find_map(|(staff, host)| {
            host.event_types
                .iter()
                .find(|(_, id)| **id == event_type_id)
                .map(|(service, _)| (service.as_str(), Some(staff.as_str())))
        })
    }

    /// The secret holding the company's Cal.com webhook secret: `<stack>/calcom-webhook/<id>`
    /// beside the API key's `<stack>/calcom/<id>` (`retell-ops sync` writes it; only the webhook
    /// function reads it).
    pub fn webhook_secret_id(&self) -> String {
        self.api_key_secret
            .replacen("/calcom/", "/calcom-webhook/", 1)
    }

    pub fn staff_of_user(&self, user_id: u64) -> Option<&str> {
        self.hosts
            .iter()
            .find(|(_, h)| h.user_id == user_id)
            .map(|(id, _)| id.as_str())
    }

    /// Every service has a team event type; with staff, every staff member is a host with an
    /// event type for exactly the services they perform, and no id is used twice.
    pub fn check_event_types(&self, services: &[Service], team: &Team) -> Result<(), String> {
        for s in services {
            if !self.event_types.contains_key(&s.id) {
                return Err(format!(
                    "calendar.event_types has no Cal.com event type for service {}",
                    s.id
                ));
            }
        }
        if !team.resources.is_empty() {
            return Err("resources are for the native calendar; on Cal.com a room or station is kept by Cal.com itself (a host or seats of an event type)".into());
        }
        if !team.is_staffed() {
            return match self.hosts.keys().next() {
                Some(id) => Err(format!(
                    "calendar.hosts.{}: the company lists no staff",
                    short(id)
                )),
                None => Ok(()),
            };
        }
        for id in self.hosts.keys() {
            if team.member(id).is_none() {
                return Err(format!(
                    "calendar.hosts.{}: no staff member has this id",
                    short(id)
                ));
            }
        }
        let mut users = BTreeSet::new();
        let mut used: BTreeSet<u64> = BTreeSet::new();
        for (service, id) in &self.event_types {
            if !used.insert(*id) {
                return Err(format!(
                    "calendar.event_types.{}: event type {id} is used twice",
                    short(service)
                ));
            }
        }
        for member in &team.members {
            let Some(host) = self.hosts.get(&member.id) else {
                return Err(format!(
                    "calendar.hosts has no Cal.com host for staff member {}",
                    member.id
                ));
            };
            if !users.insert(host.user_id) {
                return Err(format!(
                    "calendar.hosts.{}.user_id: {} is another staff member's",
                    member.id, host.user_id
                ));
            }
            for s in services {
                match (member.performs(&s.id), host.event_types.get(&s.id)) {
                    (true, None) => {
                        return Err(format!(
                            "calendar.hosts.{}.event_types has no event type for service {}",
                            member.id, s.id
                        ))
                    }
                    (false, Some(_)) => {
                        return Err(format!(
                            "calendar.hosts.{}.event_types.{}: {} does not perform it",
                            member.id, s.id, member.id
                        ))
                    }
                    (_, Some(id)) if !used.insert(*id) => {
                        return Err(format!(
                            "calendar.hosts.{}.event_types.{}: event type {id} is used twice",
                            member.id, s.id
                        ))
                    }
                    _ => {}
                }
            }
            if let Some(unknown) = host
                .event_types
                .keys()
                .find(|k| !services.iter().any(|s| &&s.id == k))
            {
                return Err(format!(
                    "calendar.hosts.{}.event_types.{}: no such service",
                    member.id,
                    short(unknown)
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::booking::company::{CalendarBackend, Company, CompanySettings};

    /// The Cal.com demo company with its key's secret named as `make dev` names it.
    fn calcom_demo() -> CompanySettings {
        let mut settings: CompanySettings = serde_json::from_str(include_str!(
            "../../../infra/local/companies/calcom-demo.json"
        ))
        .expect("calcom-demo.json parses");
        cal(&mut settings).api_key_secret = "local/calcom/salon-calcom".into();
        settings
    }

    /// Changes one thing about the Cal.com demo company's hosts; the error `from_settings` gives.
    fn refusal(change: impl FnOnce(&mut CompanySettings)) -> String {
        let mut settings = calcom_demo();
        change(&mut settings);
        match Company::from_settings(settings) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    fn cal(settings: &mut CompanySettings) -> &mut super::CalComSettings {
        match &mut settings.calendar {
            CalendarBackend::CalCom(cal) => cal,
            CalendarBackend::Native => panic!("calcom-demo.json is on Cal.com"),
        }
    }

    #[test]
    fn the_demo_company_maps_every_person_to_a_host() {
        let company = Company::from_settings(calcom_demo()).expect("valid");
        let CalendarBackend::CalCom(cal) = &company.settings.calendar else {
            panic!("on Cal.com");
        };
        assert_eq!(
            cal.event_type("haircut", ""),
            Some(1001),
            "anyone: the team"
        );
        assert_eq!(cal.event_type("coloring", "clara"), Some(2202));
        assert_eq!(cal.event_type("coloring", "ben"), None);
        assert_eq!(cal.staff_of_user(12), Some("ben"));
        assert_eq!(cal.staff_of_user(99), None);
    }

    type Change = fn(&mut CompanySettings);

    fn host<'a>(settings: &'a mut CompanySettings, id: &str) -> &'a mut super::CalComHost {
        cal(settings)
            .hosts
            .get_mut(id)
            .expect("a host of the demo company")
    }

    #[test]
    fn host_mappings_are_checked_with_the_field_named() {
        let cases: [(&str, Change, &str); 9] = [
            (
                "a person without a host",
                |s| {
                    cal(s).hosts.remove("clara");
                },
                "calendar.hosts has no Cal.com host for staff member clara",
            ),
            (
                "a host of nobody",
                |s| {
                    let anna = cal(s).hosts["anna"].clone();
                    cal(s).hosts.insert("dora".into(), anna);
                },
                "calendar.hosts.dora: no staff member has this id",
            ),
            (
                "a service the person performs without a type",
                |s| {
                    let h = host(s, "anna");
                    h.event_types.remove("coloring");
                },
                "calendar.hosts.anna.event_types has no event type for service coloring",
            ),
            (
                "a type for a service the person does not perform",
                |s| {
                    let h = host(s, "ben");
                    h.event_types.insert("coloring".into(), 2102);
                },
                "calendar.hosts.ben.event_types.coloring: ben does not perform it",
            ),
            (
                "one user id for two people",
                |s| {
                    let h = host(s, "clara");
                    h.user_id = 11;
                },
                "calendar.hosts.clara.user_id: 11 is another staff member's",
            ),
            (
                "one event type for two people",
                |s| {
                    let h = host(s, "clara");
                    h.event_types.insert("haircut".into(), 2001);
                },
                "calendar.hosts.clara.event_types.haircut: event type 2001 is used twice",
            ),
            (
                "a person's type that is the team's",
                |s| {
                    let h = host(s, "anna");
                    h.event_types.insert("beard".into(), 1003);
                },
                "calendar.hosts.anna.event_types.beard: event type 1003 is used twice",
            ),
            (
                "hosts without staff",
                |s| s.staff.clear(),
                "calendar.hosts.anna: the company lists no staff",
            ),
            (
                "a resource",
                |s| {
                    s.resources = serde_json::from_str(
                        r#"[{"id": "room", "name": "Raum", "capacity": 1, "services": ["coloring"]}]"#,
                    )
                    .expect("resource");
                },
                "resources are for the native calendar",
            ),
        ];
        for (what, change, expected) in cases {
            let said = refusal(change);
            assert!(said.contains(expected), "{what}: {said:?}");
        }
        assert_eq!(refusal(|_| {}), "", "the demo company is valid");
        for hostile in [
            r#"{"user_id": "11", "event_types": {}}"#,
            r#"{"user_id": 11, "event_types": {"haircut": "2001"}}"#,
            r#"{"user_id": 11, "event_types": {"haircut": {"id": 2001}}}"#,
            r#"{"user_id": -1, "event_types": {}}"#,
            r#"{"user_id": 11, "event_types": {}, "admin": true}"#,
            r#"{"event_types": {}}"#,
        ] {
            assert!(
                serde_json::from_str::<super::CalComHost>(hostile).is_err(),
                "{hostile}"
            );
        }
    }
}
