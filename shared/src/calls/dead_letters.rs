//! The events the consumers gave up on (five failed receives): read from the dead-letter queues
//! with what the consumer logged about each, and moved back to their queue once the cause is
//! fixed. A redriven event is stored once whatever happened before: the consumers skip an event
//! a call already has. Used by `retell-ops dlq` and the control center's dead-letter page, over
//! SQS's JSON protocol (`AwsJsonClient`), which keeps the SQS SDK out of the control center.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};

use crate::platform::aws_json::AwsJsonClient;
use crate::platform::logs::{LogsClient, Visit};
use crate::retell::EventKind;

/// Messages read from one dead-letter queue at most.
pub const MAX_MESSAGES: usize = 1000;
/// How long a listed message stays hidden from others while it is read (then released).
const PEEK_SECONDS: i32 = 30;
/// How far back the consumer's log is searched: the dead-letter queues keep messages 14 days.
const LOG_LOOKBACK_MS: i64 = 14 * 86_400_000;
/// The consumers' lines about a message they gave up on this time (`Consumer::handle_batch`).
const FAILED_LINES: &str = "?\"event failed\" ?\"handler panicked\"";
/// The time the search may take: the control center answers within its 15 s timeout.
const LOG_SEARCH_BUDGET: Duration = Duration::from_secs(3);

/// What a queue carries: one kind of Retell event, or the messaging notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    Event(EventKind),
    Messaging,
}

impl QueueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueKind::Event(kind) => kind.as_str(),
            QueueKind::Messaging => "messaging",
        }
    }
}

impl From<EventKind> for QueueKind {
    fn from(kind: EventKind) -> Self {
        QueueKind::Event(kind)
    }
}

/// A consumer's queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct QueuePair {
    pub kind: QueueKind,
    pub url: String,
    pub dlq_url: String,
    /// The log group of the queue's consumer (where it logs why a message failed).
    pub log_group: Option<String>,
}

/// One dead letter as people see it: what it is, never its payload.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub queue: &'static str,
    pub event: Option<String>,
    pub call_id: Option<String>,
    pub company_id: Option<String>,
    pub age_s: Option<i64>,
    pub receive_count: Option<u64>,
    /// The consumer's last `event failed` line for the message.
    pub last_error: Option<String>,
    pub body_bytes: usize,
    #[serde(skip)]
    receipt: Option<String>,
    #[serde(skip)]
    body: String,
}

impl DeadLetter {
    /// One message of ReceiveMessage's answer (JSON protocol).
    fn from_message(queue: &'static str, m: &Value, now_ms: i64) -> Self {
        let body = m
            .get("Body")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let envelope: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let text = |k: &str| {
            envelope
                .get(k)
                .and_then(Value::as_str)
                .map(|s| s.chars().take(200).collect::<String>())
        };
        let attr = |a: &str| {
            m.pointer(&format!("/Attributes/{a}"))
                .and_then(Value::as_str)
                .and_then(|v| v.parse::<i64>().ok())
        };
        Self {
            message_id: m
                .get("MessageId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            queue,
            event: text("event"),
            call_id: text("call_id"),
            company_id: text("company_id"),
            age_s: attr("SentTimestamp").map(|t| (now_ms - t) / 1000),
            receive_count: attr("ApproximateReceiveCount").map(|n| n.max(0) as u64),
            last_error: None,
            body_bytes: body.len(),
            receipt: m
                .get("ReceiptHandle")
                .and_then(Value::as_str)
                .map(str::to_owned),
            body,
        }
    }

    /// The message body as queued (the event envelope, or whatever was sent).
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// What a redrive did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Redriven {
    /// (message id, queue, call id) of each message moved back.
    pub moved: Vec<(String, &'static str, Option<String>)>,
    /// (message id, why) of each message still in its dead-letter queue.
    pub failed: Vec<(String, String)>,
    /// Ids asked for that no dead-letter queue has.
    pub not_found: Vec<String>,
}

impl Redriven {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.not_found.is_empty()
    }

    /// As `retell-ops dlq redrive --json` and the admin API answer it.
    pub fn report(&self) -> Value {
        let redriven: Vec<Value> = self
            .moved
            .iter()
            .map(|(id, queue, call)| json!({"message_id": id, "queue": queue, "call_id": call}))
            .collect();
        let failed: Vec<Value> = self
            .failed
            .iter()
            .map(|(id, e)| json!({"message_id": id, "error": e}))
            .collect();
        json!({"ok": self.ok(), "redriven": redriven, "failed": failed, "not_found": self.not_found})
    }
}

/// The dead-letter queues' reader and mover.
#[derive(Clone, Debug)]
pub struct DeadLetterQueues {
    sqs: AwsJsonClient,
    logs: Option<LogsClient>,
}

impl DeadLetterQueues {
    /// `sqs`: SQS on its JSON protocol (`AwsJsonClient::new(sdk, "sqs", "AmazonSQS", None)?
    /// .json_1_0()`); `logs`: where the consumers' log lines are read (none: no last errors).
    pub fn new(sqs: AwsJsonClient, logs: Option<LogsClient>) -> Self {
        Self { sqs, logs }
    }

