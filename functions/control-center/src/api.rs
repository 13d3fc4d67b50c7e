//! The admin API under `/api/retell` (docs/openapi.yaml), for scripts with
//! `Authorization: Bearer <ID token>`: status, test calls, agents. The same tenant rule as the
//! pages: a staff member's requests are about their company, another company's agent is 404.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use shared::retell::api::RetellApiError;

pub mod agents;
pub mod appointments;
pub mod callbacks;
pub mod privacy;
pub mod settings;

use crate::data::{CompanyView, DataError};
use crate::session::Session;
use crate::ControlCenter;

/// Largest request body the API reads.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// An API error: its status and `{"error": code, "message": …}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "not found")
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    fn retell(e: RetellApiError) -> Self {
        if e.is_not_found() {
            return Self::not_found();
        }
        tracing::warn!(reason = %e, "Retell request failed");
        match e.status() {
            Some(s) if (400..500).contains(&s) && s != 401 && s != 403 => {
                Self::new(StatusCode::BAD_REQUEST, "rejected_by_retell", e.to_string())
            }
            _ => Self::new(StatusCode::BAD_GATEWAY, "retell_unavailable", e.to_string()),
        }
    }
}

impl From<DataError> for ApiError {
    fn from(e: DataError) -> Self {
        match e {
            DataError::NotFound => Self::not_found(),
            DataError::Invalid(what) => Self::invalid(what),
            DataError::Backend(reason) => {
                tracing::error!(reason = %reason, "admin API read failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "storage unavailable",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::info!(
            status = self.status.as_u16(),
            reason = self.code,
            "admin API refused"
        );
        (
            self.status,
            Json(json!({"error": self.code, "message": self.message})),
        )
            .into_response()
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

/// A JSON body of type `T`, strictly: unknown fields, wrong types and oversized bodies are
/// refused with the reason.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("at most {MAX_BODY_BYTES} bytes"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("body: {e}")))
}

#[derive(Debug, Default, Deserialize)]
pub struct CompanyQuery {
    company: Option<String>,
}

async fn company(
    app: &ControlCenter,
    session: &Session,
    q: &CompanyQuery,
) -> Result<CompanyView, ApiError> {
    Ok(app
        .data
        .company(&session.viewer, q.company.as_deref())
        .await?)
}

fn admin_only(session: &Session) -> Result<(), ApiError> {
    if session.viewer.is_admin() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "admins only",
        ))
    }
}

pub async fn status(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Query(q): Query<CompanyQuery>,
) -> ApiResult {
    let company = company(&app, &session, &q).await?;
    let active = app.data.active_calls(&company).await?;
    let today = crate::data::today(&company.time_zone);
    let (days, booked_by_staff) = app.data.stats_with_staff(&company, today, today).await?;
    let stats = days.first().map(|(_, s)| *s).unwrap_or_default();
    let operations = app
        .logbook
        .operations(&session.viewer, chrono::Utc::now().timestamp_millis())
        .await
        .ok()
        .flatten();
    let health = if session.viewer.is_admin() {
        let h = crate::health::system_health(&app).await;
        Some(json!({"dead_letters": h.dead_letters.ok(), "reconcile": h.reconcile}))
    } else {
        None
    };
    let fields = shared::calls::stats::STATS_FIELDS;
    let mut today_json: serde_json::Map<String, Value> = fields
        .iter()
        .zip(stats.values())
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    today_json.insert("booked_by_staff".to_owned(), json!(booked_by_staff));
    Ok(Json(json!({
        "company_id": company.id,
        "day": today.to_string(),
        "active_calls": active.len(),
        "today": today_json,
        "operations": operations,
        "system": health,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCallRequest {
    to_number: String,
    #[serde(default)]
    company_id: Option<String>,
}

pub async fn test_call(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> ApiResult {
    let request: TestCallRequest = parse(&body)?;
    let company = company(
        &app,
        &session,
        &CompanyQuery {
            company: request.company_id,
        },
    )
    .await?;
    match crate::test_calls::start(&app, &session.viewer, &company, &request.to_number).await {
        Ok(call_id) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"call_id": call_id, "company_id": company.id})),
        )
            .into_response()),
        Err((status, message)) => Err(ApiError::new(status, "test_call_refused", message)),
    }
}

/// `GET /api/retell/dead-letters` (admins): every dead letter with its consumer's last error.
pub async fn dead_letters(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
) -> ApiResult {
    admin_only(&session)?;
    let (letters, notes) = app.data.dead_letters().await?;
    Ok(Json(json!({"dead_letters": letters, "notes": notes})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedriveRequest {
    #[serde(default)]
    message_ids: Vec<String>,
    #[serde(default)]
    all: bool,
}

/// `POST /api/retell/dead-letters/redrive` (admins): `{"message_ids": [...]}` or `{"all": true}`
/// back to their queues.
pub async fn redrive_dead_letters(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> ApiResult {
    admin_only(&session)?;
    let request: RedriveRequest = parse(&body)?;
    let report = app.data.redrive(&request.message_ids, request.all).await?;
    Ok(Json(report.report()).into_response())
}
