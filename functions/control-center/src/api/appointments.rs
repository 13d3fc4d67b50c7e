//! `/api/retell/appointments`: the desk for scripts (docs/openapi.yaml). The same tenant rule
//! and the same calendar code as the desk's pages: a staff member's requests are about their
//! company, another company's appointment is 404, a taken person is 409 with who is free.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Duration;
use serde::Deserialize;
use serde_json::{json, Value};
use shared::booking::company::Company;
use shared::calendar::{Appointment, AppointmentSource, Attendance};

use super::{parse, ApiError, ApiResult};
use crate::desk::{read_date, read_time, DeskError, NewAppointment};
use crate::session::Session;
use crate::ControlCenter;

/// Longest range one list covers.
const MAX_DAYS: i64 = 31;

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> Self {
        match e {
            DeskError::NotFound => ApiError::not_found(),
            DeskError::Invalid(reason) => ApiError::invalid(reason),
            DeskError::Taken { .. } => ApiError::new(StatusCode::CONFLICT, "taken", "taken"),
            DeskError::NotBooked => ApiError::new(
                StatusCode::CONFLICT,
                "not_booked",
                "the appointment is no longer booked",
            ),
            DeskError::Backend(reason) => {
                tracing::error!(reason = %reason, "desk calendar failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "calendar unavailable",
                )
            }
        }
    }
}

/// 409 with who is free then, or the error as it is.
fn refused(e: DeskError) -> Response {
    match e {
        DeskError::Taken { free } => {
            tracing::info!(status = 409, reason = "taken", "admin API refused");
            (
                StatusCode::CONFLICT,
                Json(json!({"error": "taken", "message": "the person is not free then", "free": free})),
            )
                .into_response()
        }
        other => ApiError::from(other).into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    company_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    staff: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyIdQuery {
    pub(super) company_id: Option<String>,
}

/// The company a request names (or the viewer's own), with its settings.
pub(super) async fn company_of(
    app: &ControlCenter,
    session: &Session,
    company_id: Option<&str>,
) -> Result<Arc<Company>, ApiError> {
    app.data
        .company(&session.viewer, company_id)
        .await?
        .settings
        .ok_or_else(ApiError::not_found)
}

pub(super) fn by(session: &Session) -> String {
    format!("api:{}", session.viewer.user())
}

pub fn appointment_json(company: &Company, a: &Appointment) -> Value {
    let staff = a
        .staff_id
        .as_deref()
        .and_then(|id| company.team.member(id))
        .map(|m| m.name.clone());
    json!({
        "appointment_id": a.appointment_id,
        "company_id": a.company_id,
        "date": a.date.to_string(),
        "time": a.time.format("%H:%M").to_string(),
        "end": a.end.with_timezone(&company.time_zone).format("%H:%M").to_string(),
        "service_id": a.service_id,
        "staff_id": a.staff_id,
        "staff": staff,
        "customer_name": a.customer_name,
        "customer_phone": a.customer_phone,
        "status": a.status.as_str(),
        "attendance": a.attendance.map(Attendance::as_str),
        "source": match a.source() {
            AppointmentSource::Phone => "phone",
            AppointmentSource::Desk => "desk",
            AppointmentSource::CalCom => "calcom",
        },
        "call_id": a.call_id,
        "booked_by": a.booked_by,
        "changes": a.changes.iter().map(|c| json!({"at_ms": c.at_ms, "by": c.by, "what": c.what, "detail": c.detail})).collect::<Vec<_>>(),
    })
}

/// `GET /api/retell/appointments?company_id&from&to&staff`: the appointments of the days
/// `from..=to` (default: today; at most 31 days), of one staff member if asked.
pub async fn list(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Query(q): Query<ListQuery>,
) -> ApiResult {
    let company = company_of(&app, &session, q.company_id.as_deref()).await?;
    let today = crate::data::today(&company.time_zone);
    let from = match q.from.as_deref() {
        Some(d) => read_date(d).map_err(|e| ApiError::invalid(format!("from: {e}")))?,
        None => today,
    };
    let to = match q.to.as_deref() {
        Some(d) => read_date(d).map_err(|e| ApiError::invalid(format!("to: {e}")))?,
        None => from,
    };
    if to < from || to - from >= Duration::days(MAX_DAYS) {
        return Err(ApiError::invalid(format!(
            "to must be from..from+{} days",
            MAX_DAYS - 1
        )));
    }
    if let Some(staff) = q.staff.as_deref() {
        if company.team.member(staff).is_none_or(|m| m.is_implicit()) {
            return Err(ApiError::invalid("staff: not one of the company's staff"));
        }
    }
    let days = u32::try_from((to - from).num_days() + 1).unwrap_or(1);
    let list = app.desk.appointments(&company, from, days).await?;
    let items: Vec<Value> = list
        .iter()
        .filter(|a| {
            q.staff
                .as_deref()
                .is_none_or(|s| company.team.member_or_default(a.staff_id.as_deref()).id == s)
        })
        .map(|a| appointment_json(&company, a))
        .collect();
    Ok(Json(
        json!({"company_id": company.id(), "from": from.to_string(), "to": to.to_string(),
                   "appointments": items}),
    )
    .into_response())
}

/// A JSON object's fields, each a string: the first field that is unknown, missing (when
/// required) or not a string is refused by name.
pub(super) struct Fields(pub(super) serde_json::Map<String, Value>);

impl Fields {
    pub(super) fn read(body: &Bytes, known: &[&str]) -> Result<Self, ApiError> {
        let Value::Object(map) = parse::<Value>(body)? else {
            return Err(ApiError::invalid("body: a JSON object"));
        };
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            let shown: String = unknown.chars().take(40).collect();
            return Err(ApiError::invalid(format!("{shown}: unknown field")));
        }
        Ok(Self(map))
    }

    pub(super) fn text(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid(format!("{name}: must be a string"))),
        }
    }

    fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.text(name)?
            .ok_or_else(|| ApiError::invalid(format!("{name}: required")))
    }
}

