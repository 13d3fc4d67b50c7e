//! `GET|PUT /api/retell/companies/{id}/settings`: a company's settings document (the format of
//! its file, docs/companies.md) with the version to send back, and its change log. A PUT with
//! an older version is 409; settings `companies load` would refuse are 400 with the reason;
//! an admin-only setting changed by staff is 403; another company's id is 404.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde_json::{json, Value};
use shared::booking::company::CompanySettings;

use super::{parse, ApiError, ApiResult};
use crate::session::Session;
use crate::settings::{read, save, SettingsError};
use crate::ControlCenter;

impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::NotFound => ApiError::not_found(),
            SettingsError::Stale => ApiError::new(StatusCode::CONFLICT, "changed", e.to_string()),
            SettingsError::Invalid(reason) => ApiError::invalid(reason),
            SettingsError::Forbidden(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "admin_only", e.to_string())
            }
            SettingsError::Conflict(reason) => ApiError::new(StatusCode::CONFLICT, "taken", reason),
            SettingsError::Backend(reason) => {
                tracing::error!(reason = %reason, "settings unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "storage unavailable",
                )
            }
        }
    }
}

/// The id in the path, if the viewer may see that company (404 otherwise, as for one that
/// does not exist).
async fn visible(app: &ControlCenter, session: &Session, id: &str) -> Result<String, ApiError> {
    if !session.viewer.may_see(id) {
        return Err(ApiError::not_found());
    }
    Ok(app.data.company(&session.viewer, Some(id)).await?.id)
}

pub async fn get(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> ApiResult {
    let id = visible(&app, &session, &id).await?;
    let stored = read(&app.data.companies, &id).await?;
    Ok(Json(json!({
        "company_id": id,
        "version": stored.version,
        "settings": stored.settings,
        "changes": stored.changes,
    }))
    .into_response())
}

/// The body: `{"version": <from the GET>, "settings": {…}}`, each part refused by name.
fn read_update(body: &Bytes) -> Result<(u64, CompanySettings), ApiError> {
    let Value::Object(mut map) = parse::<Value>(body)? else {
        return Err(ApiError::invalid("body: a JSON object"));
    };
    if let Some(unknown) = map.keys().find(|k| *k != "version" && *k != "settings") {
        let shown: String = unknown.chars().take(40).collect();
        return Err(ApiError::invalid(format!("{shown}: unknown field")));
    }
    let version = map.get("version").and_then(Value::as_u64).ok_or_else(|| {
        ApiError::invalid("version: the version the GET answered, a whole number")
    })?;
    let settings = map
        .remove("settings")
        .ok_or_else(|| ApiError::invalid("settings: required"))?;
    let settings = serde_json::from_value::<CompanySettings>(settings)
        .map_err(|e| ApiError::invalid(format!("settings: {e}")))?;
    Ok((version, settings))
}

pub async fn put(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let id = visible(&app, &session, &id).await?;
    let (version, settings) = read_update(&body)?;
    if settings.company_id != id {
        return Err(ApiError::invalid(
            "settings.company_id: must be the company of the path",
        ));
    }
    let stored = read(&app.data.companies, &id).await?;
    let by = format!("api:{}", session.viewer.user());
    let (version, changed) = save(
        &app.data.companies,
        &session.viewer,
        &stored.settings,
        &settings,
        version,
        &by,
        app.privacy.as_ref().map(|p| &p.audit),
    )
    .await?;
    Ok(Json(json!({"company_id": id, "version": version, "changed": changed})).into_response())
}
