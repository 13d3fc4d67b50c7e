//! CloudWatch Logs, read over its JSON protocol (`Logs_20140328.*`; see [`super::aws_json`] for
//! why not the SDK): the functions' log lines, for the control center's logs page.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::platform::aws_json::{AwsJsonClient, AwsJsonError};

pub type LogsError = AwsJsonError;

/// One log line as CloudWatch keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEvent {
    pub timestamp_ms: i64,
    pub message: String,
    pub log_stream: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LogPage {
    pub events: Vec<LogEvent>,
    pub next_token: Option<String>,
}

#[derive(Clone, Debug)]
pub struct LogsClient {
    api: AwsJsonClient,
}

#[derive(Deserialize)]
struct FilterResponse {
    #[serde(default)]
    events: Vec<RawEvent>,
    #[serde(default, rename = "nextToken")]
    next_token: Option<String>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(default)]
    timestamp: i64,
    #[serde(default)]
    message: String,
    #[serde(default, rename = "logStreamName")]
    log_stream: String,
}

impl LogsClient {
    /// A client for the region and credentials of `config` (`AWS_ENDPOINT_URL` honoured).
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Result<Self, LogsError> {
        Ok(Self {
            api: AwsJsonClient::new(config, "logs", "Logs_20140328", None)?,
        })
    }

    /// Events of `group` in `[start_ms, end_ms]` matching `pattern` (CloudWatch's filter
    /// syntax; a quoted term matches it anywhere in the line), oldest first, one page.
    pub async fn filter_log_events(
        &self,
        group: &str,
        pattern: Option<&str>,
        start_ms: i64,
        end_ms: i64,
        limit: u32,
        next_token: Option<&str>,
    ) -> Result<LogPage, LogsError> {
        let mut body = json!({
            "logGroupName": group,
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": limit.clamp(1, 10_000),
        });
        if let Some(p) = pattern {
            body["filterPattern"] = Value::from(p);
        }
        if let Some(t) = next_token {
            body["nextToken"] = Value::from(t);
        }
        let answer: FilterResponse = self.api.call("FilterLogEvents", &body).await?;
        Ok(LogPage {
            events: answer
                .events
                .into_iter()
                .map(|e| LogEvent {
                    timestamp_ms: e.timestamp,
                    message: e.message,
                    log_stream: e.log_stream,
                })
                .collect(),
            next_token: answer.next_token.filter(|t| !t.is_empty()),
        })
    }
}
