//! What people look at: a company's calls page by page, its live calls and its daily
//! statistics over a range. Every read goes through an index or a key (never a scan) and names
//! the company in its key condition, so a query for one company cannot return another's calls.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::calls::stats::StatsDay;
use crate::calls::store::{staff_bookings_from_item, stats_from_item, DynamoCallStore, StoreError};

/// Indexes of the calls table (template.yaml).
pub const COMPANY_CALLS_INDEX: &str = "company-calls";
pub const CALLER_CALLS_INDEX: &str = "caller-calls";

/// A call as the lists show it (what the indexes project).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallSummary {
    pub call_id: String,
    pub call_ts: i64,
    pub agent_id: Option<String>,
    pub call_status: Option<String>,
    pub direction: Option<String>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub duration_ms: Option<i64>,
    pub disconnection_reason: Option<String>,
    pub call_summary: Option<String>,
    pub user_sentiment: Option<String>,
    pub call_successful: Option<bool>,
}

impl CallSummary {
    /// The other party's number: the caller of an inbound call, the callee of an outbound one.
    pub fn customer_number(&self) -> Option<&str> {
        customer_number(
            self.direction.as_deref(),
            self.from_number.as_deref(),
            self.to_number.as_deref(),
        )
    }

    fn from_item(item: &HashMap<String, AttributeValue>) -> Option<Self> {
        let s = |k: &str| match item.get(k) {
            Some(AttributeValue::S(v)) => Some(v.clone()),
            _ => None,
        };
        let n = |k: &str| match item.get(k) {
            Some(AttributeValue::N(v)) => v.parse::<f64>().ok().map(|f| f as i64),
            _ => None,
        };
        Some(Self {
            call_id: s("call_id")?,
            call_ts: n("call_ts").unwrap_or(0),
            agent_id: s("agent_id"),
            call_status: s("call_status"),
            direction: s("direction"),
            from_number: s("from_number"),
            to_number: s("to_number"),
            duration_ms: n("duration_ms"),
            disconnection_reason: s("disconnection_reason"),
            call_summary: s("call_summary"),
            user_sentiment: s("user_sentiment"),
            call_successful: match item.get("call_successful") {
                Some(AttributeValue::Bool(b)) => Some(*b),
                _ => None,
            },
        })
    }
}

/// Which of a company's calls a list shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallFilter {
    /// `[from_ms, to_ms)` on the call's time (its start).
    pub from_ms: i64,
    pub to_ms: i64,
    pub status: Option<String>,
    pub sentiment: Option<String>,
    /// A caller's number in E.164 (then the caller index serves the list).
    pub caller: Option<String>,
}

/// One page of calls, newest first, and where the next one starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallPage {
    pub calls: Vec<CallSummary>,
    /// Opaque; None on the last page.
    pub next: Option<String>,
}

/// Where a page ends: the last call's time and id. The company is never part of it: it comes
/// from who is asking, so a forged cursor cannot reach another company's partition.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    t: i64,
    c: String,
}

