//! What Lambda's SQS event source mapping does, for the local stack and the integration tests:
//! receive up to `batch_size` messages, invoke the consumer with an `SqsEvent`, delete the
//! messages that succeeded, and leave the failed ones on the queue. With
//! ReportBatchItemFailures only the reported items failed; without it, or if the invocation
//! errored, the whole batch did. Redrive to the dead-letter queue is the queue's own
//! (maxReceiveCount), as in AWS.

use std::collections::{HashMap, HashSet};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use serde::Deserialize;

/// One SQS trigger of a function, as the bootstrap reads it from template.yaml.
#[derive(Debug, Clone, Deserialize)]
pub struct EventSource {
    pub function: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: i32,
    pub report_batch_item_failures: bool,
    /// Its event source mapping in the emulator's Lambda: while disabled nothing is delivered.
    #[serde(default)]
    pub mapping_uuid: Option<String>,
}

/// Runs a function on a batch.
pub trait Invoker {
    fn invoke(
        &self,
        function: &str,
        event: &SqsEvent,
    ) -> impl std::future::Future<Output = Result<SqsBatchResponse, String>> + Send;
}

/// Invokes functions through `cargo lambda watch`'s Lambda API.
#[derive(Clone, Debug)]
pub struct HttpInvoker {
    client: reqwest::Client,
    base_url: String,
}

impl HttpInvoker {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            client: shared::platform::http::client_builder()
                .build()
                .unwrap_or_default(),
            base_url: base_url.into(),
        }
    }
}

impl HttpInvoker {
    /// Invokes `function` with `event` as EventBridge's scheduler does (`Scheduled Event`, the
    /// run's time): the local stack runs the template's `rate(...)` schedules this way.
    pub async fn invoke_scheduled(
        &self,
        function: &str,
        region: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, String> {
        let event = serde_json::json!({
            "version": "0", "id": format!("local-{}", at.timestamp_millis()),
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "region": region, "resources": [], "detail": {},
        });
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.base_url
        );
        let response = self
            .client
            .post(url)
            .json(&event)
            .send()
            .await
            .map_err(|e| format!("invoke failed: {e}"))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("function error ({status}): {body}"));
        }
        Ok(body)
    }
}

/// One schedule of a function, as the bootstrap reads it from template.yaml: `rate(...)` or a
/// daily `cron(M H * * ? *)` (UTC, as EventBridge reads it).
#[derive(Debug, Clone, Deserialize)]
pub struct Schedule {
    pub function: String,
    #[serde(default)]
    pub every_s: Option<u64>,
    #[serde(default)]
    pub expression: String,
    /// Its EventBridge rule in the emulator: while disabled the schedule does not run.
    #[serde(default)]
    pub rule: Option<String>,
}

impl Schedule {
    /// When it runs next after `now` (None: an expression the local stack does not run).
    pub fn next_run(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        if let Some(every) = self.every_s {
            return Some(now + chrono::Duration::seconds(every.max(1) as i64));
        }
        let (minute, hour) = daily_cron(&self.expression)?;
        let today = now.date_naive().and_hms_opt(hour, minute, 0)?.and_utc();
        Some(if today > now {
            today
        } else {
            today + chrono::Duration::days(1)
        })
    }
}

/// `cron(M H * * ? *)`: minute and hour of a daily run.
fn daily_cron(expression: &str) -> Option<(u32, u32)> {
    let inner = expression.trim().strip_prefix("cron(")?.strip_suffix(')')?;
    match inner.split_whitespace().collect::<Vec<_>>().as_slice() {
        [m, h, "*", "*", "?", "*"] => {
            let (m, h) = (m.parse().ok()?, h.parse().ok()?);
            (m < 60 && h < 24).then_some((m, h))
        }
        _ => None,
    }
}

