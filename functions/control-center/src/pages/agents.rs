//! Agents: the company's agents at Retell, which of this project's tools each has and whether
//! they point at this stack; the prompt and greeting viewed and edited through Retell's API (the
//! LLM's draft changes; "publish" makes it the version calls get).

use std::sync::Arc;

use axum::extract::{Form, Path};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use shared::retell::api::{Agent, LlmSettings, RetellLlm};
use shared::retell::wiring;

use super::{layout, Ctx, PageError};
use crate::agent_rules::{agent_ids, checked_text, may_edit, MAX_GREETING_CHARS, MAX_PROMPT_CHARS};
use crate::retell_access::retell_for;
use crate::ControlCenter;

fn retell_error(ctx: &Ctx, e: impl std::fmt::Display) -> PageError {
    tracing::warn!(reason = %e, "Retell request failed");
    PageError::new(
        StatusCode::BAD_GATEWAY,
        format!("{}: {e}", ctx.t("retell_unavailable")),
    )
}

pub async fn list(ctx: Ctx) -> Result<Response, PageError> {
    let app = ctx.app.clone();
    let retell = retell_for(&app, &ctx.company.id)
        .await
        .map_err(|e| retell_error(&ctx, e))?;
    let ids = agent_ids(&app, &ctx.company, ctx.viewer.is_admin(), &retell)
        .await
        .map_err(|e| retell_error(&ctx, e))?;
    let mut rows = Vec::new();
    for id in &ids {
        let agent = retell.get_agent(id, None).await;
        let llm = match agent.as_ref().ok().and_then(Agent::llm_id) {
            Some(llm_id) => retell.get_llm(llm_id).await.ok(),
            None => None,
        };
        rows.push((id.clone(), agent, llm));
    }
    let body = html! {
        table.agents {
            thead { tr { th { (ctx.t("agent")) } th { (ctx.t("version")) } th { (ctx.t("webhook")) } th { (ctx.t("tools")) } } }
            tbody {
                @for (id, agent, llm) in &rows {
                    tr {
                        @match agent {
                            Ok(a) => {
                                td { a href=(ctx.link(&format!("/agents/{id}"))) { (a.agent_name.as_deref().unwrap_or(id)) } br; code { (id) } }
                                td { (a.version) " · " (if a.is_published { ctx.t("published") } else { ctx.t("draft") }) }
                                td { (points(&ctx, wiring::webhook_points_here(&app.wiring, a))) }
                                td { @if let Some(llm) = llm { (tool_summary(&ctx, &app, llm)) } @else { "–" } }
                            }
                            Err(e) => { td { code { (id) } } td colspan="3" { span.bad { (e.to_string()) } } }
                        }
                    }
                }
            }
        }
        @if rows.is_empty() { p.empty { "–" } }
    };
    let title = ctx.t("agents");
    let markup = layout(&ctx, "agents", title, body);
    Ok(ctx.respond(markup))
}

fn points(ctx: &Ctx, here: bool) -> maud::Markup {
    html! {
        @if here { span.ok { "✓ " (ctx.t("points_here")) } }
        @else { span.bad { "✗ " (ctx.t("points_elsewhere")) } }
    }
}

fn tool_summary(ctx: &Ctx, app: &ControlCenter, llm: &RetellLlm) -> maud::Markup {
    let (states, _) = wiring::project_tools_of(&app.wiring, llm);
    html! {
        ul.tools {
            @for t in &states {
                li { code { (t.name) } " " (points(ctx, t.drifted.is_empty())) }
            }
            @for (name, url) in wiring::foreign_tools(&app.wiring, llm) {
                li { code { (name) } " → " (url) }
            }
        }
    }
}

pub async fn page(ctx: Ctx, Path(agent_id): Path<String>) -> Result<Response, PageError> {
    let app = ctx.app.clone();
    render(&app, ctx, &agent_id, None).await
}