impl Cursor {
    fn encode(&self) -> String {
        hex::encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(raw: &str) -> Result<Self, StoreError> {
        let bad = || StoreError::Invalid("cursor".into());
        if raw.len() > 512 {
            return Err(bad());
        }
        let bytes = hex::decode(raw).map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        crate::retell::CallId::parse(&cursor.c).map_err(|_| bad())?;
        Ok(cursor)
    }
}

/// Most calls read to fill one page when a filter drops many (each read is one DynamoDB page).
const MAX_QUERY_ROUNDS: usize = 8;

impl DynamoCallStore {
    /// A page of `company`'s calls matching `filter`, newest first.
    pub async fn company_calls(
        &self,
        company_id: &str,
        filter: &CallFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<CallPage, StoreError> {
        let limit = limit.clamp(1, 200);
        let mut start = match cursor {
            Some(raw) => Some(Cursor::decode(raw)?),
            None => None,
        };
        let mut calls = Vec::new();
        for _ in 0..MAX_QUERY_ROUNDS {
            let mut q = self
                .client
                .query()
                .table_name(&self.calls_table)
                .scan_index_forward(false)
                .limit((limit - calls.len()) as i32 * 2)
                .expression_attribute_values(":from", num(filter.from_ms))
                .expression_attribute_values(":to", num(filter.to_ms - 1));
            let mut conditions = Vec::new();
            let (partition_key, partition) = match &filter.caller {
                // A caller's calls: the caller index, narrowed to this company.
                Some(number) => {
                    q = q
                        .index_name(CALLER_CALLS_INDEX)
                        .key_condition_expression(
                            "from_number = :p AND call_ts BETWEEN :from AND :to",
                        )
                        .expression_attribute_values(":c", AttributeValue::S(company_id.into()));
                    conditions.push("company_id = :c");
                    ("from_number", number.clone())
                }
                None => {
                    q = q.index_name(COMPANY_CALLS_INDEX).key_condition_expression(
                        "company_id = :p AND call_ts BETWEEN :from AND :to",
                    );
                    ("company_id", company_id.to_owned())
                }
            };
            q = q.expression_attribute_values(":p", AttributeValue::S(partition.clone()));
            if let Some(status) = &filter.status {
                conditions.push("call_status = :status");
                q = q.expression_attribute_values(":status", AttributeValue::S(status.clone()));
            }
            if let Some(sentiment) = &filter.sentiment {
                conditions.push("user_sentiment = :sentiment");
                q = q.expression_attribute_values(
                    ":sentiment",
                    AttributeValue::S(sentiment.clone()),
                );
            }
            if !conditions.is_empty() {
                q = q.filter_expression(conditions.join(" AND "));
            }
            if let Some(c) = &start {
                q = q.set_exclusive_start_key(Some(HashMap::from([
                    (
                        partition_key.to_owned(),
                        AttributeValue::S(partition.clone()),
                    ),
                    ("call_ts".to_owned(), num(c.t)),
                    ("call_id".to_owned(), AttributeValue::S(c.c.clone())),
                ])));
            }
            let out = q
                .send()
                .await
                .map_err(|e| StoreError::Backend(DisplayErrorContext(e).to_string()))?;
            // Items of this round taken (kept or unreadable); any left over start the next page.
            let mut consumed = 0;
            for item in out.items() {
                if calls.len() == limit {
                    break;
                }
                consumed += 1;
                if let Some(call) = CallSummary::from_item(item) {
                    calls.push(call);
                }
            }
            let more = out.last_evaluated_key().is_some_and(|k| !k.is_empty());
            if calls.len() == limit {
                let last = calls.last().map(|c| Cursor {
                    t: c.call_ts,
                    c: c.call_id.clone(),
                });
                // A page that ended exactly on the last call has nothing after it.
                return Ok(CallPage {
                    next: if more || consumed < out.items().len() {
                        last.map(|c| c.encode())
                    } else {
                        None
                    },
                    calls,
                });
            }
            match out.last_evaluated_key() {
                Some(key) if !key.is_empty() => {
                    let t = match key.get("call_ts") {
                        Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
                        _ => 0,
                    };
                    let c = match key.get("call_id") {
                        Some(AttributeValue::S(s)) => s.clone(),
                        _ => break,
                    };
                    start = Some(Cursor { t, c });
                }
                _ => return Ok(CallPage { calls, next: None }),
            }
        }
        // The filter dropped most calls: hand back what was found and where to go on.
        let next = start.map(|c| c.encode());
        Ok(CallPage { calls, next })
    }

    /// A company's live calls (registered/ongoing), newest first.
    pub async fn active_calls(
        &self,
        company_id: &str,
        limit: usize,
    ) -> Result<Vec<CallSummary>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.calls_table)
            .index_name(crate::calls::store::ACTIVE_CALLS_INDEX)
            .key_condition_expression("active_company = :c")
            .expression_attribute_values(":c", AttributeValue::S(company_id.to_owned()))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 500) as i32)
            .send()
            .await
            .map_err(|e| StoreError::Backend(DisplayErrorContext(e).to_string()))?;
        Ok(out
            .items()
            .iter()
            .filter_map(CallSummary::from_item)
            .collect())
    }

    /// A company's statistics for the days `[from_day, to_day]` (YYYY-MM-DD), days without
    /// calls left out.
    pub async fn stats_range(
        &self,
        company_id: &str,
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<StatsDay>, StoreError> {
        let mut days = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.stats_table)
                .key_condition_expression("company_id = :c AND #d BETWEEN :from AND :to")
                .expression_attribute_names("#d", "day")
                .expression_attribute_values(":c", AttributeValue::S(company_id.to_owned()))
                .expression_attribute_values(":from", AttributeValue::S(from_day.to_owned()))
                .expression_attribute_values(":to", AttributeValue::S(to_day.to_owned()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::Backend(DisplayErrorContext(e).to_string()))?;
            for item in out.items() {
                if let Some(AttributeValue::S(day)) = item.get("day") {
                    days.push(StatsDay {
                        day: day.clone(),
                        stats: stats_from_item(item)?,
                        booked_by_staff: staff_bookings_from_item(item)?,
                    });
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(days),
            }
        }
    }
}

fn num(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The other party of a call: `to_number` for an outbound call (the business called them),
/// else `from_number`.
pub fn customer_number<'a>(
    direction: Option<&str>,
    from_number: Option<&'a str>,
    to_number: Option<&'a str>,
) -> Option<&'a str> {
    if direction == Some("outbound") {
        to_number
    } else {
        from_number
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let c = Cursor {
            t: 1_700_000_000_000,
            c: "call_abc".into(),
        };
        let back = Cursor::decode(&c.encode()).expect("round trip");
        assert_eq!((back.t, back.c.as_str()), (c.t, "call_abc"));
        for bad in ["", "!!!", &"a".repeat(600), "7b2274223a317d"] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }
}
