//! Settings from the Lambda environment (set by template.yaml, or by the local stack).

use std::collections::HashMap;

use chrono_tz::Tz;

use crate::platform::outbound::OutboundPolicy;
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
    /// `CALENDAR_LOOPBACK=allow`: a company's Cal.com base URL may be plain http to 127.0.0.1
    /// (the local stack's stand-in). Never set by template.yaml: a deployed stack calls
    /// calendars over https on public addresses only.
    pub loopback_calendars: bool,
    /// `MESSAGING_QUEUE_URL`: where a booking, move or cancel queues its confirmation (unset:
    /// the tool sends none, as a tool that changes no appointment).
    pub messaging_queue_url: Option<String>,
}

impl ToolConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            auth: RetellAuthConfig::from_env(env)?,
            appointments_table: env.required("APPOINTMENTS_TABLE")?,
            loopback_calendars: env
                .optional("CALENDAR_LOOPBACK")
                .is_some_and(|v| v.trim() == "allow"),
            messaging_queue_url: env
                .optional("MESSAGING_QUEUE_URL")
                .filter(|url| !url.trim().is_empty()),
        })
    }
}

/// Retell's storage, where recording URLs point (the `RecordingHosts` stack parameter's default).
pub const DEFAULT_RECORDING_HOSTS: &str = "dxc03zgurdly9.cloudfront.net";

/// Retell's API (`RETELL_BASE_URL` when unset).
pub const DEFAULT_RETELL_BASE_URL: &str = "https://api.retellai.com";

/// `RECORDING_HOSTS`: where call recordings are fetched from and played (Retell's storage by
/// default; locally the simulator's origin).
pub fn recording_hosts(env: &Env) -> Result<OutboundPolicy, ConfigError> {
    let list = env
        .optional("RECORDING_HOSTS")
        .unwrap_or_else(|| DEFAULT_RECORDING_HOSTS.to_owned());
    OutboundPolicy::parse(&list).map_err(|reason| ConfigError::Invalid {
        name: "RECORDING_HOSTS",
        reason,
    })
}

/// The Cal.com webhook function: where companies and appointments are.
#[derive(Debug, Clone)]
pub struct CalComWebhookConfig {
    pub companies_table: String,
    pub appointments_table: String,
}

impl CalComWebhookConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            companies_table: env.required("COMPANIES_TABLE")?,
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
    /// COPY_RECORDINGS=true: the call-analyzed consumer copies each call's recording into the
    /// bucket once the call is analyzed (`crate::calls::recordings`).
    pub copy_recordings: bool,
    /// [`recording_hosts`]: the only places recordings are copied from.
    pub recording_hosts: OutboundPolicy,
    /// COMPANIES_TABLE: where each company's retention and recording setting is read
    /// (`crate::calls::retention`); none: every company has the stack default.
    pub companies_table: Option<String>,
    /// RETENTION_DAYS: the stack's default retention (one of the bucket's choices, else 90).
    pub retention_days: u16,
}

impl ConsumerConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            calls_table: env.required("CALLS_TABLE")?,
            stats_table: env.required("CALL_STATS_TABLE")?,
            bucket: env.required("EVENTS_BUCKET")?,
            time_zone: env.time_zone()?,
            appointments_table: env.optional("APPOINTMENTS_TABLE"),
            copy_recordings: env
                .optional("COPY_RECORDINGS")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
            recording_hosts: recording_hosts(env)?,
            companies_table: env.optional("COMPANIES_TABLE"),
            retention_days: crate::calls::retention::default_days(env)?,
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
    /// `APPOINTMENTS_TABLE`: where callbacks are kept; without it the run counts no overdue
    /// callbacks.
    pub appointments_table: Option<String>,
}

impl ReconcileConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            webhook: WebhookConfig::from_env(env)?,
            calls_table: env.required("CALLS_TABLE")?,
            stats_table: env.required("CALL_STATS_TABLE")?,
            retell_base_url: env
                .optional("RETELL_BASE_URL")
                .unwrap_or_else(|| DEFAULT_RETELL_BASE_URL.to_owned()),
            lookback_minutes: env.parsed("RECONCILE_LOOKBACK_MINUTES", 360)?,
            stuck_after_minutes: env.parsed("STUCK_AFTER_MINUTES", 120)?,
            give_up_minutes: env.parsed("STUCK_GIVE_UP_MINUTES", 1440)?,
            concurrency: env.parsed("RECONCILE_CONCURRENCY", 8)?,
            appointments_table: env.optional("APPOINTMENTS_TABLE"),
        })
    }
}

