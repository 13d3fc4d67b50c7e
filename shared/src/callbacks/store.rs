//! Callback items, in the appointments table beside the company's appointments (its partition
//! `C#<company>`): `CB#open#<id>` while pending (open or assigned), `CB#done#<id>` once done,
//! so a company's pending ones are one Query, oldest first, however many are done. A callback
//! asked for in a call also writes `CBCALL#<call_id>` naming it, in the same transaction: a
//! retried tool call, or the follow-up the consumer opens for that call, finds the first one
//! instead of opening a second. Every update is conditional on the version read.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{
    is_callback_id, Callback, CallbackChange, CallbackError, CallbackNote, CallbackStatus,
    CallbackUpdate, NewCallback, MAX_CHANGES, MAX_NOTES,
};
use crate::platform::dynamo::{from_attribute, to_attribute};

/// At most this many pending callbacks are listed (and counted for the overdue metric): a
/// company with more sees its oldest 500, which are the ones to call first.
pub const MAX_PENDING_LISTED: i32 = 500;
/// Done ones shown below them, newest first.
pub const MAX_DONE_LISTED: i32 = 50;
/// How long the `CBCALL#` marker of a call is kept (the table's TTL removes it).
const MARKER_DAYS: i64 = 30;

#[derive(Clone, Debug)]
pub struct CallbackStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// What opening a callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    New(Callback),
    /// The call had asked for one already: that one.
    Existing(Callback),
}

impl Opened {
    pub fn callback(&self) -> &Callback {
        match self {
            Opened::New(c) | Opened::Existing(c) => c,
        }
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn pk(company_id: &str) -> String {
    format!("C#{company_id}")
}

fn sk(status: CallbackStatus, id: &str) -> String {
    let state = if status.is_pending() { "open" } else { "done" };
    format!("CB#{state}#{id}")
}

fn marker_sk(call_id: &str) -> String {
    format!("CBCALL#{call_id}")
}

fn backend(e: impl std::fmt::Display) -> CallbackError {
    CallbackError::Backend(e.to_string())
}

fn item(callback: &Callback) -> Result<HashMap<String, AttributeValue>, CallbackError> {
    let AttributeValue::M(mut item) =
        to_attribute(&serde_json::to_value(callback).map_err(backend)?)
    else {
        return Err(backend("a callback is not an object"));
    };
    item.insert("pk".into(), s(pk(&callback.company_id)));
    item.insert("sk".into(), s(sk(callback.status, &callback.callback_id)));
    Ok(item)
}

fn parse(item: &HashMap<String, AttributeValue>) -> Result<Callback, CallbackError> {
    let mut object = serde_json::Map::new();
    for (k, v) in item {
        if k != "pk" && k != "sk" {
            object.insert(k.clone(), from_attribute(v));
        }
    }
    serde_json::from_value(Value::Object(object))
        .map_err(|e| backend(format!("a stored callback is unreadable: {e}")))
}

fn is_condition_failure<R>(
    err: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>,
) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some("ConditionalCheckFailed")),
        _ => false,
    }
}

/// `cb_<ms>_<8 hex>`: the hex from what the callback is about, so two opened in the same
/// millisecond differ.
fn new_id(company_id: &str, new: &NewCallback, now_ms: i64) -> String {
    let digest = Sha256::digest(format!(
        "{company_id}|{}|{}|{now_ms}|{}",
        new.call_id.as_deref().unwrap_or(""),
        new.phone.as_str(),
        fastrand::u64(..)
    ));
    format!("cb_{now_ms:013}_{}", &hex::encode(digest)[..8])
}

