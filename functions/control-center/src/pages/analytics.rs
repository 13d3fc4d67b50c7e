//! Analytics over a chosen range, from the daily statistics (one Query, however many calls):
//! calls and minutes per day, calls by hour of day, durations, success, sentiment, calls that
//! booked, cost per call. `?format=csv` downloads the days shown.

use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use maud::html;
use serde::Deserialize;
use shared::calls::stats::{CallStats, StaffBookings};

use super::{cost, layout, number, percent, Ctx, PageError};
use crate::charts::{bars, split, Bar};
use crate::data::{self, FunnelView};
use shared::calls::funnel::{Stage, ANYONE};

/// Longest range one page shows.
pub const MAX_DAYS: i64 = 366;

#[derive(Debug, Default, Deserialize)]
pub struct AnalyticsQuery {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

/// The range asked for (default: the last 30 days), or why it cannot be read.
pub fn range_of(
    from: Option<&str>,
    to: Option<&str>,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), String> {
    let parse = |v: Option<&str>, default: NaiveDate, what: &str| -> Result<NaiveDate, String> {
        match v.filter(|s| !s.is_empty()) {
            None => Ok(default),
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .filter(|d| (2000..=2100).contains(&chrono::Datelike::year(d)))
                .ok_or_else(|| format!("{what} {s:?} is not a date (YYYY-MM-DD)")),
        }
    };
    let to = parse(to, today, "to")?;
    let from = parse(from, to - chrono::Duration::days(29), "from")?;
    if from > to {
        return Err(format!("from {from} is after to {to}"));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(format!("at most {MAX_DAYS} days at once"));
    }
    Ok((from, to))
}

pub async fn page(ctx: Ctx, Query(q): Query<AnalyticsQuery>) -> Result<Response, PageError> {
    let app = ctx.app.clone();
    let lang = ctx.lang;
    let (from, to) = range_of(
        q.from.as_deref(),
        q.to.as_deref(),
        data::today(&ctx.company.time_zone),
    )
    .map_err(|r| {
        PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{} {r}", lang.t("bad_request")),
        )
    })?;
    let (days, staff) = app
        .data
        .stats_with_staff(&ctx.company, from, to)
        .await
        .map_err(|e| PageError::from_data(e, lang))?;
    if q.format.as_deref() == Some("csv") {
        return Ok(csv(&ctx.company.id, from, to, &days));
    }
    // The funnel is a part of the page: when its index cannot be read (still building right
    // after a deploy), the rest is shown with a note.
    let funnel = match app.data.funnel(&ctx.company, from, to).await {
        Ok(f) => {
            let shown: Vec<&str> = f
                .report
                .lost
                .iter()
                .filter(|o| o.lost_at_quote.is_some())
                .map(|o| o.call_id.as_str())
                .collect();
            if !shown.is_empty() {
                // Words of callers are shown: the trail says whose, as for a call's page.
                app.audit(
                    &ctx.company.id,
                    &ctx.viewer,
                    "viewed_lost_calls",
                    "",
                    serde_json::json!({"call_ids": shown, "from": from.to_string(), "to": to.to_string()}),
                )
                .await;
            }
            Ok(f)
        }
        Err(e) => {
            tracing::warn!(reason = %e, "booking funnel not read");
            Err(())
        }
    };
    let markup = render(
        &ctx,
        from,
        to,
        &days,
        &staff,
        Some(funnel.as_ref().map_err(|_| ())),
    );
    Ok(ctx.respond(markup))
}

