//! Cal.com's webhooks, as the stand-in keeps and sends them: `POST /v2/webhooks`
//! (`{active, subscriberUrl, triggers, secret}` → 201 `{status, data: {id, …}}`; the same URL
//! twice is a 409), `GET /v2/webhooks`, `DELETE /v2/webhooks/{id}`; and for every booking
//! created, rescheduled or cancelled through the API, a delivery to each active subscriber of
//! that trigger: `{"triggerEvent", "createdAt", "payload"}` with `X-Cal-Signature-256`, the hex
//! HMAC-SHA256 of the body with the webhook's secret (`no-secret-provided` without one), as
//! Cal.com's `sendPayload.ts` sends them. What was delivered, and the answers, are kept.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{bad_request, refusal, Booking, Shared, BOOKINGS_VERSION};

#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    id: String,
    url: String,
    triggers: Vec<String>,
    secret: Option<String>,
    active: bool,
}

impl Webhook {
    fn json(&self) -> Value {
        json!({"id": self.id, "subscriberUrl": self.url, "triggers": self.triggers,
               "active": self.active, "payloadTemplate": null, "userId": super::OWNER_ID})
    }
}

/// One delivery made: where, what, and the status answered (0: no answer).
#[derive(Debug, Clone)]
pub struct Delivered {
    pub url: String,
    pub trigger: String,
    pub body: String,
    pub status: u16,
}

pub(crate) async fn create(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = refusal(&shared, &headers, BOOKINGS_VERSION) {
        return r;
    }
    let (Some(active), Some(url), Some(triggers)) = (
        body["active"].as_bool(),
        body["subscriberUrl"].as_str(),
        body["triggers"].as_array(),
    ) else {
        return bad_request("active, subscriberUrl and triggers are required");
    };
    let mut inner = shared.lock();
    if inner.webhooks.iter().any(|w| w.url == url) {
        return (
            StatusCode::CONFLICT,
            Json(
                json!({"status": "error", "error": {"code": "ConflictException",
                "message": "Webhook with this subscriber url already exists"}}),
            ),
        )
            .into_response();
    }
    let id = format!("wh{}", inner.next_id);
    inner.next_id += 1;
    let webhook = Webhook {
        id,
        url: url.to_owned(),
        triggers: triggers
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        secret: body["secret"].as_str().map(str::to_owned),
        active,
    };
    let out = webhook.json();
    inner.webhooks.push(webhook);
    (
        StatusCode::CREATED,
        Json(json!({"status": "success", "data": out})),
    )
        .into_response()
}

pub(crate) async fn list(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = refusal(&shared, &headers, BOOKINGS_VERSION) {
        return r;
    }
    let data: Vec<Value> = shared.lock().webhooks.iter().map(Webhook::json).collect();
    Json(json!({"status": "success", "data": data})).into_response()
}

pub(crate) async fn delete(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = refusal(&shared, &headers, BOOKINGS_VERSION) {
        return r;
    }
    let mut inner = shared.lock();
    let Some(at) = inner.webhooks.iter().position(|w| w.id == id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(
                json!({"status": "error", "error": {"code": "NotFoundException",
                "message": format!("Webhook ({id}) not found")}}),
            ),
        )
            .into_response();
    };
    let gone = inner.webhooks.remove(at);
    Json(json!({"status": "success", "data": gone.json()})).into_response()
}

/// The payload Cal.com sends about `b` (its `CalendarEvent` with the booking's extras).
fn payload(b: &Booking, trigger: &str) -> Value {
    let iso = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut p = json!({
        "type": format!("event-type-{}", b.event_type_id),
        "title": format!("Appointment with {}", b.attendee["name"].as_str().unwrap_or("caller")),
        "startTime": iso(b.start),
        "endTime": iso(b.end),
        "organizer": {"id": b.host.id, "name": b.host.name, "email": b.host.email(),
                      "username": b.host.username(), "timeZone": b.host.time_zone},
        "attendees": [b.attendee],
        "responses": {"name": {"label": "your_name", "value": b.attendee["name"]},
                      "email": {"label": "email_address", "value": b.attendee["email"]}},
        "uid": b.uid,
        "bookingId": b.id,
        "eventTypeId": b.event_type_id,
        "metadata": b.metadata,
        "status": if trigger == "BOOKING_CANCELLED" { "CANCELLED" } else { "ACCEPTED" },
    });
    if let Some(phone) = b.attendee["phoneNumber"].as_str() {
        p["responses"]["attendeePhoneNumber"] = json!({"label": "phone_number", "value": phone});
    }
    if let Some(reason) = &b.cancellation_reason {
        p["cancellationReason"] = json!(reason);
    }
    p
}

/// Sends `trigger` about `b` to every active subscriber of it (in the background, as Cal.com
/// does after answering); `extra` is merged into the payload (a reschedule's old booking).
pub(crate) fn deliver(shared: &Shared, trigger: &'static str, b: &Booking, extra: Value) {
    let mut p = payload(b, trigger);
    if let (Some(p), Value::Object(extra)) = (p.as_object_mut(), extra) {
        p.extend(extra);
    }
    let body = json!({"triggerEvent": trigger,
        "createdAt": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "payload": p})
    .to_string();
    let targets: Vec<Webhook> = shared
        .lock()
        .webhooks
        .iter()
        .filter(|w| w.active && w.triggers.iter().any(|t| t == trigger))
        .cloned()
        .collect();
    for webhook in targets {
        let shared = shared.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let signature = match &webhook.secret {
                Some(secret) => {
                    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
                        .expect("HMAC takes any key");
                    mac.update(body.as_bytes());
                    hex::encode(mac.finalize().into_bytes())
                }
                None => "no-secret-provided".to_owned(),
            };
            // reqwest on rustls without a default provider: ring, as the functions use.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let status = match reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(10))
                .build()
            {
                Ok(client) => client
                    .post(&webhook.url)
                    .header("content-type", "application/json")
                    .header("x-cal-signature-256", signature)
                    .body(body.clone())
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0),
                Err(_) => 0,
            };
            shared.lock().delivered.push(Delivered {
                url: webhook.url,
                trigger: trigger.to_owned(),
                body,
                status,
            });
        });
    }
}