impl Invoker for HttpInvoker {
    async fn invoke(&self, function: &str, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.base_url
        );
        let response = self
            .client
            .post(url)
            .json(event)
            .send()
            .await
            .map_err(|e| format!("invoke failed: {e}"))?;
        let status = response.status();
        let function_error = response.headers().contains_key("x-amz-function-error");
        let body = response.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() || function_error {
            return Err(format!("function error ({status}): {body}"));
        }
        // A handler that returns nothing reports no failures.
        if body.trim().is_empty() || body.trim() == "null" {
            return Ok(SqsBatchResponse::default());
        }
        serde_json::from_str(&body).map_err(|e| format!("bad batch response {body:?}: {e}"))
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollOutcome {
    pub received: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// Received while the mapping was switched off, and put back.
    pub released: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PumpError {
    #[error("SQS: {0}")]
    Sqs(String),
}

fn sqs_err<E: std::error::Error + 'static>(
    e: aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
) -> PumpError {
    PumpError::Sqs(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
}

pub struct Pump<I> {
    sqs: aws_sdk_sqs::Client,
    invoker: I,
    region: String,
    /// Locally a failed message is retried after this many seconds instead of the queue's
    /// full visibility timeout, so redrive is seen in seconds, not minutes.
    retry_after_secs: i32,
}

impl<I: Invoker> Pump<I> {
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        invoker: I,
        region: impl Into<String>,
        retry_after_secs: i32,
    ) -> Self {
        Self {
            sqs,
            invoker,
            region: region.into(),
            retry_after_secs,
        }
    }

    /// One receive-invoke-settle cycle on one queue.
    pub async fn poll_once(
        &self,
        source: &EventSource,
        wait_secs: i32,
    ) -> Result<PollOutcome, PumpError> {
        self.poll_once_while(source, wait_secs, || async { true })
            .await
    }

    /// One cycle that delivers only if `still_on` says so once the messages are received: a
    /// mapping disabled during the receive's long poll gets its messages back on the queue at
    /// once (visible again), as Lambda's poller stops with its mapping.
    pub async fn poll_once_while<F, Fut>(
        &self,
        source: &EventSource,
        wait_secs: i32,
        still_on: F,
    ) -> Result<PollOutcome, PumpError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&source.queue_url)
            .max_number_of_messages(source.batch_size.clamp(1, 10))
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(sqs_err)?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(PollOutcome::default());
        }
        if !still_on().await {
            for handle in messages.iter().filter_map(|m| m.receipt_handle.as_deref()) {
                self.sqs
                    .change_message_visibility()
                    .queue_url(&source.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .map_err(sqs_err)?;
            }
            return Ok(PollOutcome {
                released: messages.len(),
                ..PollOutcome::default()
            });
        }
        let mut event = SqsEvent::default();
        let mut handles = HashMap::new();
        for m in &messages {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.md5_of_body = m.md5_of_body.clone();
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(source.queue_arn.clone());
            record.aws_region = Some(self.region.clone());
            record.attributes = m
                .attributes
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.as_str().to_owned(), v))
                .collect();
            record.message_attributes = m
                .message_attributes
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| {
                    let mut attr = SqsMessageAttribute::default();
                    attr.data_type = Some(v.data_type);
                    attr.string_value = v.string_value;
                    (k, attr)
                })
                .collect();
            if let (Some(id), Some(handle)) = (&m.message_id, &m.receipt_handle) {
                handles.insert(id.clone(), handle.clone());
            }
            event.records.push(record);
        }

        let failed: HashSet<String> = match self.invoker.invoke(&source.function, &event).await {
            Ok(response) if source.report_batch_item_failures => {
                let ids: HashSet<String> = response
                    .batch_item_failures
                    .into_iter()
                    .map(|f| f.item_identifier)
                    .collect();
                // Lambda treats an unknown identifier as a failure of the whole batch.
                if ids.iter().any(|id| !handles.contains_key(id)) {
                    handles.keys().cloned().collect()
                } else {
                    ids
                }
            }
            Ok(_) => HashSet::new(),
            Err(error) => {
                tracing::warn!(function = %source.function, %error, "invocation failed; batch will be retried");
                handles.keys().cloned().collect()
            }
        };

        let succeeded: Vec<DeleteMessageBatchRequestEntry> = handles
            .iter()
            .filter(|(id, _)| !failed.contains(*id))
            .enumerate()
            .filter_map(|(i, (_, handle))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .build()
                    .ok()
            })
            .collect();
        let outcome = PollOutcome {
            received: handles.len(),
            succeeded: succeeded.len(),
            failed: failed.len(),
            released: 0,
        };
        if !succeeded.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&source.queue_url)
                .set_entries(Some(succeeded))
                .send()
                .await
                .map_err(sqs_err)?;
        }
        for id in &failed {
            if let Some(handle) = handles.get(id) {
                self.sqs
                    .change_message_visibility()
                    .queue_url(&source.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(self.retry_after_secs)
                    .send()
                    .await
                    .map_err(sqs_err)?;
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::Schedule;

    fn schedule(expression: &str, every_s: Option<u64>) -> Schedule {
        Schedule {
            function: "f".into(),
            every_s,
            expression: expression.into(),
            rule: None,
        }
    }

    #[test]
    fn rates_and_daily_crons_run_when_eventbridge_would() {
        let now = "2026-12-06T03:00:00Z".parse().unwrap();
        let at = |e: &str| schedule(e, None).next_run(now).map(|t| t.to_rfc3339());
        assert_eq!(
            at("cron(30 2 * * ? *)").as_deref(),
            Some("2026-12-07T02:30:00+00:00")
        );
        assert_eq!(
            at("cron(15 4 * * ? *)").as_deref(),
            Some("2026-12-06T04:15:00+00:00")
        );
        for not_run in [
            "cron(0 2 ? * MON *)",
            "cron(61 2 * * ? *)",
            "cron(0 24 * * ? *)",
            "rate(5 minutes)",
            "",
        ] {
            assert_eq!(at(not_run), None, "{not_run}");
        }
        let every = schedule("rate(5 minutes)", Some(300))
            .next_run(now)
            .unwrap();
        assert_eq!((every - now).num_seconds(), 300);
    }
}