    async fn sqs(&self, operation: &str, body: Value) -> Result<Value, String> {
        self.sqs
            .call(operation, &body)
            .await
            .map_err(|e| e.to_string())
    }

    /// Every message of a dead-letter queue (up to [`MAX_MESSAGES`]), each received once and
    /// hidden meanwhile. `release`: make them visible again at once (a look, not a take).
    pub async fn read(&self, pair: &QueuePair, release: bool) -> Result<Vec<DeadLetter>, String> {
        let now = Utc::now().timestamp_millis();
        let mut letters: Vec<DeadLetter> = Vec::new();
        // SQS samples its servers: one empty answer does not mean an empty queue.
        let mut empty_answers = 0;
        while letters.len() < MAX_MESSAGES && empty_answers < 2 {
            let got = self
                .sqs(
                    "ReceiveMessage",
                    json!({"QueueUrl": pair.dlq_url, "MaxNumberOfMessages": 10,
                           "VisibilityTimeout": PEEK_SECONDS, "WaitTimeSeconds": 0,
                           "AttributeNames": ["All"], "MessageSystemAttributeNames": ["All"]}),
                )
                .await?;
            let messages = got
                .get("Messages")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if messages.is_empty() {
                empty_answers += 1;
                continue;
            }
            empty_answers = 0;
            for m in &messages {
                let letter = DeadLetter::from_message(pair.kind.as_str(), m, now);
                // A long read can see a message again once its hiding time is over.
                if !letters.iter().any(|l| l.message_id == letter.message_id) {
                    letters.push(letter);
                }
            }
        }
        if release {
            self.release(pair, &letters).await?;
        }
        Ok(letters)
    }

