//! Agents: the company's agents at Retell and whether they point at this stack; a new agent from
//! the default template (`crate::agent_creation`); an agent's page with its draft against the
//! published version (changed fields, the prompt line by line), the draft's form (name, voice
//! with each voice's preview, language, greeting, prompt, tools), publish, and its versions with
//! "restore into the draft" (`crate::agent_drafts`). Admins change agents; staff see the same
//! page without forms, and their posts are refused (403) before anything is read.

use axum::extract::{Form, Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;
use shared::retell::api::{Agent, RetellApiError, RetellClient, RetellLlm, Voice};
use shared::retell::custom_function::ToolDefinition;
use shared::retell::wiring;

use super::{layout, Ctx, PageError};
use crate::agent_creation::{self, CreateError, NewAgentRequest};
use crate::agent_drafts::{self, AgentVersions, DraftError, EditRequest};
use crate::agent_rules::{
    agent_ids, may_change, may_see_now, plain_agent_id, LANGUAGES, MAX_GREETING_CHARS,
    MAX_NAME_CHARS, MAX_PROMPT_CHARS,
};
use crate::agent_template::{AgentTemplate, TemplateLanguage};
use crate::line_diff::{self, LineChange, LineDiff, Shown};
use crate::retell_access::retell_for;
use crate::settings::SettingsError;
use crate::voices;
use crate::ControlCenter;

/// Unchanged prompt lines shown around each change.
const DIFF_CONTEXT_LINES: usize = 3;

fn retell_error(ctx: &Ctx, e: impl std::fmt::Display) -> PageError {
    tracing::warn!(reason = %e, "Retell request failed");
    PageError::new(
        StatusCode::BAD_GATEWAY,
        format!("{}: {e}", ctx.t("retell_unavailable")),
    )
}

fn not_found(ctx: &Ctx) -> PageError {
    PageError::new(StatusCode::NOT_FOUND, ctx.t("not_found"))
}

fn admins_only(ctx: &Ctx) -> Result<(), PageError> {
    if may_change(ctx.viewer.is_admin()) {
        Ok(())
    } else {
        Err(PageError::new(StatusCode::FORBIDDEN, ctx.t("forbidden")))
    }
}

/// A Retell answer as a status and text: its refusals (4xx) are the input's fault.
fn retell_refusal(ctx: &Ctx, e: &RetellApiError) -> (StatusCode, String) {
    match e.status() {
        Some(s) if (400..500).contains(&s) && s != 401 && s != 403 => (
            StatusCode::BAD_REQUEST,
            format!("{} {e}", ctx.t("bad_request")),
        ),
        _ => {
            tracing::warn!(reason = %e, "Retell request failed");
            (
                StatusCode::BAD_GATEWAY,
                format!("{}: {e}", ctx.t("retell_unavailable")),
            )
        }
    }
}

fn draft_refusal(ctx: &Ctx, e: &DraftError) -> (StatusCode, String) {
    match e {
        DraftError::NotFound => (StatusCode::NOT_FOUND, ctx.t("not_found").to_owned()),
        DraftError::Stale(_) | DraftError::NothingToPublish(_) => (
            StatusCode::CONFLICT,
            format!("{} ({e})", ctx.t("agent_stale")),
        ),
        DraftError::Invalid(reason) => (
            StatusCode::BAD_REQUEST,
            format!("{} {reason}", ctx.t("bad_request")),
        ),
        DraftError::Retell(e) => retell_refusal(ctx, e),
        DraftError::PartlySaved(_) => (StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

fn agent_link(ctx: &Ctx, agent_id: &str) -> String {
    format!(
        "{}?company={}",
        ctx.link(&format!("/agents/{agent_id}")),
        ctx.company.id
    )
}

/// All values of a repeated form field, and the first value of one.
fn values(fields: &[(String, String)], name: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

fn value(fields: &[(String, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

// ---- the list ----

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
        @if ctx.viewer.is_admin() {
            p.actions { a.button href=(format!("{}?company={}", ctx.link("/agents/new"), ctx.company.id)) { "+ " (ctx.t("agents_new")) } }
        }
        table.agents {
            thead { tr { th { (ctx.t("agent")) } th { (ctx.t("version")) } th { (ctx.t("webhook")) } th { (ctx.t("tools")) } } }
            tbody {
                @for (id, agent, llm) in &rows {
                    tr data-agent=(id) {
                        @match agent {
                            Ok(a) => {
                                td { a href=(agent_link(&ctx, id)) { (a.agent_name.as_deref().unwrap_or(id)) } br; code { (id) } }
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
    let markup = layout(&ctx, "agents", ctx.t("agents"), body);
    Ok(ctx.respond(markup))
}

fn points(ctx: &Ctx, here: bool) -> Markup {
    html! {
        @if here { span.ok { "✓ " (ctx.t("points_here")) } }
        @else { span.bad { "✗ " (ctx.t("points_elsewhere")) } }
    }
}

fn tool_summary(ctx: &Ctx, app: &ControlCenter, llm: &RetellLlm) -> Markup {
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

// ---- the fields both forms share ----

/// What a form shows: the draft's values, or what was sent when it was refused.
#[derive(Debug, Clone, Default)]
struct FormValues {
    company_id: String,
    agent_name: String,
    language: String,
    voice_id: String,
    begin_message: String,
    general_prompt: String,
    tools: Vec<String>,
}

fn language_choice(ctx: &Ctx, selected: &str) -> Markup {
    let name = |code: &str| match code {
        "de-DE" => "Deutsch (de-DE)",
        "en-US" => "English (US, en-US)",
        "en-GB" => "English (UK, en-GB)",
        _ => ctx.t("agent_language_multi"),
    };
    html! {
        label { (ctx.t("agent_language"))
            select name="language" required {
                @if !selected.is_empty() && !LANGUAGES.contains(&selected) {
                    option value=(selected) selected { (selected) }
                }
                @for code in LANGUAGES {
                    option value=(code) selected[code == selected] { (name(code)) }
                }
            }
        }
    }
}

/// Retell's voices, each with its preview where the page may play it.
fn voice_choice(ctx: &Ctx, voices: &[Voice], selected: &str) -> Markup {
    let recording_hosts = &ctx.app.config.recording_hosts;
    html! {
        fieldset.voices {
            legend { (ctx.t("agent_voice")) }
            @if voices.is_empty() { p.warning { (ctx.t("agent_voices_unavailable")) } }
            div.voice-list {
                table.voices {
                    tbody {
                        @if !selected.is_empty() && !voices.iter().any(|v| v.voice_id == selected) {
                            tr data-voice=(selected) {
                                td { label.check { input type="radio" name="voice_id" value=(selected) checked required; " " code { (selected) } } }
                                td.meta {} td.preview {}
                            }
                        }
                        @for v in voices {
                            tr data-voice=(v.voice_id) {
                                td { label.check {
                                    input type="radio" name="voice_id" value=(v.voice_id) checked[v.voice_id == selected] required;
                                    " " strong { (v.voice_name.as_deref().unwrap_or(&v.voice_id)) }
                                } }
                                td.meta { (voices::label(v)) br; code { (v.voice_id) } }
                                td.preview {
                                    @match voices::playable_preview(v, recording_hosts) {
                                        Some(url) => { audio controls preload="none" src=(url) {} }
                                        None => { span.note { (ctx.t("agent_preview_missing")) } }
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

/// The catalog's tools as checkboxes.
fn tool_choice(ctx: &Ctx, catalog: &[ToolDefinition], checked: &[String]) -> Markup {
    html! {
        fieldset.tools {
            legend { (ctx.t("tools")) }
            p.note { (ctx.t("agent_tools_help")) }
            // A form without any box ticked still says "no catalog tools".
            input type="hidden" name="tools_shown" value="1";
            @for d in catalog {
                label.check.tool title=(d.description) {
                    input type="checkbox" name="tools" value=(d.name) checked[checked.iter().any(|c| c == d.name)];
                    " " code { (d.name) }
                    " " span.note { (first_sentence(d.description)) }
                }
            }
        }
    }
}

fn first_sentence(text: &str) -> &str {
    let end = text.find(". ").map_or(text.len(), |i| i + 1);
    let cut = &text[..end];
    match cut.char_indices().nth(120) {
        Some((i, _)) => &cut[..i],
        None => cut,
    }
}

async fn voices_for(retell: &RetellClient) -> Vec<Voice> {
    match voices::list(retell).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(reason = %e, "Retell's voices unreadable");
            Vec::new()
        }
    }
}

// ---- a new agent ----

pub async fn new_form(ctx: Ctx) -> Result<Response, PageError> {
    admins_only(&ctx)?;
    let retell = retell_for(&ctx.app, &ctx.company.id)
        .await
        .map_err(|e| retell_error(&ctx, e))?;
    let voices = voices_for(&retell).await;
    let language = if ctx.company.language.starts_with("en") {
        "en-US"
    } else {
        "de-DE"
    };
    let template =
        AgentTemplate::load(TemplateLanguage::for_agent(language, &ctx.company.language))
            .map_err(|e| PageError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let values = FormValues {
        company_id: ctx.company.id.clone(),
        language: language.to_owned(),
        voice_id: template.agent.voice_id.clone().unwrap_or_default(),
        tools: template
            .catalog_tools()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        ..Default::default()
    };
    Ok(new_page(ctx, &voices, &values, None, StatusCode::OK))
}

fn new_page(
    ctx: Ctx,
    voices: &[Voice],
    values: &FormValues,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        section.agent-new {
            p.note { (ctx.t("agent_template_note")) }
            form.agent-form.agent-new method="post" action=(format!("{}?company={}", ctx.link("/agents/new"), ctx.company.id)) {
                input type="hidden" name="csrf" value=(ctx.csrf);
                label { (ctx.t("company"))
                    select name="company_id" required {
                        @for c in &ctx.companies {
                            option value=(c) selected[*c == values.company_id] { (c) }
                        }
                    }
                }
                label { (ctx.t("agent_name"))
                    input type="text" name="agent_name" maxlength=(MAX_NAME_CHARS) required value=(values.agent_name);
                }
                (language_choice(&ctx, &values.language))
                (voice_choice(&ctx, voices, &values.voice_id))
                (tool_choice(&ctx, &ctx.app.wiring.tools, &values.tools))
                button type="submit" { (ctx.t("agent_create")) }
            }
        }
    };
    let markup = layout(&ctx, "agents", ctx.t("agents_new"), body);
    let mut response = ctx.respond(markup);
    *response.status_mut() = status;
    response
}

fn create_refusal(ctx: &Ctx, e: &CreateError) -> (StatusCode, String) {
    let status = match e {
        CreateError::Forbidden => StatusCode::FORBIDDEN,
        CreateError::NoSettings(_) => StatusCode::BAD_REQUEST,
        CreateError::Template(_) => StatusCode::INTERNAL_SERVER_ERROR,
        CreateError::Retell(e) => return retell_refusal(ctx, e),
        CreateError::NotListed(SettingsError::Stale | SettingsError::Conflict(_)) => {
            StatusCode::CONFLICT
        }
        CreateError::NotListed(SettingsError::Invalid(_)) => StatusCode::BAD_REQUEST,
        CreateError::Settings(_) | CreateError::NotListed(_) => StatusCode::SERVICE_UNAVAILABLE,
        CreateError::LeftBehind { .. } => StatusCode::BAD_GATEWAY,
    };
    tracing::warn!(status = status.as_u16(), reason = %e, "agent not created");
    (status, format!("{} {e}", ctx.t("agent_not_created")))
}

pub async fn create(
    ctx: Ctx,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    admins_only(&ctx)?;
    let values = FormValues {
        company_id: value(&fields, "company_id").unwrap_or_default(),
        agent_name: value(&fields, "agent_name").unwrap_or_default(),
        language: value(&fields, "language").unwrap_or_default(),
        voice_id: value(&fields, "voice_id").unwrap_or_default(),
        tools: values(&fields, "tools"),
        ..Default::default()
    };
    let request = NewAgentRequest {
        company_id: values.company_id.clone(),
        agent_name: values.agent_name.clone(),
        language: values.language.clone(),
        voice_id: values.voice_id.clone(),
        tools: values.tools.clone(),
        general_prompt: None,
        begin_message: None,
    };
    // The company's key: its agent lives in the account its calls are signed with.
    let company = ctx
        .app
        .data
        .company(&ctx.viewer, Some(request.company_id.trim()))
        .await
        .map_err(|e| PageError::from_data(e, ctx.lang))?;
    let retell = retell_for(&ctx.app, &company.id)
        .await
        .map_err(|e| retell_error(&ctx, e))?;
    let voices = voices::list(&retell)
        .await
        .map_err(|e| retell_error(&ctx, e))?;
    let new = match request.check(&voices, &ctx.app.wiring) {
        Ok(new) => new,
        Err(reason) => {
            tracing::info!(reason = %reason, "new agent refused");
            let text = format!("{} {reason}", ctx.t("bad_request"));
            return Ok(new_page(
                ctx,
                &voices,
                &values,
                Some(&text),
                StatusCode::BAD_REQUEST,
            ));
        }
    };
    let by = format!("desk:{}", ctx.viewer.user());
    match agent_creation::create(&ctx.app, &ctx.viewer, &retell, &new, &by).await {
        Ok(created) => Ok(Redirect::to(&format!(
            "{}?company={}&done=created&version=0#diff",
            ctx.link(&format!("/agents/{}", created.agent_id)),
            new.company_id
        ))
        .into_response()),
        Err(e) => {
            let (status, text) = create_refusal(&ctx, &e);
            Ok(new_page(ctx, &voices, &values, Some(&text), status))
        }
    }
}

// ---- one agent ----

/// What the page says after a save, publish or restore (the redirect carries it).
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
    version: Option<String>,
}

impl DoneQuery {
    fn notice(&self, ctx: &Ctx) -> Option<String> {
        let key = match self.done.as_deref()? {
            "created" => "agent_created",
            "saved" => "agent_saved",
            "unchanged" => "agent_unchanged",
            "published" => "agent_published",
            "restored" => "agent_restored",
            _ => return None,
        };
        let version = self
            .version
            .as_deref()
            .and_then(|v| crate::agent_rules::checked_version(v).ok());
        Some(match version {
            Some(v) => format!("{} ({} {v})", ctx.t(key), ctx.t("version")),
            None => ctx.t(key).to_owned(),
        })
    }
}

/// The agent's Retell client, if the viewer may see the agent (404 otherwise, as for one that
/// does not exist).
async fn visible_agent(ctx: &Ctx, agent_id: &str) -> Result<RetellClient, PageError> {
    if !plain_agent_id(agent_id)
        || !may_see_now(&ctx.app, &ctx.company, ctx.viewer.is_admin(), agent_id).await
    {
        return Err(not_found(ctx));
    }
    retell_for(&ctx.app, &ctx.company.id)
        .await
        .map_err(|e| retell_error(ctx, e))
}

pub async fn page(
    ctx: Ctx,
    Path(agent_id): Path<String>,
    Query(done): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let retell = visible_agent(&ctx, &agent_id).await?;
    let notice = done.notice(&ctx).map(Notice::Done);
    show(ctx, &retell, &agent_id, notice, None, StatusCode::OK).await
}

enum Notice {
    Done(String),
    Refused(String),
}

/// The page, with a notice or refusal and, after a refused save, the values sent.
async fn show(
    ctx: Ctx,
    retell: &RetellClient,
    agent_id: &str,
    notice: Option<Notice>,
    sent: Option<FormValues>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let versions = AgentVersions::read(retell, agent_id)
        .await
        .map_err(|e| match e {
            DraftError::NotFound => not_found(&ctx),
            e => retell_error(&ctx, e),
        })?;
    let admin = may_change(ctx.viewer.is_admin());
    let voices = if admin {
        voices_for(retell).await
    } else {
        Vec::new()
    };
    let markup = render(&ctx, agent_id, &versions, &voices, notice, sent);
    let mut response = ctx.respond(markup);
    *response.status_mut() = status;
    Ok(response)
}

fn field_label(ctx: &Ctx, field: &str) -> &'static str {
    match field {
        "agent_name" => ctx.t("agent_name"),
        "voice_id" => ctx.t("agent_voice"),
        "language" => ctx.t("agent_language"),
        "begin_message" => ctx.t("begin_message"),
        "tools" => ctx.t("tools"),
        "webhook_url" => ctx.t("webhook"),
        "other_settings" => ctx.t("agent_other_settings"),
        "knowledge_bases" => ctx.t("agent_knowledge_bases"),
        _ => ctx.t("prompt"),
    }
}

fn render(
    ctx: &Ctx,
    agent_id: &str,
    versions: &AgentVersions,
    voices: &[Voice],
    notice: Option<Notice>,
    sent: Option<FormValues>,
) -> Markup {
    let app = &ctx.app;
    let admin = may_change(ctx.viewer.is_admin());
    let draft = &versions.draft;
    let published = versions.published.as_ref();
    let latest_published = published.map(|p| p.version());
    let diff = versions.diff();
    let stamp = draft.stamp();
    let action = |rest: &str| {
        format!(
            "{}?company={}",
            ctx.link(&format!("/agents/{agent_id}{rest}")),
            ctx.company.id
        )
    };
    let values = sent.unwrap_or_else(|| FormValues {
        agent_name: draft.name().to_owned(),
        language: draft.language(),
        voice_id: draft.voice_id().to_owned(),
        begin_message: draft.greeting().to_owned(),
        general_prompt: draft.prompt().to_owned(),
        tools: draft.catalog_tools(&app.wiring.tools),
        ..Default::default()
    });
    let body = html! {
        @match &notice {
            Some(Notice::Done(text)) => { p.notice role="status" { (text) } }
            Some(Notice::Refused(text)) => { p.error role="alert" { (text) } }
            None => {}
        }
        dl.agent-facts {
            dt { (ctx.t("agent")) } dd { (draft.name()) " " code { (agent_id) } }
            dt { (ctx.t("agent_draft_version")) } dd.draft-version { (ctx.t("version")) " " (draft.version())
                @if draft.agent.is_published { " · " (ctx.t("published")) } }
            dt { (ctx.t("agent_published_version")) } dd.published-version {
                @match latest_published { Some(v) => { (ctx.t("version")) " " (v) } None => { "–" } } }
            dt { (ctx.t("webhook")) } dd { (points(ctx, wiring::webhook_points_here(&app.wiring, &draft.agent))) }
            @if let Some(llm) = &draft.llm {
                dt { (ctx.t("tools")) } dd { (tool_summary(ctx, app, llm)) }
            }
        }
        section.agent-diff id="diff" {
            h2 { (ctx.t("agent_diff")) }
            @if published.is_none() { p.note { (ctx.t("agent_not_published")) } }
            @if diff.is_empty() {
                p.note.same { (ctx.t("agent_no_changes")) }
            } @else {
                @if !diff.fields.is_empty() {
                    table.changes {
                        thead { tr { th { (ctx.t("agent_field")) } th { (ctx.t("published")) } th { (ctx.t("draft")) } } }
                        tbody {
                            @for f in &diff.fields {
                                tr data-field=(f.field) {
                                    td { (field_label(ctx, f.field)) }
                                    td.before { (f.published) }
                                    td.after { (f.draft) }
                                }
                            }
                        }
                    }
                }
                @if diff.prompt.is_change() {
                    h3 { (ctx.t("prompt")) }
                    (prompt_diff(ctx, &diff.prompt))
                }
            }
            // Nothing to publish when the draft is the published version (Retell starts a new,
            // equal draft after each publish).
            @if admin && !draft.agent.is_published && (published.is_none() || !diff.is_empty()) {
                form.publish method="post" action=(action("/publish")) {
                    input type="hidden" name="csrf" value=(ctx.csrf);
                    input type="hidden" name="stamp" value=(stamp);
                    button type="submit" { (ctx.t("agent_publish")) " (" (ctx.t("version")) " " (draft.version()) ")" }
                }
            }
        }
        @if admin {
            section.agent-edit {
                h2 { (ctx.t("agent_edit_draft")) " (" (ctx.t("version")) " " (draft.version()) ")" }
                p.note { (ctx.t("agent_draft_note")) }
                form.agent-form.agent-edit method="post" action=(action("")) {
                    input type="hidden" name="csrf" value=(ctx.csrf);
                    input type="hidden" name="stamp" value=(stamp);
                    label { (ctx.t("agent_name"))
                        input type="text" name="agent_name" maxlength=(MAX_NAME_CHARS) required value=(values.agent_name);
                    }
                    (language_choice(ctx, &values.language))
                    (voice_choice(ctx, voices, &values.voice_id))
                    @if draft.llm.is_some() {
                        (tool_choice(ctx, &app.wiring.tools, &values.tools))
                        label.wide { (ctx.t("begin_message"))
                            input type="text" name="begin_message" maxlength=(MAX_GREETING_CHARS) value=(values.begin_message);
                        }
                        label.wide { (ctx.t("prompt"))
                            textarea name="general_prompt" rows="24" maxlength=(MAX_PROMPT_CHARS) required { (values.general_prompt) }
                        }
                    } @else {
                        p.note { (ctx.t("agent_other_engine")) }
                    }
                    button type="submit" { (ctx.t("agent_save_draft")) }
                }
            }
        } @else {
            section.agent-draft {
                h2 { (ctx.t("draft")) " (" (ctx.t("version")) " " (draft.version()) ")" }
                p.note { (ctx.t("agent_read_only")) }
                dl {
                    dt { (ctx.t("agent_name")) } dd { (draft.name()) }
                    dt { (ctx.t("agent_voice")) } dd { code { (draft.voice_id()) } }
                    dt { (ctx.t("agent_language")) } dd { (draft.language()) }
                    dt { (ctx.t("begin_message")) } dd { (draft.greeting()) }
                    dt { (ctx.t("tools")) } dd { (draft.tool_names().join(", ")) }
                }
                h3 { (ctx.t("prompt")) }
                pre.prompt { (draft.prompt()) }
            }
        }
        section.agent-versions {
            h2 { (ctx.t("agent_versions")) }
            table.versions {
                thead { tr { th { (ctx.t("version")) } th { "" } th { (ctx.t("agent_modified")) } th { "" } } }
                tbody {
                    @for v in &versions.versions {
                        tr data-version=(v.version) {
                            td { (v.version) @if let Some(t) = &v.version_title { " · " (t) } }
                            td.state {
                                @if v.version == draft.version() && !v.is_published { (ctx.t("draft")) }
                                @else if v.is_published { (ctx.t("published")) }
                                @if Some(v.version) == latest_published { " · " strong { (ctx.t("agent_latest_published")) } }
                            }
                            td { (v.last_modification_timestamp.map(|ms| crate::data::local_time(ms, &ctx.company.time_zone, "%d.%m.%Y %H:%M")).unwrap_or_default()) }
                            td {
                                @if admin && v.version != draft.version() {
                                    form.restore method="post" action=(action("/restore")) {
                                        input type="hidden" name="csrf" value=(ctx.csrf);
                                        input type="hidden" name="stamp" value=(stamp);
                                        input type="hidden" name="version" value=(v.version);
                                        button type="submit" { (ctx.t("agent_restore")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let title = format!("{} {}", ctx.t("agent"), draft.name());
    layout(ctx, "agents", &title, body)
}

/// The prompt's changed lines with a few around them; a prompt too changed to compare, counted.
fn prompt_diff(ctx: &Ctx, diff: &LineDiff) -> Markup {
    match diff {
        LineDiff::Lines(lines) => html! {
            ol.diff {
                @for shown in line_diff::with_context(lines, DIFF_CONTEXT_LINES) {
                    @match shown {
                        Shown::Skipped(n) => { li.skipped { "… " (n) " " (ctx.t("agent_lines_unchanged")) } }
                        Shown::Line(LineChange::Same(t)) => { li.same { span.mark { " " } (t) } }
                        Shown::Line(LineChange::Removed(t)) => { li.removed { span.mark { "−" } (t) } }
                        Shown::Line(LineChange::Added(t)) => { li.added { span.mark { "+" } (t) } }
                    }
                }
            }
        },
        LineDiff::TooLarge {
            common,
            removed,
            added,
        } => html! {
            p.note.too-large {
                (ctx.t("agent_diff_too_large")) " −" (removed) " / +" (added) " (" (common) " " (ctx.t("agent_lines_unchanged")) ")"
            }
        },
    }
}

/// After a write: back to the page with what was done (a reload does not post again).
fn done(ctx: &Ctx, agent_id: &str, what: &str, version: u64) -> Response {
    Redirect::to(&format!(
        "{}&done={what}&version={version}#diff",
        agent_link(ctx, agent_id)
    ))
    .into_response()
}

pub async fn save(
    ctx: Ctx,
    Path(agent_id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    admins_only(&ctx)?;
    let retell = visible_agent(&ctx, &agent_id).await?;
    let tools_shown = value(&fields, "tools_shown").is_some();
    let request = EditRequest {
        agent_name: value(&fields, "agent_name"),
        voice_id: value(&fields, "voice_id"),
        language: value(&fields, "language"),
        general_prompt: value(&fields, "general_prompt"),
        begin_message: value(&fields, "begin_message"),
        tools: tools_shown.then(|| values(&fields, "tools")),
    };
    let sent = FormValues {
        agent_name: request.agent_name.clone().unwrap_or_default(),
        language: request.language.clone().unwrap_or_default(),
        voice_id: request.voice_id.clone().unwrap_or_default(),
        begin_message: request.begin_message.clone().unwrap_or_default(),
        general_prompt: request.general_prompt.clone().unwrap_or_default(),
        tools: request.tools.clone().unwrap_or_default(),
        ..Default::default()
    };
    let stamp = value(&fields, "stamp");
    let draft = agent_drafts::VersionSnapshot::read(&retell, &agent_id, None)
        .await
        .map_err(|e| match e {
            DraftError::NotFound => not_found(&ctx),
            e => retell_error(&ctx, e),
        })?;
    let voices = if request.changes_voice(&draft) {
        voices::list(&retell)
            .await
            .map_err(|e| retell_error(&ctx, e))?
    } else {
        Vec::new()
    };
    let edit = match request.check(&draft, &voices, &ctx.app.wiring) {
        Ok(edit) => edit,
        Err(reason) => {
            let text = format!("{} {reason}", ctx.t("bad_request"));
            return refuse_save(ctx, &retell, &agent_id, sent, StatusCode::BAD_REQUEST, text).await;
        }
    };
    if edit.changed.is_empty() {
        // Still refuse a form made on another draft: it may be meant to undo that one's edits.
        if stamp.as_deref().is_some_and(|s| s != draft.stamp()) {
            let (status, text) = draft_refusal(&ctx, &DraftError::Stale(draft.version()));
            return refuse_save(ctx, &retell, &agent_id, sent, status, text).await;
        }
        return Ok(done(&ctx, &agent_id, "unchanged", draft.version()));
    }
    match agent_drafts::save(&retell, &agent_id, &draft, stamp.as_deref(), &edit).await {
        Ok(version) => {
            ctx.app
                .audit(
                    &ctx.company.id,
                    &ctx.viewer,
                    "agent_draft_saved",
                    &agent_id,
                    json!({"version": version, "changed": edit.changed}),
                )
                .await;
            tracing::info!(agent = %agent_id, version, changed = %edit.changed.join(", "), "agent draft saved");
            Ok(done(&ctx, &agent_id, "saved", version))
        }
        Err(e) => {
            let (status, text) = draft_refusal(&ctx, &e);
            refuse_save(ctx, &retell, &agent_id, sent, status, text).await
        }
    }
}

/// A refused save: the page again, with why and with what was sent (nothing typed is lost).
async fn refuse_save(
    ctx: Ctx,
    retell: &RetellClient,
    agent_id: &str,
    sent: FormValues,
    status: StatusCode,
    text: String,
) -> Result<Response, PageError> {
    tracing::info!(status = status.as_u16(), reason = %text, "agent draft not saved");
    show(
        ctx,
        retell,
        agent_id,
        Some(Notice::Refused(text)),
        Some(sent),
        status,
    )
    .await
}

pub async fn publish(
    ctx: Ctx,
    Path(agent_id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    admins_only(&ctx)?;
    let retell = visible_agent(&ctx, &agent_id).await?;
    let Some(stamp) = value(&fields, "stamp") else {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{} stamp: the draft shown is missing", ctx.t("bad_request")),
        ));
    };
    match agent_drafts::publish(&retell, &agent_id, Some(&stamp)).await {
        Ok(version) => {
            ctx.app
                .audit(
                    &ctx.company.id,
                    &ctx.viewer,
                    "agent_published",
                    &agent_id,
                    json!({"version": version}),
                )
                .await;
            tracing::info!(agent = %agent_id, version, "agent published");
            Ok(done(&ctx, &agent_id, "published", version))
        }
        Err(e) => {
            let (status, text) = draft_refusal(&ctx, &e);
            tracing::info!(status = status.as_u16(), reason = %e, "agent not published");
            show(
                ctx,
                &retell,
                &agent_id,
                Some(Notice::Refused(text)),
                None,
                status,
            )
            .await
        }
    }
}

pub async fn restore(
    ctx: Ctx,
    Path(agent_id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    admins_only(&ctx)?;
    let retell = visible_agent(&ctx, &agent_id).await?;
    let version =
        crate::agent_rules::checked_version(&value(&fields, "version").unwrap_or_default())
            .map_err(|reason| {
                PageError::new(
                    StatusCode::BAD_REQUEST,
                    format!("{} {reason}", ctx.t("bad_request")),
                )
            })?;
    let stamp = value(&fields, "stamp");
    match agent_drafts::restore(
        &retell,
        &ctx.app.wiring,
        &agent_id,
        version,
        stamp.as_deref(),
    )
    .await
    {
        Ok(draft_version) => {
            ctx.app
                .audit(
                    &ctx.company.id,
                    &ctx.viewer,
                    "agent_restored",
                    &agent_id,
                    json!({"restored_version": version, "draft_version": draft_version}),
                )
                .await;
            tracing::info!(agent = %agent_id, version, draft_version, "agent version restored into the draft");
            Ok(done(&ctx, &agent_id, "restored", version))
        }
        Err(DraftError::NotFound) => Err(not_found(&ctx)),
        Err(e) => {
            let (status, text) = draft_refusal(&ctx, &e);
            tracing::info!(status = status.as_u16(), reason = %e, "agent version not restored");
            show(
                ctx,
                &retell,
                &agent_id,
                Some(Notice::Refused(text)),
                None,
                status,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tools_description_is_cut_to_its_first_sentence() {
        assert_eq!(
            first_sentence("Books a slot. Then says so."),
            "Books a slot."
        );
        assert_eq!(first_sentence("No stop"), "No stop");
        assert_eq!(first_sentence(&"ü".repeat(200)).chars().count(), 120);
    }
}
