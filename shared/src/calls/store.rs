//! Call records and daily statistics in DynamoDB.
//!
//! One item per call in the calls table (key `call_id`); a record is replaced as a whole with an
//! optimistic version check, in one transaction with the statistics increments it implies, so a
//! call is counted exactly once however often its events are delivered. See docs/data-model.md.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono_tz::Tz;

use crate::calls::event::{CallEvent, RESERVED_ATTRIBUTES};
use crate::calls::record::{Applied, CallRecord};
use crate::calls::stats::{CallStats, StaffBookings, StatsDelta, BOOKED_STAFF_PREFIX};
use crate::calls::transfer::Transfer;
use crate::platform::dynamo::{from_attribute, to_attribute};
use crate::retell::{CallId, EventKind};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the record changed since it was read")]
    Conflict,
    #[error("stored item is not a valid call record: {0}")]
    Corrupt(String),
    #[error("DynamoDB request failed: {0}")]
    Backend(String),
    #[error("invalid {0}")]
    Invalid(String),
}

pub trait CallStore {
    fn load(
        &self,
        call_id: &CallId,
    ) -> impl std::future::Future<Output = Result<Option<CallRecord>, StoreError>> + Send;

    /// Which events a call has (None: no record). Only this, where the store can read less
    /// than the whole record (the reconcile job asks it for every call Retell lists).
    fn events_applied(
        &self,
        call_id: &CallId,
    ) -> impl std::future::Future<Output = Result<Option<BTreeSet<EventKind>>, StoreError>> + Send
    where
        Self: Sync,
    {
        async move { Ok(self.load(call_id).await?.map(|r| r.events_applied)) }
    }

