//! Test call: the form, and the page that watches the call arrive here (who may call where, and
//! how often, is `crate::test_calls`; locally the simulator plays the call).

use axum::extract::{Form, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::{layout, Ctx, PageError};
use crate::data::DataError;
use crate::labels;
use crate::test_calls::{caller_of, start as start_call};
use crate::ControlCenter;

pub async fn form(ctx: Ctx) -> Result<Response, PageError> {
    let _app = ctx.app.clone();
    let body = form_markup(&ctx, None);
    let title = ctx.t("test_call");
    let markup = layout(&ctx, "test_call", title, body);
    Ok(ctx.respond(markup))
}

fn form_markup(ctx: &Ctx, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        @match caller_of(&ctx.company) {
            Ok((from, agent)) => {
                p { (ctx.t("from")) ": " (from) @if let Some(a) = agent { " · " (ctx.t("agent")) ": " code { (a) } } }
                form method="post" action=(ctx.link("/test-call")) {
                    input type="hidden" name="csrf" value=(ctx.csrf);
                    label { (ctx.t("number_to_call"))
                        input type="tel" name="to_number" placeholder="+4917612345678" required maxlength="20"; }
                    button type="submit" { (ctx.t("start_call")) }
                }
            }
            Err(reason) => p.error { (reason) },
        }
    }
}

#[derive(Deserialize)]
pub struct StartForm {
    to_number: String,
}

pub async fn start(ctx: Ctx, Form(form): Form<StartForm>) -> Result<Response, PageError> {
    let app = ctx.app.clone();
    match start_call(&app, &ctx.viewer, &ctx.company, &form.to_number).await {
        Ok(call_id) => {
            Ok(Redirect::to(&ctx.link(&format!("/test-call/{call_id}"))).into_response())
        }
        Err((status, reason)) => {
            let message = format!("{} {reason}", ctx.t("bad_request"));
            let body = form_markup(&ctx, Some(&message));
            let title = ctx.t("test_call");
            let markup = layout(&ctx, "test_call", title, body);
            let mut response = ctx.respond(markup);
            *response.status_mut() = status;
            Ok(response)
        }
    }
}

pub async fn watch(ctx: Ctx, Path(call_id): Path<String>) -> Result<Response, PageError> {
    let app = ctx.app.clone();
    if shared::retell::CallId::parse(&call_id).is_err() {
        return Err(PageError::new(StatusCode::NOT_FOUND, ctx.t("not_found")));
    }
    let status = call_status(&app, &ctx, &call_id).await;
    let body = html! {
        p { (ctx.t("call_started")) " " code { (call_id) } }
        div #call-status hx-get=(ctx.link(&format!("/fragments/call-status/{call_id}"))) hx-trigger="every 2s" hx-swap="innerHTML" {
            (status)
        }
    };
    let title = ctx.t("test_call");
    let markup = layout(&ctx, "test_call", title, body);
    Ok(ctx.respond(markup))
}

pub async fn status(ctx: Ctx, Path(call_id): Path<String>) -> Result<Response, PageError> {
    let app = ctx.app.clone();
    Ok(call_status(&app, &ctx, &call_id).await.into_response())
}

async fn call_status(app: &ControlCenter, ctx: &Ctx, call_id: &str) -> Markup {
    match app.data.call(&ctx.viewer, call_id).await {
        Ok(record) => {
            let events: Vec<&str> = record.events_applied.iter().map(|e| e.as_str()).collect();
            html! {
                dl.call-status {
                    dt { (ctx.t("status")) } dd.status { (record.call_status().map(|s| labels::status(s, ctx.lang)).unwrap_or_else(|| "–".into())) }
                    dt { "events" } dd { (events.join(", ")) }
                }
                p { a href=(ctx.link(&format!("/calls/{call_id}"))) { (ctx.t("call")) " " (ctx.t("open")) } }
            }
        }
        Err(DataError::NotFound) => html! { p.waiting { (ctx.t("waiting_for_call")) } },
        Err(e) => html! { p.error { (e.to_string()) } },
    }
}
