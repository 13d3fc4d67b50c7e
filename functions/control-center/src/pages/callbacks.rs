//! Callbacks: the ones still owed first, oldest first, an overdue one red (the company's
//! promise of business hours has run out); then the last done ones. Staff assign one (to
//! themselves by default), add a note, mark it done or open again; each change carries the
//! version it was made on, so two people at the desk cannot overwrite each other.

use axum::extract::{Form, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;
use shared::callbacks::{CallbackError, CallbackSource, CallbackStatus};

use super::{layout, Ctx, PageError};
use crate::callbacks::{board, read_update, Board, Entry};
use crate::data;

pub async fn page(ctx: Ctx) -> Result<Response, PageError> {
    show(ctx, None).await
}

async fn show(ctx: Ctx, notice: Option<(StatusCode, String)>) -> Result<Response, PageError> {
    let company = ctx
        .company
        .settings
        .clone()
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, ctx.t("not_found")))?;
    let board = board(&ctx.app.callbacks, &company, None, Utc::now())
        .await
        .map_err(|e| failed(&ctx, e))?;
    let status = notice.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let markup = render(&ctx, &board, notice.as_ref().map(|(_, t)| t.as_str()));
    let mut response = ctx.respond(markup);
    *response.status_mut() = status;
    Ok(response)
}

fn failed(ctx: &Ctx, e: CallbackError) -> PageError {
    match e {
        CallbackError::NotFound => PageError::new(StatusCode::NOT_FOUND, ctx.t("not_found")),
        CallbackError::Backend(reason) => {
            tracing::error!(reason = %reason, "callbacks unavailable");
            PageError::new(StatusCode::SERVICE_UNAVAILABLE, ctx.t("error"))
        }
        other => PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{} {other}", ctx.t("bad_request")),
        ),
    }
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    version: i64,
    /// `assign`, `done`, `reopen` or `note`.
    action: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    note: String,
}

pub async fn change(
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<ChangeForm>,
) -> Result<Response, PageError> {
    let company = ctx
        .company
        .settings
        .clone()
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, ctx.t("not_found")))?;
    let me = ctx.viewer.user().to_owned();
    let update = match form.action.as_str() {
        "assign" => {
            let who = Some(form.assignee.trim())
                .filter(|a| !a.is_empty())
                .unwrap_or(&me);
            read_update(None, Some(who), Some(&form.note))
        }
        "done" => read_update(Some("done"), None, Some(&form.note)),
        "reopen" => read_update(Some("open"), None, Some(&form.note)),
        "note" => read_update(None, None, Some(&form.note)),
        _ => Err(CallbackError::Invalid(
            "action: assign, done, reopen or note".into(),
        )),
    };
    let outcome = match update {
        Ok(update) => ctx
            .app
            .callbacks
            .update(
                company.id(),
                &id,
                Some(form.version),
                &update,
                &format!("desk:{me}"),
                Utc::now(),
            )
            .await
            .map(|cb| tracing::info!(callback_id = %cb.callback_id, status = cb.status.as_str(), "callback changed")),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!(
            "{}?company={}",
            ctx.link("/callbacks"),
            ctx.company.id
        ))
        .into_response()),
        Err(CallbackError::Changed) => {
            let text = ctx.t("callbacks_changed").to_owned();
            show(ctx, Some((StatusCode::CONFLICT, text))).await
        }
        Err(CallbackError::Invalid(reason)) => {
            let text = format!("{} {reason}", ctx.t("bad_request"));
            show(ctx, Some((StatusCode::BAD_REQUEST, text))).await
        }
        Err(e) => Err(failed(&ctx, e)),
    }
}

fn status_text(ctx: &Ctx, status: CallbackStatus) -> &'static str {
    ctx.t(match status {
        CallbackStatus::Open => "callbacks_open",
        CallbackStatus::Assigned => "callbacks_assigned",
        CallbackStatus::Done => "callbacks_done",
    })
}

