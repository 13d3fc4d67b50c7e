//! Calls: a day's calls of the company, newest first, filtered by status, sentiment and caller,
//! page by page (the company-calls index; the caller index for one caller).

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use maud::{html, Markup};
use serde::Deserialize;
use shared::booking::phone::PhoneNumber;
use shared::calls::views::{CallFilter, CallPage};

use super::{duration, layout, Ctx, PageError};
use crate::{data, labels};

pub const STATUSES: [&str; 5] = ["registered", "ongoing", "ended", "not_connected", "error"];
pub const SENTIMENTS: [&str; 4] = ["Positive", "Neutral", "Negative", "Unknown"];
const PAGE_SIZE: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub struct CallsQuery {
    day: Option<String>,
    status: Option<String>,
    sentiment: Option<String>,
    caller: Option<String>,
    cursor: Option<String>,
}

/// The filter a query asks for, or why it cannot be read (never guessed).
fn filter_of(q: &CallsQuery, tz: &chrono_tz::Tz) -> Result<(NaiveDate, CallFilter), String> {
    let day = match q.day.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .ok()
            .filter(|d| (2000..=2100).contains(&chrono::Datelike::year(d)))
            .ok_or_else(|| format!("day {d:?} is not a date (YYYY-MM-DD)"))?,
        None => data::today(tz),
    };
    let pick =
        |value: &Option<String>, allowed: &[&str], what: &str| -> Result<Option<String>, String> {
            match value.as_deref().filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) if allowed.contains(&v) => Ok(Some(v.to_owned())),
                Some(v) => Err(format!("{what} {v:?} is not one of {}", allowed.join(", "))),
            }
        };
    let caller = match q.caller.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            PhoneNumber::parse(c)
                .map_err(|_| format!("caller {c:?} is not a phone number"))?
                .as_str()
                .to_owned(),
        ),
    };
    let (from_ms, to_ms) = data::day_bounds(day, tz);
    Ok((
        day,
        CallFilter {
            from_ms,
            to_ms,
            status: pick(&q.status, &STATUSES, "status")?,
            sentiment: pick(&q.sentiment, &SENTIMENTS, "sentiment")?,
            caller,
        },
    ))
}

pub async fn list(ctx: Ctx, Query(q): Query<CallsQuery>) -> Result<Response, PageError> {
    let app = ctx.app.clone();
    let lang = ctx.lang;
    let tz = ctx.company.time_zone;
    let (day, filter) = filter_of(&q, &tz).map_err(|reason| {
        PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{} {reason}", lang.t("bad_request")),
        )
    })?;
    let page = app
        .data
        .calls_page(&ctx.company, &filter, q.cursor.as_deref(), PAGE_SIZE)
        .await
        .map_err(|e| PageError::from_data(e, lang))?;
    // The customers' names: one batch read for the page (a failed read costs the names).
    let names = app
        .data
        .customer_names(
            &ctx.company,
            page.calls.iter().filter_map(|c| c.customer_number()),
        )
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(reason = ?e, "customer names not readable");
            Default::default()
        });
    let markup = render(&ctx, day, &filter, &page, &names);
    Ok(ctx.respond(markup))
}

/// The page of a day's calls, with the names known for their customers (no I/O: what the
/// benchmark renders).
pub fn render(
    ctx: &Ctx,
    day: NaiveDate,
    filter: &CallFilter,
    page: &CallPage,
    names: &HashMap<String, String>,
) -> Markup {
    let tz = ctx.company.time_zone;
    let lang = ctx.lang;
    let next_link = page.next.as_ref().map(|cursor| {
        let mut params = vec![("day", day.to_string()), ("cursor", cursor.clone())];
        for (k, v) in [
            ("status", &filter.status),
            ("sentiment", &filter.sentiment),
            ("caller", &filter.caller),
        ] {
            if let Some(v) = v {
                params.push((k, v.clone()));
            }
        }
        format!("{}?{}", ctx.link("/calls"), encode_query(&params))
    });
    let body = html! {
        form.filters method="get" action=(ctx.link("/calls")) {
            label { (ctx.t("day")) input type="date" name="day" value=(day.to_string()); }
            label { (ctx.t("status"))
                select name="status" {
                    option value="" { (ctx.t("all")) }
                    @for s in STATUSES { option value=(s) selected[filter.status.as_deref() == Some(s)] { (labels::status(s, lang)) } }
                }
            }
            label { (ctx.t("sentiment"))
                select name="sentiment" {
                    option value="" { (ctx.t("all")) }
                    @for s in SENTIMENTS { option value=(s) selected[filter.sentiment.as_deref() == Some(s)] { (labels::sentiment(s, lang)) } }
                }
            }
            label { (ctx.t("caller")) input type="text" name="caller" placeholder="+49…" value=(filter.caller.clone().unwrap_or_default()); }
            button type="submit" { (ctx.t("filter")) }
        }
        @if page.calls.is_empty() {
            p.empty { (ctx.t("no_calls")) }
        } @else {
            table.calls {
                thead { tr {
                    th { (ctx.t("time")) } th { (ctx.t("direction")) } th { (ctx.t("customer")) } th { (ctx.t("status")) }
                    th { (ctx.t("duration")) } th { (ctx.t("sentiment")) } th { (ctx.t("summary")) }
                } }
                tbody {
                    @for c in &page.calls {
                        tr {
                            td { a href=(ctx.link(&format!("/calls/{}", c.call_id))) {
                                (data::local_time(c.call_ts, &tz, "%H:%M:%S")) } }
                            td.direction { (c.direction.as_deref().map(|d| labels::direction(d, lang)).unwrap_or_else(|| "–".into())) }
                            td.customer {
                                @if let Some(name) = c.customer_number().and_then(|n| names.get(n)) {
                                    (name) " · "
                                }
                                (c.customer_number().unwrap_or("–"))
                            }
                            td.status { (c.call_status.as_deref().map(|s| labels::status(s, lang)).unwrap_or_else(|| "–".into())) }
                            td { (c.duration_ms.map(duration).unwrap_or_else(|| "–".into())) }
                            td.sentiment { (c.user_sentiment.as_deref().map(|s| labels::sentiment(s, lang)).unwrap_or_else(|| "–".into())) }
                            td.summary { (c.call_summary.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &next_link {
            p { a.next href=(next) { (ctx.t("next_page")) " →" } }
        }
    };
    let title = format!("{} · {}", ctx.t("calls"), day);
    layout(ctx, "calls", &title, body)
}

/// A query string, each value percent-encoded.
pub fn encode_query(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", shared::retell::api::segment(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(day: &str, status: &str, caller: &str) -> CallsQuery {
        CallsQuery {
            day: Some(day.into()),
            status: Some(status.into()),
            caller: Some(caller.into()),
            ..Default::default()
        }
    }

    #[test]
    fn filters_are_read_or_refused_never_guessed() {
        let tz = chrono_tz::Europe::Berlin;
        let (day, f) = filter_of(&q("2026-11-30", "ended", "+49 176 1111 2222"), &tz).expect("ok");
        assert_eq!(day.to_string(), "2026-11-30");
        assert_eq!(f.status.as_deref(), Some("ended"));
        assert_eq!(f.caller.as_deref(), Some("+4917611112222"));
        for bad in [
            q("30.11.2026", "", ""),
            q("9999-01-01", "", ""),
            q("2026-11-30", "ended; drop", ""),
            q("2026-11-30", "", "<script>"),
        ] {
            assert!(filter_of(&bad, &tz).is_err());
        }
    }
}