/// The analytics page of `days` and the range's bookings per staff member (no I/O: what the
/// benchmark renders).
pub fn render(
    ctx: &Ctx,
    from: NaiveDate,
    to: NaiveDate,
    days: &[(NaiveDate, CallStats)],
    staff: &StaffBookings,
    funnel: Option<Result<&FunnelView, ()>>,
) -> maud::Markup {
    let lang = ctx.lang;
    let total = days
        .iter()
        .fold(CallStats::default(), |a, (_, s)| a.plus(*s));
    let every = (days.len() / 12).max(1);
    let per_day = |f: fn(&CallStats) -> i64| -> Vec<Bar> {
        days.iter()
            .map(|(d, s)| Bar {
                label: d.format("%d.%m.").to_string(),
                value: f(s) as f64,
                title: number(f(s), lang),
            })
            .collect()
    };
    let hours: Vec<Bar> = (0..24)
        .map(|h| Bar {
            label: format!("{h:02}"),
            value: total.by_hour[h] as f64,
            title: number(total.by_hour[h], lang),
        })
        .collect();
    let buckets = ["< 1 min", "1–3 min", "3–5 min", "5–10 min", "≥ 10 min"];
    let durations: Vec<Bar> = buckets
        .iter()
        .zip(total.by_duration)
        .map(|(l, v)| Bar {
            label: (*l).into(),
            value: v as f64,
            title: number(v, lang),
        })
        .collect();
    let per_staff: Vec<Bar> = staff
        .iter()
        .map(|(name, n)| Bar {
            label: name.clone(),
            value: *n as f64,
            title: number(*n, lang),
        })
        .collect();
    let csv_link = format!("{}?from={from}&to={to}&format=csv", ctx.link("/analytics"));
    let body = html! {
        form.filters method="get" action=(ctx.link("/analytics")) {
            label { (ctx.t("from")) input type="date" name="from" value=(from.to_string()); }
            label { (ctx.t("to")) input type="date" name="to" value=(to.to_string()); }
            button type="submit" { (ctx.t("show")) }
            a.download href=(csv_link) download { (ctx.t("download_csv")) }
        }
        div.cards {
            div.card { span.label { (ctx.t("calls")) } span.value { (number(total.calls, lang)) } }
            div.card { span.label { (ctx.t("minutes")) } span.value { (number(total.minutes, lang)) } }
            div.card { span.label { (ctx.t("success_rate")) } span.value {
                (percent(total.successful, total.successful + total.unsuccessful, lang)) } }
            div.card { span.label { (ctx.t("conversion")) } span.value { (percent(total.booked, total.calls, lang)) } }
            div.card { span.label { (ctx.t("cost_per_call")) } span.value {
                (if total.calls > 0 { cost(total.cost_cents as f64 / total.calls as f64, lang) } else { "–".into() }) } }
        }
        (bars(ctx.t("calls_per_day"), &per_day(|s| s.calls), every))
        (bars(ctx.t("minutes_per_day"), &per_day(|s| s.minutes), every))
        (bars(ctx.t("bookings"), &per_day(|s| s.booked), every))
        @if !per_staff.is_empty() {
            div.per-staff { (bars(ctx.t("bookings_per_staff"), &per_staff, 1)) }
        }
        @match funnel {
            Some(Ok(f)) => { (funnel_section(ctx, f)) }
            Some(Err(())) => { section.funnel { h2 { (ctx.t("funnel")) } p.error role="alert" { (ctx.t("funnel_unavailable")) } } }
            None => {}
        }
        (bars(ctx.t("calls_per_hour"), &hours, 2))
        (bars(ctx.t("duration_distribution"), &durations, 1))
        (split(ctx.t("sentiment"), &[
            ("positive", lang.t("positive"), total.sentiment_positive as f64),
            ("neutral", lang.t("neutral"), total.sentiment_neutral as f64),
            ("negative", lang.t("negative"), total.sentiment_negative as f64),
            ("unknown", lang.t("unknown"), total.sentiment_unknown as f64),
        ]))
        (split(ctx.t("success_rate"), &[
            ("positive", lang.t("successful"), total.successful as f64),
            ("negative", lang.t("unsuccessful"), total.unsuccessful as f64),
        ]))
    };
    let title = format!("{} · {from} – {to}", ctx.t("analytics"));
    layout(ctx, "analytics", &title, body)
}

