//! Structured JSON logs for CloudWatch (the functions use Lambda's JSON log format).
//!
//! Every handler opens a span with `call_id`, `event` and `company`; the JSON formatter copies
//! the current span's fields onto each line, so every line carries them. Phone numbers are
//! logged masked ([`crate::booking::phone::mask_phone`]); secrets and transcript text are never logged.

use std::str::FromStr;

use tracing_subscriber::filter::Targets;

/// Placeholder for span fields not known yet (for instance before a body is parsed).
pub const UNKNOWN: &str = "-";

/// Used when `RUST_LOG` is unset or invalid: our info lines, only warnings from the SDK.
const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn";

pub fn init() {
    // `Targets` reads RUST_LOG's `level,target=level` form without the regex engine that
    // EnvFilter brings (about 1 MB of bootstrap).
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| Targets::from_str(&v).ok())
        .or_else(|| Targets::from_str(DEFAULT_FILTER).ok())
        .unwrap_or_default();
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let format = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false);
    // `try_init`: a second call (tests, warm containers) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(format)
        .with(filter)
        .try_init();
}

/// Runs a request's handling and logs one `request answered` line with its status and
/// latency: the line the control center's operational figures (API response time, webhook
/// success rate) are computed from ([`ANSWERED`]); the same figures go to CloudWatch as metrics
/// of `api` (webhook, inbound, tools) and `function` ([`crate::platform::metrics`]).
pub async fn answered<F>(
    api: &str,
    function: &str,
    handling: F,
) -> lambda_http::Response<lambda_http::Body>
where
    F: std::future::Future<Output = lambda_http::Response<lambda_http::Body>>,
{
    let started = std::time::Instant::now();
    let response = handling.await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    tracing::info!(
        status,
        latency_ms = elapsed.as_millis() as u64,
        "{}",
        ANSWERED
    );
    crate::platform::metrics::request_answered(
        api,
        function,
        status,
        elapsed.as_secs_f64() * 1000.0,
    );
    response
}

/// The message of the line [`answered`] writes.
pub const ANSWERED: &str = "request answered";

/// The span every log line of one event's handling sits in.
#[macro_export]
macro_rules! event_span {
    ($name:expr) => {
        tracing::info_span!(
            $name,
            call_id = $crate::platform::telemetry::UNKNOWN,
            event = $crate::platform::telemetry::UNKNOWN,
            company = $crate::platform::telemetry::UNKNOWN
        )
    };
}
