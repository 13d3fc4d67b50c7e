//! `/api/retell/callbacks`: the callbacks board for scripts (docs/openapi.yaml), with the
//! tenant rule of the pages: another company's callback is 404.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};
use shared::booking::company::Company;
use shared::callbacks::{CallbackError, CallbackStatus};

use super::appointments::{by, company_of, CompanyIdQuery, Fields};
use super::{ApiError, ApiResult};
use crate::callbacks::{board, read_update, Entry};
use crate::session::Session;
use crate::ControlCenter;

impl From<CallbackError> for ApiError {
    fn from(e: CallbackError) -> Self {
        match e {
            CallbackError::NotFound => ApiError::not_found(),
            CallbackError::Invalid(reason) => ApiError::invalid(reason),
            CallbackError::Changed => ApiError::new(
                StatusCode::CONFLICT,
                "changed",
                "the callback was changed meanwhile; read it again",
            ),
            CallbackError::Backend(reason) => {
                tracing::error!(reason = %reason, "callbacks unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "storage unavailable",
                )
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    company_id: Option<String>,
    status: Option<String>,
}

fn entry_json(company: &Company, e: &Entry) -> Value {
    let mut v = serde_json::to_value(&e.callback).unwrap_or_default();
    v["due"] = json!(e
        .due
        .with_timezone(&company.time_zone)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false));
    v["overdue"] = json!(e.overdue);
    v
}

/// `GET /api/retell/callbacks?company_id&status`: pending ones oldest first, then the last
/// done ones; `status` keeps one state.
pub async fn list(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Query(q): Query<ListQuery>,
) -> ApiResult {
    let company = company_of(&app, &session, q.company_id.as_deref()).await?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            CallbackStatus::parse(s)
                .ok_or_else(|| ApiError::invalid("status: open, assigned or done"))?,
        ),
    };
    let board = board(&app.callbacks, &company, status, Utc::now()).await?;
    let items: Vec<Value> = board
        .pending
        .iter()
        .chain(&board.done)
        .map(|e| entry_json(&company, e))
        .collect();
    Ok(Json(json!({
        "company_id": company.id(),
        "pending": board.pending.len(),
        "overdue": board.overdue(),
        "callbacks": items,
    }))
    .into_response())
}

/// `PATCH /api/retell/callbacks/{id}?company_id`: `status`, `assignee` (empty: unassign),
/// `note`, and optionally the `version` read (409 if it changed since).
pub async fn change(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(q): Query<CompanyIdQuery>,
    body: Bytes,
) -> ApiResult {
    if !shared::callbacks::is_callback_id(&id) {
        return Err(ApiError::not_found());
    }
    let fields = Fields::read(&body, &["status", "assignee", "note", "version"])?;
    let version = match fields.0.get("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .filter(|v| *v > 0)
                .ok_or_else(|| ApiError::invalid("version: a positive integer"))?,
        ),
    };
    let update = read_update(
        fields.text("status")?,
        fields.text("assignee")?,
        fields.text("note")?,
    )?;
    let company = company_of(&app, &session, q.company_id.as_deref()).await?;
    let changed = app
        .callbacks
        .update(
            company.id(),
            &id,
            version,
            &update,
            &by(&session),
            Utc::now(),
        )
        .await?;
    tracing::info!(callback_id = %id, status = changed.status.as_str(), "callback changed (API)");
    let due = changed.due(&company);
    let entry = Entry {
        overdue: changed.is_overdue(&company, Utc::now()),
        callback: changed,
        due,
    };
    Ok(Json(entry_json(&company, &entry)).into_response())
}
