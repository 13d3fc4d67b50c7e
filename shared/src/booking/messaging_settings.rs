//! `messaging`: what a company sends its customers (confirmations, reminders, a no-show offer)
//! and its staff (notices), on which channels, from which sender, in which language, and when
//! not (quiet hours). Absent: the company sends nothing. Checked with the rest of the company
//! file (`Company::from_settings`), so `companies load`, the settings API and the desk refuse the
//! same mistakes.
//!
//! ```json
//! "messaging": {"sms": true, "email": true, "sms_sender_id": "SalonMitte",
//!   "email_from": "Salon Mitte <termine@salon-mitte.example>", "staff_email": "team@salon-mitte.example",
//!   "language": "de", "quiet_hours": "21:00-08:00", "reminder_lead_minutes": 1440,
//!   "reminder_call": {"agent_id": "agent_reminder", "from_number": "+493012345678",
//!                     "hours": {"mon": ["09:00-18:00"]}},
//!   "no_show_offer": true, "texts": {"booked_sms": "Hallo {name}, bis {date} um {time}!"}}
//! ```

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

/// The texts a company may override, each with the placeholders it may use.
pub const TEXT_KEYS: &[&str] = &[
    "booked_sms",
    "moved_sms",
    "cancelled_sms",
    "reminder_sms",
    "no_show_sms",
    "code_sms",
    "booked_subject",
    "moved_subject",
    "cancelled_subject",
];
/// What a text may name: `{company}`, `{name}`, `{date}`, `{time}`, `{service}`, `{staff}`,
/// `{code}` (the verification text only).
pub const PLACEHOLDERS: &[&str] = &[
    "company", "name", "date", "time", "service", "staff", "code",
];
/// A text longer than this is refused: 4 SMS segments of GSM-7 is already expensive.
pub const MAX_TEXT_CHARS: usize = 600;
/// Reminders at most 30 days ahead (and at least a minute).
pub const MAX_REMINDER_LEAD_MINUTES: u32 = 43_200;
const DEFAULT_QUIET_HOURS: &str = "21:00-08:00";
const DEFAULT_REMINDER_LEAD: u32 = 1440;

fn default_quiet_hours() -> String {
    DEFAULT_QUIET_HOURS.to_owned()
}

fn default_reminder_lead() -> u32 {
    DEFAULT_REMINDER_LEAD
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingSettings {
    /// Confirmations and reminders by SMS (Amazon SNS).
    #[serde(default)]
    pub sms: bool,
    /// Confirmations by e-mail with the appointment as `.ics` (Amazon SES), to customers who
    /// gave an address.
    #[serde(default)]
    pub email: bool,
    /// The SMS sender shown on the phone (1-11 letters, digits or spaces, one letter at least);
    /// none: the account's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_sender_id: Option<String>,
    /// `termine@salon.example` or `Salon <termine@salon.example>`: its domain must be a
    /// verified SES identity (the stack's `SenderDomain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_from: Option<String>,
    /// The staff's address for notices: a callback requested, a booking left unresolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_email: Option<String>,
    /// `de` or `en`; none: the company's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Overridden texts (`TEXT_KEYS`), with `{placeholders}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub texts: BTreeMap<String, String>,
    /// Local hours without SMS, `"HH:MM-HH:MM"` (may span midnight); `""`: none. A message due
    /// then waits for the end.
    #[serde(default = "default_quiet_hours")]
    pub quiet_hours: String,
    /// How long before the appointment its reminder goes out. 1..=43200, default 1440.
    #[serde(default = "default_reminder_lead")]
    pub reminder_lead_minutes: u32,
    /// Whether the reminder goes by SMS (with `sms`).
    #[serde(default = "default_true")]
    pub reminder_sms: bool,
    /// A reminder call by the company's reminder agent, within its calling hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_call: Option<ReminderCallSettings>,
    /// After a no-show marked on the desk, an SMS offering a new appointment.
    #[serde(default)]
    pub no_show_offer: bool,
}

/// `reminder_call`: the outbound agent, the number it calls from, and when it may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderCallSettings {
    pub agent_id: String,
    pub from_number: String,
    /// Weekday → `"HH:MM-HH:MM"`, as `hours`.
    pub hours: HashMap<String, Vec<String>>,
}

