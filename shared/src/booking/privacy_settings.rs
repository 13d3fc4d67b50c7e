//! `privacy`: how long a company's calls are kept, whether they are recorded, and what the agent
//! tells a caller first. Absent: the stack's default retention (`RETENTION_DAYS`), recorded,
//! the built-in disclosure in the company's language. Checked with the rest of the company file.
//!
//! ```json
//! "privacy": {"retention_days": 30, "record_calls": false,
//!             "disclosure": "Sie sprechen mit dem KI-Assistenten des Salons."}
//! ```

use serde::{Deserialize, Serialize};

/// The retentions the events bucket has a lifecycle rule for (objects are tagged
/// `retention-days=<n>`), and the most Retell keeps a call (`data_storage_retention_days`).
pub const RETENTION_CHOICES: [u16; 8] = [7, 14, 30, 60, 90, 180, 365, 730];
/// The stack's default when neither the company nor `RETENTION_DAYS` says.
pub const DEFAULT_RETENTION_DAYS: u16 = 90;
/// A disclosure is spoken before anything else: short.
pub const MAX_DISCLOSURE_CHARS: usize = 300;

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// Days a call's transcript, recording and raw events are kept; one of
    /// [`RETENTION_CHOICES`]. None: the stack's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u16>,
    /// Whether calls are recorded: false keeps no recording here (the copier skips it) and
    /// wants the company's agents on `data_storage_setting: basic_attributes_only`.
    #[serde(default = "default_true")]
    pub record_calls: bool,
    /// What the agent says first about itself (AI Act Art. 50); none: the built-in sentence
    /// in the company's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosure: Option<String>,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            retention_days: None,
            record_calls: true,
            disclosure: None,
        }
    }
}

impl PrivacySettings {
    pub fn check(&self) -> Result<(), String> {
        if let Some(days) = self.retention_days {
            check_retention(days)?;
        }
        if let Some(text) = &self.disclosure {
            let chars = text.chars().count();
            if text.trim().is_empty() {
                return Err(
                    "privacy.disclosure must not be empty (leave it out for the built-in one)"
                        .into(),
                );
            }
            if chars > MAX_DISCLOSURE_CHARS {
                return Err(format!(
                    "privacy.disclosure has {chars} characters; at most {MAX_DISCLOSURE_CHARS}"
                ));
            }
            if text.chars().any(|c| c.is_control()) || text.contains("{{") {
                return Err("privacy.disclosure must be one plain sentence (no control characters, no {{variables}})".into());
            }
        }
        Ok(())
    }

    /// The sentence the agent opens with: the company's, or the built-in one for `language`
    /// (`de…` German, else English) saying whether the call is recorded.
    pub fn disclosure_text(&self, language: &str) -> String {
        if let Some(text) = &self.disclosure {
            return text.trim().to_owned();
        }
        let german = language.to_ascii_lowercase().starts_with("de");
        match (german, self.record_calls) {
            (true, true) => {
                "Sie sprechen mit einem KI-Assistenten; das Gespräch wird aufgezeichnet."
            }
            (true, false) => {
                "Sie sprechen mit einem KI-Assistenten; das Gespräch wird nicht aufgezeichnet."
            }
            (false, true) => "You are speaking with an AI assistant; this call is recorded.",
            (false, false) => "You are speaking with an AI assistant; this call is not recorded.",
        }
        .to_owned()
    }
}

impl crate::booking::company::CompanySettings {
    /// What the company's agents say first (its `privacy.disclosure`, or the built-in sentence
    /// in its language): the `disclosure` variable of its calls.
    pub fn disclosure(&self) -> String {
        match &self.privacy {
            Some(privacy) => privacy.disclosure_text(&self.language),
            None => PrivacySettings::default().disclosure_text(&self.language),
        }
    }
}

/// `days` is a retention the bucket's lifecycle rules know.
pub fn check_retention(days: u16) -> Result<(), String> {
    if RETENTION_CHOICES.contains(&days) {
        Ok(())
    } else {
        Err(format!(
            "privacy.retention_days {days} is not one of {:?} (the events bucket has a lifecycle rule for each)",
            RETENTION_CHOICES
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_must_be_a_choice() {
        for days in RETENTION_CHOICES {
            assert!(check_retention(days).is_ok());
        }
        for days in [0, 1, 89, 731, u16::MAX] {
            assert!(check_retention(days).is_err(), "{days}");
        }
    }

    #[test]
    fn hostile_disclosures_are_refused() {
        let with = |text: &str| PrivacySettings {
            disclosure: Some(text.to_owned()),
            ..PrivacySettings::default()
        };
        assert!(with("Sie sprechen mit einer KI.").check().is_ok());
        for bad in ["", "  ", "a\u{0}b", "line\nbreak", "{{company_name}}"] {
            assert!(with(bad).check().is_err(), "{bad:?}");
        }
        assert!(with(&"x".repeat(MAX_DISCLOSURE_CHARS + 1)).check().is_err());
        let unknown: Result<PrivacySettings, _> =
            serde_json::from_str(r#"{"retention_days": "90"}"#);
        assert!(unknown.is_err());
        let unknown: Result<PrivacySettings, _> = serde_json::from_str(r#"{"keep": 1}"#);
        assert!(unknown.is_err());
        let negative: Result<PrivacySettings, _> =
            serde_json::from_str(r#"{"retention_days": -1}"#);
        assert!(negative.is_err());
    }

    #[test]
    fn the_built_in_disclosure_says_ai_and_recording() {
        let recorded = PrivacySettings::default();
        assert!(recorded.disclosure_text("de-DE").contains("KI-Assistenten"));
        assert!(recorded.disclosure_text("de").contains("aufgezeichnet"));
        let unrecorded = PrivacySettings {
            record_calls: false,
            ..PrivacySettings::default()
        };
        assert!(unrecorded.disclosure_text("en-US").contains("not recorded"));
        assert!(unrecorded
            .disclosure_text("de")
            .contains("nicht aufgezeichnet"));
    }
}