impl CallbackStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Opens a callback for `company_id`. A call that asked for one already gets that one
    /// back (`Opened::Existing`), whatever it said the second time.
    pub async fn open(
        &self,
        company_id: &str,
        new: NewCallback,
        now: DateTime<Utc>,
    ) -> Result<Opened, CallbackError> {
        let now_ms = now.timestamp_millis();
        let callback = Callback {
            callback_id: new_id(company_id, &new, now_ms),
            company_id: company_id.to_owned(),
            status: CallbackStatus::Open,
            source: new.source,
            reason: new.reason,
            name: new.name,
            phone: new.phone.as_str().to_owned(),
            preferred: new.preferred,
            call_id: new.call_id,
            created_ms: now_ms,
            assignee: None,
            done_ms: None,
            notes: Vec::new(),
            changes: Vec::new(),
            version: 1,
        };
        let new_item = item(&callback)?;
        let Some(call_id) = callback.call_id.clone() else {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(new_item))
                .condition_expression("attribute_not_exists(sk)")
                .send()
                .await
                .map_err(|e| backend(DisplayErrorContext(e)))?;
            return Ok(Opened::New(callback));
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(new_item))
            .condition_expression("attribute_not_exists(sk)")
            .build()
            .map_err(backend)?;
        let marker = Put::builder()
            .table_name(&self.table)
            .item("pk", s(pk(company_id)))
            .item("sk", s(marker_sk(&call_id)))
            .item("callback_id", s(&callback.callback_id))
            .item(
                "expires_at",
                AttributeValue::N((now.timestamp() + MARKER_DAYS * 86_400).to_string()),
            )
            .condition_expression("attribute_not_exists(sk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(backend)?;
        let written = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(marker).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await;
        match written {
            Ok(_) => Ok(Opened::New(callback)),
            Err(e) if is_condition_failure(&e) => {
                let existing = self.of_call(company_id, &call_id).await?;
                existing.map(Opened::Existing).ok_or(CallbackError::Changed)
            }
            Err(e) => Err(backend(DisplayErrorContext(e))),
        }
    }

    /// The callback a call asked for, if any.
    pub async fn of_call(
        &self,
        company_id: &str,
        call_id: &str,
    ) -> Result<Option<Callback>, CallbackError> {
        let marker = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk(company_id)))
            .key("sk", s(marker_sk(call_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend(DisplayErrorContext(e)))?;
        match marker.item().and_then(|i| i.get("callback_id")) {
            Some(AttributeValue::S(id)) => self.get(company_id, id).await,
            _ => Ok(None),
        }
    }

    /// One of the company's callbacks (pending or done: one BatchGetItem of both keys). An id
    /// of another company is simply not in this company's partition.
    pub async fn get(&self, company_id: &str, id: &str) -> Result<Option<Callback>, CallbackError> {
        if !is_callback_id(id) {
            return Ok(None);
        }
        let keys = [CallbackStatus::Open, CallbackStatus::Done]
            .iter()
            .map(|status| {
                HashMap::from([
                    ("pk".to_owned(), s(pk(company_id))),
                    ("sk".to_owned(), s(sk(*status, id))),
                ])
            })
            .collect::<Vec<_>>();
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(backend)?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.table, request)
            .send()
            .await
            .map_err(|e| backend(DisplayErrorContext(e)))?;
        if out
            .unprocessed_keys()
            .is_some_and(|u| u.get(&self.table).is_some_and(|k| !k.keys().is_empty()))
        {
            return Err(backend("DynamoDB left the read unprocessed (throttled)"));
        }
        let items = out
            .responses
            .and_then(|mut r| r.remove(&self.table))
            .unwrap_or_default();
        // Both exist only for a moment during a move between states: the newer version wins.
        let mut found = items.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
        found.sort_by_key(|c| c.version);
        Ok(found.pop())
    }

    /// The company's pending callbacks, oldest first (at most [`MAX_PENDING_LISTED`]).
    pub async fn pending(&self, company_id: &str) -> Result<Vec<Callback>, CallbackError> {
        self.query(company_id, "CB#open#", true, MAX_PENDING_LISTED)
            .await
    }

    /// The company's done callbacks, newest first (at most `limit`).
    pub async fn done(&self, company_id: &str, limit: i32) -> Result<Vec<Callback>, CallbackError> {
        self.query(
            company_id,
            "CB#done#",
            false,
            limit.clamp(1, MAX_PENDING_LISTED),
        )
        .await
    }

    async fn query(
        &self,
        company_id: &str,
        prefix: &str,
        oldest_first: bool,
        limit: i32,
    ) -> Result<Vec<Callback>, CallbackError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(pk(company_id)))
                .expression_attribute_values(":prefix", s(prefix))
                .scan_index_forward(oldest_first)
                .limit(limit - out.len() as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| backend(DisplayErrorContext(e)))?;
            for item in page.items() {
                out.push(parse(item)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() && (out.len() as i32) < limit => start = Some(key),
                _ => return Ok(out),
            }
        }
    }

    /// Applies staff's change to the callback as read at `version`; `Changed` if someone else
    /// changed it since, `Invalid` for a change that is none or over the bounds.
    pub async fn update(
        &self,
        company_id: &str,
        id: &str,
        version: Option<i64>,
        update: &CallbackUpdate,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Callback, CallbackError> {
        let current = self
            .get(company_id, id)
            .await?
            .ok_or(CallbackError::NotFound)?;
        if version.is_some_and(|v| v != current.version) {
            return Err(CallbackError::Changed);
        }
        let next = changed(&current, update, by, now.timestamp_millis())?;
        let old_key = sk(current.status, id);
        let new_item = item(&next)?;
        let same_key = old_key == sk(next.status, id);
        let condition = "attribute_exists(sk) AND version = :v";
        let v = AttributeValue::N(current.version.to_string());
        let result = if same_key {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(new_item))
                .condition_expression(condition)
                .expression_attribute_values(":v", v)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception())
                    {
                        CallbackError::Changed
                    } else {
                        backend(DisplayErrorContext(e))
                    }
                })
        } else {
            let delete = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(pk(company_id)))
                .key("sk", s(old_key))
                .condition_expression(condition)
                .expression_attribute_values(":v", v)
                .build()
                .map_err(backend)?;
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(new_item))
                .condition_expression("attribute_not_exists(sk)")
                .build()
                .map_err(backend)?;
            self.client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(delete).build())
                .transact_items(TransactWriteItem::builder().put(put).build())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    if is_condition_failure(&e) {
                        CallbackError::Changed
                    } else {
                        backend(DisplayErrorContext(e))
                    }
                })
        };
        result.map(|()| next)
    }
}

