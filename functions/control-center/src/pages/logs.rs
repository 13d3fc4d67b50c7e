//! Logs: the functions' log lines of a day (webhook deliveries and rejections with their
//! reason, tool calls with their outcome and latency, errors), the viewer's company's only,
//! optionally one function's (only its log group is read), one call's, from a minimum level.
//!
//! Today's page refreshes live: `assets/logs.js` (a file, the CSP allows no inline script)
//! polls [`lines`] (`GET <base>/logs/lines?function=&call_id=&level=&after_ms=`), the same
//! filter as JSON, and puts the new lines on top of the table without reloading the page.

use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use chrono_tz::Tz;
use maud::html;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::calls::encode_query;
use super::{layout, Ctx, PageError};
use crate::data;
use crate::logbook::{level_of_query, line_key, Level, LogLine, LogQuery, LEVEL_CHOICES};

/// Lines a page lists at most.
pub const PAGE_LIMIT: usize = 500;
/// Lines one live poll answers with at most (the newest of them; `truncated` says so).
pub const LIVE_LIMIT: usize = 200;
/// How far back a live poll may start; earlier is refused: each poll reads every chosen log
/// group over its window, so a poll must not be a day-long search (logs.js starts no earlier).
pub const LIVE_WINDOW_MS: i64 = 15 * 60_000;
/// How far past the server's clock a poll may start (clocks differ a little); later is refused.
pub const LIVE_AHEAD_MS: i64 = 60_000;
/// Lines reach CloudWatch Logs some seconds after their time: each poll reads this much of the
/// last one's window again, and the page skips the lines it already shows (by their key).
pub const LIVE_OVERLAP_MS: i64 = 30_000;
/// Between two polls: one function's log (one CloudWatch request), every function's.
const LIVE_INTERVAL_ONE_MS: u32 = 5_000;
const LIVE_INTERVAL_ALL_MS: u32 = 15_000;

/// The logs page's and the live poll's query parameters, as sent.
#[derive(Debug, Default, Deserialize)]
pub struct LogsQuery {
    day: Option<String>,
    function: Option<String>,
    call_id: Option<String>,
    /// `error`, `warn`, `info` or `debug`: that level and more severe ones.
    level: Option<String>,
    /// `1`: WARN and ERROR only (the older form of `level=warn`).
    problems: Option<String>,
    /// The live poll: lines after this time (ms since 1970).
    after_ms: Option<String>,
}

/// What a logs request asks for, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    pub day: Option<NaiveDate>,
    pub function: Option<String>,
    pub call_id: Option<String>,
    pub min_level: Option<Level>,
}