    /// Writes `applied.record` if the stored version is still `expected_version` (`None`: the
    /// call must not exist yet), together with its statistics deltas.
    fn save(
        &self,
        applied: &Applied,
        expected_version: Option<u64>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

/// What happened to an event.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyOutcome {
    /// `counted`: what the event changed in its call's statistics (all days summed);
    /// `record`: the call as written.
    Applied {
        version: u64,
        counted: Box<CallStats>,
        record: Box<CallRecord>,
    },
    Duplicate,
    /// The call is stored under another company: the event is not merged (a call id is
    /// Retell's, and two tenants' events must never share a record). The consumer logs it with
    /// both companies and counts it; the message is done, not retried.
    OtherCompany {
        stored_company: String,
    },
}

/// Read, merge, conditionally write; on a concurrent write to the same call, read again.
pub async fn apply_event<S: CallStore>(
    store: &S,
    event: &CallEvent,
    tz: &Tz,
) -> Result<ApplyOutcome, StoreError> {
    apply_to_call(store, &event.call_id, &event.company_id, |existing| {
        CallRecord::apply(existing, event, tz)
    })
    .await
}

/// [`apply_event`] for a transfer event: one entry more in the call's transfer log.
pub async fn apply_transfer<S: CallStore>(
    store: &S,
    transfer: &Transfer,
    tz: &Tz,
) -> Result<ApplyOutcome, StoreError> {
    apply_to_call(store, &transfer.call_id, &transfer.company_id, |existing| {
        CallRecord::apply_transfer(existing, transfer, tz)
    })
    .await
}

/// Read, change, write if unchanged since the read; again on a concurrent change.
async fn apply_to_call<S: CallStore>(
    store: &S,
    call_id: &CallId,
    company_id: &str,
    change: impl Fn(Option<&CallRecord>) -> Option<Applied>,
) -> Result<ApplyOutcome, StoreError> {
    // A call has at most three distinct events, but SQS may deliver copies concurrently:
    // retry with jittered exponential backoff well within the consumer's 30 s timeout.
    const ATTEMPTS: u32 = 12;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let existing = store.load(call_id).await?;
        if let Some(stored) = existing.as_ref().filter(|r| r.company_id != company_id) {
            return Ok(ApplyOutcome::OtherCompany {
                stored_company: stored.company_id.clone(),
            });
        }
        let Some(mut applied) = change(existing.as_ref()) else {
            return Ok(ApplyOutcome::Duplicate);
        };
        let expected = existing.as_ref().map(|r| r.version);
        applied.record.version = expected.unwrap_or(0) + 1;
        match store.save(&applied, expected).await {
            Ok(()) => {
                let counted = applied
                    .stats
                    .iter()
                    .fold(CallStats::default(), |sum, d| sum.plus(d.delta));
                return Ok(ApplyOutcome::Applied {
                    version: applied.record.version,
                    counted: Box::new(counted),
                    record: Box::new(applied.record),
                });
            }
            Err(StoreError::Conflict) if attempt < ATTEMPTS => {
                tracing::info!(attempt, "concurrent update of the call, retrying");
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// 10 ms doubling per attempt up to 640 ms, with up to 50% jitter so racing writers spread out.
fn backoff(attempt: u32) -> Duration {
    let base = 10u64 << attempt.min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    Duration::from_millis(base + nanos % (base / 2 + 1))
}

#[derive(Clone, Debug)]
pub struct DynamoCallStore {
    pub(crate) client: aws_sdk_dynamodb::Client,
    pub(crate) calls_table: String,
    pub(crate) stats_table: String,
}

impl DynamoCallStore {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        calls_table: impl Into<String>,
        stats_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            calls_table: calls_table.into(),
            stats_table: stats_table.into(),
        }
    }

    /// A company's statistics for one day (all zero if nothing was counted).
    pub async fn daily_stats(&self, company_id: &str, day: &str) -> Result<CallStats, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.stats_table)
            .key("company_id", AttributeValue::S(company_id.to_owned()))
            .key("day", AttributeValue::S(day.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Backend(DisplayErrorContext(e).to_string()))?;
        stats_from_item(&out.item.unwrap_or_default())
    }
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn record_to_item(record: &CallRecord, now_ms: i64) -> HashMap<String, AttributeValue> {
    let mut item: HashMap<String, AttributeValue> = record
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), to_attribute(v)))
        .collect();
    item.insert(
        "call_id".into(),
        AttributeValue::S(record.call_id.as_str().to_owned()),
    );
    item.insert(
        "company_id".into(),
        AttributeValue::S(record.company_id.clone()),
    );
    item.insert(
        "field_rank".into(),
        AttributeValue::M(
            record
                .field_rank
                .iter()
                .map(|(k, r)| (k.clone(), n(r)))
                .collect(),
        ),
    );
    item.insert(
        "events_applied".into(),
        AttributeValue::Ss(
            record
                .events_applied
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
        ),
    );
    if !record.payload_refs.is_empty() {
        item.insert(
            "payload_refs".into(),
            AttributeValue::Ss(record.payload_refs.iter().cloned().collect()),
        );
    }
    if !record.trimmed_fields.is_empty() {
        item.insert(
            "trimmed_fields".into(),
            AttributeValue::Ss(record.trimmed_fields.iter().cloned().collect()),
        );
    }
    if record.transcript_truncated {
        item.insert("transcript_truncated".into(), AttributeValue::Bool(true));
    }
    item.insert("first_seen_ms".into(), n(record.first_seen_ms));
    item.insert("version".into(), n(record.version));
    item.insert(
        "stats_day".into(),
        AttributeValue::S(record.stats_day.clone()),
    );
    if let Some(hour) = record.stats_hour {
        item.insert("stats_hour".into(), n(hour));
    }
    item.insert("call_ts".into(), n(record.call_ts()));
    item.insert("updated_at_ms".into(), n(now_ms));
    if let (Some(days), Some(expires_at)) = (record.retention_days, record.expires_at()) {
        item.insert("retention_days".into(), n(days));
        // The table's TTL attribute: DynamoDB deletes the call (within days) once it is past.
        item.insert("expires_at".into(), n(expires_at));
    }
    if let Some(at) = record.erased_at_ms {
        item.insert("erased_at_ms".into(), n(at));
    }
    // Sparse index: only live calls carry the attribute, so the index holds only them.
    if let Some(company) = record.active_company() {
        item.insert(
            "active_company".into(),
            AttributeValue::S(company.to_owned()),
        );
    }
    item
}

/// A statistics item's counters (absent ones are zero).
pub fn stats_from_item(item: &HashMap<String, AttributeValue>) -> Result<CallStats, StoreError> {
    let mut values = [0i64; CallStats::FIELDS.len()];
    for (i, name) in CallStats::FIELDS.iter().enumerate() {
        if let Some(AttributeValue::N(n)) = item.get(*name) {
            values[i] = n
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("{name}={n}")))?;
        }
    }
    Ok(CallStats::from_values(values))
}

