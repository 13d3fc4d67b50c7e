//! What a call contributes to its company's daily statistics, and the counters' attribute
//! names. One macro lists the counters, so a field and its stored name cannot drift apart.

use std::collections::BTreeMap;

use chrono::{TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use crate::calls::disconnection::{end_class, EndClass};
use crate::calls::record::CallRecord;

/// Duration buckets of connected calls: under 1 min, 1–3, 3–5, 5–10, 10 min and more.
pub const DURATION_BUCKETS_MS: [i64; 4] = [60_000, 180_000, 300_000, 600_000];

/// Attribute names of [`CallStats::by_hour`], company-local hours.
const HOUR_FIELDS: [&str; 24] = [
    "hour_00", "hour_01", "hour_02", "hour_03", "hour_04", "hour_05", "hour_06", "hour_07",
    "hour_08", "hour_09", "hour_10", "hour_11", "hour_12", "hour_13", "hour_14", "hour_15",
    "hour_16", "hour_17", "hour_18", "hour_19", "hour_20", "hour_21", "hour_22", "hour_23",
];

/// Attribute names of [`CallStats::by_duration`], one per bucket of [`DURATION_BUCKETS_MS`].
const DURATION_FIELDS: [&str; DURATION_BUCKETS_MS.len() + 1] = [
    "duration_lt_1m",
    "duration_1_3m",
    "duration_3_5m",
    "duration_5_10m",
    "duration_ge_10m",
];

macro_rules! call_stats {
    ($( $(#[$doc:meta])* $field:ident, )*) => {
        /// What one call adds to its company's daily statistics.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct CallStats {
            $( $(#[$doc])* pub $field: i64, )*
            /// Calls by the company-local hour they started in.
            pub by_hour: [i64; 24],
            /// Connected calls by duration ([`DURATION_BUCKETS_MS`]).
            pub by_duration: [i64; DURATION_BUCKETS_MS.len() + 1],
        }

        /// Names of the single counters, in declaration order; each is its field's name.
        const COUNTER_FIELDS: &[&str] = &[$( stringify!($field) ),*];

        impl CallStats {
            fn counters_mut(&mut self) -> [&mut i64; COUNTER_FIELDS.len()] {
                [$( &mut self.$field ),*]
            }

            fn counters(&self) -> [i64; COUNTER_FIELDS.len()] {
                [$( self.$field ),*]
            }
        }
    };
}

call_stats! {
    calls,
    connected,
    duration_ms,
    minutes,
    successful,
    unsuccessful,
    voicemail,
    sentiment_positive,
    sentiment_negative,
    sentiment_neutral,
    sentiment_unknown,
    /// Ended normally (a hang-up, a transfer, voicemail, silence or the time limit), not by an
    /// error, a failed dial or a refusal.
    completed,
    /// Calls in which at least one appointment was booked.
    booked,
    /// Retell's `combined_cost`, in its unit (cents), rounded per call.
    cost_cents,
    /// Calls with Retell's end-to-end latency, and the sum of their medians (ms).
    latency_calls,
    latency_e2e_ms,
}

/// How many attributes a statistics item has.
pub const STATS_FIELD_COUNT: usize =
    COUNTER_FIELDS.len() + HOUR_FIELDS.len() + DURATION_FIELDS.len();

const fn all_fields() -> [&'static str; STATS_FIELD_COUNT] {
    let mut out = [""; STATS_FIELD_COUNT];
    let mut i = 0;
    while i < COUNTER_FIELDS.len() {
        out[i] = COUNTER_FIELDS[i];
        i += 1;
    }
    let mut h = 0;
    while h < HOUR_FIELDS.len() {
        out[COUNTER_FIELDS.len() + h] = HOUR_FIELDS[h];
        h += 1;
    }
    let mut d = 0;
    while d < DURATION_FIELDS.len() {
        out[COUNTER_FIELDS.len() + HOUR_FIELDS.len() + d] = DURATION_FIELDS[d];
        d += 1;
    }
    out
}

/// The statistics item's attribute names, in [`CallStats::values`] order.
pub const STATS_FIELDS: [&str; STATS_FIELD_COUNT] = all_fields();

impl CallStats {
    pub const FIELDS: [&'static str; STATS_FIELD_COUNT] = STATS_FIELDS;

    /// Every counter, in [`STATS_FIELDS`] order.
    pub fn values(&self) -> [i64; STATS_FIELD_COUNT] {
        let mut out = [0i64; STATS_FIELD_COUNT];
        let all = self
            .counters()
            .into_iter()
            .chain(self.by_hour)
            .chain(self.by_duration);
        for (slot, value) in out.iter_mut().zip(all) {
            *slot = value;
        }
        out
    }

    /// The inverse of [`CallStats::values`].
    pub fn from_values(values: [i64; STATS_FIELD_COUNT]) -> Self {
        let mut stats = Self::default();
        let mut values = values.into_iter();
        for slot in stats.counters_mut() {
            *slot = values.next().unwrap_or(0);
        }
        for slot in stats.by_hour.iter_mut().chain(stats.by_duration.iter_mut()) {
            *slot = values.next().unwrap_or(0);
        }
        stats
    }

    fn combine(self, other: Self, sign: i64) -> Self {
        let (a, b) = (self.values(), other.values());
        let mut out = [0; STATS_FIELD_COUNT];
        for (slot, (x, y)) in out.iter_mut().zip(a.into_iter().zip(b)) {
            *slot = x + sign * y;
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

/// Bookings made on calls, per staff member (their display name as the booking tool answered).
pub type StaffBookings = BTreeMap<String, i64>;

/// The statistics item's attribute for one staff member's bookings: `booked_staff:<name>`.
pub const BOOKED_STAFF_PREFIX: &str = "booked_staff:";

/// `new - old`, without the members whose count did not change.
pub fn staff_minus(new: &StaffBookings, old: &StaffBookings) -> StaffBookings {
    let mut out = new.clone();
    for (name, n) in old {
        *out.entry(name.clone()).or_default() -= n;
    }
    out.retain(|_, n| *n != 0);
    out
}

/// A change to one company-day's statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsDelta {
    pub company_id: String,
    pub day: String,
    pub delta: CallStats,
    /// Bookings per staff member.
    pub staff: StaffBookings,
}

impl StatsDelta {
    pub fn is_zero(&self) -> bool {
        self.delta.is_zero() && self.staff.is_empty()
    }
}

/// One company-day of the statistics table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsDay {
    pub day: String,
    pub stats: CallStats,
    pub booked_by_staff: StaffBookings,
}

/// The company-local date a timestamp falls on (1970-01-01 for an impossible timestamp).
pub(crate) fn local_day(ts_ms: i64, tz: &Tz) -> String {
    match Utc.timestamp_millis_opt(ts_ms).single() {
        Some(t) => t.with_timezone(tz).format("%Y-%m-%d").to_string(),
        None => "1970-01-01".to_owned(),
    }
}

/// The company-local hour a timestamp falls in.
pub(crate) fn local_hour(ts_ms: i64, tz: &Tz) -> u32 {
    Utc.timestamp_millis_opt(ts_ms)
        .single()
        .map(|t| t.with_timezone(tz).hour())
        .unwrap_or(0)
}

impl CallRecord {
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
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_counter_has_one_distinct_name() {
        let names: BTreeSet<&str> = STATS_FIELDS.iter().copied().collect();
        assert_eq!(names.len(), STATS_FIELD_COUNT);
        assert!(!names.contains(""));
        assert_eq!(STATS_FIELDS[0], "calls");
        assert_eq!(STATS_FIELDS[COUNTER_FIELDS.len()], "hour_00");
        assert_eq!(STATS_FIELDS[STATS_FIELD_COUNT - 1], "duration_ge_10m");
    }

    #[test]
    fn values_and_from_values_are_inverse() {
        let mut values = [0i64; STATS_FIELD_COUNT];
        for (i, v) in values.iter_mut().enumerate() {
            *v = i as i64 * 7 - 3;
        }
        let stats = CallStats::from_values(values);
        assert_eq!(stats.values(), values);
        assert_eq!(stats.calls, -3);
        assert_eq!(stats.by_hour[0], COUNTER_FIELDS.len() as i64 * 7 - 3);
        assert!(stats.minus(stats).is_zero());
        assert_eq!(stats.plus(CallStats::default()), stats);
    }
}