/// The booking funnel: calls → wanted an appointment → booked, per agent version and per
/// staff member, and the calls lost on the way with their reason and turn.
fn funnel_section(ctx: &Ctx, f: &FunnelView) -> maud::Markup {
    let lang = ctx.lang;
    let r = &f.report;
    let n = |v: u64| number(v as i64, lang);
    let row = |label: maud::Markup, s: &Stage| {
        html! {
            tr {
                td { (label) }
                td.num { (n(s.calls)) }
                td.num { (n(s.wanted)) }
                td.num { (n(s.booked)) }
                td.num { (percent(s.booked as i64, s.wanted as i64, lang)) }
            }
        }
    };
    let head = html! {
        thead { tr {
            th {} th { (ctx.t("calls")) } th { (ctx.t("funnel_wanted")) } th { (ctx.t("funnel_booked")) } th { (ctx.t("funnel_rate")) }
        } }
    };
    let stages = [
        Bar {
            label: ctx.t("calls").into(),
            value: r.total.calls as f64,
            title: n(r.total.calls),
        },
        Bar {
            label: ctx.t("funnel_wanted").into(),
            value: r.total.wanted as f64,
            title: n(r.total.wanted),
        },
        Bar {
            label: ctx.t("funnel_booked").into(),
            value: r.total.booked as f64,
            title: n(r.total.booked),
        },
    ];
    html! {
        section.funnel {
            h2 { (ctx.t("funnel")) }
            p.note { (ctx.t("funnel_help")) }
            @if r.cut { p.error role="alert" { (ctx.t("funnel_cut")) } }
            (bars(ctx.t("funnel"), &stages, 1))
            @if r.unanalysed > 0 {
                p.note { (ctx.t("funnel_unanalysed")) ": " (n(r.unanalysed)) }
            }
            table.funnel-versions {
                caption { (ctx.t("funnel_by_version")) }
                (head)
                tbody {
                    @for ((agent, version), s) in &r.by_version {
                        (row(html! { code { (agent) } " · " (version.map_or("–".to_owned(), |v| format!("v{v}"))) }, s))
                    }
                }
            }
            @if r.by_staff.keys().any(|k| k != ANYONE) {
                table.funnel-staff {
                    caption { (ctx.t("funnel_by_staff")) }
                    (head)
                    tbody {
                        @for (name, s) in &r.by_staff {
                            (row(html! { @if name == ANYONE { (ctx.t("funnel_anyone")) } @else { (name) } }, s))
                        }
                    }
                }
            }
            h3 { (ctx.t("funnel_lost")) }
            @if r.lost.is_empty() {
                p.empty { "–" }
            } @else {
                table.lost-calls {
                    thead { tr { th { (ctx.t("when")) } th { (ctx.t("funnel_reason")) } th { (ctx.t("funnel_turn")) } } }
                    tbody {
                        @for o in &r.lost {
                            tr {
                                td { a href=(ctx.link(&format!("/calls/{}", o.call_id))) {
                                    (data::local_time(o.call_ts, &ctx.company.time_zone, "%d.%m.%Y %H:%M")) } }
                                td { (o.reason.as_deref().map_or_else(|| "–".to_owned(), |r| reason_label(ctx, r))) }
                                td {
                                    @match (f.turns.get(&o.call_id), &o.lost_at_quote) {
                                        (Some((turn, line)), _) => { span.turn { "#" (turn) } " " q { (line) } }
                                        (None, Some(quote)) => { q { (quote) } }
                                        (None, None) => { "–" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A `no_booking_reason` choice in the page's language (an unknown one as written).
fn reason_label(ctx: &Ctx, reason: &str) -> String {
    let key = match reason {
        "no_suitable_time" => "reason_no_time",
        "price" => "reason_price",
        "service_not_offered" => "reason_not_offered",
        "wanted_a_person" => "reason_person",
        "caller_undecided" => "reason_undecided",
        "caller_hung_up" => "reason_hung_up",
        "technical_problem" => "reason_technical",
        "other" => "reason_other",
        other => return other.to_owned(),
    };
    ctx.t(key).to_owned()
}

/// The days of the range as CSV: one row a day, every counter of the statistics.
fn csv(company: &str, from: NaiveDate, to: NaiveDate, days: &[(NaiveDate, CallStats)]) -> Response {
    let mut out = String::from("day");
    for f in CallStats::FIELDS {
        out.push(',');
        out.push_str(f);
    }
    out.push('\n');
    for (day, stats) in days {
        out.push_str(&day.to_string());
        for v in stats.values() {
            out.push(',');
            out.push_str(&v.to_string());
        }
        out.push('\n');
    }
    let name = format!("calls-{}-{from}-{to}.csv", csv_safe(company));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        out,
    )
        .into_response()
}

fn csv_safe(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_or_refused() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 30).expect("date");
        let (from, to) = range_of(None, None, today).expect("default");
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("2026-11-01".into(), "2026-11-30".into())
        );
        assert!(range_of(Some("2026-12-01"), Some("2026-11-01"), today).is_err());
        assert!(range_of(Some("2020-01-01"), Some("2026-11-01"), today).is_err());
        assert!(range_of(Some("gestern"), None, today).is_err());
        assert!(range_of(Some("0001-01-01"), None, today).is_err());
    }

    #[test]
    fn csv_has_a_row_per_day_and_every_counter() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).expect("date");
        let stats = CallStats {
            calls: 3,
            booked: 1,
            ..Default::default()
        };
        let response = csv("demo\"x", day, day, &[(day, stats)]);
        let disposition = response.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert_eq!(
            disposition,
            "attachment; filename=\"calls-demox-2026-11-30-2026-11-30.csv\""
        );
    }
}
