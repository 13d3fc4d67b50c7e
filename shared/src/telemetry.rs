//! Structured JSON logs for CloudWatch (the functions use Lambda's JSON log format).
//!
//! Every handler opens a span with `call_id`, `event` and `company`; the JSON formatter copies
//! the current span's fields onto each line, so every line carries them. Phone numbers are
//! logged masked ([`crate::phone::mask_phone`]); secrets and transcript text are never logged.

use tracing_subscriber::EnvFilter;

/// Placeholder for span fields not known yet (for instance before a body is parsed).
pub const UNKNOWN: &str = "-";

pub fn init() {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_new("info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // `try_init`: a second call (tests, warm containers) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}

/// The span every log line of one event's handling sits in.
#[macro_export]
macro_rules! event_span {
    ($name:expr) => {
        tracing::info_span!(
            $name,
            call_id = $crate::telemetry::UNKNOWN,
            event = $crate::telemetry::UNKNOWN,
            company = $crate::telemetry::UNKNOWN
        )
    };
}
