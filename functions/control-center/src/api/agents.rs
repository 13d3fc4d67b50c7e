//! `/api/retell/agents…`: the company's agents (everyone who sees the company), and for admins a
//! new agent from the default template listed in its company, edits saved into the draft, the
//! draft published, an older version restored into the draft (the same code as the agents
//! page: `crate::agent_creation`, `crate::agent_drafts`). Staff are refused (403) before
//! anything is read; another company's agent is 404.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::retell::api::RetellClient;
use shared::retell::wiring;

use super::{admin_only, company, parse, ApiError, ApiResult, CompanyQuery};
use crate::agent_creation::{self, CreateError, NewAgentRequest};
use crate::agent_drafts::{self, AgentVersions, DraftError, EditRequest, VersionSnapshot};
use crate::agent_removal::RemoveError;
use crate::agent_rules::{agent_ids, may_change, may_see_now, plain_agent_id};
use crate::agent_template::{AgentTemplate, TemplateLanguage};
use crate::data::CompanyView;
use crate::retell_access::retell_for;
use crate::session::Session;
use crate::settings::SettingsError;
use crate::voices;
use crate::ControlCenter;

impl From<DraftError> for ApiError {
    fn from(e: DraftError) -> Self {
        match e {
            DraftError::NotFound => ApiError::not_found(),
            DraftError::Stale(_) => ApiError::new(StatusCode::CONFLICT, "changed", e.to_string()),
            DraftError::NothingToPublish(_) => {
                ApiError::new(StatusCode::CONFLICT, "nothing_to_publish", e.to_string())
            }
            DraftError::Invalid(reason) => ApiError::invalid(reason),
            DraftError::Retell(e) => ApiError::retell(e),
            DraftError::PartlySaved(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "partly_saved", e.to_string())
            }
        }
    }
}

impl From<CreateError> for ApiError {
    fn from(e: CreateError) -> Self {
        if let CreateError::Retell(e) = e {
            return ApiError::retell(e);
        }
        let (status, code) = match &e {
            CreateError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            CreateError::NoSettings(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            CreateError::NotListed(SettingsError::Stale | SettingsError::Conflict(_)) => {
                (StatusCode::CONFLICT, "not_listed")
            }
            CreateError::NotListed(SettingsError::Invalid(_)) => {
                (StatusCode::BAD_REQUEST, "not_listed")
            }
            CreateError::LeftBehind { .. } | CreateError::Retell(_) => {
                (StatusCode::BAD_GATEWAY, "left_behind")
            }
            CreateError::Template(_) => (StatusCode::INTERNAL_SERVER_ERROR, "template"),
            CreateError::Settings(_) | CreateError::NotListed(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        };
        tracing::warn!(reason = %e, "agent not created");
        ApiError::new(status, code, e.to_string())
    }
}

async fn retell_of(app: &ControlCenter, company: &CompanyView) -> Result<RetellClient, ApiError> {
    retell_for(app, &company.id)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "retell_unavailable", e))
}

/// The company and its Retell client, if the viewer may see `agent_id` (404 otherwise).
async fn visible_agent(
    app: &ControlCenter,
    session: &Session,
    q: &CompanyQuery,
    agent_id: &str,
) -> Result<(CompanyView, RetellClient), ApiError> {
    let company = company(app, session, q).await?;
    if !plain_agent_id(agent_id)
        || !may_see_now(app, &company, session.viewer.is_admin(), agent_id).await
    {
        return Err(ApiError::not_found());
    }
    let retell = retell_of(app, &company).await?;
    Ok((company, retell))
}

#[derive(Serialize)]
struct AgentView {
    agent_id: String,
    agent_name: Option<String>,
    version: u64,
    is_published: bool,
    webhook_points_here: bool,
    tools: Vec<ToolView>,
}

#[derive(Serialize)]
struct ToolView {
    name: String,
    url: String,
    points_here: bool,
}

