//! How long a company's calls are kept, and whether they are recorded, as the consumers apply
//! it: the call item's TTL (`expires_at`), the tag on its raw events and recording in S3
//! (`retention-days=<n>`, which the bucket's lifecycle rules expire), and the recording copier's
//! "record nothing". Read from the company's settings (`privacy`), cached with the directory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;

use crate::booking::directory::COMPANY_CACHE_TTL;
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

/// The TTL (epoch seconds) of a call that started at `call_ts_ms` and is kept `days`.
pub fn expires_at(call_ts_ms: i64, days: u16) -> i64 {
    call_ts_ms.div_euclid(1000) + i64::from(days) * DAY_SECONDS
}

/// `x-amz-tagging` for what S3 keeps of a call kept `days`.
pub fn tagging(days: u16) -> String {
    format!("{RETENTION_TAG}={days}")
}

impl CallRetention {
    pub fn tagging(&self) -> String {
        tagging(self.days)
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

/// The retention of each company: the `privacy` of its settings, or the stack default for a
/// company the directory does not list (the key secret's default company may not be). Read
/// with one GetItem of the company's item and only its `privacy` parsed (the consumers need
/// nothing else of a company, and the whole settings' checks would double their code), cached
/// a minute like the directory's answers.
pub struct RetentionPolicy {
    source: Option<(aws_sdk_dynamodb::Client, String)>,
    default_days: u16,
    cache: Mutex<HashMap<String, (Instant, CallRetention)>>,
}

/// The part of a company's settings document retention needs (the rest is not read).
#[derive(Deserialize)]
struct PrivacyOnly {
    #[serde(default)]
    privacy: Option<PrivacySettings>,
}

impl RetentionPolicy {
    /// Every company the same (no companies table): tests and stacks without one.
    pub fn fixed(default_days: u16) -> Self {
        Self {
            source: None,
            default_days,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Each company's own, read from the companies table.
    pub fn from_table(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        default_days: u16,
    ) -> Self {
        Self {
            source: Some((client, table.into())),
            default_days,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The stack's default (a company's settings unreadable).
    pub fn default(&self) -> CallRetention {
        CallRetention::of_settings(None, self.default_days)
    }

    pub async fn of(&self, company_id: &str) -> Result<CallRetention, String> {
        let Some((client, table)) = &self.source else {
            return Ok(self.default());
        };
        if let Some((at, found)) = self.cached(company_id) {
            if at.elapsed() < COMPANY_CACHE_TTL {
                return Ok(found);
            }
        }
        let out = client
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(format!("company#{company_id}")))
            .projection_expression("#s")
            .expression_attribute_names("#s", "settings")
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        let found = match out.item.as_ref().and_then(|i| i.get("settings")) {
            None => self.default(),
            Some(AttributeValue::S(json)) => {
                let parsed: PrivacyOnly = serde_json::from_str(json)
                    .map_err(|e| format!("company {company_id}: privacy settings: {e}"))?;
                CallRetention::of_settings(parsed.privacy.as_ref(), self.default_days)
            }
            Some(_) => return Err(format!("company {company_id}: settings are not text")),
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(company_id.to_owned(), (Instant::now(), found));
        }
        Ok(found)
    }

    fn cached(&self, company_id: &str) -> Option<(Instant, CallRetention)> {
        self.cache.lock().ok()?.get(company_id).copied()
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
        assert_eq!(
            expires_at(1_700_000_000_999, r.days),
            1_700_000_000 + 30 * 86_400
        );
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
