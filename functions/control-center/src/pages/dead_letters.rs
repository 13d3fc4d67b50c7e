//! Dead letters (admins only): the events the consumers gave up on, each with the consumer's
//! last error, and buttons that send them back to their queue once the cause is fixed
//! (`shared::calls::dead_letters`, the same code as `retell-ops dlq`).

use axum::extract::{Form, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use shared::calls::dead_letters::QueuePair;

use crate::pages::{layout, Ctx, PageError};

/// What the page says after a redrive (the redirect carries the counts).
#[derive(Debug, Deserialize)]
pub struct Notice {
    moved: Option<u32>,
    failed: Option<u32>,
    missing: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub struct RedriveForm {
    message_id: Option<String>,
    all: Option<String>,
}

fn admins_only(ctx: &Ctx) -> Result<(), PageError> {
    if ctx.viewer.is_admin() {
        Ok(())
    } else {
        Err(PageError::new(StatusCode::FORBIDDEN, ctx.t("forbidden")))
    }
}

/// An SQS message id as SQS writes them (a UUID; the emulator's too): anything else is refused
/// before SQS is asked.
pub fn is_message_id(id: &str) -> bool {
    (1..=100).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub async fn page(ctx: Ctx, Query(notice): Query<Notice>) -> Result<Response, PageError> {
    admins_only(&ctx)?;
    let app = ctx.app.clone();
    let pairs: Vec<&QueuePair> = app.queue_pairs.iter().collect();
    let (letters, notes) = app.dead_letters.list(&pairs).await.map_err(|e| {
        tracing::error!(reason = %e, "dead letters not readable");
        PageError::new(StatusCode::SERVICE_UNAVAILABLE, ctx.t("error"))
    })?;
    let tz = ctx.company.time_zone;
    let now = chrono::Utc::now().timestamp_millis();
    let body = html! {
        @if let (Some(moved), Some(failed), Some(missing)) = (notice.moved, notice.failed, notice.missing) {
            p.notice role="status" {
                (ctx.t("redriven")) ": " (moved) " · " (ctx.t("redrive_failed")) ": " (failed)
                " · " (ctx.t("not_found")) " " (missing)
            }
        }
        p { (ctx.t("dead_letters_about")) }
        @for n in &notes { p.warning { (n) } }
        @if letters.is_empty() {
            p.empty { (ctx.t("no_dead_letters")) }
        } @else {
            form.redrive-all method="post" action=(ctx.link("/dead-letters/redrive")) {
                input type="hidden" name="csrf" value=(ctx.csrf);
                input type="hidden" name="all" value="true";
                button type="submit" { (ctx.t("redrive_all")) " (" (letters.len()) ")" }
            }
            table.dead-letters {
                thead { tr {
                    th { (ctx.t("queue")) } th { (ctx.t("call")) } th { (ctx.t("company")) }
                    th { (ctx.t("since")) } th { (ctx.t("receives")) } th { (ctx.t("last_error")) } th {}
                } }
                tbody { @for l in &letters { tr {
                    td { code { (l.event.as_deref().unwrap_or(l.queue)) } }
                    td { @match &l.call_id {
                        Some(id) => a href=(ctx.link(&format!("/calls/{id}?company={}", l.company_id.as_deref().unwrap_or("")))) { code { (id) } },
                        None => "–",
                    } }
                    td { (l.company_id.as_deref().unwrap_or("–")) }
                    td { (l.age_s.map(|s| crate::data::local_time(now - s * 1000, &tz, "%Y-%m-%d %H:%M")).unwrap_or_else(|| "–".into())) }
                    td { (l.receive_count.map(|n| n.to_string()).unwrap_or_else(|| "–".into())) }
                    td.last-error { (l.last_error.as_deref().map(|e| e.chars().take(300).collect::<String>()).unwrap_or_else(|| "–".into())) }
                    td {
                        form method="post" action=(ctx.link("/dead-letters/redrive")) {
                            input type="hidden" name="csrf" value=(ctx.csrf);
                            input type="hidden" name="message_id" value=(l.message_id);
                            button type="submit" { (ctx.t("redrive")) }
                        }
                    }
                } } }
            }
        }
    };
    let title = ctx.t("dead_letters");
    let markup = layout(&ctx, "dead_letters", title, body);
    Ok(ctx.respond(markup))
}

pub async fn redrive(ctx: Ctx, Form(form): Form<RedriveForm>) -> Result<Response, PageError> {
    admins_only(&ctx)?;
    let all = form.all.as_deref() == Some("true");
    let ids: Vec<String> = form.message_id.into_iter().collect();
    if !all && (ids.is_empty() || !ids.iter().all(|id| is_message_id(id))) {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{} message_id", ctx.t("bad_request")),
        ));
    }
    let app = ctx.app.clone();
    let pairs: Vec<&QueuePair> = app.queue_pairs.iter().collect();
    let report = app
        .dead_letters
        .redrive(&pairs, &ids, all)
        .await
        .map_err(|e| {
            tracing::error!(reason = %e, "redrive failed");
            PageError::new(StatusCode::SERVICE_UNAVAILABLE, ctx.t("error"))
        })?;
    tracing::info!(
        moved = report.moved.len(),
        failed = report.failed.len(),
        not_found = report.not_found.len(),
        all,
        "dead letters redriven"
    );
    let to = ctx.link(&format!(
        "/dead-letters?moved={}&failed={}&missing={}",
        report.moved.len(),
        report.failed.len(),
        report.not_found.len()
    ));
    Ok(Redirect::to(&to).into_response()) // 303: the list, reloaded
}