/// Quiet hours as local times: from `start` to `end`, over midnight when `end <= start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

impl MessagingSettings {
    /// The quiet hours, or `None` for `""`.
    pub fn quiet(&self) -> Result<Option<QuietHours>, String> {
        let text = self.quiet_hours.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let (a, b) = text
            .split_once('-')
            .ok_or_else(|| format!("quiet_hours {text:?} is not HH:MM-HH:MM"))?;
        let parse = |t: &str| {
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map_err(|_| format!("quiet_hours {text:?} is not HH:MM-HH:MM"))
        };
        let (start, end) = (parse(a)?, parse(b)?);
        if start == end {
            return Err("quiet_hours start and end are the same".into());
        }
        Ok(Some(QuietHours { start, end }))
    }

    /// The language texts are written in: `de` unless set (or the company's is) English.
    pub fn language<'a>(&'a self, company_language: &'a str) -> &'a str {
        match self.language.as_deref().unwrap_or(company_language) {
            l if l.starts_with("en") => "en",
            _ => "de",
        }
    }

    /// Everything `Company::from_settings` refuses, as one message.
    pub fn check(&self, agent_ids: &[String]) -> Result<(), String> {
        if let Some(id) = &self.sms_sender_id {
            let ok_chars = id.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ');
            if id.is_empty()
                || id.len() > 11
                || !ok_chars
                || !id.chars().any(|c| c.is_ascii_alphabetic())
            {
                return Err(
                    "messaging.sms_sender_id must be 1-11 letters, digits or spaces, with a letter"
                        .into(),
                );
            }
        }
        for (field, address) in [
            ("email_from", &self.email_from),
            ("staff_email", &self.staff_email),
        ] {
            if let Some(address) = address {
                email_address(address).map_err(|e| format!("messaging.{field}: {e}"))?;
            }
        }
        if self.email && self.email_from.is_none() {
            return Err("messaging.email needs email_from".into());
        }
        if let Some(language) = &self.language {
            if !matches!(language.as_str(), "de" | "en") {
                return Err("messaging.language must be de or en".into());
            }
        }
        for (key, text) in &self.texts {
            if !TEXT_KEYS.contains(&key.as_str()) {
                return Err(format!(
                    "messaging.texts: unknown text {:?} (one of {})",
                    key.chars().take(40).collect::<String>(),
                    TEXT_KEYS.join(", ")
                ));
            }
            check_text(text).map_err(|e| format!("messaging.texts.{key}: {e}"))?;
        }
        self.quiet().map_err(|e| format!("messaging.{e}"))?;
        if !(1..=MAX_REMINDER_LEAD_MINUTES).contains(&self.reminder_lead_minutes) {
            return Err(format!(
                "messaging.reminder_lead_minutes must be 1..={MAX_REMINDER_LEAD_MINUTES}"
            ));
        }
        if let Some(call) = &self.reminder_call {
            if !agent_ids.contains(&call.agent_id) {
                return Err("messaging.reminder_call.agent_id is not one of agent_ids".into());
            }
            crate::booking::phone::PhoneNumber::parse(&call.from_number)
                .map_err(|e| format!("messaging.reminder_call.from_number: {e}"))?;
            super::company::weekly_hours(&call.hours)
                .map_err(|e| format!("messaging.reminder_call.hours: {e}"))?;
        }
        Ok(())
    }
}

