//! The functions' log lines (CloudWatch Logs; locally the stack ships them there too): what
//! the logs page lists, and the operational figures of the overview (API response time, webhook
//! success rate), computed from the one `request answered` line each request writes.
//!
//! Lines are JSON (Lambda's JSON log format); fields of the event span (`span.call_id`,
//! `span.event`, `span.company`) say which call and company a line belongs to. A staff member
//! sees only lines of their company; the filter runs here on the parsed line, whatever
//! CloudWatch's own filter pattern did (the local emulator ignores JSON patterns).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use shared::platform::logs::{LogsClient, LogsError, Visit};
use shared::platform::telemetry::ANSWERED;
use tokio::sync::Mutex;

use crate::auth::Viewer;

/// One line as the logs page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    pub timestamp_ms: i64,
    pub function: String,
    pub level: String,
    pub message: String,
    pub call_id: Option<String>,
    pub event: Option<String>,
    pub company: Option<String>,
    /// The other fields of the line (status, reason, latency_ms, …), as written.
    pub fields: serde_json::Map<String, Value>,
}

impl LogLine {
    /// A JSON log line of `function` (None: not one of ours, e.g. Lambda's START/END lines).
    pub fn parse(function: &str, timestamp_ms: i64, raw: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(raw.trim()).ok()?;
        let obj = value.as_object()?;
        // An Embedded Metric Format line is a metric for CloudWatch, not a log line to show.
        if obj.contains_key("_aws") {
            return None;
        }
        let span = obj.get("span");
        let span_text = |k: &str| {
            span.and_then(|s| s.get(k))
                .and_then(Value::as_str)
                .filter(|v| *v != shared::platform::telemetry::UNKNOWN)
                .map(str::to_owned)
        };
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
        let fields = obj
            .get("fields")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(|| {
                obj.iter()
                    .filter(|(k, _)| {
                        !matches!(
                            k.as_str(),
                            "timestamp" | "level" | "message" | "span" | "spans" | "target"
                        )
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            });
        let message = text("message")
            .or_else(|| {
                fields
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        Some(Self {
            timestamp_ms,
            function: function.to_owned(),
            level: text("level").unwrap_or_else(|| "INFO".into()),
            message,
            call_id: span_text("call_id"),
            event: span_text("event"),
            company: span_text("company"),
            fields: fields.into_iter().filter(|(k, _)| k != "message").collect(),
        })
    }

    fn visible_to(&self, viewer: &Viewer) -> bool {
        match viewer {
            Viewer::Admin { .. } => true,
            Viewer::Staff { company_id, .. } => self.company.as_deref() == Some(company_id),
        }
    }
}

/// What the logs page asks for.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub call_id: Option<String>,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Only WARN and ERROR lines.
    pub problems_only: bool,
    pub limit: usize,
}

impl LogQuery {
    /// Whether a line is one this query lists, for this viewer.
    fn wants(&self, viewer: &Viewer, line: &LogLine) -> bool {
        line.visible_to(viewer)
            && self
                .call_id
                .as_ref()
                .is_none_or(|c| line.call_id.as_deref() == Some(c.as_str()))
            && (!self.problems_only || matches!(line.level.as_str(), "WARN" | "ERROR"))
    }
}

/// What a log search found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogLines {
    /// Newest first.
    pub lines: Vec<LogLine>,
    /// The search ran out of time: lines before this were not read (in some function's log).
    pub unread_before_ms: Option<i64>,
}

/// How long a log search may take: the page answers well within the control center's 15 s.
pub const LOG_SEARCH_BUDGET: Duration = Duration::from_secs(3);

/// Operational figures over a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Operations {
    pub requests: u64,
    /// Of the webhook's requests: answered 2xx, all.
    pub webhook_ok: u64,
    pub webhook_total: u64,
    /// Latency of every answered request of the webhook, the tools and the inbound webhook.
    pub latency_p50_ms: Option<u64>,
    pub latency_p95_ms: Option<u64>,
}

pub struct Logbook {
    client: Option<LogsClient>,
    groups: Vec<(String, String)>,
    operations: Mutex<Option<(Instant, String, Operations)>>,
}

/// How long the overview's operational figures are reused (they cover an hour).
const OPERATIONS_TTL: Duration = Duration::from_secs(60);

impl Logbook {
    pub fn new(client: Option<LogsClient>, groups: Vec<(String, String)>) -> Self {
        Self {
            client,
            groups,
            operations: Mutex::new(None),
        }
    }

