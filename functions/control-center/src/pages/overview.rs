//! Overview: the calls running now (refreshed by htmx every 5 s), today against yesterday, the
//! seed's four key metrics against their targets, and the system's health.

use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use shared::calls::stats::CallStats;
use shared::calls::views::CallSummary;

use super::{layout, number, percent, Ctx, PageError};
use crate::data::{self};
use crate::health::system_health;
use crate::i18n::Lang;
use crate::labels;

/// The seed's targets: API response time < 200 ms, webhook success > 99 %, call completion
/// > 90 %, agent response time < 2 s.
pub const API_RESPONSE_TARGET_MS: u64 = 200;
pub const WEBHOOK_SUCCESS_TARGET: f64 = 0.99;
pub const COMPLETION_TARGET: f64 = 0.90;
pub const AGENT_RESPONSE_TARGET_MS: i64 = 2000;

pub async fn page(ctx: Ctx) -> Result<Response, PageError> {
    let app = ctx.app.clone();
    let lang = ctx.lang;
    let tz = ctx.company.time_zone;
    let today = data::today(&tz);
    let yesterday = today.pred_opt().unwrap_or(today);
    let days = app
        .data
        .stats(&ctx.company, yesterday, today)
        .await
        .map_err(|e| PageError::from_data(e, lang))?;
    let stat = |i: usize| days.get(i).map(|(_, s)| *s).unwrap_or_default();
    let (before, now) = (stat(0), stat(1));
    let active = app
        .data
        .active_calls(&ctx.company)
        .await
        .map_err(|e| PageError::from_data(e, lang))?;
    let operations = match app
        .logbook
        .operations(&ctx.viewer, chrono::Utc::now().timestamp_millis())
        .await
    {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(reason = %e, "operational figures unavailable");
            None
        }
    };
    let health = if ctx.viewer.is_admin() {
        Some(system_health(&app).await)
    } else {
        None
    };
    let last_call = app
        .data
        .calls_page(
            &ctx.company,
            &shared::calls::views::CallFilter {
                from_ms: 0,
                to_ms: i64::MAX / 2,
                ..Default::default()
            },
            None,
            1,
        )
        .await
        .ok()
        .and_then(|p| p.calls.into_iter().next());
    // Callbacks owed: only a company with settings has any.
    let callbacks = match ctx.company.settings.as_deref() {
        Some(company) => {
            match crate::callbacks::counts(&app.callbacks, company, chrono::Utc::now()).await {
                Ok(counts) => Some(counts),
                Err(e) => {
                    tracing::warn!(reason = %e, "callbacks unavailable");
                    None
                }
            }
        }
        None => None,
    };
    let body = html! {
        section.active {
            h2 { (ctx.t("active_calls")) }
            div #active-calls hx-get=(ctx.link("/fragments/active-calls")) hx-trigger="every 5s" hx-swap="innerHTML" {
                (active_list(&ctx, &active))
            }
        }
        section.today {
            h2 { (ctx.t("today")) " / " (ctx.t("yesterday")) }
            div.cards {
                (card(lang.t("calls"), number(now.calls, lang), number(before.calls, lang)))
                (card(lang.t("minutes"), number(now.minutes, lang), number(before.minutes, lang)))
                (card(lang.t("bookings"), number(now.booked, lang), number(before.booked, lang)))
                (card(lang.t("success_rate"), percent(now.successful, now.successful + now.unsuccessful, lang),
                      percent(before.successful, before.successful + before.unsuccessful, lang)))
                (card(lang.t("sentiment"), sentiment(&now, lang), sentiment(&before, lang)))
                @if let Some((pending, overdue)) = callbacks {
                    a.card.callbacks href=(ctx.link("/callbacks")) {
                        span.label { (ctx.t("callbacks")) }
                        span.value.pending-count { (pending) " " (ctx.t("callbacks_pending")) }
                        span.before.overdue-count class=[(overdue > 0).then_some("bad")] { (overdue) " " (ctx.t("callbacks_overdue")) }
                    }
                }
            }
        }
        section.metrics {
            h2 { (ctx.t("key_metrics")) }
            table {
                thead { tr { th { (ctx.t("metric")) } th { (ctx.t("value")) } th { (ctx.t("target")) } th {} } }
                tbody {
                    @let api = operations.as_ref().and_then(|o| o.latency_p95_ms);
                    (metric_row(lang, "api_response_time",
                        api.map(|v| format!("{v} ms (p95)")),
                        format!("< {API_RESPONSE_TARGET_MS} ms"),
                        api.map(|v| v < API_RESPONSE_TARGET_MS)))
                    @let webhook = operations.as_ref().filter(|o| o.webhook_total > 0);
                    (metric_row(lang, "webhook_success",
                        webhook.map(|o| percent(o.webhook_ok as i64, o.webhook_total as i64, lang)),
                        format!("> {} %", WEBHOOK_SUCCESS_TARGET * 100.0),
                        webhook.map(|o| o.webhook_ok as f64 >= WEBHOOK_SUCCESS_TARGET * o.webhook_total as f64)))
                    (metric_row(lang, "call_completion",
                        (now.calls > 0).then(|| percent(now.completed, now.calls, lang)),
                        format!("> {} %", COMPLETION_TARGET * 100.0),
                        (now.calls > 0).then_some(now.completed as f64 >= COMPLETION_TARGET * now.calls as f64)))
                    @let agent = (now.latency_calls > 0).then(|| now.latency_e2e_ms / now.latency_calls);
                    (metric_row(lang, "agent_response_time",
                        agent.map(|ms| format!("{ms} ms")),
                        format!("< {} s", AGENT_RESPONSE_TARGET_MS / 1000),
                        agent.map(|ms| ms < AGENT_RESPONSE_TARGET_MS)))
                }
            }
            p.note {
                @match lang {
                    Lang::De => "API-Antwortzeit und Webhook-Erfolgsquote: letzte Stunde, aus den Protokollzeilen der Funktionen. Abschlussquote und Antwortzeit des Agenten (Median laut Retell): heute.",
                    Lang::En => "API response time and webhook success: the last hour, from the functions' log lines. Completion and agent response time (Retell's median): today.",
                }
            }
        }
        section.health {
            h2 { (ctx.t("system_health")) }
            dl {
                dt { (ctx.t("last_webhook")) }
                dd { @match &last_call {
                    Some(c) => (data::local_time(c.call_ts, &tz, "%Y-%m-%d %H:%M")),
                    None => "–",
                } }
                @if let Some(h) = &health {
                    dt { (ctx.t("dead_letters")) }
                    dd { @match &h.dead_letters {
                        Ok(n) => a class=(if *n == 0 { "ok" } else { "bad" }) href=(ctx.link("/dead-letters")) { (n) },
                        Err(e) => span.bad { (ctx.t("not_available")) ": " (e) },
                    } }
                    dt { (ctx.t("privacy")) }
                    dd { a href=(ctx.link("/privacy")) { (ctx.t("audit_trail")) } }
                    dt { (ctx.t("reconcile")) }
                    dd { (h.reconcile.clone().unwrap_or_else(|| ctx.t("not_available").to_owned())) }
                    @if let Some(paused) = &h.paused {
                        dt { @match lang { Lang::De => "Verarbeitung", Lang::En => "Processing" } }
                        dd.processing { @match paused {
                            Ok(parts) if parts.is_empty() => span.ok { @match lang { Lang::De => "läuft", Lang::En => "running" } },
                            Ok(parts) => span.bad {
                                @match lang { Lang::De => "pausiert: ", Lang::En => "paused: " }
                                (parts.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "))
                                @match lang {
                                    Lang::De => " (Anrufe werden weiter angenommen und warten in der Warteschlange; ",
                                    Lang::En => " (calls are still accepted and wait in the queue; ",
                                }
                                code { "retell-ops resume " (parts.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" ")) } ")"
                            },
                            Err(e) => span.bad { (ctx.t("not_available")) ": " (e) },
                        } }
                    }
                }
            }
        }
    };
    let title = ctx.t("overview");
    let markup = layout(&ctx, "overview", title, body);
    Ok(ctx.respond(markup))
}

