//! The call record: one per call_id, merged from call_started / call_ended / call_analyzed in
//! any order and any number of times to the same result. Pure logic, no I/O.
//!
//! Merge rule: for every field, the value from the highest-ranked event that carried it wins
//! (`call_analyzed` > `call_ended` > `call_started`); `call_status` takes the most advanced
//! status seen, so it never regresses. A repeated event is a no-op. Both rules are commutative,
//! so the final record depends only on the set of events, not on their order.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::booking::phone::PhoneNumber;
use crate::calls::disconnection::{end_class, EndClass};
use crate::retell::{CallId, CallIdError, EventKind};

/// Attributes this service owns on a call item. A payload field with one of these names is
/// dropped, so a caller-controlled payload can never overwrite bookkeeping.
pub const RESERVED_ATTRIBUTES: &[&str] = &[
    "company_id",
    "events_applied",
    "field_rank",
    "version",
    "first_seen_ms",
    "payload_refs",
    "stats_day",
    "stats_hour",
    "call_ts",
    "active_company",
    "transcript_truncated",
    "trimmed_fields",
    "updated_at_ms",
];

/// Call fields this service derives (`crate::calendar::unresolved`): stored with the call's fields, but a
/// payload field of the same name is dropped, so a caller cannot fake them.
pub const DERIVED_FIELDS: &[&str] = &[
    "transfers",
    "unresolved_writes",
    "needs_follow_up",
    "booked_appointments",
];

/// Word-level transcripts: kept in the item while it fits, always kept in the raw payload.
pub const HEAVY_FIELDS: &[&str] = &[
    "transcript_object",
    "transcript_with_tool_calls",
    "scrubbed_transcript_object",
    "scrubbed_transcript_with_tool_calls",
    "llm_token_usage",
];

/// DynamoDB's hard item limit is 400 KB; leave room for attribute overhead we do not count.
pub const ITEM_BUDGET_BYTES: usize = 350_000;

/// Most entries a call's transfer log keeps (the latest).
pub const MAX_TRANSFER_ENTRIES: usize = 20;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallEventError {
    #[error("payload is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("payload has no call object")]
    MissingCall,
    #[error("payload event {found:?} does not match the queue's event {expected}")]
    WrongEvent { expected: EventKind, found: String },
    #[error("payload event {found:?} does not match the envelope's event {}", expected.as_str())]
    WrongTransferEvent {
        expected: crate::retell::TransferEvent,
        found: String,
    },
    #[error("call.call_id is missing")]
    MissingCallId,
    #[error("call.call_id is invalid: {0}")]
    InvalidCallId(#[from] CallIdError),
}

/// One webhook event, normalised to Retell's field names.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    pub kind: EventKind,
    pub call_id: CallId,
    pub company_id: String,
    pub received_at_ms: i64,
    pub fields: BTreeMap<String, Value>,
    /// Where the raw payload is archived (S3 key).
    pub payload_ref: String,
}

impl CallEvent {
    /// Parses a verified webhook body. Accepts Retell's call object and the older shape in the
    /// seed document (`customer_number`, `duration_seconds`, `summary`, `custom_data`).
    pub fn from_payload(
        kind: EventKind,
        company_id: &str,
        received_at_ms: i64,
        payload: &[u8],
    ) -> Result<Self, CallEventError> {
        let WebhookParts { call, call_id, .. } =
            webhook_parts(payload, kind.as_str(), |found| CallEventError::WrongEvent {
                expected: kind,
                found,
            })?;
        let fields = normalise_call(call);
        Ok(Self {
            kind,
            payload_ref: crate::calls::archive::event_key(company_id, &call_id, kind),
            call_id,
            company_id: company_id.to_owned(),
            received_at_ms,
            fields,
        })
    }
}

/// A verified webhook body, split.
pub(crate) struct WebhookParts {
    /// The root object without `call` (a transfer event's destination is here).
    pub root: Map<String, Value>,
    pub call: Map<String, Value>,
    pub call_id: CallId,
}

/// A verified webhook body of event `expected`, split; `wrong(found)` is the error for a body of
/// another event.
pub(crate) fn webhook_parts(
    payload: &[u8],
    expected: &str,
    wrong: impl FnOnce(String) -> CallEventError,
) -> Result<WebhookParts, CallEventError> {
    let mut root: Map<String, Value> =
        serde_json::from_slice(payload).map_err(|e| CallEventError::InvalidJson(e.to_string()))?;
    let name = root
        .get("event")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name != expected {
        return Err(wrong(name.chars().take(64).collect()));
    }
    let call = match root.remove("call") {
        Some(Value::Object(call)) => call,
        _ => return Err(CallEventError::MissingCall),
    };
    let call_id = match call.get("call_id") {
        Some(Value::String(id)) => CallId::parse(id)?,
        _ => return Err(CallEventError::MissingCallId),
    };
    Ok(WebhookParts {
        root,
        call,
        call_id,
    })
}