    pub fn available(&self) -> bool {
        self.client.is_some() && !self.groups.is_empty()
    }

    /// Lines of every function, newest first, the viewer's only: each function's log read
    /// newest first, all at once, within [`LOG_SEARCH_BUDGET`].
    pub async fn lines(&self, viewer: &Viewer, query: &LogQuery) -> Result<LogLines, LogsError> {
        let Some(client) = &self.client else {
            return Ok(LogLines::default());
        };
        // A quoted term narrows what CloudWatch returns; the exact checks follow on each line.
        let pattern = query
            .call_id
            .as_ref()
            .map(|c| format!("\"{c}\""))
            .or_else(|| match viewer {
                Viewer::Staff { company_id, .. } => Some(format!("\"{company_id}\"")),
                Viewer::Admin { .. } => None,
            });
        let limit = query.limit.max(1);
        let searches = self.groups.iter().map(|(function, group)| {
            let pattern = pattern.as_deref();
            async move {
                let mut lines = Vec::new();
                let searched = client
                    .newest_first(
                        group,
                        pattern,
                        query.from_ms,
                        query.to_ms,
                        LOG_SEARCH_BUDGET,
                        |event| {
                            if let Some(line) =
                                LogLine::parse(function, event.timestamp_ms, &event.message)
                                    .filter(|l| query.wants(viewer, l))
                            {
                                lines.push(line);
                            }
                            if lines.len() >= limit {
                                Visit::Enough
                            } else {
                                Visit::More
                            }
                        },
                    )
                    .await;
                match searched {
                    Ok(s) => Ok((lines, s.out_of_time.then_some(s.back_to_ms))),
                    Err(e) if e.code() == Some("ResourceNotFoundException") => Ok((lines, None)),
                    Err(e) => Err(e),
                }
            }
        });
        let mut out = LogLines::default();
        for result in futures::future::join_all(searches).await {
            let (lines, stopped_at) = result?;
            out.lines.extend(lines);
            if let Some(at) = stopped_at {
                out.unread_before_ms = Some(out.unread_before_ms.map_or(at, |o: i64| o.max(at)));
            }
        }
        out.lines.sort_by_key(|l| std::cmp::Reverse(l.timestamp_ms));
        out.lines.truncate(limit);
        Ok(out)
    }