/// `GET /api/retell/agents`: the company's agents, whether they and their tools point here.
pub async fn list(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Query(q): Query<CompanyQuery>,
) -> ApiResult {
    let company = company(&app, &session, &q).await?;
    let retell = retell_of(&app, &company).await?;
    let ids = agent_ids(&app, &company, session.viewer.is_admin(), &retell)
        .await
        .map_err(ApiError::retell)?;
    let mut agents = Vec::new();
    for id in ids {
        let agent = retell
            .get_agent(&id, None)
            .await
            .map_err(ApiError::retell)?;
        let tools = match agent.llm_id() {
            Some(llm_id) => {
                let llm = retell.get_llm(llm_id).await.map_err(ApiError::retell)?;
                wiring::project_tools_of(&app.wiring, &llm)
                    .0
                    .into_iter()
                    .map(|t| ToolView {
                        points_here: t.drifted.is_empty(),
                        name: t.name,
                        url: t.url,
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        agents.push(AgentView {
            webhook_points_here: wiring::webhook_points_here(&app.wiring, &agent),
            agent_id: agent.agent_id,
            agent_name: agent.agent_name,
            version: agent.version,
            is_published: agent.is_published,
            tools,
        });
    }
    Ok(Json(json!({"company_id": company.id, "agents": agents})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAgentBody {
    agent_name: String,
    voice_id: String,
    /// Default: the company's language (`de-DE` or `en-US`).
    #[serde(default)]
    language: Option<String>,
    /// Catalog tools; default: the template's.
    #[serde(default)]
    tools: Option<Vec<String>>,
    /// Default: the template's.
    #[serde(default)]
    general_prompt: Option<String>,
    #[serde(default)]
    begin_message: Option<String>,
}

/// `POST /api/retell/agents?company=…` (admins): an agent from the default template, its LLM
/// with the chosen catalog tools, listed in the company's `agent_ids`; a draft to publish.
pub async fn create(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Query(q): Query<CompanyQuery>,
    body: Bytes,
) -> ApiResult {
    admin_only(&session)?;
    let body: NewAgentBody = parse(&body)?;
    let company = company(&app, &session, &q).await?;
    let language = body.language.unwrap_or_else(|| {
        if company.language.starts_with("en") {
            "en-US".into()
        } else {
            "de-DE".into()
        }
    });
    let tools = match body.tools {
        Some(tools) => tools,
        None => AgentTemplate::load(TemplateLanguage::for_agent(&language, &company.language))
            .map_err(CreateError::from)?
            .catalog_tools()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    };
    let retell = retell_of(&app, &company).await?;
    let voices = voices::list(&retell).await.map_err(ApiError::retell)?;
    let new = NewAgentRequest {
        company_id: company.id.clone(),
        agent_name: body.agent_name,
        language,
        voice_id: body.voice_id,
        tools,
        general_prompt: body.general_prompt,
        begin_message: body.begin_message,
    }
    .check(&voices, &app.wiring)
    .map_err(ApiError::invalid)?;
    let by = format!("api:{}", session.viewer.user());
    let created = agent_creation::create(&app, &session.viewer, &retell, &new, &by).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "agent_id": created.agent_id,
            "llm_id": created.llm_id,
            "company_id": new.company_id,
            "settings_version": created.settings_version,
        })),
    )
        .into_response())
}

/// `GET /api/retell/agents/{agent_id}`: the draft, the published version, what publishing the
/// draft would change, and every version.
pub async fn get(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Path(agent_id): Path<String>,
    Query(q): Query<CompanyQuery>,
) -> ApiResult {
    let (company, retell) = visible_agent(&app, &session, &q, &agent_id).await?;
    let versions = AgentVersions::read(&retell, &agent_id).await?;
    Ok(Json(json!({
        "agent_id": agent_id,
        "company_id": company.id,
        "may_change": may_change(session.viewer.is_admin()),
        "draft": versions.draft.to_json(),
        "published": versions.published.as_ref().map(VersionSnapshot::to_json),
        "changes": versions.diff().to_json(),
        "versions": versions.versions,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentUpdate {
    #[serde(default)]
    agent_name: Option<String>,
    #[serde(default)]
    voice_id: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    general_prompt: Option<String>,
    #[serde(default)]
    begin_message: Option<String>,
    #[serde(default)]
    tools: Option<Vec<String>>,
    /// The draft's `stamp` from the GET: the edit is refused (409) if the draft changed since.
    #[serde(default)]
    stamp: Option<String>,
    /// Copy this version into the draft (nothing else may be sent with it but `publish`).
    #[serde(default)]
    restore_version: Option<u64>,
    #[serde(default)]
    publish: bool,
}

/// `PUT /api/retell/agents/{agent_id}` (admins): edits into the draft, or a version restored
/// into it; then, with `publish`, the draft published.
pub async fn update(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Path(agent_id): Path<String>,
    Query(q): Query<CompanyQuery>,
    body: Bytes,
) -> ApiResult {
    admin_only(&session)?;
    let update: AgentUpdate = parse(&body)?;
    let (company, retell) = visible_agent(&app, &session, &q, &agent_id).await?;
    let edit = EditRequest {
        agent_name: update.agent_name,
        voice_id: update.voice_id,
        language: update.language,
        general_prompt: update.general_prompt,
        begin_message: update.begin_message,
        tools: update.tools,
    };
    let mut changed = Vec::new();
    let mut draft_version = None;
    if let Some(version) = update.restore_version {
        if edit.agent_name.is_some()
            || edit.voice_id.is_some()
            || edit.language.is_some()
            || edit.general_prompt.is_some()
            || edit.begin_message.is_some()
            || edit.tools.is_some()
        {
            return Err(ApiError::invalid(
                "restore_version: send it alone (or with publish), not with edits",
            ));
        }
        let written = agent_drafts::restore(
            &retell,
            &app.wiring,
            &agent_id,
            version,
            update.stamp.as_deref(),
        )
        .await?;
        app.audit(
            &company.id,
            &session.viewer,
            "agent_restored",
            &agent_id,
            json!({"restored_version": version, "draft_version": written}),
        )
        .await;
        draft_version = Some(written);
    } else {
        let draft = VersionSnapshot::read(&retell, &agent_id, None).await?;
        let voices = if edit.changes_voice(&draft) {
            voices::list(&retell).await.map_err(ApiError::retell)?
        } else {
            Vec::new()
        };
        let checked = edit
            .check(&draft, &voices, &app.wiring)
            .map_err(ApiError::invalid)?;
        if !checked.changed.is_empty() {
            let written = agent_drafts::save(
                &retell,
                &agent_id,
                &draft,
                update.stamp.as_deref(),
                &checked,
            )
            .await?;
            app.audit(
                &company.id,
                &session.viewer,
                "agent_draft_saved",
                &agent_id,
                json!({"version": written, "changed": checked.changed}),
            )
            .await;
            draft_version = Some(written);
        }
        changed = checked.changed;
    }
    let mut published = None;
    if update.publish {
        // The draft just written (or, with nothing written, the one the stamp names).
        let expected = if draft_version.is_some() {
            None
        } else {
            update.stamp.as_deref()
        };
        match agent_drafts::publish(&retell, &agent_id, expected).await {
            Ok(version) => {
                app.audit(
                    &company.id,
                    &session.viewer,
                    "agent_published",
                    &agent_id,
                    json!({"version": version}),
                )
                .await;
                published = Some(version);
            }
            Err(DraftError::NothingToPublish(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!(agent = %agent_id, changed = %changed.join(", "), published = ?published, "agent changed from the admin API");
    Ok(Json(json!({
        "agent_id": agent_id,
        "draft_version": draft_version,
        "changed": changed,
        "restored_version": update.restore_version,
        "published_version": published,
    }))
    .into_response())
}

/// `DELETE /api/retell/agents/{agent_id}` (admins): the agent at Retell.
pub async fn delete(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Path(agent_id): Path<String>,
    Query(q): Query<CompanyQuery>,
) -> ApiResult {
    admin_only(&session)?;
    let (company, retell) = visible_agent(&app, &session, &q, &agent_id).await?;
    let by = format!("api:{}", session.viewer.user());
    crate::agent_removal::remove(&app, &session.viewer, &retell, &company.id, &agent_id, &by)
        .await
        .map_err(|e| match e {
            RemoveError::Forbidden => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
            }
            RemoveError::StillNeeded(reason) => {
                ApiError::new(StatusCode::CONFLICT, "still_needed", reason)
            }
            RemoveError::Retell(e) => ApiError::retell(e),
            RemoveError::Settings(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            ),
            RemoveError::StillListed { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "still_listed", e.to_string())
            }
        })?;
    tracing::info!(agent = %agent_id, "agent deleted from the admin API");
    Ok(StatusCode::NO_CONTENT.into_response())
}
