//! The call record: one per call_id, merged from call_started / call_ended / call_analyzed in
//! any order and any number of times to the same result. Pure logic, no I/O.
//!
//! Merge rule: for every field, the value from the highest-ranked event that carried it wins
//! (`call_analyzed` > `call_ended` > `call_started`); `call_status` takes the most advanced
//! status seen, so it never regresses. A repeated event is a no-op. Both rules are commutative,
//! so the final record depends only on the set of events, not on their order.

use std::collections::{BTreeMap, BTreeSet};

use chrono_tz::Tz;
use serde_json::Value;

use crate::calls::budget::ITEM_BUDGET_BYTES;
use crate::calls::disconnection::end_class;
use crate::calls::event::CallEvent;
use crate::calls::stats::{
    local_day, local_hour, staff_minus, CallStats, StaffBookings, StatsDelta,
};
use crate::retell::{CallId, EventKind};

/// Most entries a call's transfer log keeps (the latest).
pub const MAX_TRANSFER_ENTRIES: usize = 20;

/// What an erased call keeps (`crate::privacy::erase`): the fields its statistics and the
/// staff's history are made of, nothing that names, quotes or records the caller.
pub const KEPT_WHEN_ERASED: &[&str] = &[
    "agent_id",
    "agent_version",
    "agent_name",
    "call_type",
    "direction",
    "call_status",
    "start_timestamp",
    "end_timestamp",
    "duration_ms",
    "disconnection_reason",
    "user_sentiment",
    "call_successful",
    "in_voicemail",
    "call_cost",
    "combined_cost",
    "latency",
    "booked_appointments",
    "booked_staff",
    "asked_staff",
    "needs_follow_up",
];

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
    /// Days the call is kept after it started (the item's TTL `expires_at`); None: kept until
    /// erased (calls stored before retention existed).
    pub retention_days: Option<u16>,
    /// When the caller's data was erased: every later event is merged without it.
    pub erased_at_ms: Option<i64>,
}

/// The result of applying an event: the record to write and the statistics to adjust, in the
/// same transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub record: CallRecord,
    pub stats: Vec<StatsDelta>,
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
            retention_days: None,
            erased_at_ms: None,
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

    /// The other party's number: the caller of an inbound call, the callee of an outbound one
    /// (a test or reminder call), never the business's own line.
    pub fn customer_number(&self) -> Option<&str> {
        crate::calls::views::customer_number(
            self.str("direction"),
            self.str("from_number"),
            self.str("to_number"),
        )
    }

    /// The call's bookings per staff member (a company without staff: none).
    pub fn staff_bookings(&self) -> StaffBookings {
        let mut out = StaffBookings::new();
        for name in self
            .fields
            .get("booked_staff")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            *out.entry(name.to_owned()).or_default() += 1;
        }
        out
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
            let tool_calls = record
                .fields
                .get("transcript_with_tool_calls")
                .map(crate::calls::tool_calls::ToolCall::parse_all)
                .unwrap_or_default();
            let booked: Vec<Value> = tool_calls
                .iter()
                .filter_map(|c| c.booked_appointment())
                .map(Value::from)
                .collect();
            let staff: Vec<Value> = tool_calls
                .iter()
                .filter_map(|c| c.booked_staff())
                .map(Value::from)
                .collect();
            record
                .fields
                .insert("booked_appointments".to_owned(), Value::Array(booked));
            record
                .fields
                .insert("booked_staff".to_owned(), Value::Array(staff));
            // Each person once, in the order first asked for.
            let mut asked: Vec<&str> = Vec::new();
            for name in tool_calls.iter().filter_map(|c| c.asked_staff()) {
                if !asked.contains(&name) {
                    asked.push(name);
                }
            }
            record.fields.insert(
                "asked_staff".to_owned(),
                Value::Array(asked.into_iter().map(Value::from).collect()),
            );
            for field in ["booked_appointments", "booked_staff", "asked_staff"] {
                record.field_rank.insert(field.to_owned(), rank);
            }
        }
        record.events_applied.insert(event.kind);
        record.payload_refs.insert(event.payload_ref.clone());
        record.first_seen_ms = record.first_seen_ms.min(event.received_at_ms);
        if let Some(days) = event.retention_days {
            record.retention_days = Some(days);
        }
        record.strip_if_erased();
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
        record.strip_if_erased();
        record.fit_to_budget(ITEM_BUDGET_BYTES);
        Some(record.with_stats(existing, tz))
    }

    /// The TTL of the stored item (epoch seconds), if the call has a retention.
    pub fn expires_at(&self) -> Option<i64> {
        self.retention_days
            .map(|days| crate::calls::retention::expires_at(self.call_ts(), days))
    }

    /// Leaves only [`KEPT_WHEN_ERASED`]: the caller's data goes, the call's figures stay, so
    /// its statistics do not change.
    pub fn strip_personal(&mut self) {
        self.fields
            .retain(|k, _| KEPT_WHEN_ERASED.contains(&k.as_str()));
        self.field_rank
            .retain(|k, _| KEPT_WHEN_ERASED.contains(&k.as_str()));
        self.payload_refs.clear();
        self.trimmed_fields.clear();
        self.transcript_truncated = false;
    }

    /// An event that arrives after its call was erased (a late delivery, a reconcile) brings
    /// nothing personal back.
    fn strip_if_erased(&mut self) {
        if self.erased_at_ms.is_some() {
            self.strip_personal();
        }
    }

    /// The record with the statistics changes its new state makes.
    fn with_stats(mut self, existing: Option<&CallRecord>, tz: &Tz) -> Applied {
        let record = &mut self;
        // Statistics follow the record: remove what the old state counted, add the new state,
        // so the day's totals equal the final record's contribution whatever the order.
        let new_day = local_day(record.call_ts(), tz);
        record.stats_hour = Some(local_hour(record.call_ts(), tz));
        let mut stats = Vec::with_capacity(2);
        let none = StaffBookings::new();
        match existing {
            None => stats.push(StatsDelta {
                company_id: record.company_id.clone(),
                day: new_day.clone(),
                delta: record.stats(),
                staff: record.staff_bookings(),
            }),
            Some(old) if old.stats_day == new_day => {
                let delta = StatsDelta {
                    company_id: record.company_id.clone(),
                    day: new_day.clone(),
                    delta: record.stats().minus(old.stats()),
                    staff: staff_minus(&record.staff_bookings(), &old.staff_bookings()),
                };
                if !delta.is_zero() {
                    stats.push(delta);
                }
            }
            Some(old) => {
                stats.push(StatsDelta {
                    company_id: record.company_id.clone(),
                    day: old.stats_day.clone(),
                    delta: CallStats::default().minus(old.stats()),
                    staff: staff_minus(&none, &old.staff_bookings()),
                });
                stats.push(StatsDelta {
                    company_id: record.company_id.clone(),
                    day: new_day.clone(),
                    delta: record.stats(),
                    staff: record.staff_bookings(),
                });
            }
        }
        record.stats_day = new_day;
        Applied {
            record: self,
            stats,
        }
    }
}

#[cfg(test)]
mod tests;