/// The `booked_staff:<name>` counters of a statistics item (zero counts left out).
pub fn staff_bookings_from_item(
    item: &HashMap<String, AttributeValue>,
) -> Result<StaffBookings, StoreError> {
    let mut out = StaffBookings::new();
    for (attribute, value) in item {
        let Some(name) = attribute.strip_prefix(BOOKED_STAFF_PREFIX) else {
            continue;
        };
        let AttributeValue::N(n) = value else {
            return Err(corrupt(attribute));
        };
        let n: i64 = n.parse().map_err(|_| corrupt(attribute))?;
        if n != 0 {
            out.insert(name.to_owned(), n);
        }
    }
    Ok(out)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

pub fn item_to_record(item: &HashMap<String, AttributeValue>) -> Result<CallRecord, StoreError> {
    let s = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(corrupt(name)),
    };
    let num = |name: &str| match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse::<i64>().map_err(|_| corrupt(name)),
        _ => Err(corrupt(name)),
    };
    let set = |name: &str| match item.get(name) {
        Some(AttributeValue::Ss(v)) => v.iter().cloned().collect::<BTreeSet<_>>(),
        _ => BTreeSet::new(),
    };
    let call_id = CallId::parse(&s("call_id")?).map_err(|e| corrupt(&e.to_string()))?;
    let mut field_rank = BTreeMap::new();
    if let Some(AttributeValue::M(ranks)) = item.get("field_rank") {
        for (k, v) in ranks {
            let rank = match v {
                AttributeValue::N(r) => r.parse::<u8>().map_err(|_| corrupt("field_rank"))?,
                _ => return Err(corrupt("field_rank")),
            };
            field_rank.insert(k.clone(), rank);
        }
    }
    let events_applied = set("events_applied")
        .iter()
        .map(|e| EventKind::parse(e).ok_or_else(|| corrupt("events_applied")))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let fields = item
        .iter()
        .filter(|(k, _)| !RESERVED_ATTRIBUTES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), from_attribute(v)))
        .collect();
    Ok(CallRecord {
        call_id,
        company_id: s("company_id")?,
        fields,
        field_rank,
        events_applied,
        payload_refs: set("payload_refs"),
        first_seen_ms: num("first_seen_ms")?,
        version: u64::try_from(num("version")?).map_err(|_| corrupt("version"))?,
        stats_day: s("stats_day")?,
        stats_hour: match item.get("stats_hour") {
            None => None,
            Some(_) => Some(
                num("stats_hour")
                    .ok()
                    .and_then(|h| u32::try_from(h).ok())
                    .filter(|h| *h < 24)
                    .ok_or_else(|| corrupt("stats_hour"))?,
            ),
        },
        transcript_truncated: matches!(
            item.get("transcript_truncated"),
            Some(AttributeValue::Bool(true))
        ),
        trimmed_fields: set("trimmed_fields"),
        retention_days: match item.get("retention_days") {
            None => None,
            Some(_) => Some(
                num("retention_days")
                    .ok()
                    .and_then(|d| u16::try_from(d).ok())
                    .ok_or_else(|| corrupt("retention_days"))?,
            ),
        },
        erased_at_ms: match item.get("erased_at_ms") {
            None => None,
            Some(_) => Some(num("erased_at_ms")?),
        },
    })
}

