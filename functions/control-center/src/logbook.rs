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

pub use shared::platform::log_line::{Level, LogLine};

/// Whether `viewer` may see `line`: an admin every line, a staff member their company's only.
fn visible_to(line: &LogLine, viewer: &Viewer) -> bool {
    match viewer {
        Viewer::Admin { .. } => true,
        Viewer::Staff { company_id, .. } => line.company.as_deref() == Some(company_id),
    }
}

/// Tells a line from every other (16 hex digits of a SHA-256 of all it says): the live logs
/// page shows a line a poll brings again only once.
pub fn line_key(line: &LogLine) -> String {
    let bytes = serde_json::to_vec(line).unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    hex::encode(&digest.as_ref()[..8])
}

/// What the logs page offers as a minimum level, most severe first.
pub const LEVEL_CHOICES: [Level; 4] = [Level::Error, Level::Warn, Level::Info, Level::Debug];

/// A `level` query value: `error`, `warn`, `info` or `debug`, exactly (nothing else).
pub fn level_of_query(raw: &str) -> Option<Level> {
    LEVEL_CHOICES.into_iter().find(|l| l.as_str() == raw)
}

/// What the logs page asks for.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// One function's lines only: only its log group is read.
    pub function: Option<String>,
    pub call_id: Option<String>,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Only lines of this level or a more severe one.
    pub min_level: Option<Level>,
    pub limit: usize,
}

impl LogQuery {
    /// Whether a line is one this query lists, for this viewer.
    fn wants(&self, viewer: &Viewer, line: &LogLine) -> bool {
        visible_to(line, viewer)
            && self
                .call_id
                .as_ref()
                .is_none_or(|c| line.call_id.as_deref() == Some(c.as_str()))
            && self.min_level.is_none_or(|min| line.level() >= min)
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

    /// The functions whose logs it reads, in the order `LOG_GROUPS` names them.
    pub fn functions(&self) -> Vec<&str> {
        self.groups.iter().map(|(f, _)| f.as_str()).collect()
    }

    /// The (function, log group) pairs a search reads: all of them, or `function`'s alone
    /// (none for a function it does not know).
    pub fn groups_for(&self, function: Option<&str>) -> Vec<&(String, String)> {
        self.groups
            .iter()
            .filter(|(f, _)| function.is_none_or(|want| want == f))
            .collect()
    }

    /// Lines of every function (or the query's one), newest first, the viewer's only: each
    /// function's log read newest first, all at once, within [`LOG_SEARCH_BUDGET`].
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
        let groups = self.groups_for(query.function.as_deref());
        let searches = groups.into_iter().map(|(function, group)| {
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
        assert!(visible_to(
            &l,
            &Viewer::Staff {
                user: "u".into(),
                company_id: "demo".into()
            }
        ));
        assert!(!visible_to(
            &l,
            &Viewer::Staff {
                user: "u".into(),
                company_id: "other".into()
            }
        ));
        assert!(LogLine::parse("webhook", 1, "START RequestId: 1").is_none());
    }

    fn book() -> Logbook {
        Logbook::new(
            None,
            [
                ("webhook", "/aws/lambda/s/webhook"),
                ("book-appointment", "/aws/lambda/s/book-appointment"),
                ("reconcile", "/aws/lambda/s/reconcile"),
            ]
            .iter()
            .map(|(f, g)| (f.to_string(), g.to_string()))
            .collect(),
        )
    }

    /// A function filter reads that function's log group alone; without one, every group.
    #[test]
    fn a_function_filter_reads_its_group_alone() {
        let book = book();
        assert_eq!(
            book.functions(),
            ["webhook", "book-appointment", "reconcile"]
        );
        let groups = |f: Option<&str>| -> Vec<&str> {
            book.groups_for(f)
                .into_iter()
                .map(|(_, g)| g.as_str())
                .collect()
        };
        assert_eq!(groups(None).len(), 3);
        for (function, expected) in [
            (
                Some("book-appointment"),
                vec!["/aws/lambda/s/book-appointment"],
            ),
            (Some("webhook"), vec!["/aws/lambda/s/webhook"]),
            // Not a function of this stack (the page refuses it before): nothing is read.
            (Some("nope"), vec![]),
            (Some("Webhook"), vec![]),
            (Some(""), vec![]),
            (Some("webhook\0"), vec![]),
            (Some("/aws/lambda/s/webhook"), vec![]),
        ] {
            assert_eq!(groups(function), expected, "{function:?}");
        }
    }

    #[test]
    fn levels_filter_from_a_minimum_up() {
        assert_eq!(level_of_query("warn"), Some(Level::Warn));
        for bad in ["WARN", "warning", "trace", "", " warn", "warn\0"] {
            assert_eq!(level_of_query(bad), None, "{bad:?}");
        }
        assert_eq!(Level::parse("ERROR"), Some(Level::Error));
        assert_eq!(Level::parse("warn"), Some(Level::Warn));
        assert_eq!(Level::parse("FATAL?"), None);
        let admin = Viewer::Admin { user: "a".into() };
        let at = |level: &str| {
            let mut l =
                LogLine::parse("webhook", 1, &line("webhook", "demo", 200, 5)).expect("line");
            l.level = level.into();
            l
        };
        for (min, shown) in [
            (None, vec!["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]),
            (Some(Level::Debug), vec!["DEBUG", "INFO", "WARN", "ERROR"]),
            (Some(Level::Info), vec!["INFO", "WARN", "ERROR"]),
            (Some(Level::Warn), vec!["WARN", "ERROR"]),
            (Some(Level::Error), vec!["ERROR"]),
        ] {
            let query = LogQuery {
                min_level: min,
                ..Default::default()
            };
            let got: Vec<&str> = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                .into_iter()
                .filter(|l| query.wants(&admin, &at(l)))
                .collect();
            assert_eq!(got, shown, "{min:?}");
        }
    }

    #[test]
    fn a_lines_key_tells_it_from_others() {
        let a = LogLine::parse("webhook", 1, &line("webhook", "demo", 200, 5)).expect("line");
        let same = LogLine::parse("webhook", 1, &line("webhook", "demo", 200, 5)).expect("line");
        let later = LogLine::parse("webhook", 2, &line("webhook", "demo", 200, 5)).expect("line");
        let other = LogLine::parse("reconcile", 1, &line("webhook", "demo", 200, 5)).expect("line");
        assert_eq!(line_key(&a), line_key(&same));
        assert_eq!(line_key(&a).len(), 16);
        assert_ne!(line_key(&a), line_key(&later));
        assert_ne!(line_key(&a), line_key(&other));
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
