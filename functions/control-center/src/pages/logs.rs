//! Logs: the functions' log lines of a day (webhook deliveries and rejections with their
//! reason, tool calls with their outcome and latency, errors), the viewer's company's only,
//! optionally one call's.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use maud::html;
use serde::Deserialize;
use serde_json::Value;

use super::{layout, Ctx, PageError};
use crate::data;
use crate::logbook::LogQuery;

#[derive(Debug, Default, Deserialize)]
pub struct LogsQuery {
    day: Option<String>,
    call_id: Option<String>,
    problems: Option<String>,
}

pub async fn page(ctx: Ctx, Query(q): Query<LogsQuery>) -> Result<Response, PageError> {
    let app = ctx.app.clone();
    let lang = ctx.lang;
    let tz = ctx.company.time_zone;
    let bad = |r: String| {
        PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{} {r}", lang.t("bad_request")),
        )
    };
    let day = match q.day.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .ok()
            .filter(|d| (2000..=2100).contains(&chrono::Datelike::year(d)))
            .ok_or_else(|| bad(format!("day {d:?} is not a date (YYYY-MM-DD)")))?,
        None => data::today(&tz),
    };
    let call_id = match q
        .call_id
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(c) => Some(
            shared::retell::CallId::parse(c)
                .map_err(|_| bad(format!("call id {c:?} is not a call id")))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let (from_ms, to_ms) = data::day_bounds(day, &tz);
    let problems_only = q.problems.as_deref() == Some("1");
    let lines = if app.logbook.available() {
        Some(
            app.logbook
                .lines(
                    &ctx.viewer,
                    &LogQuery {
                        call_id: call_id.clone(),
                        from_ms,
                        to_ms,
                        problems_only,
                        limit: 500,
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
    let body = html! {
        form.filters method="get" action=(ctx.link("/logs")) {
            label { (ctx.t("day")) input type="date" name="day" value=(day.to_string()); }
            label { (ctx.t("call_id")) input type="text" name="call_id" value=(call_id.clone().unwrap_or_default()); }
            label.check { input type="checkbox" name="problems" value="1" checked[problems_only]; " WARN/ERROR" }
            button type="submit" { (ctx.t("filter")) }
        }
        @if let Some(before) = lines.as_ref().and_then(|l| l.unread_before_ms) {
            p.note { (ctx.t("logs_unread_before")) " " (data::local_time(before, &tz, "%H:%M:%S")) }
        }
        @match lines.as_ref().map(|l| &l.lines) {
            None => p.empty { (ctx.t("not_available")) },
            Some(lines) if lines.is_empty() => p.empty { (ctx.t("no_logs")) },
            Some(lines) => table.logs {
                thead { tr { th { (ctx.t("time")) } th { (ctx.t("function")) } th { (ctx.t("level")) }
                             th { (ctx.t("message")) } th { (ctx.t("call_id")) } th { "" } } }
                tbody {
                    @for l in lines {
                        tr class=(l.level.to_lowercase()) {
                            td { (data::local_time(l.timestamp_ms, &tz, "%H:%M:%S%.3f")) }
                            td { (l.function) }
                            td { (l.level) }
                            td { (l.message) @if let Some(e) = &l.event { " · " (e) } }
                            td { @if let Some(c) = &l.call_id {
                                a href=(ctx.link(&format!("/logs?day={day}&call_id={c}"))) { code { (c) } } } }
                            td.fields { (details(&l.fields)) }
                        }
                    }
                }
            },
        }
    };
    let title = format!("{} · {day}", ctx.t("logs"));
    let markup = layout(&ctx, "logs", &title, body);
    Ok(ctx.respond(markup))
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