/// The callback after `update`, with its change log; refuses an empty or oversized change.
fn changed(
    current: &Callback,
    update: &CallbackUpdate,
    by: &str,
    now_ms: i64,
) -> Result<Callback, CallbackError> {
    let mut next = current.clone();
    let mut what = Vec::new();
    if let Some(assignee) = &update.assignee {
        if *assignee != current.assignee {
            next.assignee = assignee.clone();
            what.push(match assignee {
                Some(a) => format!("assigned to {a}"),
                None => "unassigned".to_owned(),
            });
            if next.status == CallbackStatus::Open && assignee.is_some() {
                next.status = CallbackStatus::Assigned;
            }
            if next.status == CallbackStatus::Assigned && assignee.is_none() {
                next.status = CallbackStatus::Open;
            }
        }
    }
    if let Some(status) = update.status {
        if status != next.status {
            if status == CallbackStatus::Assigned && next.assignee.is_none() {
                return Err(CallbackError::Invalid(
                    "status assigned needs an assignee".into(),
                ));
            }
            next.status = status;
        }
    }
    if next.status != current.status {
        what.push(format!("status {}", next.status.as_str()));
        next.done_ms = (next.status == CallbackStatus::Done).then_some(now_ms);
    }
    if let Some(text) = &update.note {
        if next.notes.len() >= MAX_NOTES {
            return Err(CallbackError::Invalid(format!(
                "a callback keeps at most {MAX_NOTES} notes"
            )));
        }
        next.notes.push(CallbackNote {
            at_ms: now_ms,
            by: by.to_owned(),
            text: text.clone(),
        });
        what.push("note added".to_owned());
    }
    if what.is_empty() {
        return Err(CallbackError::Invalid(
            "nothing to change: give status, assignee or note".into(),
        ));
    }
    if next.changes.len() < MAX_CHANGES {
        next.changes.push(CallbackChange {
            at_ms: now_ms,
            by: by.to_owned(),
            what: what.join(", "),
        });
    }
    next.version = current.version + 1;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callbacks::CallbackSource;

    fn open() -> Callback {
        Callback {
            callback_id: "cb_1765000000000_0a1b2c3d".into(),
            company_id: "c".into(),
            status: CallbackStatus::Open,
            source: CallbackSource::Phone,
            reason: "Farbe".into(),
            name: None,
            phone: "+4915112345678".into(),
            preferred: None,
            call_id: None,
            created_ms: 0,
            assignee: None,
            done_ms: None,
            notes: vec![],
            changes: vec![],
            version: 1,
        }
    }

    #[test]
    fn assigning_and_finishing_is_logged() {
        let assign = CallbackUpdate {
            assignee: Some(Some("Anna".into())),
            ..Default::default()
        };
        let assigned = changed(&open(), &assign, "anna@salon.example", 5).unwrap();
        assert_eq!(assigned.status, CallbackStatus::Assigned);
        assert_eq!(assigned.version, 2);
        assert_eq!(
            assigned.changes[0].what,
            "assigned to Anna, status assigned"
        );
        let done = CallbackUpdate {
            status: Some(CallbackStatus::Done),
            note: Some("erreicht, Termin gebucht".into()),
            ..Default::default()
        };
        let done = changed(&assigned, &done, "anna@salon.example", 9).unwrap();
        assert_eq!(done.status, CallbackStatus::Done);
        assert_eq!(done.done_ms, Some(9));
        assert_eq!(done.notes.len(), 1);
        assert_eq!(
            sk(done.status, &done.callback_id),
            "CB#done#cb_1765000000000_0a1b2c3d"
        );
        // Reopened: pending again, no longer done.
        let reopen = CallbackUpdate {
            status: Some(CallbackStatus::Open),
            ..Default::default()
        };
        assert_eq!(changed(&done, &reopen, "x", 12).unwrap().done_ms, None);
    }

    #[test]
    fn refuses_empty_and_impossible_changes() {
        assert!(matches!(
            changed(&open(), &CallbackUpdate::default(), "x", 1),
            Err(CallbackError::Invalid(_))
        ));
        let same = CallbackUpdate {
            status: Some(CallbackStatus::Open),
            ..Default::default()
        };
        assert!(matches!(
            changed(&open(), &same, "x", 1),
            Err(CallbackError::Invalid(_))
        ));
        let assigned_to_nobody = CallbackUpdate {
            status: Some(CallbackStatus::Assigned),
            ..Default::default()
        };
        assert!(matches!(
            changed(&open(), &assigned_to_nobody, "x", 1),
            Err(CallbackError::Invalid(_))
        ));
    }

    #[test]
    fn items_read_back_as_written() {
        let mut cb = open();
        cb.notes.push(CallbackNote {
            at_ms: 3,
            by: "b".into(),
            text: "t".into(),
        });
        let stored = item(&cb).unwrap();
        assert_eq!(stored["pk"], s("C#c"));
        assert_eq!(parse(&stored).unwrap(), cb);
    }
}
