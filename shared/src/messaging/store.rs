//! The messaging items, in the appointments table:
//!
//! - A **claim** per message (`pk = C#<company>`, `sk = M#<key>`): written before the send,
//!   conditional on no claim yet, then marked `sent`, `skipped` (with why) or `failed`. The key
//!   is the idempotency key (`<appointment>#<change>#<kind>#<channel>`), so a notice delivered
//!   twice sends once. A claim left `sending` (the function died mid-send) is not sent again
//!   after its lease: a message twice is worse than one maybe lost. Kept 180 days (TTL).
//! - The **due index** (`pk = D#<yyyy-mm-dd>` of the UTC day it is due, `sk = <due ms>#<key>`):
//!   notices that wait (reminders, quiet hours, calling hours), read by the sweep.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

use super::{backend, n, s, MessagingError, Notice};

/// How long a claim in `sending` is someone else's send in progress.
const SENDING_LEASE_MS: i64 = 5 * 60 * 1000;
const CLAIM_KEPT_SECS: i64 = 180 * 24 * 3600;
/// How many days back the sweep looks for what is due (a sweep missed for a day still finds it).
const SWEEP_DAYS_BACK: i64 = 3;

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This send is ours.
    Ours,
    /// Sent, skipped or given up before: nothing to do.
    Settled(String),
    /// Another send of it is in progress: try later.
    Busy,
}

/// How a claimed send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent { provider_id: String },
    Skipped { reason: &'static str },
    Failed { reason: String },
}

impl Outcome {
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Sent { .. } => "sent",
            Outcome::Skipped { .. } => "skipped",
            Outcome::Failed { .. } => "failed",
        }
    }
}

/// One waiting notice of the due index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub pk: String,
    pub sk: String,
    pub notice: Notice,
}

/// A claim as the outbox page and `retell-ops outbox` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub key: String,
    pub channel: String,
    pub kind: String,
    pub status: String,
    pub detail: Option<String>,
    pub recipient: Option<String>,
    pub at_ms: i64,
}