pub(crate) fn normalise_call(call: Map<String, Value>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut analysis = None;
    for (key, value) in call {
        if value.is_null()
            || RESERVED_ATTRIBUTES.contains(&key.as_str())
            || DERIVED_FIELDS.contains(&key.as_str())
        {
            continue;
        }
        match key.as_str() {
            "call_analysis" => analysis = Some(value),
            _ => {
                out.insert(key, value);
            }
        }
    }
    // Retell nests the analysis; the record keeps its fields at the top level by their names.
    if let Some(Value::Object(analysis)) = analysis {
        for (key, value) in analysis {
            if !value.is_null()
                && !RESERVED_ATTRIBUTES.contains(&key.as_str())
                && !DERIVED_FIELDS.contains(&key.as_str())
            {
                out.entry(key).or_insert(value);
            }
        }
    }
    if let Some(cost) = out
        .get("call_cost")
        .and_then(|c| c.get("combined_cost"))
        .cloned()
    {
        out.entry("combined_cost".to_owned()).or_insert(cost);
    }
    // The seed document's payload shape.
    if let Some(number) = out.remove("customer_number") {
        out.entry("from_number".to_owned()).or_insert(number);
    }
    if let Some(summary) = out.remove("summary") {
        out.entry("call_summary".to_owned()).or_insert(summary);
    }
    if let Some(seconds) = out.remove("duration_seconds") {
        if let Some(ms) = seconds.as_f64().map(|s| (s * 1000.0).round() as i64) {
            out.entry("duration_ms".to_owned())
                .or_insert(Value::from(ms));
        }
    }
    if !out.contains_key("duration_ms") {
        if let (Some(start), Some(end)) = (
            out.get("start_timestamp").and_then(Value::as_i64),
            out.get("end_timestamp").and_then(Value::as_i64),
        ) {
            if end >= start {
                out.insert("duration_ms".to_owned(), Value::from(end - start));
            }
        }
    }
    for key in ["from_number", "to_number"] {
        if let Some(Value::String(raw)) = out.get(key) {
            match PhoneNumber::parse(raw) {
                Ok(phone) => {
                    out.insert(key.to_owned(), Value::String(phone.as_str().to_owned()));
                }
                Err(_) => {
                    // Web calls and withheld numbers: keep what was sent, out of the E.164 field.
                    if let Some(raw) = out.remove(key) {
                        out.insert(format!("{key}_raw"), raw);
                    }
                }
            }
        }
    }
    out
}

/// How far a call has got. A status never moves backwards.
pub fn status_order(status: &str) -> u8 {
    match status {
        "registered" => 0,
        "ongoing" => 1,
        "not_connected" | "ended" | "error" => 2,
        _ => 0,
    }
}

fn is_active(status: Option<&str>) -> bool {
    matches!(status, Some("registered") | Some("ongoing"))
}

/// The merged state of one call, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub call_id: CallId,
    pub company_id: String,
    pub fields: BTreeMap<String, Value>,
    /// Rank of the event each field's value came from.
    pub field_rank: BTreeMap<String, u8>,
    pub events_applied: BTreeSet<EventKind>,
    pub payload_refs: BTreeSet<String>,
    pub first_seen_ms: i64,
    /// Optimistic-concurrency version: the stored item is replaced only if unchanged since read.
    pub version: u64,
    /// The day this call's statistics are counted on (company-local date).
    pub stats_day: String,
    /// The company-local hour it is counted in (None: a record stored before hours were
    /// counted, which its day's statistics do not have in any hour).
    pub stats_hour: Option<u32>,
    pub transcript_truncated: bool,
    pub trimmed_fields: BTreeSet<String>,
}

/// Duration buckets of connected calls: under 1 min, 1–3, 3–5, 5–10, 10 min and more.
pub const DURATION_BUCKETS_MS: [i64; 4] = [60_000, 180_000, 300_000, 600_000];

/// What one call adds to its company's daily statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    pub calls: i64,
    pub connected: i64,
    pub duration_ms: i64,
    pub minutes: i64,
    pub successful: i64,
    pub unsuccessful: i64,
    pub voicemail: i64,
    pub sentiment_positive: i64,
    pub sentiment_negative: i64,
    pub sentiment_neutral: i64,
    pub sentiment_unknown: i64,
    /// Ended normally (a hang-up, a transfer, voicemail, silence or the time limit), not by an
    /// error, a failed dial or a refusal.
    pub completed: i64,
    /// Calls in which at least one appointment was booked.
    pub booked: i64,
    /// Retell's `combined_cost`, in its unit (cents), rounded per call.
    pub cost_cents: i64,
    /// Calls with Retell's end-to-end latency, and the sum of their medians (ms).
    pub latency_calls: i64,
    pub latency_e2e_ms: i64,
    /// Calls by the company-local hour they started in.
    pub by_hour: [i64; 24],
    /// Connected calls by duration ([`DURATION_BUCKETS_MS`]).
    pub by_duration: [i64; 5],
}

/// The statistics item's attribute names, in [`CallStats::values`] order.
pub const STATS_FIELDS: [&str; 45] = [
    "calls",
    "connected",
    "duration_ms",
    "minutes",
    "successful",
    "unsuccessful",
    "voicemail",
    "sentiment_positive",
    "sentiment_negative",
    "sentiment_neutral",
    "sentiment_unknown",
    "completed",
    "booked",
    "cost_cents",
    "latency_calls",
    "latency_e2e_ms",
    "hour_00",
    "hour_01",
    "hour_02",
    "hour_03",
    "hour_04",
    "hour_05",
    "hour_06",
    "hour_07",
    "hour_08",
    "hour_09",
    "hour_10",
    "hour_11",
    "hour_12",
    "hour_13",
    "hour_14",
    "hour_15",
    "hour_16",
    "hour_17",
    "hour_18",
    "hour_19",
    "hour_20",
    "hour_21",
    "hour_22",
    "hour_23",
    "duration_lt_1m",
    "duration_1_3m",
    "duration_3_5m",
    "duration_5_10m",
    "duration_ge_10m",
];

impl CallStats {
    pub const FIELDS: [&'static str; 45] = STATS_FIELDS;

    pub fn values(&self) -> [i64; 45] {
        let mut v = [0i64; 45];
        let head = [
            self.calls,
            self.connected,
            self.duration_ms,
            self.minutes,
            self.successful,
            self.unsuccessful,
            self.voicemail,
            self.sentiment_positive,
            self.sentiment_negative,
            self.sentiment_neutral,
            self.sentiment_unknown,
            self.completed,
            self.booked,
            self.cost_cents,
            self.latency_calls,
            self.latency_e2e_ms,
        ];
        v[..16].copy_from_slice(&head);
        v[16..40].copy_from_slice(&self.by_hour);
        v[40..].copy_from_slice(&self.by_duration);
        v
    }

    pub fn from_values(v: [i64; 45]) -> Self {
        let mut by_hour = [0i64; 24];
        by_hour.copy_from_slice(&v[16..40]);
        let mut by_duration = [0i64; 5];
        by_duration.copy_from_slice(&v[40..]);
        Self {
            calls: v[0],
            connected: v[1],
            duration_ms: v[2],
            minutes: v[3],
            successful: v[4],
            unsuccessful: v[5],
            voicemail: v[6],
            sentiment_positive: v[7],
            sentiment_negative: v[8],
            sentiment_neutral: v[9],
            sentiment_unknown: v[10],
            completed: v[11],
            booked: v[12],
            cost_cents: v[13],
            latency_calls: v[14],
            latency_e2e_ms: v[15],
            by_hour,
            by_duration,
        }
    }

    fn combine(self, other: Self, sign: i64) -> Self {
        let (a, b) = (self.values(), other.values());
        let mut out = [0; 45];
        for i in 0..45 {
            out[i] = a[i] + sign * b[i];
        }
        Self::from_values(out)
    }

    pub fn plus(self, other: Self) -> Self {
        self.combine(other, 1)
    }

    pub fn minus(self, other: Self) -> Self {
        self.combine(other, -1)
    }

    pub fn is_zero(&self) -> bool {
        self.values().iter().all(|v| *v == 0)
    }
}

/// A change to one company-day's statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsDelta {
    pub company_id: String,
    pub day: String,
    pub delta: CallStats,
}