/// A value quoted in a refusal: at most 40 characters of it, escaped.
fn quoted(raw: &str) -> String {
    let cut: String = raw.chars().take(40).collect();
    if cut.len() < raw.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

impl LogsQuery {
    /// The filter it asks for, among `functions` (the stack's): every value is read or refused
    /// with the reason, never ignored. `problems=1` and `level` together: the stricter.
    pub fn filter(&self, functions: &[&str]) -> Result<LogFilter, String> {
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let day = match given(&self.day) {
            Some(d) => Some(
                NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .ok()
                    .filter(|d| (2000..=2100).contains(&chrono::Datelike::year(d)))
                    .ok_or_else(|| format!("day {} is not a date (YYYY-MM-DD)", quoted(&d)))?,
            ),
            None => None,
        };
        let function = match given(&self.function) {
            Some(f) if functions.contains(&f.as_str()) => Some(f),
            Some(f) => {
                return Err(format!(
                    "function {} is not one of this stack's functions ({})",
                    quoted(&f),
                    functions.join(", ")
                ))
            }
            None => None,
        };
        let call_id = match given(&self.call_id) {
            Some(c) => Some(
                shared::retell::CallId::parse(&c)
                    .map_err(|e| format!("call id {} is not a call id: {e}", quoted(&c)))?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let level = match given(&self.level) {
            Some(l) => Some(level_of_query(&l).ok_or_else(|| {
                format!(
                    "level {} is not one of error, warn, info, debug",
                    quoted(&l)
                )
            })?),
            None => None,
        };
        let problems = match given(&self.problems).as_deref() {
            None | Some("0") => None,
            Some("1") => Some(Level::Warn),
            Some(p) => return Err(format!("problems {} is not 1 or 0", quoted(p))),
        };
        Ok(LogFilter {
            day,
            function,
            call_id,
            // None < Some: the stricter of the two.
            min_level: level.max(problems),
        })
    }
}

/// A live poll's `after_ms`: whole milliseconds since 1970, within the last
/// [`LIVE_WINDOW_MS`] of `now_ms` and at most [`LIVE_AHEAD_MS`] past it.
pub fn after_ms_of(raw: Option<&str>, now_ms: i64) -> Result<i64, String> {
    let raw = raw
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| "after_ms is missing".to_owned())?;
    let ms = Some(raw)
        .filter(|r| r.len() <= 16 && r.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|r| r.parse::<i64>().ok())
        .ok_or_else(|| format!("after_ms {} is not a time in ms since 1970", quoted(raw)))?;
    if ms < now_ms - LIVE_WINDOW_MS || ms > now_ms + LIVE_AHEAD_MS {
        return Err(format!(
            "after_ms {ms} is not within the last 15 minutes (now: {now_ms})"
        ));
    }
    Ok(ms)
}

/// A line as a row of the table shows it (the page's and the live poll's).
#[derive(Debug, Serialize)]
pub struct Row {
    /// Tells the line from every other (a poll's overlap brings some twice).
    pub key: String,
    pub timestamp_ms: i64,
    /// In the company's time zone.
    pub time: String,
    pub function: String,
    pub level: String,
    pub message: String,
    pub event: Option<String>,
    pub call_id: Option<String>,
    /// The logs of the line's call, on the line's day.
    pub call_link: Option<String>,
    pub details: String,
}

impl Row {
    fn of(ctx: &Ctx, line: &LogLine, tz: &Tz) -> Self {
        Row {
            key: line_key(line),
            timestamp_ms: line.timestamp_ms,
            time: data::local_time(line.timestamp_ms, tz, "%H:%M:%S%.3f"),
            function: line.function.clone(),
            level: line.level.clone(),
            message: line.message.clone(),
            event: line.event.clone(),
            call_id: line.call_id.clone(),
            call_link: line.call_id.as_ref().map(|c| {
                let day = data::local_time(line.timestamp_ms, tz, "%Y-%m-%d");
                ctx.link(&format!(
                    "/logs?{}",
                    encode_query(&[("day", day), ("call_id", c.clone())])
                ))
            }),
            details: details(&line.fields),
        }
    }
}

pub async fn page(ctx: Ctx, Query(q): Query<LogsQuery>) -> Result<Response, PageError> {
    let app = ctx.app.clone();
    let lang = ctx.lang;
    let tz = ctx.company.time_zone;
    let functions = app.logbook.functions();
    let filter = q.filter(&functions).map_err(|r| {
        PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{} {r}", lang.t("bad_request")),
        )
    })?;
    let today = data::today(&tz);
    let day = filter.day.unwrap_or(today);
    let (from_ms, to_ms) = data::day_bounds(day, &tz);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let lines = if app.logbook.available() {
        Some(
            app.logbook
                .lines(
                    &ctx.viewer,
                    &LogQuery {
                        function: filter.function.clone(),
                        call_id: filter.call_id.clone(),
                        from_ms,
                        to_ms,
                        min_level: filter.min_level,
                        limit: PAGE_LIMIT,
                    },
                )
                .await
                .map_err(|e| {
                    tracing::warn!(reason = %e, "log lines unavailable");
                    PageError::new(StatusCode::BAD_GATEWAY, lang.t("error"))
                })?,
        )
    } else {
        None
    };
    let rows: Option<Vec<Row>> = lines.as_ref().map(|l| {
        l.lines
            .iter()
            .map(|line| Row::of(&ctx, line, &tz))
            .collect()
    });
    // The live poll's address: the page's filter, without the day (it reads up to now).
    let live_url = {
        let mut params = Vec::new();
        if let Some(f) = &filter.function {
            params.push(("function", f.clone()));
        }
        if let Some(c) = &filter.call_id {
            params.push(("call_id", c.clone()));
        }
        if let Some(l) = filter.min_level {
            params.push(("level", l.as_str().to_owned()));
        }
        let query = encode_query(&params);
        ctx.link(&format!(
            "/logs/lines{}{query}",
            if query.is_empty() { "" } else { "?" }
        ))
    };
    let interval_ms = if filter.function.is_some() {
        LIVE_INTERVAL_ONE_MS
    } else {
        LIVE_INTERVAL_ALL_MS
    };
    let body = html! {
        form.filters method="get" action=(ctx.link("/logs")) {
            label { (ctx.t("day")) input type="date" name="day" value=(day.to_string()); }
            label { (ctx.t("function"))
                select name="function" {
                    option value="" { (ctx.t("all_functions")) }
                    @for f in &functions {
                        option value=(f) selected[filter.function.as_deref() == Some(*f)] { (f) }
                    }
                }
            }
            label { (ctx.t("call_id")) input type="text" name="call_id" value=(filter.call_id.clone().unwrap_or_default()); }
            label { (ctx.t("min_level"))
                select name="level" {
                    option value="" { (ctx.t("all_levels")) }
                    @for l in LEVEL_CHOICES {
                        option value=(l.as_str()) selected[filter.min_level == Some(l)] { (l.as_str().to_uppercase()) }
                    }
                }
            }
            button type="submit" { (ctx.t("filter")) }
        }
        @if day == today && rows.is_some() {
            // assets/logs.js: on by default, unticked it stops.
            div #logs-live .live data-url=(live_url) data-after-ms=(now_ms - LIVE_OVERLAP_MS)
                data-interval-ms=(interval_ms) data-stopped=(ctx.t("logs_live_stopped"))
                data-truncated=(ctx.t("logs_live_truncated")) {
                label.check { input #live-toggle type="checkbox" checked; " " (ctx.t("logs_live")) }
                span.live-status role="status" {}
            }
        }
        @if let Some(before) = lines.as_ref().and_then(|l| l.unread_before_ms) {
            p.note { (ctx.t("logs_unread_before")) " " (data::local_time(before, &tz, "%H:%M:%S")) }
        }
        @match &rows {
            None => p.empty { (ctx.t("not_available")) },
            Some(rows) => {
                @if rows.is_empty() {
                    p #logs-empty .empty { (ctx.t("no_logs")) }
                }
                table.logs hidden[rows.is_empty()] {
                    thead { tr { th { (ctx.t("time")) } th { (ctx.t("function")) } th { (ctx.t("level")) }
                                 th { (ctx.t("message")) } th { (ctx.t("call_id")) } th { "" } } }
                    tbody {
                        @for r in rows {
                            tr class=(r.level.to_lowercase()) data-key=(r.key) data-ts=(r.timestamp_ms) {
                                td { (r.time) }
                                td { (r.function) }
                                td { (r.level) }
                                td { (r.message) @if let Some(e) = &r.event { " · " (e) } }
                                td { @if let (Some(c), Some(link)) = (&r.call_id, &r.call_link) {
                                    a href=(link) { code { (c) } } } }
                                td.fields { (r.details) }
                            }
                        }
                    }
                }
            },
        }
        script src=(ctx.link("/assets/logs.js")) defer {}
    };
    let title = format!("{} · {day}", ctx.t("logs"));
    let markup = layout(&ctx, "logs", &title, body);
    Ok(ctx.respond(markup))
}

/// The live poll: the lines after `after_ms` (up to now, at most [`LIVE_LIMIT`], newest
/// first) of the page's filter, the viewer's only, as JSON:
/// `{"lines": [Row…], "until_ms", "next_after_ms", "truncated"}`. A value the page would refuse
/// is 400 `{"error": "invalid_request", "message": reason}`.
pub async fn lines(ctx: Ctx, Query(q): Query<LogsQuery>) -> Response {
    let app = ctx.app.clone();
    let tz = ctx.company.time_zone;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let checked = q
        .filter(&app.logbook.functions())
        .and_then(|f| Ok((f, after_ms_of(q.after_ms.as_deref(), now_ms)?)));
    let (filter, after_ms) = match checked {
        Ok(c) => c,
        Err(reason) => {
            return answer(
                ctx,
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid_request", "message": reason}),
            )
        }
    };
    if !app.logbook.available() {
        return answer(
            ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "unavailable", "message": "no log groups to read"}),
        );
    }
    let found = app
        .logbook
        .lines(
            &ctx.viewer,
            &LogQuery {
                function: filter.function.clone(),
                call_id: filter.call_id.clone(),
                from_ms: after_ms + 1,
                to_ms: now_ms,
                min_level: filter.min_level,
                limit: LIVE_LIMIT,
            },
        )
        .await;
    let found = match found {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(reason = %e, "log lines unavailable");
            return answer(
                ctx,
                StatusCode::BAD_GATEWAY,
                json!({"error": "unavailable", "message": "CloudWatch Logs unavailable"}),
            );
        }
    };
    let truncated = found.lines.len() >= LIVE_LIMIT || found.unread_before_ms.is_some();
    let rows: Vec<Row> = found.lines.iter().map(|l| Row::of(&ctx, l, &tz)).collect();
    answer(
        ctx,
        StatusCode::OK,
        json!({
            "lines": rows,
            "until_ms": now_ms,
            "next_after_ms": after_ms.max(now_ms - LIVE_OVERLAP_MS),
            "truncated": truncated,
        }),
    )
}

