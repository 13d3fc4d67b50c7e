//! CloudWatch Logs, read over its JSON protocol (`Logs_20140328.*`; see [`super::aws_json`] for
//! why not the SDK): the functions' log lines, for the control center's logs page.
//!
//! Every search reads newest first and within a time budget ([`LogsClient::newest_first`]):
//! FilterLogEvents answers oldest first, so a long window is read as short windows walking back
//! from its end, and a search that runs out of time has the newest lines, not the oldest.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::platform::aws_json::{AwsJsonClient, AwsJsonError};

pub type LogsError = AwsJsonError;

/// The first window a newest-first search reads; each further one back is twice as long.
const FIRST_WINDOW_MS: i64 = 15 * 60_000;

/// How far a newest-first search got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Searched {
    /// The oldest time it read back to (`from_ms` when it read everything).
    pub back_to_ms: i64,
    /// It stopped because the budget was spent, with older lines unread.
    pub out_of_time: bool,
}

/// What the visitor of a search wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    More,
    /// Enough has been found: the search ends after the window it is in.
    Enough,
}

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

    /// The events of `group` in `[from_ms, to_ms]` matching `pattern`, newest windows first
    /// (within a window, oldest first, as CloudWatch pages them): each is handed to `visit`
    /// until it answers [`Visit::Enough`], the window reaches `from_ms`, or `budget` is spent.
    pub async fn newest_first(
        &self,
        group: &str,
        pattern: Option<&str>,
        from_ms: i64,
        to_ms: i64,
        budget: Duration,
        mut visit: impl FnMut(LogEvent) -> Visit,
    ) -> Result<Searched, LogsError> {
        let started = Instant::now();
        let mut end = to_ms;
        let mut width = FIRST_WINDOW_MS;
        while end >= from_ms {
            let start = end.saturating_sub(width - 1).max(from_ms);
            let mut token: Option<String> = None;
            let mut enough = false;
            loop {
                if started.elapsed() > budget {
                    return Ok(Searched {
                        back_to_ms: end,
                        out_of_time: true,
                    });
                }
                let page = self
                    .filter_log_events(group, pattern, start, end, 1000, token.as_deref())
                    .await?;
                for event in page.events {
                    if visit(event) == Visit::Enough {
                        enough = true;
                    }
                }
                match page.next_token {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
            if enough || start <= from_ms {
                return Ok(Searched {
                    back_to_ms: start,
                    out_of_time: false,
                });
            }
            end = start - 1;
            width = width.saturating_mul(2);
        }
        Ok(Searched {
            back_to_ms: from_ms,
            out_of_time: false,
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
