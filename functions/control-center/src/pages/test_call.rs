//! Test call: Retell calls a number from the company's own number with the company's agent
//! (locally the simulator plays it), and the page watches the call arrive here.

use axum::extract::{Form, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use shared::booking::phone::PhoneNumber;
use shared::retell::api::PhoneCallRequest;

use super::{layout, Ctx, PageError};
use crate::data::{CompanyView, DataError};
use crate::pages::agents::retell_for;
use crate::ControlCenter;

/// What starting a test call needs from the company: its number and its agent.
pub fn caller_of(company: &CompanyView) -> Result<(String, Option<String>), &'static str> {
    let settings = company
        .settings
        .as_ref()
        .ok_or("the company has no settings (phone numbers, agents)")?;
    let from = settings
        .settings
        .phone_numbers
        .first()
        .cloned()
        .ok_or("the company has no phone number")?;
    let agent = settings
        .settings
        .inbound_agent_id
        .clone()
        .or_else(|| settings.settings.agent_ids.first().cloned());
    Ok((from, agent))
}

/// Starts a test call to `to` (E.164) for the company; the call's id.
pub async fn start_call(
    app: &ControlCenter,
    company: &CompanyView,
    to: &str,
) -> Result<String, (StatusCode, String)> {
    let to = PhoneNumber::parse(to.trim()).map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            format!("{to:?} is not a phone number in E.164 (+49…)"),
        )
    })?;
    let (from, agent) = caller_of(company).map_err(|r| (StatusCode::CONFLICT, r.to_owned()))?;
    let retell = retell_for(app, &company.id)
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e))?;
    let call = retell
        .create_phone_call(&PhoneCallRequest {
            from_number: from,
            to_number: to.as_str().to_owned(),
            override_agent_id: agent,
            ..Default::default()
        })
        .await
        .map_err(|e| {
            let status = match e.status() {
                Some(s) if (400..500).contains(&s) => StatusCode::BAD_REQUEST,
                _ => StatusCode::BAD_GATEWAY,
            };
            (status, e.to_string())
        })?;
    tracing::info!(call_id = %call.call_id, company = %company.id, "test call started");
    Ok(call.call_id)
}

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
    match start_call(&app, &ctx.company, &form.to_number).await {
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
                    dt { (ctx.t("status")) } dd.status { (record.call_status().unwrap_or("–")) }
                    dt { "events" } dd { (events.join(", ")) }
                }
                p { a href=(ctx.link(&format!("/calls/{call_id}"))) { (ctx.t("call")) " " (ctx.t("open")) } }
            }
        }
        Err(DataError::NotFound) => html! { p.waiting { (ctx.t("waiting_for_call")) } },
        Err(e) => html! { p.error { (e.to_string()) } },
    }
}