    /// Makes read messages visible again.
    pub async fn release(&self, pair: &QueuePair, letters: &[DeadLetter]) -> Result<(), String> {
        for chunk in letters.chunks(10) {
            let entries: Vec<Value> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, l)| {
                    let receipt = l.receipt.as_ref()?;
                    Some(json!({"Id": i.to_string(), "ReceiptHandle": receipt, "VisibilityTimeout": 0}))
                })
                .collect();
            if entries.is_empty() {
                continue;
            }
            self.sqs(
                "ChangeMessageVisibilityBatch",
                json!({"QueueUrl": pair.dlq_url, "Entries": entries}),
            )
            .await?;
        }
        Ok(())
    }

    /// Every dead letter of `pairs`, released again, each with its consumer's last error.
    /// Also says which consumers' logs could not be read.
    pub async fn list(
        &self,
        pairs: &[&QueuePair],
    ) -> Result<(Vec<DeadLetter>, Vec<String>), String> {
        let mut all = Vec::new();
        let mut notes = Vec::new();
        for pair in pairs {
            let mut letters = self.read(pair, true).await?;
            if let Some(problem) = self.last_errors(pair, &mut letters).await {
                notes.push(format!(
                    "{}: the consumer's log could not be read: {problem}",
                    pair.kind.as_str()
                ));
            }
            all.extend(letters);
        }
        Ok((all, notes))
    }

    /// What the consumer logged about each message: its last `event failed` (or panic) line.
    /// One search of the consumer's log group for all of them, within [`LOG_SEARCH_BUDGET`];
    /// `Some(problem)` when the log could not be read (or not all of it in time).
    pub async fn last_errors(
        &self,
        pair: &QueuePair,
        letters: &mut [DeadLetter],
    ) -> Option<String> {
        let group = pair.log_group.as_deref()?;
        if letters.is_empty() {
            return None;
        }
        let Some(logs) = &self.logs else {
            return Some("no CloudWatch Logs client".into());
        };
        let wanted: HashSet<String> = letters.iter().map(|l| l.message_id.clone()).collect();
        let mut last: HashMap<String, (i64, String)> = HashMap::new();
        let now = Utc::now().timestamp_millis();
        // Newest first: a message's last error is in the newest window that mentions it, and
        // the search ends once every message has one.
        let searched = logs
            .newest_first(
                group,
                Some(FAILED_LINES),
                now - LOG_LOOKBACK_MS,
                now,
                LOG_SEARCH_BUDGET,
                |event| {
                    if let Some((id, error)) = failure_of(&event.message, &wanted) {
                        if last.get(&id).is_none_or(|(t, _)| event.timestamp_ms >= *t) {
                            last.insert(id, (event.timestamp_ms, error));
                        }
                    }
                    if last.len() == wanted.len() {
                        Visit::Enough
                    } else {
                        Visit::More
                    }
                },
            )
            .await;
        let problem = match searched {
            Ok(s) if s.out_of_time && last.len() < wanted.len() => {
                Some("the search ran out of time; older errors are not shown".to_owned())
            }
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        };
        for letter in letters.iter_mut() {
            letter.last_error = last.remove(&letter.message_id).map(|(_, e)| e);
        }
        problem
    }

    /// Moves dead letters back to their queue: those named in `ids`, or all with `all`; each
    /// sent again with the same body, then deleted from the dead-letter queue.
    pub async fn redrive(
        &self,
        pairs: &[&QueuePair],
        ids: &[String],
        all: bool,
    ) -> Result<Redriven, String> {
        let mut report = Redriven::default();
        for pair in pairs {
            let letters = self.read(pair, false).await?;
            let (chosen, others): (Vec<_>, Vec<_>) = letters
                .into_iter()
                .partition(|l| all || ids.contains(&l.message_id));
            self.release(pair, &others).await?;
            for l in chosen {
                let sent = self
                    .sqs(
                        "SendMessage",
                        json!({"QueueUrl": pair.url, "MessageBody": l.body}),
                    )
                    .await;
                let result = match sent {
                    Ok(_) => {
                        self.sqs(
                            "DeleteMessage",
                            json!({"QueueUrl": pair.dlq_url,
                                   "ReceiptHandle": l.receipt.clone().unwrap_or_default()}),
                        )
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("sent again, but still in the dead-letter queue: {e}"))
                    }
                    Err(e) => Err(e),
                };
                match result {
                    Ok(()) => report.moved.push((l.message_id, l.queue, l.call_id)),
                    Err(e) => {
                        self.release(pair, std::slice::from_ref(&l)).await?;
                        report.failed.push((l.message_id, e));
                    }
                }
            }
        }
        report.not_found = ids
            .iter()
            .filter(|id| !report.moved.iter().any(|(m, _, _)| m == *id))
            .filter(|id| !report.failed.iter().any(|(m, _)| m == *id))
            .cloned()
            .collect();
        Ok(report)
    }
}

/// A consumer's `event failed` (or panic) line about one of `wanted`: the message id and the
/// error. The emulator ignores filter patterns, so the line itself must say it.
fn failure_of(raw: &str, wanted: &HashSet<String>) -> Option<(String, String)> {
    let line = serde_json::from_str::<Value>(raw).ok()?;
    let field = |k: &str| {
        line.get(k)
            .or_else(|| line.get("fields").and_then(|f| f.get(k)))
    };
    let id = field("message_id").and_then(Value::as_str)?;
    let message = field("message").and_then(Value::as_str).unwrap_or_default();
    if !wanted.contains(id) || !(message.contains("failed") || message.contains("panicked")) {
        return None;
    }
    let error = field("error").and_then(Value::as_str).unwrap_or(message);
    Some((id.to_owned(), error.to_owned()))
}