/// The result of applying an event: the record to write and the statistics to adjust, in the
/// same transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub record: CallRecord,
    pub stats: Vec<StatsDelta>,
}

fn local_day(ts_ms: i64, tz: &Tz) -> String {
    match Utc.timestamp_millis_opt(ts_ms).single() {
        Some(t) => t.with_timezone(tz).format("%Y-%m-%d").to_string(),
        None => "1970-01-01".to_owned(),
    }
}

fn local_hour(ts_ms: i64, tz: &Tz) -> u32 {
    use chrono::Timelike;
    Utc.timestamp_millis_opt(ts_ms)
        .single()
        .map(|t| t.with_timezone(tz).hour())
        .unwrap_or(0)
}

impl CallRecord {
    fn new(call_id: &CallId, company_id: &str, received_at_ms: i64, tz: &Tz) -> Self {
        let mut record = Self {
            call_id: call_id.clone(),
            company_id: company_id.to_owned(),
            fields: BTreeMap::new(),
            field_rank: BTreeMap::new(),
            events_applied: BTreeSet::new(),
            payload_refs: BTreeSet::new(),
            first_seen_ms: received_at_ms,
            version: 0,
            stats_day: String::new(),
            stats_hour: None,
            transcript_truncated: false,
            trimmed_fields: BTreeSet::new(),
        };
        record.stats_day = local_day(record.call_ts(), tz);
        record.stats_hour = Some(local_hour(record.call_ts(), tz));
        record
    }

    /// The call's time for indexes: when it started, else when it ended, else when first seen.
    pub fn call_ts(&self) -> i64 {
        self.int("start_timestamp")
            .or_else(|| self.int("end_timestamp"))
            .unwrap_or(self.first_seen_ms)
    }

    pub fn int(&self, field: &str) -> Option<i64> {
        self.fields.get(field).and_then(Value::as_i64)
    }

