//! Admins: `POST /api/retell/companies/{id}/privacy/export` and `…/privacy/erase` with
//! `{"phone": "+49…"}` (a POST, so the number is in no URL and no access log): everything held
//! about that caller as one JSON document, or its erasure's receipt (the erase body must also
//! say `"confirm": "<company id>"`). `GET /api/retell/companies/{id}/audit?days=30&limit=100`:
//! the company's audit trail, newest first. Staff: 403.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::{parse, ApiError, ApiResult};
use crate::privacy::PrivacyFailure;
use crate::session::Session;
use crate::ControlCenter;

impl From<PrivacyFailure> for ApiError {
    fn from(e: PrivacyFailure) -> Self {
        match e {
            PrivacyFailure::Forbidden => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", "admins only")
            }
            PrivacyFailure::NotFound => ApiError::not_found(),
            PrivacyFailure::Invalid(reason) => ApiError::invalid(reason),
            PrivacyFailure::NotConfigured => {
                ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_configured", e.to_string())
            }
            PrivacyFailure::Backend(reason) => {
                tracing::error!(reason = %reason, "privacy request failed");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "storage or Retell unavailable; nothing is half done that a retry does not finish")
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportBody {
    phone: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseBody {
    phone: String,
    confirm: String,
}

pub async fn export(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    if !session.viewer.is_admin() {
        return Err(PrivacyFailure::Forbidden.into());
    }
    let body: ExportBody = parse(&body)?;
    let document = app.export_caller(&session.viewer, &id, &body.phone).await?;
    Ok(Json(document).into_response())
}

pub async fn erase(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    if !session.viewer.is_admin() {
        return Err(PrivacyFailure::Forbidden.into());
    }
    let body: EraseBody = parse(&body)?;
    if body.confirm != id {
        return Err(ApiError::invalid(
            "confirm: the company id, to say the erasure is meant",
        ));
    }
    let receipt = app.erase_caller(&session.viewer, &id, &body.phone).await?;
    let clean = receipt.proof.clean();
    Ok(Json(json!({"ok": clean, "receipt": receipt})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    days: Option<u32>,
    limit: Option<usize>,
}

pub async fn audit(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(q): Query<AuditQuery>,
) -> ApiResult {
    let entries = app
        .audit_entries(
            &session.viewer,
            &id,
            q.days.unwrap_or(30),
            q.limit.unwrap_or(100),
        )
        .await?;
    Ok(Json(json!({"company_id": id, "entries": entries})).into_response())
}