/// A text's placeholders are known ones and it is not too long or made of control characters.
fn check_text(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("empty".into());
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("longer than {MAX_TEXT_CHARS} characters"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err("contains control characters".into());
    }
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| "a '{' without '}'".to_owned())?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{}}} (known: {})",
                name.chars().take(20).collect::<String>(),
                PLACEHOLDERS.join(", ")
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// The bare address of `Name <local@domain>` or `local@domain`, if it is one SES would send to:
/// ASCII, one `@`, a dotted domain, no spaces or header-breaking characters, at most 254 bytes.
pub fn email_address(text: &str) -> Result<&str, String> {
    let text = text.trim();
    let address = match (text.rfind('<'), text.ends_with('>')) {
        (Some(open), true) => {
            let name = &text[..open];
            if name.contains(['<', '>', '"', '\r', '\n']) {
                return Err("the display name may not contain <, > or quotes".into());
            }
            &text[open + 1..text.len() - 1]
        }
        _ => text,
    };
    let valid = address.len() <= 254
        && address.is_ascii()
        && !address.contains(|c: char| c.is_whitespace() || c.is_control())
        && !address.contains(['<', '>', ',', ';', '"', '(', ')', '[', ']', '\\'])
        && address.split('@').count() == 2
        && address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        });
    if valid {
        Ok(address)
    } else {
        Err(format!(
            "{:?} is not an e-mail address",
            text.chars().take(80).collect::<String>()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> MessagingSettings {
        serde_json::from_value(serde_json::json!({"sms": true})).expect("settings")
    }

    #[test]
    fn defaults_are_a_day_ahead_and_quiet_at_night() {
        let s = base();
        assert_eq!(s.reminder_lead_minutes, 1440);
        let quiet = s.quiet().expect("valid").expect("set");
        assert!(quiet.contains(NaiveTime::from_hms_opt(23, 0, 0).expect("time")));
        assert!(quiet.contains(NaiveTime::from_hms_opt(7, 59, 0).expect("time")));
        assert!(!quiet.contains(NaiveTime::from_hms_opt(8, 0, 0).expect("time")));
        assert!(s.check(&[]).is_ok());
    }

    #[test]
    fn hostile_settings_are_refused() {
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (
                serde_json::json!({"sms_sender_id": "Salon Mitte Berlin"}),
                "sms_sender_id",
            ),
            (
                serde_json::json!({"sms_sender_id": "12345"}),
                "sms_sender_id",
            ),
            (
                serde_json::json!({"sms_sender_id": "Salon\u{0}"}),
                "sms_sender_id",
            ),
            (serde_json::json!({"email": true}), "email_from"),
            (serde_json::json!({"email_from": "a@b"}), "email_from"),
            (
                serde_json::json!({"email_from": "x@y.example\r\nBcc: z@evil.example"}),
                "email_from",
            ),
            (
                serde_json::json!({"staff_email": "Team <a@b.example>, c@d.example"}),
                "staff_email",
            ),
            (serde_json::json!({"language": "fr"}), "language"),
            (
                serde_json::json!({"texts": {"booked_sms": "Hallo {password}"}}),
                "placeholder",
            ),
            (serde_json::json!({"texts": {"evil": "x"}}), "unknown text"),
            (
                serde_json::json!({"texts": {"booked_sms": "x".repeat(601)}}),
                "longer",
            ),
            (
                serde_json::json!({"quiet_hours": "25:00-08:00"}),
                "quiet_hours",
            ),
            (
                serde_json::json!({"reminder_lead_minutes": 0}),
                "reminder_lead_minutes",
            ),
            (
                serde_json::json!({"reminder_lead_minutes": 50000}),
                "reminder_lead_minutes",
            ),
            (
                serde_json::json!({"reminder_call": {"agent_id": "agent_x", "from_number": "+493012345678", "hours": {}}}),
                "agent_id",
            ),
        ];
        for (json, expected) in cases {
            let settings: MessagingSettings = serde_json::from_value(json.clone()).expect("shape");
            let error = settings.check(&[]).expect_err(&json.to_string());
            assert!(error.contains(expected), "{json}: {error}");
        }
        assert!(
            serde_json::from_value::<MessagingSettings>(serde_json::json!({"sms": "yes"})).is_err()
        );
        assert!(
            serde_json::from_value::<MessagingSettings>(serde_json::json!({"smss": true})).is_err()
        );
    }

    #[test]
    fn addresses_with_names_give_the_bare_address() {
        assert_eq!(
            email_address("Salon <termine@salon.example>"),
            Ok("termine@salon.example")
        );
        assert_eq!(email_address(" kai@example.org "), Ok("kai@example.org"));
        assert!(email_address("kai@@example.org").is_err());
        assert!(email_address("käi@example.org").is_err());
    }
}