/// `POST /api/retell/appointments`: 201 with the appointment, or 409 with who is free.
pub async fn create(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> ApiResult {
    let body = Fields::read(
        &body,
        &[
            "company_id",
            "service_id",
            "date",
            "time",
            "customer_name",
            "customer_phone",
            "staff",
        ],
    )?;
    let company = company_of(&app, &session, body.text("company_id")?).await?;
    let new = NewAppointment::read(
        body.required("service_id")?,
        body.required("date")?,
        body.required("time")?,
        body.text("customer_name")?.unwrap_or_default(),
        body.required("customer_phone")?,
        body.text("staff")?.unwrap_or_default(),
    )?;
    match app.desk.book(&company, &new, &by(&session)).await {
        Ok(a) => {
            tracing::info!(appointment_id = %a.appointment_id, "desk booked (API)");
            Ok((StatusCode::CREATED, Json(appointment_json(&company, &a))).into_response())
        }
        Err(e) => Ok(refused(e)),
    }
}

/// `PATCH /api/retell/appointments/{id}?company_id`: a move (`date`, `time`, `staff`) or the
/// attendance (`arrived`, `no_show`), not both.
pub async fn change(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(q): Query<CompanyIdQuery>,
    body: Bytes,
) -> ApiResult {
    if !shared::calendar::is_appointment_id(&id) {
        return Err(ApiError::not_found());
    }
    let body = Fields::read(&body, &["date", "time", "staff", "attendance"])?;
    let (date, time, staff, attendance) = (
        body.text("date")?,
        body.text("time")?,
        body.text("staff")?,
        body.text("attendance")?,
    );
    let company = company_of(&app, &session, q.company_id.as_deref()).await?;
    let moving = date.is_some() || time.is_some() || staff.is_some();
    match (moving, attendance) {
        (true, Some(_)) => Err(ApiError::invalid(
            "a move or the attendance, not both at once",
        )),
        (false, None) => Err(ApiError::invalid(
            "nothing to change: date, time, staff or attendance",
        )),
        (false, Some(attendance)) => {
            let attendance = Attendance::parse(attendance)
                .ok_or_else(|| ApiError::invalid("attendance: arrived or no_show"))?;
            match app
                .desk
                .attendance(&company, &id, attendance, &by(&session))
                .await
            {
                Ok(()) => Ok(Json(
                    json!({"appointment_id": id, "attendance": attendance.as_str()}),
                )
                .into_response()),
                Err(e) => Ok(refused(e)),
            }
        }
        (true, None) => {
            let current = app
                .desk
                .ledger
                .appointment(&company, &id)
                .await
                .map_err(|e| ApiError::from(DeskError::from(e)))?
                .ok_or_else(ApiError::not_found)?;
            let date = match date {
                Some(d) => read_date(d)?,
                None => current.date,
            };
            let time = match time {
                Some(t) => read_time(t)?,
                None => current.time,
            };
            if staff.is_some_and(|s| s.trim().is_empty()) {
                return Err(ApiError::invalid(
                    "staff: a staff id (leave it out to keep the person)",
                ));
            }
            match app
                .desk
                .reschedule(&company, &id, (date, time), staff, &by(&session))
                .await
            {
                Ok(a) => Ok(Json(appointment_json(&company, &a)).into_response()),
                Err(e) => Ok(refused(e)),
            }
        }
    }
}

/// `DELETE /api/retell/appointments/{id}?company_id`: cancels it (204).
pub async fn cancel(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(q): Query<CompanyIdQuery>,
) -> ApiResult {
    let company = company_of(&app, &session, q.company_id.as_deref()).await?;
    match app.desk.cancel(&company, &id, &by(&session)).await {
        Ok(()) => {
            tracing::info!(appointment_id = %id, "desk cancelled (API)");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(e) => Ok(refused(e)),
    }
}