/// The active-calls fragment htmx swaps in every few seconds.
pub async fn active_calls(ctx: Ctx) -> Result<Response, PageError> {
    let app = ctx.app.clone();
    let active = app
        .data
        .active_calls(&ctx.company)
        .await
        .map_err(|e| PageError::from_data(e, ctx.lang))?;
    Ok(active_list(&ctx, &active).into_response())
}

fn active_list(ctx: &Ctx, calls: &[CallSummary]) -> Markup {
    let tz = ctx.company.time_zone;
    html! {
        p.count { strong { (calls.len()) } " " (ctx.t("active_calls")) }
        @if calls.is_empty() {
            p.empty { (ctx.t("no_active_calls")) }
        } @else {
            ul.calls {
                @for c in calls {
                    li {
                        a href=(ctx.link(&format!("/calls/{}", c.call_id))) {
                            (data::local_time(c.call_ts, &tz, "%H:%M:%S")) " · "
                            (c.customer_number().unwrap_or("–")) " · "
                            (c.call_status.as_deref().map(|s| labels::status(s, ctx.lang)).unwrap_or_default())
                        }
                    }
                }
            }
        }
    }
}

fn card(label: &str, today: String, yesterday: String) -> Markup {
    html! {
        div.card {
            span.label { (label) }
            span.value { (today) }
            span.before { "(" (yesterday) ")" }
        }
    }
}

fn sentiment(s: &CallStats, lang: Lang) -> String {
    let rated = s.sentiment_positive + s.sentiment_neutral + s.sentiment_negative;
    if rated == 0 {
        return "–".into();
    }
    format!(
        "{} {} · {} {}",
        percent(s.sentiment_positive, rated, lang),
        lang.t("positive"),
        percent(s.sentiment_negative, rated, lang),
        lang.t("negative")
    )
}

fn metric_row(
    lang: Lang,
    key: &'static str,
    value: Option<String>,
    target: String,
    met: Option<bool>,
) -> Markup {
    html! {
        tr {
            td { (lang.t(key)) }
            td { (value.unwrap_or_else(|| lang.t("not_available").to_owned())) }
            td { (target) }
            td { @match met {
                Some(true) => span.ok { "✓" },
                Some(false) => span.bad { "✗" },
                None => span.unknown { "–" },
            } }
        }
    }
}