fn stats_update(
    table: &str,
    delta: &StatsDelta,
    now_ms: i64,
) -> Result<TransactWriteItem, StoreError> {
    let mut adds = Vec::new();
    let mut update = Update::builder()
        .table_name(table)
        .key("company_id", AttributeValue::S(delta.company_id.clone()))
        .key("day", AttributeValue::S(delta.day.clone()));
    for (i, (name, value)) in CallStats::FIELDS
        .iter()
        .zip(delta.delta.values())
        .enumerate()
    {
        if value != 0 {
            adds.push(format!("#f{i} :v{i}"));
            update = update
                .expression_attribute_names(format!("#f{i}"), *name)
                .expression_attribute_values(format!(":v{i}"), n(value));
        }
    }
    for (i, (name, value)) in delta.staff.iter().enumerate() {
        adds.push(format!("#s{i} :w{i}"));
        update = update
            .expression_attribute_names(format!("#s{i}"), format!("{BOOKED_STAFF_PREFIX}{name}"))
            .expression_attribute_values(format!(":w{i}"), n(*value));
    }
    let mut expression = "SET updated_at_ms = :now".to_owned();
    if !adds.is_empty() {
        expression.push_str(" ADD ");
        expression.push_str(&adds.join(", "));
    }
    let update = update
        .update_expression(expression)
        .expression_attribute_values(":now", n(now_ms))
        .build()
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl CallStore for DynamoCallStore {
    async fn load(&self, call_id: &CallId) -> Result<Option<CallRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.calls_table)
            .key("call_id", AttributeValue::S(call_id.as_str().to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Backend(DisplayErrorContext(e).to_string()))?;
        out.item.as_ref().map(item_to_record).transpose()
    }

    async fn events_applied(
        &self,
        call_id: &CallId,
    ) -> Result<Option<BTreeSet<EventKind>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.calls_table)
            .key("call_id", AttributeValue::S(call_id.as_str().to_owned()))
            .projection_expression("call_id, events_applied")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Backend(DisplayErrorContext(e).to_string()))?;
        Ok(out.item.map(|item| match item.get("events_applied") {
            Some(AttributeValue::Ss(names)) => {
                names.iter().filter_map(|n| EventKind::parse(n)).collect()
            }
            _ => BTreeSet::new(),
        }))
    }

    async fn save(
        &self,
        applied: &Applied,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut put = Put::builder()
            .table_name(&self.calls_table)
            .set_item(Some(record_to_item(&applied.record, now)));
        put = match expected_version {
            None => put.condition_expression("attribute_not_exists(call_id)"),
            Some(v) => put
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(v)),
        };
        let put = put
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        for delta in &applied.stats {
            items.push(stats_update(&self.stats_table, delta, now)?);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                let conflict = err.as_service_error().is_some_and(|e| {
                    e.is_transaction_canceled_exception()
                        && matches!(e, aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)
                            if c.cancellation_reasons().iter().any(|r| matches!(r.code(), Some("ConditionalCheckFailed") | Some("TransactionConflict"))))
                });
                if conflict {
                    Err(StoreError::Conflict)
                } else {
                    Err(StoreError::Backend(DisplayErrorContext(err).to_string()))
                }
            }
        }
    }
}

/// Index of the calls still registered/ongoing, per company (sparse: `active_company`).
pub const ACTIVE_CALLS_INDEX: &str = "active-calls";

/// The calls a store shows as still active for a company, with their start times.
pub trait ActiveCalls {
    fn active_call_ids(
        &self,
        company_id: &str,
        started_before_ms: i64,
    ) -> impl std::future::Future<Output = Result<Vec<(CallId, i64)>, String>> + Send;
}

impl ActiveCalls for DynamoCallStore {
    async fn active_call_ids(
        &self,
        company_id: &str,
        started_before_ms: i64,
    ) -> Result<Vec<(CallId, i64)>, String> {
        let mut ids = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.calls_table)
                .index_name(ACTIVE_CALLS_INDEX)
                .key_condition_expression("active_company = :c AND call_ts < :t")
                .expression_attribute_values(":c", AttributeValue::S(company_id.to_owned()))
                .expression_attribute_values(":t", n(started_before_ms))
                .projection_expression("call_id, call_ts")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| DisplayErrorContext(e).to_string())?;
            for item in out.items() {
                let started = match item.get("call_ts") {
                    Some(AttributeValue::N(ts)) => ts.parse::<i64>().ok(),
                    _ => None,
                };
                if let (Some(AttributeValue::S(id)), Some(started)) = (item.get("call_id"), started)
                {
                    if let Ok(id) = CallId::parse(id) {
                        ids.push((id, started));
                    }
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(ids),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn item_round_trip_keeps_the_record() {
        let body = json!({"event": "call_ended", "call": {"call_id": "call_9", "call_status": "ended",
            "start_timestamp": 1_704_974_400_000i64, "duration_ms": 61_000, "from_number": "+4930123456",
            "custom_analysis_data": {"x": [1, 2.5, "y"]}}})
        .to_string();
        let event = CallEvent::from_payload(EventKind::CallEnded, "acme", 1, body.as_bytes())
            .expect("valid");
        let mut applied = CallRecord::apply(None, &event, &chrono_tz::Europe::Berlin).expect("new");
        applied.record.version = 1;
        let item = record_to_item(&applied.record, 7);
        assert!(!item.contains_key("active_company"));
        assert_eq!(
            item.get("call_ts"),
            Some(&AttributeValue::N("1704974400000".into()))
        );
        let back = item_to_record(&item).expect("valid");
        assert_eq!(back, applied.record);
    }
}