#[derive(Clone, Debug)]
pub struct MessageStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl MessageStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn claim_key(company_id: &str, key: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_owned(), s(format!("C#{company_id}"))),
            ("sk".to_owned(), s(format!("M#{key}"))),
        ])
    }

    /// Claims the send `key` (`recipient` masked, for the record).
    pub async fn claim(
        &self,
        company_id: &str,
        key: &str,
        channel: &str,
        kind: &str,
        recipient: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, MessagingError> {
        let now_ms = now.timestamp_millis();
        let mut item = Self::claim_key(company_id, key);
        item.extend([
            ("status".to_owned(), s("sending")),
            ("channel".to_owned(), s(channel)),
            ("kind".to_owned(), s(kind)),
            ("recipient".to_owned(), s(recipient)),
            ("at_ms".to_owned(), n(now_ms)),
            (
                "expires_at".to_owned(),
                n(now.timestamp() + CLAIM_KEPT_SECS),
            ),
        ]);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // A failed send may be tried again; anything else is settled or in progress.
            .condition_expression("attribute_not_exists(pk) OR #status = :failed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", s("failed"))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Ours),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let old = match e.err() {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                        c.item.clone().unwrap_or_default()
                    }
                    _ => HashMap::new(),
                };
                let status = match old.get("status") {
                    Some(AttributeValue::S(v)) => v.clone(),
                    _ => "unknown".to_owned(),
                };
                let at_ms = match old.get("at_ms") {
                    Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
                    _ => 0,
                };
                if status == "sending" && now_ms - at_ms < SENDING_LEASE_MS {
                    Ok(Claim::Busy)
                } else {
                    Ok(Claim::Settled(status))
                }
            }
            Err(e) => Err(backend(DisplayErrorContext(e))),
        }
    }

    /// Records how the claimed send ended.
    pub async fn finish(
        &self,
        company_id: &str,
        key: &str,
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> Result<(), MessagingError> {
        let detail = match outcome {
            Outcome::Sent { provider_id } => provider_id.clone(),
            Outcome::Skipped { reason } => (*reason).to_owned(),
            Outcome::Failed { reason } => reason.chars().take(300).collect(),
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::claim_key(company_id, key)))
            .update_expression("SET #status = :status, detail = :detail, done_at_ms = :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(outcome.status()))
            .expression_attribute_values(":detail", s(detail))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .send()
            .await
            .map_err(|e| backend(DisplayErrorContext(e)))?;
        Ok(())
    }

    /// A company's message records, newest first (at most `limit`).
    pub async fn records(
        &self,
        company_id: &str,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, MessagingError> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :m)")
                .expression_attribute_values(":pk", s(format!("C#{company_id}")))
                .expression_attribute_values(":m", s("M#"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| backend(DisplayErrorContext(e)))?;
            for item in out.items.unwrap_or_default() {
                let text = |f: &str| match item.get(f) {
                    Some(AttributeValue::S(v)) => Some(v.clone()),
                    _ => None,
                };
                records.push(MessageRecord {
                    key: text("sk")
                        .map(|k| k.trim_start_matches("M#").to_owned())
                        .unwrap_or_default(),
                    channel: text("channel").unwrap_or_default(),
                    kind: text("kind").unwrap_or_default(),
                    status: text("status").unwrap_or_default(),
                    detail: text("detail"),
                    recipient: text("recipient"),
                    at_ms: match item.get("at_ms") {
                        Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
                        _ => 0,
                    },
                });
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        records.sort_by_key(|r| std::cmp::Reverse(r.at_ms));
        records.truncate(limit);
        Ok(records)
    }

    /// Puts `notice` in the due index for `due` (`key` names it; the same key and time again
    /// overwrite it).
    pub async fn schedule(
        &self,
        notice: &Notice,
        key: &str,
        due: DateTime<Utc>,
    ) -> Result<(), MessagingError> {
        let body = serde_json::to_string(notice).map_err(backend)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("D#{}", due.format("%Y-%m-%d"))))
            .item(
                "sk",
                s(format!("{:013}#{key}", due.timestamp_millis().max(0))),
            )
            .item("notice", s(body))
            .item("expires_at", n((due + Duration::days(30)).timestamp()))
            .send()
            .await
            .map_err(|e| backend(DisplayErrorContext(e)))?;
        Ok(())
    }

    /// What is due at `now`, oldest first, at most `limit`.
    pub async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Due>, MessagingError> {
        let mut due = Vec::new();
        let upper = format!("{:013}~", now.timestamp_millis().max(0));
        for back in (0..=SWEEP_DAYS_BACK).rev() {
            let pk = format!("D#{}", (now - Duration::days(back)).format("%Y-%m-%d"));
            let mut start = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk AND sk <= :upper")
                    .expression_attribute_values(":pk", s(&pk))
                    .expression_attribute_values(":upper", s(&upper))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| backend(DisplayErrorContext(e)))?;
                for item in out.items.unwrap_or_default() {
                    let (Some(AttributeValue::S(sk)), Some(AttributeValue::S(body))) =
                        (item.get("sk"), item.get("notice"))
                    else {
                        continue;
                    };
                    match serde_json::from_str(body) {
                        Ok(notice) => due.push(Due {
                            pk: pk.clone(),
                            sk: sk.clone(),
                            notice,
                        }),
                        Err(e) => {
                            tracing::error!(sk = %sk, error = %e, "due item unreadable; left")
                        }
                    }
                    if due.len() >= limit {
                        return Ok(due);
                    }
                }
                start = out.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(due)
    }

    /// Drops a due item once its notice is back on the queue.
    pub async fn remove(&self, due: &Due) -> Result<(), MessagingError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&due.pk))
            .key("sk", s(&due.sk))
            .send()
            .await
            .map_err(|e| backend(DisplayErrorContext(e)))?;
        Ok(())
    }
}