    pub fn str(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_str)
    }

    pub fn call_status(&self) -> Option<&str> {
        self.str("call_status")
    }

    /// The company whose active-calls index lists this call, while the call is live.
    pub fn active_company(&self) -> Option<&str> {
        is_active(self.call_status()).then_some(self.company_id.as_str())
    }

    /// What this call contributes to its day's statistics, given everything known so far.
    pub fn stats(&self) -> CallStats {
        let mut s = CallStats {
            calls: 1,
            ..CallStats::default()
        };
        let duration = self.int("duration_ms").unwrap_or(0).max(0);
        if duration > 0 {
            s.connected = 1;
            s.duration_ms = duration;
            s.minutes = (duration + 59_999) / 60_000;
        }
        match self.fields.get("call_successful").and_then(Value::as_bool) {
            Some(true) => s.successful = 1,
            Some(false) => s.unsuccessful = 1,
            None => {}
        }
        if self.fields.get("in_voicemail").and_then(Value::as_bool) == Some(true) {
            s.voicemail = 1;
        }
        match self.str("user_sentiment") {
            Some("Positive") | Some("positive") => s.sentiment_positive = 1,
            Some("Negative") | Some("negative") => s.sentiment_negative = 1,
            Some("Neutral") | Some("neutral") => s.sentiment_neutral = 1,
            Some(_) => s.sentiment_unknown = 1,
            None => {}
        }
        if self.call_status() == Some("ended")
            && self
                .str("disconnection_reason")
                .is_none_or(|r| end_class(r) == Some(EndClass::Completed))
        {
            s.completed = 1;
        }
        if self
            .fields
            .get("booked_appointments")
            .and_then(Value::as_array)
            .is_some_and(|ids| !ids.is_empty())
        {
            s.booked = 1;
        }
        if let Some(cost) = self
            .fields
            .get("combined_cost")
            .or_else(|| {
                self.fields
                    .get("call_cost")
                    .and_then(|c| c.get("combined_cost"))
            })
            .and_then(Value::as_f64)
            .filter(|c| c.is_finite() && *c >= 0.0 && *c < 1e12)
        {
            s.cost_cents = cost.round() as i64;
        }
        if let Some(p50) = self
            .fields
            .get("latency")
            .and_then(|l| l.pointer("/e2e/p50"))
            .and_then(Value::as_f64)
            .filter(|p| p.is_finite() && *p >= 0.0 && *p < 1e9)
        {
            s.latency_calls = 1;
            s.latency_e2e_ms = p50.round() as i64;
        }
        if let Some(hour) = self.stats_hour.filter(|h| *h < 24) {
            s.by_hour[hour as usize] = 1;
        }
        if duration > 0 {
            let bucket = DURATION_BUCKETS_MS
                .iter()
                .position(|limit| duration < *limit)
                .unwrap_or(DURATION_BUCKETS_MS.len());
            s.by_duration[bucket] = 1;
        }
        s
    }

    /// The appointments the call booked: `book_appointment` results that said so.
    pub fn booked_appointments(&self) -> Vec<String> {
        self.fields
            .get("booked_appointments")
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Applies an event to the stored record (`None` if the call is new). Returns `None` when the
    /// event was applied before: Retell's retries and SQS redeliveries change nothing.
    pub fn apply(existing: Option<&CallRecord>, event: &CallEvent, tz: &Tz) -> Option<Applied> {
        if existing.is_some_and(|r| r.events_applied.contains(&event.kind)) {
            return None;
        }
        let mut record = match existing {
            Some(r) => r.clone(),
            None => Self::new(&event.call_id, &event.company_id, event.received_at_ms, tz),
        };
        if let Some(reason) = event
            .fields
            .get("disconnection_reason")
            .and_then(Value::as_str)
            .filter(|r| end_class(r).is_none())
        {
            // Counted as not completed until calls/disconnection_reasons.json classes it.
            tracing::warn!(
                reason = %reason.chars().take(64).collect::<String>(),
                "disconnection_reason unknown to this version"
            );
        }
        let rank = event.kind.rank();
        for (key, value) in &event.fields {
            let current_rank = record.field_rank.get(key).copied();
            let wins = if key == "call_status" {
                let new_order = value.as_str().map(status_order).unwrap_or(0);
                let old_order = record.call_status().map(status_order).unwrap_or(0);
                match current_rank {
                    None => true,
                    Some(r) => (new_order, rank) > (old_order, r),
                }
            } else {
                current_rank.is_none_or(|r| rank >= r)
            };
            if wins {
                record.fields.insert(key.clone(), value.clone());
                record.field_rank.insert(key.clone(), rank);
                record.trimmed_fields.remove(key);
                if key == "transcript" {
                    record.transcript_truncated = false;
                }
            }
        }
        // An event without `call_status` (the seed's own call_ended example has none) still
        // says how far the call got. The derived status ranks below any status Retell sent
        // (rank 0), and like every status never moves backwards.
        if !event.fields.contains_key("call_status") {
            let derived = match event.kind {
                EventKind::CallStarted => "ongoing",
                EventKind::CallEnded | EventKind::CallAnalyzed => "ended",
            };
            if record
                .call_status()
                .is_none_or(|s| status_order(s) < status_order(derived))
            {
                record
                    .fields
                    .insert("call_status".to_owned(), Value::from(derived));
                record.field_rank.insert("call_status".to_owned(), 0);
            }
        }
        // Derived while the tool calls are at hand (the item may not keep them: HEAVY_FIELDS).
        if event.fields.contains_key("transcript_with_tool_calls")
            && record.field_rank.get("transcript_with_tool_calls") == Some(&rank)
        {
            let booked: Vec<Value> = record
                .fields
                .get("transcript_with_tool_calls")
                .map(crate::calls::tool_calls::ToolCall::parse_all)
                .unwrap_or_default()
                .iter()
                .filter_map(|c| c.booked_appointment())
                .map(Value::from)
                .collect();
            record
                .fields
                .insert("booked_appointments".to_owned(), Value::Array(booked));
            record
                .field_rank
                .insert("booked_appointments".to_owned(), rank);
        }
        record.events_applied.insert(event.kind);
        record.payload_refs.insert(event.payload_ref.clone());
        record.first_seen_ms = record.first_seen_ms.min(event.received_at_ms);
        record.fit_to_budget(ITEM_BUDGET_BYTES);
        Some(record.with_stats(existing, tz))
    }

    /// Adds a transfer event to the call's `transfers` log (creating the record if no call
    /// event has arrived yet). `None` when this very event is logged already. The identity
    /// fields it carries fill only fields the record lacks, ranked below every call event, and
    /// its status counts only if more advanced; so the record still depends only on the set of
    /// events, not their order.
    pub fn apply_transfer(
        existing: Option<&CallRecord>,
        transfer: &crate::calls::transfer::Transfer,
        tz: &Tz,
    ) -> Option<Applied> {
        let mut log: Vec<Value> = existing
            .and_then(|r| r.fields.get("transfers"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if log
            .iter()
            .any(|e| e.get("id").and_then(Value::as_str) == Some(transfer.id.as_str()))
        {
            return None;
        }
        let mut record = match existing {
            Some(r) => r.clone(),
            None => Self::new(
                &transfer.call_id,
                &transfer.company_id,
                transfer.received_at_ms,
                tz,
            ),
        };
        for (key, value) in &transfer.call_fields {
            let take = if key == "call_status" {
                let new_order = value.as_str().map(status_order).unwrap_or(0);
                record
                    .call_status()
                    .is_none_or(|s| status_order(s) < new_order)
            } else {
                !record.fields.contains_key(key)
            };
            if take {
                record.fields.insert(key.clone(), value.clone());
                record.field_rank.insert(key.clone(), 0);
            }
        }
        log.push(transfer.entry());
        log.sort_by_key(|e| {
            (
                e.get("at_ms").and_then(Value::as_i64).unwrap_or(0),
                e.get("id").and_then(Value::as_str).unwrap_or("").to_owned(),
            )
        });
        // A call transfers once or twice; a runaway sender must not grow the item without end
        // (the raw events stay archived).
        if log.len() > MAX_TRANSFER_ENTRIES {
            log.drain(..log.len() - MAX_TRANSFER_ENTRIES);
            // Older than every entry kept: nothing to write.
            if !log
                .iter()
                .any(|e| e.get("id").and_then(Value::as_str) == Some(transfer.id.as_str()))
            {
                return None;
            }
        }
        record
            .fields
            .insert("transfers".to_owned(), Value::Array(log));
        record.field_rank.insert("transfers".to_owned(), 0);
        if record.payload_refs.len() < MAX_TRANSFER_ENTRIES * 2 {
            record.payload_refs.insert(transfer.payload_ref.clone());
        }
        record.first_seen_ms = record.first_seen_ms.min(transfer.received_at_ms);
        record.fit_to_budget(ITEM_BUDGET_BYTES);
        Some(record.with_stats(existing, tz))
    }

    /// The record with the statistics changes its new state makes.
    fn with_stats(mut self, existing: Option<&CallRecord>, tz: &Tz) -> Applied {
        let record = &mut self;
        // Statistics follow the record: remove what the old state counted, add the new state,
        // so the day's totals equal the final record's contribution whatever the order.
        let new_day = local_day(record.call_ts(), tz);
        record.stats_hour = Some(local_hour(record.call_ts(), tz));
        let mut stats = Vec::with_capacity(2);
        match existing {
            None => stats.push(StatsDelta {
                company_id: record.company_id.clone(),
                day: new_day.clone(),
                delta: record.stats(),
            }),
            Some(old) if old.stats_day == new_day => {
                let delta = record.stats().minus(old.stats());
                if !delta.is_zero() {
                    stats.push(StatsDelta {
                        company_id: record.company_id.clone(),
                        day: new_day.clone(),
                        delta,
                    });
                }
            }
            Some(old) => {
                stats.push(StatsDelta {
                    company_id: record.company_id.clone(),
                    day: old.stats_day.clone(),
                    delta: CallStats::default().minus(old.stats()),
                });
                stats.push(StatsDelta {
                    company_id: record.company_id.clone(),
                    day: new_day.clone(),
                    delta: record.stats(),
                });
            }
        }
        record.stats_day = new_day;
        Applied {
            record: self,
            stats,
        }
    }

    /// Approximate stored size: attribute names plus JSON-encoded values (an over-estimate of
    /// DynamoDB's accounting, which is what a budget wants).
    pub fn approximate_size(&self) -> usize {
        let fields: usize = self.fields.iter().map(|(k, v)| k.len() + json_len(v)).sum();
        let ranks = self.field_rank.keys().map(|k| k.len() + 3).sum::<usize>();
        let refs = self.payload_refs.iter().map(|r| r.len() + 3).sum::<usize>();
        fields + ranks + refs + 512
    }

    /// Keeps the item under DynamoDB's limit. Everything dropped stays in the archived raw
    /// payloads (`payload_refs`): first word-level transcripts, then transcript text is cut,
    /// then the largest remaining fields go.
    pub fn fit_to_budget(&mut self, budget: usize) {
        let mut size = self.approximate_size();
        if size <= budget {
            return;
        }
        for field in HEAVY_FIELDS {
            if size <= budget {
                return;
            }
            if let Some(v) = self.fields.remove(*field) {
                size -= field.len() + json_len(&v);
                self.trimmed_fields.insert((*field).to_owned());
            }
        }
        if size > budget {
            if let Some(Value::String(text)) = self.fields.get_mut("transcript") {
                let excess = size - budget;
                let mut keep = text.len().saturating_sub(excess + 64);
                while keep > 0 && !text.is_char_boundary(keep) {
                    keep -= 1;
                }
                text.truncate(keep);
                self.transcript_truncated = true;
                size = self.approximate_size();
            }
        }
        while size > budget {
            let largest = self
                .fields
                .iter()
                .filter(|(k, _)| k.as_str() != "call_id")
                .max_by_key(|(k, v)| k.len() + json_len(v))
                .map(|(k, _)| k.clone());
            let Some(key) = largest else { return };
            self.fields.remove(&key);
            self.trimmed_fields.insert(key);
            size = self.approximate_size();
        }
    }
}

fn json_len(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len() + 2,
        Value::Null | Value::Bool(_) => 5,
        Value::Number(n) => n.to_string().len(),
        Value::Array(items) => items.iter().map(json_len).sum::<usize>() + items.len() + 2,
        Value::Object(map) => {
            map.iter()
                .map(|(k, v)| k.len() + 3 + json_len(v))
                .sum::<usize>()
                + map.len()
                + 2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BERLIN: Tz = chrono_tz::Europe::Berlin;
    const START: i64 = 1_704_974_400_000; // 2024-01-11 12:00 UTC

    fn event(kind: EventKind, call: Value) -> CallEvent {
        let body = json!({"event": kind.as_str(), "call": call}).to_string();
        CallEvent::from_payload(
            kind,
            "acme",
            START + 1_000 * kind.rank() as i64,
            body.as_bytes(),
        )
        .expect("valid event")
    }

    fn started() -> CallEvent {
        event(
            EventKind::CallStarted,
            json!({"call_id": "call_1", "agent_id": "agent_1", "call_status": "ongoing",
                   "from_number": "+49 176 1111 2222", "to_number": "+493012345678",
                   "direction": "inbound", "call_type": "phone_call", "start_timestamp": START}),
        )
    }

    fn ended() -> CallEvent {
        event(
            EventKind::CallEnded,
            json!({"call_id": "call_1", "agent_id": "agent_1", "call_status": "ended",
                   "from_number": "+4917611112222", "to_number": "+493012345678",
                   "direction": "inbound", "start_timestamp": START, "end_timestamp": START + 300_000,
                   "duration_ms": 300_000, "transcript": "Agent: Hallo\nUser: Termin bitte",
                   "disconnection_reason": "user_hangup", "recording_url": "https://r/1.wav",
                   "transcript_with_tool_calls": booking_log()}),
        )
    }

    fn booking_log() -> Value {
        json!([
            {"role": "tool_call_invocation", "tool_call_id": "t1", "name": "book_appointment", "arguments": "{}"},
            {"role": "tool_call_result", "tool_call_id": "t1",
             "content": "{\"success\":true,\"appointment_id\":\"apt_0123456789abcdef\"}"}
        ])
    }

    fn analyzed() -> CallEvent {
        event(
            EventKind::CallAnalyzed,
            json!({"call_id": "call_1", "agent_id": "agent_1", "call_status": "ended",
                   "from_number": "+4917611112222", "start_timestamp": START,
                   "end_timestamp": START + 300_000, "duration_ms": 300_000,
                   "call_analysis": {"call_summary": "Booked a haircut", "user_sentiment": "Positive",
                                     "call_successful": true, "in_voicemail": false,
                                     "custom_analysis_data": {"appointment_booked": true}},
                   "call_cost": {"combined_cost": 42.5}, "transcript_with_tool_calls": booking_log(),
                   "latency": {"e2e": {"p50": 812.4, "p90": 1200.0}}}),
        )
    }

    fn fold(events: &[CallEvent]) -> (CallRecord, BTreeMap<String, CallStats>) {
        let mut record: Option<CallRecord> = None;
        let mut stats: BTreeMap<String, CallStats> = BTreeMap::new();
        for e in events {
            if let Some(applied) = CallRecord::apply(record.as_ref(), e, &BERLIN) {
                for d in applied.stats {
                    let entry = stats.entry(d.day).or_default();
                    *entry = entry.plus(d.delta);
                }
                let mut next = applied.record;
                next.version += 1;
                record = Some(next);
            }
        }
        stats.retain(|_, s| !s.is_zero());
        (record.expect("at least one event"), stats)
    }

    proptest::proptest! {
        /// Any sequence (permutation with repeats) of a call's events folds to the record the
        /// distinct events give in call order, with the same statistics.
        #[test]
        fn merge_is_order_and_duplicate_independent(order in proptest::collection::vec(0usize..3, 1..12)) {
            let all = [started(), ended(), analyzed()];
            let (got, got_stats) = fold(&order.iter().map(|i| all[*i].clone()).collect::<Vec<_>>());
            let mut distinct = order.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let (want, want_stats) = fold(&distinct.iter().map(|i| all[*i].clone()).collect::<Vec<_>>());
            proptest::prop_assert_eq!(got.fields, want.fields);
            proptest::prop_assert_eq!(got.events_applied, want.events_applied);
            proptest::prop_assert_eq!(got_stats, want_stats);
        }
    }

    fn transfer(event: crate::retell::TransferEvent, at: i64) -> crate::calls::transfer::Transfer {
        let body = json!({"event": event.as_str(), "transfer_destination": "+493099999",
            "call": {"call_id": "call_1", "agent_id": "agent_1", "call_status": "ongoing",
                     "from_number": "+4917611112222", "start_timestamp": START,
                     "transcript": format!("bis {at}")}})
        .to_string();
        crate::calls::transfer::Transfer::from_payload(event, "acme", START + at, body.as_bytes())
            .expect("valid transfer")
    }

    /// A call event or a transfer event, applied as the consumer would.
    fn apply_any(
        record: Option<&CallRecord>,
        e: &Result<CallEvent, crate::calls::transfer::Transfer>,
    ) -> Option<Applied> {
        match e {
            Ok(call) => CallRecord::apply(record, call, &BERLIN),
            Err(t) => CallRecord::apply_transfer(record, t, &BERLIN),
        }
    }

    proptest::proptest! {
        /// Transfer events mixed with the call's events, in any order and repeated: the same
        /// record and statistics as the distinct events in call order, each transfer logged once.
        #[test]
        fn transfers_merge_order_and_duplicate_independent(order in proptest::collection::vec(0usize..6, 1..16)) {
            use crate::retell::TransferEvent as T;
            let all = [Ok(started()), Ok(ended()), Ok(analyzed()),
                       Err(transfer(T::Started, 10)), Err(transfer(T::Bridged, 20)), Err(transfer(T::Ended, 30))];
            let fold_any = |idx: &[usize]| {
                let mut record: Option<CallRecord> = None;
                let mut stats: BTreeMap<String, CallStats> = BTreeMap::new();
                for i in idx {
                    if let Some(applied) = apply_any(record.as_ref(), &all[*i]) {
                        for d in applied.stats {
                            let entry = stats.entry(d.day).or_default();
                            *entry = entry.plus(d.delta);
                        }
                        record = Some(applied.record);
                    }
                }
                stats.retain(|_, s| !s.is_zero());
                (record.expect("one event at least"), stats)
            };
            let (got, got_stats) = fold_any(&order);
            let mut distinct = order.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let (want, want_stats) = fold_any(&distinct);
            proptest::prop_assert_eq!(&got.fields, &want.fields);
            proptest::prop_assert_eq!(got_stats, want_stats);
            let logged = got.fields.get("transfers").and_then(Value::as_array).map_or(0, Vec::len);
            proptest::prop_assert_eq!(logged, distinct.iter().filter(|i| **i >= 3).count());
        }
    }

    #[test]
    fn a_transfer_before_the_call_events_is_kept_and_counts_the_call_once() {
        use crate::retell::TransferEvent as T;
        let first =
            CallRecord::apply_transfer(None, &transfer(T::Started, 10), &BERLIN).expect("applied");
        assert_eq!(first.record.call_status(), Some("ongoing"));
        assert_eq!(first.record.active_company(), Some("acme"));
        assert_eq!(first.stats.len(), 1);
        assert_eq!(first.stats[0].delta.calls, 1);
        let again =
            CallRecord::apply_transfer(Some(&first.record), &transfer(T::Started, 10), &BERLIN);
        assert!(again.is_none(), "a redelivery changes nothing");
        let with_start =
            CallRecord::apply(Some(&first.record), &started(), &BERLIN).expect("applied");
        assert!(with_start.stats.is_empty(), "the call was counted already");
        let log = &with_start.record.fields["transfers"];
        assert_eq!(log[0]["event"], json!("transfer_started"));
        assert_eq!(log[0]["destination"], json!("+493099999"));
        assert_eq!(log[0]["at_ms"], json!(START + 10));
        // A call payload cannot fake the log.
        let fake = event(
            EventKind::CallEnded,
            json!({"call_id": "call_1", "transfers": [{"event": "transfer_bridged"}]}),
        );
        assert!(!fake.fields.contains_key("transfers"));
    }

    #[test]
    fn a_runaway_transfer_log_keeps_the_latest_entries() {
        use crate::retell::TransferEvent as T;
        let mut record: Option<CallRecord> = None;
        for at in 0..(MAX_TRANSFER_ENTRIES as i64 + 5) {
            let applied =
                CallRecord::apply_transfer(record.as_ref(), &transfer(T::Started, at), &BERLIN)
                    .expect("a new attempt");
            record = Some(applied.record);
        }
        let record = record.expect("record");
        let log = record.fields["transfers"].as_array().expect("list");
        assert_eq!(log.len(), MAX_TRANSFER_ENTRIES);
        assert_eq!(log[0]["at_ms"], json!(START + 5));
    }

    #[test]
    fn normalises_retell_and_seed_shapes() {
        let e = analyzed();
        assert_eq!(e.fields["call_summary"], json!("Booked a haircut"));
        assert_eq!(e.fields["user_sentiment"], json!("Positive"));
        assert_eq!(e.fields["combined_cost"], json!(42.5));
        assert!(!e.fields.contains_key("call_analysis"));
        assert_eq!(e.payload_ref, "calls/acme/call_1/call_analyzed.json");

        let seed = event(
            EventKind::CallEnded,
            json!({"call_id": "call_abc123", "agent_id": "agent_123",
                   "customer_number": "+49123456789", "start_timestamp": 1704974400000i64,
                   "end_timestamp": 1704974700000i64, "duration_seconds": 300,
                   "transcript": "...", "summary": "Customer booked appointment for haircut",
                   "custom_data": {"appointment_date": "2024-01-15", "appointment_time": "14:00"}}),
        );
        assert_eq!(seed.fields["from_number"], json!("+49123456789"));
        assert_eq!(seed.fields["duration_ms"], json!(300_000));
        assert_eq!(
            seed.fields["call_summary"],
            json!("Customer booked appointment for haircut")
        );
        assert_eq!(
            seed.fields["custom_data"]["appointment_time"],
            json!("14:00")
        );
        assert!(!seed.fields.contains_key("customer_number"));
    }

    #[test]
    fn phones_become_e164_or_are_kept_aside() {
        assert_eq!(started().fields["from_number"], json!("+4917611112222"));
        let web = event(
            EventKind::CallStarted,
            json!({"call_id": "call_w", "from_number": "anonymous", "call_status": "ongoing"}),
        );
        assert!(!web.fields.contains_key("from_number"));
        assert_eq!(web.fields["from_number_raw"], json!("anonymous"));
    }

    #[test]
    fn rejects_payloads_that_are_not_this_event() {
        let bad =
            |body: &str| CallEvent::from_payload(EventKind::CallEnded, "a", 0, body.as_bytes());
        assert!(matches!(bad("{"), Err(CallEventError::InvalidJson(_))));
        assert!(matches!(
            bad(r#"{"event":"call_started","call":{"call_id":"c"}}"#),
            Err(CallEventError::WrongEvent { .. })
        ));
        assert_eq!(
            bad(r#"{"event":"call_ended"}"#),
            Err(CallEventError::MissingCall)
        );
        assert_eq!(
            bad(r#"{"event":"call_ended","call":{}}"#),
            Err(CallEventError::MissingCallId)
        );
        assert!(matches!(
            bad(r#"{"event":"call_ended","call":{"call_id":"a b"}}"#),
            Err(CallEventError::InvalidCallId(_))
        ));
    }

    #[test]
    fn payload_cannot_overwrite_bookkeeping() {
        let e = event(
            EventKind::CallStarted,
            json!({"call_id": "c", "company_id": "evil", "version": 99, "events_applied": [],
                   "needs_follow_up": false, "call_analysis": {"unresolved_writes": []}}),
        );
        assert!(!e.fields.contains_key("company_id"));
        assert!(!e.fields.contains_key("needs_follow_up"));
        assert!(!e.fields.contains_key("unresolved_writes"));
        assert!(!e.fields.contains_key("version"));
        let applied = CallRecord::apply(None, &e, &BERLIN).expect("new");
        assert_eq!(applied.record.company_id, "acme");
    }

    #[test]
    fn in_order_gives_the_full_record_and_stats() {
        let (record, stats) = fold(&[started(), ended(), analyzed()]);
        assert_eq!(record.call_status(), Some("ended"));
        assert_eq!(record.str("call_summary"), Some("Booked a haircut"));
        assert_eq!(record.str("disconnection_reason"), Some("user_hangup"));
        assert_eq!(record.int("duration_ms"), Some(300_000));
        assert_eq!(record.active_company(), None);
        assert_eq!(record.payload_refs.len(), 3);
        assert_eq!(stats.len(), 1);
        let day = &stats["2024-01-11"];
        assert_eq!(day.calls, 1);
        assert_eq!(day.minutes, 5);
        assert_eq!(day.successful, 1);
        assert_eq!(day.sentiment_positive, 1);
        assert_eq!(day.completed, 1);
        assert_eq!(day.booked, 1);
        assert_eq!(record.booked_appointments(), vec!["apt_0123456789abcdef"]);
        assert_eq!(day.cost_cents, 43);
        assert_eq!((day.latency_calls, day.latency_e2e_ms), (1, 812));
        // 12:00 UTC is 13:00 in Berlin; five minutes long is the 5-10 min bucket.
        assert_eq!(day.by_hour[13], 1);
        assert_eq!(day.by_hour.iter().sum::<i64>(), 1);
        assert_eq!(day.by_duration, [0, 0, 0, 1, 0]);
    }

    #[test]
    fn a_booking_stays_counted_once_when_the_tool_log_is_trimmed_away() {
        // A long call: its word-level fields do not fit the item, but what it booked does.
        let words: Vec<Value> = (0..40_000)
            .map(|i| json!({"word": "Termin", "start": i, "end": i + 1}))
            .collect();
        let mut long_ended = ended();
        long_ended.fields.insert(
            "transcript_object".into(),
            json!([{"role": "user", "words": words}]),
        );
        let (record, stats) = fold(&[started(), long_ended, analyzed()]);
        assert!(record.trimmed_fields.contains("transcript_object"));
        assert_eq!(stats["2024-01-11"].booked, 1);
        assert_eq!(record.booked_appointments(), vec!["apt_0123456789abcdef"]);
    }

    #[test]
    fn calls_that_did_not_run_their_course_are_not_completed() {
        for (status, reason, completed) in [
            ("ended", "agent_hangup", 1),
            ("ended", "error_llm_websocket_open", 0),
            ("ended", "dial_no_answer", 0),
            ("not_connected", "dial_busy", 0),
            ("error", "user_hangup", 0),
        ] {
            let e = event(
                EventKind::CallEnded,
                json!({"call_id": "c", "call_status": status, "disconnection_reason": reason,
                       "start_timestamp": START}),
            );
            let (_, stats) = fold(&[e]);
            assert_eq!(
                stats["2024-01-11"].completed, completed,
                "{status} {reason}"
            );
        }
    }

    #[test]
    fn a_record_from_before_hours_were_counted_adds_its_hour_when_it_changes() {
        let (mut legacy, _) = fold(&[started()]);
        legacy.stats_hour = None; // as stored before this version
        let applied = CallRecord::apply(Some(&legacy), &ended(), &BERLIN).expect("new event");
        let delta = applied.stats[0].delta;
        assert_eq!(delta.by_hour[13], 1, "the hour the old count lacked");
        assert_eq!(delta.calls, 0);
    }

    #[test]
    fn analyzed_first_then_started_still_ends_ended() {
        let (record, _) = fold(&[analyzed(), started()]);
        assert_eq!(record.call_status(), Some("ended"));
        assert_eq!(record.active_company(), None);
        // call_started's fields that analyzed lacked are still filled in.
        assert_eq!(record.str("call_type"), Some("phone_call"));
    }

    #[test]
    fn events_without_a_status_say_how_far_the_call_got() {
        let tz = chrono_tz::Europe::Berlin;
        let bare = |kind, extra: Value| {
            let mut call = json!({"call_id": "c_bare", "agent_id": "a", "start_timestamp": 1_704_974_400_000i64});
            if let (Some(c), Some(e)) = (call.as_object_mut(), extra.as_object()) {
                c.extend(e.clone());
            }
            event(kind, call)
        };
        let ended = bare(EventKind::CallEnded, json!({}));
        let applied = CallRecord::apply(None, &ended, &tz).expect("applied");
        assert_eq!(applied.record.call_status(), Some("ended"));
        assert_eq!(applied.record.active_company(), None);
        // A later started never moves it back.
        let started = bare(EventKind::CallStarted, json!({"call_status": "ongoing"}));
        let after = CallRecord::apply(Some(&applied.record), &started, &tz).expect("applied");
        assert_eq!(after.record.call_status(), Some("ended"));
        // A status Retell sent wins over a derived one, in either order.
        let errored = bare(EventKind::CallEnded, json!({"call_status": "error"}));
        let analyzed = bare(EventKind::CallAnalyzed, json!({}));
        for order in [[&errored, &analyzed], [&analyzed, &errored]] {
            let mut record = None;
            for e in order {
                record = CallRecord::apply(record.as_ref(), e, &tz).map(|a| a.record);
            }
            assert_eq!(
                record
                    .and_then(|r| r.call_status().map(str::to_owned))
                    .as_deref(),
                Some("error")
            );
        }
        let started_bare = bare(EventKind::CallStarted, json!({}));
        let applied = CallRecord::apply(None, &started_bare, &tz).expect("applied");
        assert_eq!(applied.record.call_status(), Some("ongoing"));
    }

    #[test]
    fn started_alone_is_active() {
        let (record, stats) = fold(&[started()]);
        assert_eq!(record.active_company(), Some("acme"));
        assert_eq!(stats["2024-01-11"].calls, 1);
        assert_eq!(stats["2024-01-11"].connected, 0);
    }

    #[test]
    fn duplicates_are_no_ops() {
        let (once, stats_once) = fold(&[started(), ended(), analyzed()]);
        let (twice, stats_twice) = fold(&[
            started(),
            ended(),
            ended(),
            analyzed(),
            started(),
            analyzed(),
        ]);
        assert_eq!(once.fields, twice.fields);
        assert_eq!(stats_once, stats_twice);
    }

    #[test]
    fn never_connected_call_keeps_its_reason() {
        let no_answer = event(
            EventKind::CallEnded,
            json!({"call_id": "call_2", "call_status": "not_connected",
                   "disconnection_reason": "dial_no_answer", "direction": "outbound",
                   "end_timestamp": START}),
        );
        let (record, stats) = fold(&[no_answer]);
        assert_eq!(record.call_status(), Some("not_connected"));
        assert_eq!(record.str("disconnection_reason"), Some("dial_no_answer"));
        assert_eq!(record.call_ts(), START);
        assert_eq!(stats["2024-01-11"].calls, 1);
        assert_eq!(stats["2024-01-11"].connected, 0);
    }

    #[test]
    fn stats_day_is_company_local() {
        // 23:30 UTC on 2024-01-11 is already the 12th in Berlin.
        let late = event(
            EventKind::CallStarted,
            json!({"call_id": "c", "call_status": "ongoing", "start_timestamp": START + 11 * 3_600_000 + 1_800_000}),
        );
        let (record, stats) = fold(&[late]);
        assert_eq!(record.stats_day, "2024-01-12");
        assert!(stats.contains_key("2024-01-12"));
    }

    #[test]
    fn stats_move_when_a_later_event_reveals_the_real_day() {
        // call_ended without start_timestamp is first seen days later; call_started then
        // supplies the real start, and the count moves to that day.
        let ended_late = CallEvent::from_payload(
            EventKind::CallEnded,
            "acme",
            START + 5 * 86_400_000,
            json!({"event": "call_ended", "call": {"call_id": "c", "call_status": "ended"}})
                .to_string()
                .as_bytes(),
        )
        .expect("valid");
        let (_, stats) = fold(&[ended_late, started()]);
        assert_eq!(stats.len(), 1, "{stats:?}");
        assert_eq!(stats["2024-01-11"].calls, 1);
    }

    #[test]
    fn oversized_records_are_trimmed_to_budget() {
        let words: Vec<Value> = (0..40_000)
            .map(|i| json!({"word": "Termin", "start": i, "end": i + 1}))
            .collect();
        let big = event(
            EventKind::CallEnded,
            json!({"call_id": "call_big", "call_status": "ended", "transcript": "wort ".repeat(200_000),
                   "transcript_object": [{"role": "user", "words": words}]}),
        );
        let applied = CallRecord::apply(None, &big, &BERLIN).expect("new");
        let r = applied.record;
        assert!(r.approximate_size() <= ITEM_BUDGET_BYTES);
        assert!(r.transcript_truncated);
        assert!(r.trimmed_fields.contains("transcript_object"));
        assert!(r.str("transcript").is_some_and(|t| t.len() > 100_000));
        assert_eq!(r.call_status(), Some("ended"));
    }
}
