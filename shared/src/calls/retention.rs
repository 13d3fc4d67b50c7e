//! How long a company's calls are kept, and whether they are recorded, as the consumers apply
//! it: the call item's TTL (`expires_at`), the tag on its raw events and recording in S3
//! (`retention-days=<n>`, which the bucket's lifecycle rules expire), and the recording copier's
//! "record nothing". Read from the company's settings (`privacy`), cached with the directory.

use crate::booking::directory::{CompanyDirectory, CompanyKey};
use crate::booking::privacy_settings::{check_retention, PrivacySettings, DEFAULT_RETENTION_DAYS};
use crate::platform::config::{ConfigError, Env};

/// The S3 object tag the lifecycle rules filter on.
pub const RETENTION_TAG: &str = "retention-days";
const DAY_SECONDS: i64 = 86_400;

/// What a company's calls are kept under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRetention {
    pub days: u16,
    pub record_calls: bool,
}

impl CallRetention {
    /// The TTL (epoch seconds) of a call that started at `call_ts_ms`.
    pub fn expires_at(&self, call_ts_ms: i64) -> i64 {
        call_ts_ms.div_euclid(1000) + i64::from(self.days) * DAY_SECONDS
    }

    /// `x-amz-tagging` for what S3 keeps of the call.
    pub fn tagging(&self) -> String {
        format!("{RETENTION_TAG}={}", self.days)
    }

    pub fn of_settings(privacy: Option<&PrivacySettings>, default_days: u16) -> Self {
        Self {
            days: privacy
                .and_then(|p| p.retention_days)
                .unwrap_or(default_days),
            record_calls: privacy.is_none_or(|p| p.record_calls),
        }
    }
}

/// The stack's default retention: `RETENTION_DAYS` (one of the bucket's choices), else 90.
pub fn default_days(env: &Env) -> Result<u16, ConfigError> {
    let Some(raw) = env.optional("RETENTION_DAYS") else {
        return Ok(DEFAULT_RETENTION_DAYS);
    };
    let days: u16 = raw.trim().parse().map_err(|_| ConfigError::Invalid {
        name: "RETENTION_DAYS",
        reason: format!("{raw:?} is not a number of days"),
    })?;
    check_retention(days).map_err(|reason| ConfigError::Invalid {
        name: "RETENTION_DAYS",
        reason,
    })?;
    Ok(days)
}

/// The retention of each company: its settings, or the stack default for a company the
/// directory does not list (the key secret's default company may not be).
pub struct RetentionPolicy {
    directory: Option<CompanyDirectory>,
    default_days: u16,
}

impl RetentionPolicy {
    /// Every company the same (no directory): tests and stacks without a companies table.
    pub fn fixed(default_days: u16) -> Self {
        Self {
            directory: None,
            default_days,
        }
    }

    pub fn from_directory(directory: CompanyDirectory, default_days: u16) -> Self {
        Self {
            directory: Some(directory),
            default_days,
        }
    }

    /// The stack's default (a company's settings unreadable).
    pub fn default(&self) -> CallRetention {
        CallRetention::of_settings(None, self.default_days)
    }

    pub async fn of(&self, company_id: &str) -> Result<CallRetention, String> {
        let Some(directory) = &self.directory else {
            return Ok(CallRetention::of_settings(None, self.default_days));
        };
        let company = directory
            .lookup(&CompanyKey::Id(company_id.to_owned()))
            .await
            .map_err(|e| e.to_string())?;
        Ok(CallRetention::of_settings(
            company.as_ref().and_then(|c| c.settings.privacy.as_ref()),
            self.default_days,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_expires_its_retention_after_it_started() {
        let r = CallRetention {
            days: 30,
            record_calls: true,
        };
        assert_eq!(r.expires_at(1_700_000_000_999), 1_700_000_000 + 30 * 86_400);
        assert_eq!(r.tagging(), "retention-days=30");
    }

    #[test]
    fn settings_or_the_default() {
        assert_eq!(
            CallRetention::of_settings(None, 90),
            CallRetention {
                days: 90,
                record_calls: true
            }
        );
        let p = PrivacySettings {
            retention_days: Some(7),
            record_calls: false,
            disclosure: None,
        };
        assert_eq!(
            CallRetention::of_settings(Some(&p), 90),
            CallRetention {
                days: 7,
                record_calls: false
            }
        );
    }

    #[test]
    fn the_stack_default_must_be_a_choice() {
        let env = |v: &str| {
            Env::from_map(
                [("RETENTION_DAYS".to_owned(), v.to_owned())]
                    .into_iter()
                    .collect(),
            )
        };
        assert_eq!(default_days(&Env::default()).ok(), Some(90));
        assert_eq!(default_days(&env("30")).ok(), Some(30));
        for bad in ["0", "31", "-7", "ninety", "99999999"] {
            assert!(default_days(&env(bad)).is_err(), "{bad}");
        }
    }
}