async fn render(
    app: &Arc<ControlCenter>,
    ctx: Ctx,
    agent_id: &str,
    notice: Option<String>,
) -> Result<Response, PageError> {
    if !may_edit(&ctx.company, ctx.viewer.is_admin(), agent_id) {
        return Err(PageError::new(StatusCode::NOT_FOUND, ctx.t("not_found")));
    }
    let retell = retell_for(app, &ctx.company.id)
        .await
        .map_err(|e| retell_error(&ctx, e))?;
    let agent = retell
        .get_agent(agent_id, None)
        .await
        .map_err(|e| match e {
            e if e.is_not_found() => PageError::new(StatusCode::NOT_FOUND, ctx.t("not_found")),
            e => retell_error(&ctx, e),
        })?;
    let llm = match agent.llm_id() {
        Some(id) => Some(
            retell
                .get_llm(id)
                .await
                .map_err(|e| retell_error(&ctx, e))?,
        ),
        None => None,
    };
    let settings = llm
        .as_ref()
        .and_then(|l| l.settings().ok())
        .unwrap_or_default();
    let body = html! {
        @if let Some(n) = &notice { p.notice role="status" { (n) } }
        dl {
            dt { (ctx.t("agent")) } dd { (agent.agent_name.as_deref().unwrap_or(agent_id)) " " code { (agent_id) } }
            dt { (ctx.t("version")) } dd { (agent.version) " · " (if agent.is_published { ctx.t("published") } else { ctx.t("draft") }) }
            dt { (ctx.t("webhook")) } dd { (points(&ctx, wiring::webhook_points_here(&app.wiring, &agent))) }
        }
        @if let Some(llm) = &llm {
            h2 { (ctx.t("tools")) }
            (tool_summary(&ctx, app, llm))
            form.prompt method="post" action=(ctx.link(&format!("/agents/{agent_id}"))) {
                input type="hidden" name="csrf" value=(ctx.csrf);
                label { (ctx.t("begin_message"))
                    input type="text" name="begin_message" maxlength=(MAX_GREETING_CHARS) value=(settings.begin_message.clone().unwrap_or_default()); }
                label { (ctx.t("prompt"))
                    textarea name="general_prompt" rows="24" maxlength=(MAX_PROMPT_CHARS) required { (settings.general_prompt.clone().unwrap_or_default()) } }
                label.check { input type="checkbox" name="publish" value="1"; " " (ctx.t("and_publish")) }
                button type="submit" { (ctx.t("save_version")) }
            }
        } @else {
            p { "This agent does not answer with a Retell LLM." }
        }
    };
    let title = format!(
        "{} {}",
        ctx.t("agent"),
        agent.agent_name.as_deref().unwrap_or(agent_id)
    );
    let markup = layout(&ctx, "agents", &title, body);
    Ok(ctx.respond(markup))
}

#[derive(Deserialize)]
pub struct PromptForm {
    general_prompt: String,
    #[serde(default)]
    begin_message: String,
    #[serde(default)]
    publish: Option<String>,
}

pub async fn save(
    ctx: Ctx,
    Path(agent_id): Path<String>,
    Form(form): Form<PromptForm>,
) -> Result<Response, PageError> {
    let app = ctx.app.clone();
    if !may_edit(&ctx.company, ctx.viewer.is_admin(), &agent_id) {
        return Err(PageError::new(StatusCode::NOT_FOUND, ctx.t("not_found")));
    }
    let bad = |r: String| {
        PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{} {r}", ctx.t("bad_request")),
        )
    };
    let prompt = checked_text(
        &form.general_prompt,
        MAX_PROMPT_CHARS,
        "general_prompt",
        true,
    )
    .map_err(bad)?;
    let greeting = checked_text(
        &form.begin_message,
        MAX_GREETING_CHARS,
        "begin_message",
        false,
    )
    .map_err(|r| {
        PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{} {r}", ctx.t("bad_request")),
        )
    })?;
    let retell = retell_for(&app, &ctx.company.id)
        .await
        .map_err(|e| retell_error(&ctx, e))?;
    let agent = retell
        .get_agent(&agent_id, None)
        .await
        .map_err(|e| retell_error(&ctx, e))?;
    let llm_id = agent
        .llm_id()
        .ok_or_else(|| PageError::new(StatusCode::BAD_REQUEST, ctx.t("bad_request")))?
        .to_owned();
    retell
        .update_llm(
            &llm_id,
            &LlmSettings {
                general_prompt: Some(prompt),
                begin_message: Some(greeting),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| retell_error(&ctx, e))?;
    let mut notice = ctx.t("saved").to_owned();
    if form.publish.is_some() {
        let draft = retell
            .get_agent(&agent_id, None)
            .await
            .map_err(|e| retell_error(&ctx, e))?;
        if !draft.is_published {
            retell
                .publish_agent(&agent_id, draft.version)
                .await
                .map_err(|e| retell_error(&ctx, e))?;
            notice = format!("{notice} {} {}", ctx.t("published"), draft.version);
        }
    }
    tracing::info!(agent = %agent_id, publish = form.publish.is_some(), "prompt saved from the control center");
    render(&app, ctx, &agent_id, Some(notice)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_checked_not_trimmed() {
        assert_eq!(
            checked_text("Hallo\r\nWelt", 100, "p", true).expect("ok"),
            "Hallo\nWelt"
        );
        assert!(checked_text("  ", 100, "p", true).is_err());
        assert!(checked_text("", 100, "g", false).is_ok());
        assert!(checked_text("x\u{0007}", 100, "p", true).is_err());
        assert!(checked_text(&"x".repeat(101), 100, "p", true).is_err());
    }
}
