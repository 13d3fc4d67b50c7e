//! Dead letters (admins only): the events the consumers gave up on, each with the consumer's
//! last error, and buttons that send them back to their queue once the cause is fixed
//! (`shared::calls::dead_letters`, the same code as `retell-ops dlq`).

use axum::extract::{Form, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use shared::calls::dead_letters::DeadLetter;
use shared::retell::CallId;

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

pub async fn page(ctx: Ctx, Query(notice): Query<Notice>) -> Result<Response, PageError> {
    admins_only(&ctx)?;
    let app = ctx.app.clone();
    let (letters, notes) = app
        .data
        .dead_letters()
        .await
        .map_err(|e| PageError::from_data(e, ctx.lang))?;
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
                    td { @match (&l.call_id, call_link(&ctx, l)) {
                        (Some(id), Some(href)) => a href=(href) { code { (id) } },
                        (Some(id), None) => code { (id) },
                        (None, _) => "–",
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

/// The call's page, when the message names a call id and a company id that can be ones (the
/// body is whatever was queued: never a link it made up).
fn call_link(ctx: &Ctx, letter: &DeadLetter) -> Option<String> {
    let call = CallId::parse(letter.call_id.as_deref()?).ok()?;
    let company = letter.company_id.as_deref()?;
    let plain = (1..=128).contains(&company.len())
        && company
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plain.then(|| ctx.link(&format!("/calls/{}?company={company}", call.as_str())))
}

pub async fn redrive(ctx: Ctx, Form(form): Form<RedriveForm>) -> Result<Response, PageError> {
    admins_only(&ctx)?;
    let all = match form.all.as_deref() {
        None => false,
        Some("true") => true,
        Some(_) => {
            return Err(PageError::new(
                StatusCode::BAD_REQUEST,
                format!("{} all", ctx.t("bad_request")),
            ))
        }
    };
    let ids: Vec<String> = form.message_id.into_iter().collect();
    let report = ctx
        .app
        .data
        .redrive(&ids, all)
        .await
        .map_err(|e| PageError::from_data(e, ctx.lang))?;
    let to = ctx.link(&format!(
        "/dead-letters?moved={}&failed={}&missing={}",
        report.moved.len(),
        report.failed.len(),
        report.not_found.len()
    ));
    Ok(Redirect::to(&to).into_response()) // 303: the list, reloaded
}