    /// Response times and the webhook's success rate over the last hour, for the viewer's
    /// company (an admin: all), reused for a minute.
    pub async fn operations(
        &self,
        viewer: &Viewer,
        now_ms: i64,
    ) -> Result<Option<Operations>, LogsError> {
        if !self.available() {
            return Ok(None);
        }
        let scope = match viewer {
            Viewer::Admin { .. } => "*".to_owned(),
            Viewer::Staff { company_id, .. } => company_id.clone(),
        };
        if let Some((at, cached_scope, ops)) = &*self.operations.lock().await {
            if at.elapsed() < OPERATIONS_TTL && *cached_scope == scope {
                return Ok(Some(ops.clone()));
            }
        }
        let query = LogQuery {
            from_ms: now_ms - 3_600_000,
            to_ms: now_ms,
            limit: 50_000,
            ..Default::default()
        };
        let lines = self.lines(viewer, &query).await?;
        let ops = operations_of(&lines.lines);
        *self.operations.lock().await = Some((Instant::now(), scope, ops.clone()));
        Ok(Some(ops))
    }
}

impl Logbook {
    /// The reconcile job's last `reconcile finished` line of the last two hours, summed up.
    pub async fn reconcile_status(&self) -> Option<String> {
        let client = self.client.as_ref()?;
        let (_, group) = self.groups.iter().find(|(f, _)| f == "reconcile")?;
        let now = chrono::Utc::now().timestamp_millis();
        let mut last: Option<LogLine> = None;
        client
            .newest_first(
                group,
                Some("\"reconcile finished\""),
                now - 2 * 3_600_000,
                now,
                LOG_SEARCH_BUDGET,
                |e| {
                    let line = LogLine::parse("reconcile", e.timestamp_ms, &e.message)
                        .filter(|l| l.message == "reconcile finished");
                    if let Some(line) = line {
                        if last
                            .as_ref()
                            .is_none_or(|l| l.timestamp_ms <= line.timestamp_ms)
                        {
                            last = Some(line);
                        }
                        return Visit::Enough;
                    }
                    Visit::More
                },
            )
            .await
            .ok()?;
        let last = last?;
        let n = |k: &str| last.fields.get(k).and_then(Value::as_u64).unwrap_or(0);
        let when = chrono::DateTime::from_timestamp_millis(last.timestamp_ms)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let timed_out = last.fields.get("timed_out").and_then(Value::as_bool) == Some(true);
        Some(format!(
            "{when}: imported {}, repaired {}, failed {}{}",
            n("imported"),
            n("stuck_repaired"),
            n("failed"),
            if timed_out { ", timed out" } else { "" }
        ))
    }
}

/// The figures of a set of lines: only `request answered` lines count.
pub fn operations_of(lines: &[LogLine]) -> Operations {
    let mut ops = Operations::default();
    let mut latencies: Vec<u64> = Vec::new();
    for line in lines.iter().filter(|l| l.message == ANSWERED) {
        let status = line.fields.get("status").and_then(Value::as_u64);
        let latency = line.fields.get("latency_ms").and_then(Value::as_u64);
        ops.requests += 1;
        if let Some(l) = latency {
            latencies.push(l);
        }
        if line.function == "webhook" {
            ops.webhook_total += 1;
            if status.is_some_and(|s| (200..300).contains(&s)) {
                ops.webhook_ok += 1;
            }
        }
    }
    latencies.sort_unstable();
    // Nearest rank: the smallest value with at least p of all at or below it.
    let pct = |p: f64| -> Option<u64> {
        let rank = (p * latencies.len() as f64).ceil() as usize;
        latencies.get(rank.max(1) - 1).copied()
    };
    ops.latency_p50_ms = pct(0.5);
    ops.latency_p95_ms = pct(0.95);
    ops
}

/// Lines per function, for a summary.
pub fn count_by_function(lines: &[LogLine]) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for l in lines {
        *out.entry(l.function.clone()).or_insert(0) += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(function: &str, company: &str, status: u64, latency: u64) -> String {
        serde_json::json!({"timestamp": "2026-11-30T10:00:00Z", "level": "INFO",
            "fields": {"message": ANSWERED, "status": status, "latency_ms": latency},
            "target": "x", "span": {"call_id": "call_1", "event": "call_started", "company": company, "name": function}})
        .to_string()
    }

    #[test]
    fn metric_lines_are_not_log_lines() {
        let emf = shared::platform::metrics::emf_line(
            1,
            &[("Api", "webhook"), ("Function", "webhook")],
            &[&["Api"]],
            &[("Requests", shared::platform::metrics::Unit::Count, 1.0)],
        );
        assert!(LogLine::parse("webhook", 1, &emf).is_none());
        assert!(LogLine::parse("webhook", 1, &line("webhook", "demo", 200, 5)).is_some());
    }

    #[test]
    fn lines_parse_and_belong_to_their_company() {
        let l = LogLine::parse("webhook", 1, &line("webhook", "demo", 200, 12)).expect("ours");
        assert_eq!(l.message, ANSWERED);
        assert_eq!(l.company.as_deref(), Some("demo"));
        assert_eq!(l.fields["status"], 200);
        assert!(l.visible_to(&Viewer::Staff {
            user: "u".into(),
            company_id: "demo".into()
        }));
        assert!(!l.visible_to(&Viewer::Staff {
            user: "u".into(),
            company_id: "other".into()
        }));
        assert!(LogLine::parse("webhook", 1, "START RequestId: 1").is_none());
    }

    #[test]
    fn operations_count_webhook_success_and_latency() {
        let lines: Vec<LogLine> = [
            ("webhook", 200, 10),
            ("webhook", 200, 20),
            ("webhook", 503, 2500),
            ("book-appointment", 200, 300),
        ]
        .iter()
        .map(|(f, s, l)| LogLine::parse(f, 1, &line(f, "demo", *s, *l)).expect("line"))
        .collect();
        let ops = operations_of(&lines);
        assert_eq!((ops.webhook_ok, ops.webhook_total, ops.requests), (2, 3, 4));
        assert_eq!(ops.latency_p50_ms, Some(20));
        assert_eq!(ops.latency_p95_ms, Some(2500));
        assert_eq!(operations_of(&[]).latency_p50_ms, None);
    }
}