/// The page (no I/O).
pub fn render(ctx: &Ctx, board: &Board, notice: Option<&str>) -> Markup {
    let overdue = board.overdue();
    let body = html! {
        p.summary {
            strong.pending-count { (board.pending.len()) } " " (ctx.t("callbacks_pending")) ", "
            strong.overdue-count class=[(overdue > 0).then_some("bad")] { (overdue) } " " (ctx.t("callbacks_overdue"))
        }
        @if let Some(text) = notice {
            p.error role="alert" { (text) }
        }
        section.callbacks-pending {
            h2 { (ctx.t("callbacks_pending_title")) }
            @if board.pending.is_empty() {
                p.empty { (ctx.t("callbacks_none")) }
            } @else {
                (table(ctx, &board.pending))
            }
        }
        section.callbacks-done {
            h2 { (ctx.t("callbacks_done_title")) }
            @if board.done.is_empty() {
                p.empty { (ctx.t("callbacks_none")) }
            } @else {
                (table(ctx, &board.done))
            }
        }
    };
    layout(ctx, "callbacks", ctx.t("callbacks"), body)
}

fn table(ctx: &Ctx, entries: &[Entry]) -> Markup {
    let tz = &ctx.company.time_zone;
    html! {
        table.callbacks {
            thead { tr {
                th { (ctx.t("callbacks_received")) }
                th { (ctx.t("callbacks_due")) }
                th { (ctx.t("customer")) }
                th { (ctx.t("callbacks_reason")) }
                th { (ctx.t("status")) }
                th { (ctx.t("callbacks_notes")) }
            } }
            tbody {
                @for e in entries {
                    @let cb = &e.callback;
                    tr.callback id=(cb.callback_id) data-status=(cb.status.as_str()) class=[e.overdue.then_some("overdue")] {
                        td { (data::local_time(cb.created_ms, tz, "%d.%m. %H:%M")) }
                        td.due {
                            (data::local_time(e.due.timestamp_millis(), tz, "%d.%m. %H:%M"))
                            @if e.overdue { br; strong.bad { (ctx.t("callbacks_overdue_one")) } }
                        }
                        td.customer {
                            @if let Some(name) = &cb.name { (name) br; }
                            a href=(format!("tel:{}", cb.phone)) { (cb.phone) }
                        }
                        td.reason {
                            @if cb.source == CallbackSource::FollowUp {
                                strong { (ctx.t("callbacks_follow_up")) } br;
                            }
                            (cb.reason)
                            @if let Some(p) = &cb.preferred { br; span.note { (ctx.t("callbacks_preferred")) ": " (p) } }
                            @if let Some(call_id) = &cb.call_id {
                                br; a.call href=(format!("{}?company={}", ctx.link(&format!("/calls/{call_id}")), ctx.company.id)) { (ctx.t("callbacks_to_call")) }
                            }
                        }
                        td.status {
                            span.state { (status_text(ctx, cb.status)) }
                            @if let Some(a) = &cb.assignee { br; span.assignee { (a) } }
                        }
                        td.notes {
                            @if !cb.notes.is_empty() {
                                ul.notes { @for n in &cb.notes {
                                    li { span.note { (data::local_time(n.at_ms, tz, "%d.%m. %H:%M")) " · " (n.by) } br; (n.text) }
                                } }
                            }
                            (actions(ctx, cb))
                        }
                    }
                }
            }
        }
    }
}

fn actions(ctx: &Ctx, cb: &shared::callbacks::Callback) -> Markup {
    let action = format!(
        "{}?company={}",
        ctx.link(&format!("/callbacks/{}", cb.callback_id)),
        ctx.company.id
    );
    html! {
        form.callback-change method="post" action=(action) {
            input type="hidden" name="csrf" value=(ctx.csrf);
            input type="hidden" name="version" value=(cb.version);
            textarea name="note" rows="2" maxlength="1000" placeholder=(ctx.t("callbacks_note_placeholder")) {}
            @if cb.status.is_pending() {
                label { (ctx.t("callbacks_assignee"))
                    input type="text" name="assignee" maxlength="120" value=(cb.assignee.as_deref().unwrap_or(ctx.viewer.user()));
                }
                div.buttons {
                    button name="action" value="assign" type="submit" { (ctx.t("callbacks_assign")) }
                    button name="action" value="note" type="submit" { (ctx.t("callbacks_add_note")) }
                    button.done name="action" value="done" type="submit" { (ctx.t("callbacks_mark_done")) }
                }
            } @else {
                div.buttons {
                    button name="action" value="note" type="submit" { (ctx.t("callbacks_add_note")) }
                    button name="action" value="reopen" type="submit" { (ctx.t("callbacks_reopen")) }
                }
            }
        }
    }
}
