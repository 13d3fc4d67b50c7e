//! Settings from the Lambda environment (set by template.yaml, or by the local stack).

use std::collections::HashMap;

use chrono_tz::Tz;

use crate::retell::EventKind;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Reads settings from a map, so tests can build one without touching the process environment.
#[derive(Debug, Clone, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Self(std::env::vars().collect())
    }

    pub fn from_map(map: HashMap<String, String>) -> Self {
        Self(map)
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.0
            .get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or(ConfigError::Missing(name))
    }

    pub fn optional(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.is_empty()).cloned()
    }

    pub fn parsed<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: T,
    ) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            }),
        }
    }

    pub fn time_zone(&self) -> Result<Tz, ConfigError> {
        self.parsed("DEFAULT_TIME_ZONE", chrono_tz::Europe::Berlin)
    }
}

/// Queue URL variable for each event type.
pub fn queue_url_var(kind: EventKind) -> &'static str {
    match kind {
        EventKind::CallStarted => "CALL_STARTED_QUEUE_URL",
        EventKind::CallEnded => "CALL_ENDED_QUEUE_URL",
        EventKind::CallAnalyzed => "CALL_ANALYZED_QUEUE_URL",
    }
}

/// Largest webhook body accepted. Lambda's synchronous payload limit is 6 MB, so anything
/// larger could not have reached us through API Gateway anyway.
pub const DEFAULT_MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// Envelopes above this go to S3 and the queue carries a reference (SQS's limit is 256 KiB).
pub const DEFAULT_INLINE_LIMIT_BYTES: usize = 200 * 1024;

/// What authenticating a Retell request needs (webhook, tools, inbound call webhook):
/// `RETELL_SECRET_ID`, `DEFAULT_COMPANY_ID` (default `default`), `COMPANIES_TABLE`.
#[derive(Debug, Clone)]
pub struct RetellAuthConfig {
    pub secret_id: String,
    pub default_company_id: String,
    pub companies_table: String,
}

impl RetellAuthConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            secret_id: env.required("RETELL_SECRET_ID")?,
            default_company_id: env
                .optional("DEFAULT_COMPANY_ID")
                .unwrap_or_else(|| "default".to_owned()),
            companies_table: env.required("COMPANIES_TABLE")?,
        })
    }
}

/// The settings of a function Retell calls mid-call with the call's company: every tool, and
/// the inbound call webhook (which reads the caller's name from the same appointments table).
#[derive(Debug, Clone)]
pub struct ToolConfig {
    pub auth: RetellAuthConfig,
    pub appointments_table: String,
}

impl ToolConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            auth: RetellAuthConfig::from_env(env)?,
            appointments_table: env.required("APPOINTMENTS_TABLE")?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub auth: RetellAuthConfig,
    pub bucket: String,
    pub queue_urls: HashMap<EventKind, String>,
    pub max_body_bytes: usize,
    pub inline_limit_bytes: usize,
}

impl WebhookConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mut queue_urls = HashMap::new();
        for kind in EventKind::ALL {
            queue_urls.insert(kind, env.required(queue_url_var(kind))?);
        }
        Ok(Self {
            auth: RetellAuthConfig::from_env(env)?,
            bucket: env.required("EVENTS_BUCKET")?,
            queue_urls,
            max_body_bytes: env.parsed("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
            inline_limit_bytes: env.parsed("INLINE_LIMIT_BYTES", DEFAULT_INLINE_LIMIT_BYTES)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub calls_table: String,
    pub stats_table: String,
    pub bucket: String,
    pub time_zone: Tz,
    /// Where the tools keep appointments: lets the consumer find out what became of a write
    /// whose outcome the caller never heard (`crate::calendar::unresolved`).
    pub appointments_table: Option<String>,
}

impl ConsumerConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            calls_table: env.required("CALLS_TABLE")?,
            stats_table: env.required("CALL_STATS_TABLE")?,
            bucket: env.required("EVENTS_BUCKET")?,
            time_zone: env.time_zone()?,
            appointments_table: env.optional("APPOINTMENTS_TABLE"),
        })
    }
}

/// The scheduled reconcile job: the webhook's queue path (queues, bucket, keys, companies),
/// the calls table to compare with, and how far back it looks.
#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    pub webhook: WebhookConfig,
    pub calls_table: String,
    pub stats_table: String,
    /// `RETELL_BASE_URL` (default Retell's API).
    pub retell_base_url: String,
    /// `RECONCILE_LOOKBACK_MINUTES` (default 360): calls that started this long ago or later.
    pub lookback_minutes: i64,
    /// `STUCK_AFTER_MINUTES` (default 120): a call still ongoing here this long is asked about.
    pub stuck_after_minutes: i64,
    /// `STUCK_GIVE_UP_MINUTES` (default 1440): a call live here this long that Retell does not
    /// know is closed as `error`.
    pub give_up_minutes: i64,
    /// `RECONCILE_CONCURRENCY` (default 8): get-call requests in flight.
    pub concurrency: usize,
}

impl ReconcileConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            webhook: WebhookConfig::from_env(env)?,
            calls_table: env.required("CALLS_TABLE")?,
            stats_table: env.required("CALL_STATS_TABLE")?,
            retell_base_url: env
                .optional("RETELL_BASE_URL")
                .unwrap_or_else(|| crate::retell::api::DEFAULT_BASE_URL.to_owned()),
            lookback_minutes: env.parsed("RECONCILE_LOOKBACK_MINUTES", 360)?,
            stuck_after_minutes: env.parsed("STUCK_AFTER_MINUTES", 120)?,
            give_up_minutes: env.parsed("STUCK_GIVE_UP_MINUTES", 1440)?,
            concurrency: env.parsed("RECONCILE_CONCURRENCY", 8)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn webhook_config_needs_every_queue() {
        let e = env(&[
            ("RETELL_SECRET_ID", "s"),
            ("COMPANIES_TABLE", "c"),
            ("EVENTS_BUCKET", "b"),
            ("CALL_STARTED_QUEUE_URL", "q1"),
            ("CALL_ENDED_QUEUE_URL", "q2"),
        ]);
        let err = WebhookConfig::from_env(&e).expect_err("missing queue");
        assert_eq!(err, ConfigError::Missing("CALL_ANALYZED_QUEUE_URL"));
    }

    #[test]
    fn defaults_and_invalid_values() {
        let e = env(&[("DEFAULT_TIME_ZONE", "Mars/Olympus")]);
        assert!(matches!(e.time_zone(), Err(ConfigError::Invalid { .. })));
        assert_eq!(env(&[]).time_zone(), Ok(chrono_tz::Europe::Berlin));
        let e = env(&[("MAX_BODY_BYTES", "ten")]);
        assert!(e.parsed("MAX_BODY_BYTES", 1usize).is_err());
    }
}