/// The control center (pages and admin API): the tables it reads, the Cognito pool whose tokens
/// it accepts, where it is served, and what it shows about the pipeline.
#[derive(Debug, Clone)]
pub struct ControlCenterConfig {
    pub auth: RetellAuthConfig,
    pub calls_table: String,
    pub stats_table: String,
    pub appointments_table: String,
    /// `USER_POOL_ID`, `USER_POOL_CLIENT_ID`: the pool and the app client the login form uses.
    pub user_pool_id: String,
    pub user_pool_client_id: String,
    pub region: String,
    /// `COGNITO_ENDPOINT`: Cognito's API (default `https://cognito-idp.<region>.amazonaws.com`;
    /// locally the emulator).
    pub cognito_endpoint: String,
    /// `COGNITO_JWKS_URL`: where the pool's signing keys are (default Cognito's).
    pub jwks_url: String,
    /// The issuer every token must name: `https://cognito-idp.<region>.amazonaws.com/<pool>`
    /// (the emulator issues the same).
    pub issuer: String,
    /// `BASE_PATH`: the path the pages live under (default `/admin/retell-control-center`).
    pub base_path: String,
    /// `PUBLIC_BASE_URL`: the stack's API base URL (webhook, tools, inbound webhook are below
    /// it): what an agent must point at to count as wired to this stack.
    pub public_base_url: String,
    /// `TOOL_URL_TEMPLATE`: a tool's URL with `{name}` and `{binary}` (default
    /// `<PUBLIC_BASE_URL>/api/retell/functions/{name}`).
    pub tool_url_template: String,
    pub webhook_url: String,
    pub inbound_url: String,
    /// `RETELL_BASE_URL` (default Retell's API; locally the simulator).
    pub retell_base_url: String,
    pub queue_urls: HashMap<EventKind, String>,
    pub dead_letter_urls: HashMap<EventKind, String>,
    /// `LOG_GROUPS`: `function=log group` pairs, comma-separated: the functions whose log
    /// lines the logs page and the operational figures read.
    pub log_groups: Vec<(String, String)>,
    /// `URL_PREFIX`: what comes before every path in links (locally `/lambda-url/control-center`,
    /// which cargo lambda puts in front; empty behind API Gateway).
    pub url_prefix: String,
    /// `DEFAULT_TIME_ZONE`: the statistics' days, and times of companies without settings.
    pub time_zone: Tz,
    /// [`recording_hosts`]: the recordings a call's page plays (its CSP's `media-src`).
    pub recording_hosts: OutboundPolicy,
    /// `CALENDAR_LOOPBACK=allow`, as for the tools: the desk books through the same calendars.
    pub loopback_calendars: bool,
}

impl ControlCenterConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let region = env
            .optional("AWS_REGION")
            .or_else(|| env.optional("AWS_DEFAULT_REGION"))
            .ok_or(ConfigError::Missing("AWS_REGION"))?;
        let user_pool_id = env.required("USER_POOL_ID")?;
        let cognito_endpoint = env
            .optional("COGNITO_ENDPOINT")
            .unwrap_or_else(|| format!("https://cognito-idp.{region}.amazonaws.com"))
            .trim_end_matches('/')
            .to_owned();
        let public_base_url = env
            .required("PUBLIC_BASE_URL")?
            .trim_end_matches('/')
            .to_owned();
        let mut queue_urls = HashMap::new();
        let mut dead_letter_urls = HashMap::new();
        for kind in EventKind::ALL {
            let var = queue_url_var(kind);
            queue_urls.insert(kind, env.required(var)?);
            let dlq = match kind {
                EventKind::CallStarted => "CALL_STARTED_DLQ_URL",
                EventKind::CallEnded => "CALL_ENDED_DLQ_URL",
                EventKind::CallAnalyzed => "CALL_ANALYZED_DLQ_URL",
            };
            dead_letter_urls.insert(kind, env.required(dlq)?);
        }
        let base_path = env
            .optional("BASE_PATH")
            .unwrap_or_else(|| "/admin/retell-control-center".to_owned());
        if !base_path.starts_with('/') || base_path.ends_with('/') {
            return Err(ConfigError::Invalid {
                name: "BASE_PATH",
                reason: "must start with / and not end with /".into(),
            });
        }
        Ok(Self {
            auth: RetellAuthConfig::from_env(env)?,
            calls_table: env.required("CALLS_TABLE")?,
            stats_table: env.required("CALL_STATS_TABLE")?,
            appointments_table: env.required("APPOINTMENTS_TABLE")?,
            jwks_url: env.optional("COGNITO_JWKS_URL").unwrap_or_else(|| {
                format!(
                    "https://cognito-idp.{region}.amazonaws.com/{user_pool_id}/.well-known/jwks.json"
                )
            }),
            issuer: format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"),
            user_pool_client_id: env.required("USER_POOL_CLIENT_ID")?,
            user_pool_id,
            cognito_endpoint,
            base_path,
            tool_url_template: env
                .optional("TOOL_URL_TEMPLATE")
                .unwrap_or_else(|| format!("{public_base_url}/api/retell/functions/{{name}}")),
            webhook_url: env
                .optional("WEBHOOK_URL")
                .unwrap_or_else(|| format!("{public_base_url}/api/retell/webhook")),
            inbound_url: env
                .optional("INBOUND_URL")
                .unwrap_or_else(|| format!("{public_base_url}/api/retell/inbound")),
            public_base_url,
            retell_base_url: env
                .optional("RETELL_BASE_URL")
                .unwrap_or_else(|| DEFAULT_RETELL_BASE_URL.to_owned()),
            queue_urls,
            dead_letter_urls,
            log_groups: env
                .optional("LOG_GROUPS")
                .map(|g| {
                    g.split(',')
                        .filter_map(|pair| {
                            let (function, group) = pair.split_once('=')?;
                            let (function, group) = (function.trim(), group.trim());
                            (!function.is_empty() && !group.is_empty())
                                .then(|| (function.to_owned(), group.to_owned()))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            url_prefix: env
                .optional("URL_PREFIX")
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_owned(),
            time_zone: env.time_zone()?,
            recording_hosts: recording_hosts(env)?,
            loopback_calendars: env
                .optional("CALENDAR_LOOPBACK")
                .is_some_and(|v| v.trim() == "allow"),
            region,
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