/// A JSON answer with the context's cookies (a refreshed session).
fn answer(ctx: Ctx, status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    for c in ctx.set_cookies {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// A line's fields worth reading at a glance: status, reason, latency, error.
fn details(fields: &serde_json::Map<String, Value>) -> String {
    [
        "status",
        "reason",
        "latency_ms",
        "success",
        "error",
        "caller",
    ]
    .iter()
    .filter_map(|k| {
        fields.get(*k).map(|v| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
    })
    .collect::<Vec<_>>()
    .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FUNCTIONS: [&str; 3] = ["webhook", "book-appointment", "reconcile"];

    fn q(pairs: &[(&str, &str)]) -> LogsQuery {
        let mut q = LogsQuery::default();
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "day" => q.day = v,
                "function" => q.function = v,
                "call_id" => q.call_id = v,
                "level" => q.level = v,
                "problems" => q.problems = v,
                "after_ms" => q.after_ms = v,
                other => panic!("{other}"),
            }
        }
        q
    }

    #[test]
    fn filters_are_read_as_asked() {
        let ok = |pairs: &[(&str, &str)]| q(pairs).filter(&FUNCTIONS).expect("valid");
        assert_eq!(ok(&[]), LogFilter::default());
        assert_eq!(
            ok(&[
                ("day", ""),
                ("function", ""),
                ("level", ""),
                ("problems", "")
            ]),
            LogFilter::default(),
            "an empty field (the form's \"all\") is no filter"
        );
        let f = ok(&[
            ("day", "2026-11-30"),
            ("function", "book-appointment"),
            ("call_id", "call_abc123"),
            ("level", "info"),
        ]);
        assert_eq!(f.day.map(|d| d.to_string()).as_deref(), Some("2026-11-30"));
        assert_eq!(f.function.as_deref(), Some("book-appointment"));
        assert_eq!(f.call_id.as_deref(), Some("call_abc123"));
        assert_eq!(f.min_level, Some(Level::Info));
        for (pairs, expected) in [
            (vec![("problems", "1")], Some(Level::Warn)),
            (vec![("problems", "0")], None),
            (vec![("level", "error")], Some(Level::Error)),
            (vec![("level", "debug")], Some(Level::Debug)),
            // Both: the stricter.
            (
                vec![("problems", "1"), ("level", "debug")],
                Some(Level::Warn),
            ),
            (
                vec![("problems", "1"), ("level", "error")],
                Some(Level::Error),
            ),
        ] {
            assert_eq!(ok(&pairs).min_level, expected, "{pairs:?}");
        }
    }

    #[test]
    fn hostile_filters_are_refused_with_a_short_reason() {
        let megabyte = "w".repeat(1 << 20);
        for (pairs, reason) in [
            (vec![("function", "nope")], "function \"nope\""),
            (
                vec![("function", "Webhook")],
                "not one of this stack's functions",
            ),
            (vec![("function", "webhook\0")], "function \"webhook\\0\""),
            (vec![("function", "webhook,reconcile")], "function"),
            (vec![("function", "*")], "function"),
            (vec![("function", megabyte.as_str())], "function \"www"),
            (vec![("level", "warning")], "level \"warning\""),
            (vec![("level", "WARN")], "level"),
            (vec![("level", "trace")], "level"),
            (vec![("level", "0")], "level"),
            (vec![("level", "error\0")], "level"),
            (vec![("level", megabyte.as_str())], "level"),
            (vec![("problems", "yes")], "problems"),
            (vec![("problems", "1\0")], "problems"),
            (vec![("day", "30.11.2026")], "day"),
            (vec![("day", "99999-01-01")], "day"),
            (vec![("call_id", "\0")], "call id"),
            (vec![("call_id", "<script>")], "call id"),
            (vec![("call_id", megabyte.as_str())], "call id"),
        ] {
            let refused = q(&pairs).filter(&FUNCTIONS);
            let Err(why) = refused else {
                panic!("{:.80?} passed: {refused:?}", pairs)
            };
            assert!(why.contains(reason), "{why:.200}");
            assert!(
                why.len() < 300,
                "a refusal quotes no megabyte: {}",
                why.len()
            );
        }
        // No function is known without log groups: any is refused.
        assert!(q(&[("function", "webhook")]).filter(&[]).is_err());
    }

    #[test]
    fn after_ms_is_a_recent_time_or_refused() {
        let now = 1_800_000_000_000_i64;
        let ok = |raw: &str| after_ms_of(Some(raw), now);
        assert_eq!(ok(&now.to_string()), Ok(now));
        assert_eq!(ok(&(now - 5_000).to_string()), Ok(now - 5_000));
        assert_eq!(
            ok(&format!(" {} ", now - LIVE_WINDOW_MS)),
            Ok(now - LIVE_WINDOW_MS)
        );
        assert_eq!(
            ok(&(now + LIVE_AHEAD_MS).to_string()),
            Ok(now + LIVE_AHEAD_MS)
        );
        let megabyte = "9".repeat(1 << 20);
        for raw in [
            "",
            "-1",
            "-5000",
            "0",
            "1",
            &(now - LIVE_WINDOW_MS - 1).to_string(),
            &(now + LIVE_AHEAD_MS + 1).to_string(),
            "9223372036854775807",
            "99999999999999999999999",
            "1e12",
            "1800000000000.5",
            "0x1A2B",
            "+1800000000000",
            "1800000000000\0",
            "NaN",
            megabyte.as_str(),
        ] {
            let refused = ok(raw);
            let Err(why) = &refused else {
                panic!("{raw:.40?} passed: {refused:?}")
            };
            assert!(why.contains("after_ms"), "{why}");
            assert!(why.len() < 200, "{}", why.len());
        }
        assert_eq!(
            after_ms_of(None, now),
            Err("after_ms is missing".to_owned())
        );
    }

    #[test]
    fn details_show_what_matters() {
        let fields = json!({"status": 200, "reason": "ok", "other": 1, "latency_ms": 12});
        assert_eq!(
            details(fields.as_object().expect("object")),
            "status=200 reason=ok latency_ms=12"
        );
    }
}
