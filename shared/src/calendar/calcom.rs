//! Cal.com API v2 as a company's calendar.
//!
//! Requests follow Cal.com's documented API: `GET /v2/slots` (`cal-api-version: 2024-09-04`),
//! `POST /v2/bookings`, `GET /v2/bookings`, `GET /v2/bookings/{uid}`,
//! `POST /v2/bookings/{uid}/cancel` and `POST /v2/bookings/{uid}/reschedule`
//! (`cal-api-version: 2024-08-13`), with `Authorization: Bearer <API key>`.
//!
//! A live caller is waiting: every request has a timeout (company setting, 2 s by default) and
//! a circuit breaker per company stops calling after three consecutive failures (no answer, 5xx,
//! 429, a refused or unreadable API key) for 30 s, so an outage costs the caller at most one
//! timeout and then an immediate spoken fallback.
//!
//! Idempotency and ownership come from the appointment items in DynamoDB: the item is written
//! `pending` before the booking request (carrying the appointment id in Cal.com's `metadata`)
//! and `booked` with Cal.com's uid after it. A retry of a booking whose first attempt was cut
//! off finds that attempt's Cal.com booking by its metadata instead of hearing "slot taken".

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::breaker::CircuitBreaker;
use super::ledger::{AppointmentLedger, Reservation};
use super::placement::Placement;
use super::{
    appointment_id, day_slots, Appointment, BookingOutcome, BookingRequest, Calendar,
    CalendarError, DaySlots,
};
use crate::booking::availability::{free_times, Occupancy};
use crate::booking::company::{CalComSettings, Company, Service};
use crate::booking::slots::local_day_start;
use crate::booking::staff::StaffMember;
use crate::platform::outbound::{guarded_client_builder, literal_ip_allowed, OutboundPolicy};
use crate::platform::secrets::{SecretSource, SecretsManagerSource};

pub const CALCOM_SLOTS_VERSION: &str = "2024-09-04";
pub const CALCOM_BOOKINGS_VERSION: &str = "2024-08-13";
const BREAKER_THRESHOLD: u32 = 3;
const BREAKER_COOLDOWN: Duration = Duration::from_secs(30);
const KEY_TTL: Duration = Duration::from_secs(300);
/// Cal.com requires an attendee email; callers on the phone rarely give one.
const PLACEHOLDER_EMAIL_DOMAIN: &str = "phone.invalid";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalComError {
    /// Timeout, connection failure, 5xx/429, a refused API key, or the breaker is open.
    #[error("Cal.com unavailable: {0}")]
    Unavailable(String),
    /// Cal.com answered and said no (4xx): a taken slot is a 400 or 409 saying the host is
    /// not available ([`CalComError::is_taken`]); any other is the request's fault.
    #[error("Cal.com refused {op} with {status} ({code}: {message})")]
    Rejected {
        op: &'static str,
        status: u16,
        code: String,
        /// Cal.com's `error.message`, at most 200 characters.
        message: String,
    },
}

/// Whether requests may go to `settings.base_url` (see [`CalComClient::new`]).
fn permitted_base_url(settings: &CalComSettings, loopback_allowed: bool) -> Result<(), String> {
    settings.check_base_url()?;
    if settings.is_loopback() {
        return if loopback_allowed {
            Ok(())
        } else {
            Err("a calendar on 127.0.0.1 is allowed only in the local stack".into())
        };
    }
    let url = reqwest::Url::parse(&settings.base_url).map_err(|e| format!("base_url: {e}"))?;
    if !literal_ip_allowed(&url, &OutboundPolicy::default()) {
        return Err("base_url is not a public address".into());
    }
    Ok(())
}

impl From<CalComError> for CalendarError {
    fn from(e: CalComError) -> Self {
        CalendarError::Backend(e.to_string())
    }
}

/// One company's Cal.com account: HTTP client, API key and circuit breaker.
pub struct CalComClient {
    http: Result<reqwest::Client, String>,
    base_url: String,
    secret: SecretsManagerSource,
    key: tokio::sync::Mutex<Option<(String, Instant)>>,
    breaker: CircuitBreaker,
}

impl CalComClient {
    /// A client for `settings`' account. Its base URL must be https on a public address (plain
    /// http to 127.0.0.1 only with `loopback_allowed`, the local stack's stand-in); any other
    /// is refused on every request, before the API key is read.
    pub fn new(
        settings: &CalComSettings,
        secrets: aws_sdk_secretsmanager::Client,
        loopback_allowed: bool,
    ) -> Self {
        let timeout = Duration::from_millis(settings.timeout_ms);
        let http = permitted_base_url(settings, loopback_allowed).and_then(|()| {
            guarded_client_builder(None, 0)
                .connect_timeout(timeout.min(Duration::from_secs(1)))
                .timeout(timeout)
                .pool_idle_timeout(Duration::from_secs(60))
                .user_agent(concat!("retell-backend/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| e.to_string())
        });
        Self {
            http,
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            secret: SecretsManagerSource::new(secrets, settings.api_key_secret.clone()),
            key: tokio::sync::Mutex::new(None),
            breaker: CircuitBreaker::new(BREAKER_THRESHOLD, BREAKER_COOLDOWN),
        }
    }

    /// The API key, cached for `KEY_TTL`; the reason it cannot be had otherwise.
    async fn api_key(&self) -> Result<String, String> {
        let mut cached = self.key.lock().await;
        if let Some((key, at)) = cached.as_ref() {
            if at.elapsed() < KEY_TTL {
                return Ok(key.clone());
            }
        }
        let secret = self
            .secret
            .fetch()
            .await
            .map_err(|e| format!("API key: {e}"))?;
        let key = parse_api_key(&secret).ok_or("API key secret is empty")?;
        *cached = Some((key.clone(), Instant::now()));
        Ok(key)
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, CalComError> {
        reqwest::Url::parse(&format!("{}{path}", self.base_url))
            .map_err(|e| CalComError::Unavailable(format!("Cal.com URL: {e}")))
    }

    /// Sends one request through the breaker; the JSON body of a 2xx answer.
    async fn send(
        &self,
        op: &'static str,
        method: reqwest::Method,
        url: reqwest::Url,
        version: &str,
        body: Option<&Value>,
    ) -> Result<Value, CalComError> {
        let http = self
            .http
            .as_ref()
            .map_err(|e| CalComError::Unavailable(format!("HTTP client: {e}")))?;
        // The breaker first: while it is open nothing is fetched or sent, not even the key.
        if self.breaker.allow(Instant::now()).is_err() {
            return Err(CalComError::Unavailable(format!(
                "{op}: circuit open after repeated failures"
            )));
        }
        let failed = |what: String| {
            self.breaker.record_failure(Instant::now());
            CalComError::Unavailable(format!("{op}: {what}"))
        };
        // Without its key the calendar is as unreachable as without an answer.
        let key = self.api_key().await.map_err(failed)?;
        let mut request = http
            .request(method, url)
            .bearer_auth(key)
            .header("cal-api-version", version);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| failed(describe(&e)))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| failed(describe(&e)))?;
        if status.is_success() {
            self.breaker.record_success();
            return serde_json::from_slice(&bytes)
                .map_err(|e| CalComError::Unavailable(format!("{op}: answer is not JSON: {e}")));
        }
        if status == 401 || status == 403 {
            // Possibly a rotated key: read it again next time.
            *self.key.lock().await = None;
            return Err(failed(format!("API key refused ({status})")));
        }
        if status.is_server_error() || status == 429 {
            return Err(failed(format!("status {status}")));
        }
        self.breaker.record_success();
        let (code, message) = error_code_and_message(&bytes);
        Err(CalComError::Rejected {
            op,
            status: status.as_u16(),
            code,
            message,
        })
    }

    /// Free slot starts for an event type, `start..=end`, grouped by day in `time_zone`. The
    /// bounds go as instants: Cal.com reads a bare date as a UTC day, which cuts the evening of
    /// a company west of UTC and lets in the early hours of the next day east of it.
    pub async fn slots(
        &self,
        event_type_id: u64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        time_zone: &str,
    ) -> Result<Vec<DateTime<FixedOffset>>, CalComError> {
        let mut url = self.url("/v2/slots")?;
        url.query_pairs_mut()
            .append_pair("eventTypeId", &event_type_id.to_string())
            .append_pair("start", &iso(start))
            .append_pair("end", &iso(end))
            .append_pair("timeZone", time_zone);
        let answer = self
            .send(
                "slots",
                reqwest::Method::GET,
                url,
                CALCOM_SLOTS_VERSION,
                None,
            )
            .await?;
        let bad = || CalComError::Unavailable("slots: unexpected answer".into());
        let days = answer["data"].as_object().ok_or_else(bad)?;
        let mut out = Vec::new();
        for slots in days.values() {
            for slot in slots.as_array().ok_or_else(bad)? {
                let start = slot["start"].as_str().ok_or_else(bad)?;
                out.push(DateTime::parse_from_rfc3339(start).map_err(|_| bad())?);
            }
        }
        Ok(out)
    }

    /// Creates a booking; its uid and host.
    pub async fn create_booking(&self, body: &Value) -> Result<CalComBooking, CalComError> {
        let answer = self
            .send(
                "create booking",
                reqwest::Method::POST,
                self.url("/v2/bookings")?,
                CALCOM_BOOKINGS_VERSION,
                Some(body),
            )
            .await?;
        booking_of(&answer["data"])
    }

    /// A booking as Cal.com describes it (`data` of `GET /v2/bookings/{uid}`).
    pub async fn booking(&self, uid: &str) -> Result<Value, CalComError> {
        let answer = self
            .send(
                "get booking",
                reqwest::Method::GET,
                self.url(&format!("/v2/bookings/{}", path_segment(uid)))?,
                CALCOM_BOOKINGS_VERSION,
                None,
            )
            .await?;
        Ok(answer["data"].clone())
    }

    /// The live booking this service made for `appointment_id` at `start`, if any.
    pub async fn find_booking(
        &self,
        event_type_id: u64,
        start: DateTime<Utc>,
        appointment_id: &str,
    ) -> Result<Option<CalComBooking>, CalComError> {
        let mut url = self.url("/v2/bookings")?;
        url.query_pairs_mut()
            .append_pair("eventTypeId", &event_type_id.to_string())
            .append_pair("afterStart", &iso(start - chrono::Duration::minutes(1)))
            .append_pair("beforeEnd", &iso(start + chrono::Duration::days(1)));
        let answer = self
            .send(
                "list bookings",
                reqwest::Method::GET,
                url,
                CALCOM_BOOKINGS_VERSION,
                None,
            )
            .await?;
        let found = answer["data"].as_array().and_then(|list| {
            list.iter().find(|b| {
                b["metadata"]["appointment_id"].as_str() == Some(appointment_id)
                    && matches!(b["status"].as_str(), Some("accepted" | "pending"))
            })
        });
        found.map(booking_of).transpose()
    }

    pub async fn cancel(&self, uid: &str, reason: &str) -> Result<(), CalComError> {
        self.send(
            "cancel booking",
            reqwest::Method::POST,
            self.url(&format!("/v2/bookings/{}/cancel", path_segment(uid)))?,
            CALCOM_BOOKINGS_VERSION,
            Some(&json!({"cancellationReason": reason})),
        )
        .await
        .map(|_| ())
    }

    /// The account's webhooks (`GET /v2/webhooks`, the first 250).
    pub async fn webhooks(&self) -> Result<Vec<Value>, CalComError> {
        let answer = self
            .send(
                "list webhooks",
                reqwest::Method::GET,
                self.url("/v2/webhooks?take=250")?,
                CALCOM_BOOKINGS_VERSION,
                None,
            )
            .await?;
        Ok(answer["data"].as_array().cloned().unwrap_or_default())
    }

    /// Subscribes `url` to the booking triggers, signed with `secret`; the webhook's id.
    pub async fn create_webhook(&self, url: &str, secret: &str) -> Result<String, CalComError> {
        let answer = self
            .send(
                "create webhook",
                reqwest::Method::POST,
                self.url("/v2/webhooks")?,
                CALCOM_BOOKINGS_VERSION,
                Some(
                    &json!({"active": true, "subscriberUrl": url, "secret": secret,
                             "triggers": super::calcom_webhook::TRIGGERS}),
                ),
            )
            .await?;
        // Cal.com's id is a string in its answers (a number in older ones).
        Ok(match &answer["data"]["id"] {
            Value::String(id) => id.clone(),
            other => other.to_string(),
        })
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<(), CalComError> {
        self.send(
            "delete webhook",
            reqwest::Method::DELETE,
            self.url(&format!("/v2/webhooks/{}", path_segment(id)))?,
            CALCOM_BOOKINGS_VERSION,
            None,
        )
        .await
        .map(|_| ())
    }

    /// Moves a booking to `start`; the booking that replaces it.
    pub async fn reschedule(
        &self,
        uid: &str,
        start: DateTime<Utc>,
        reason: &str,
    ) -> Result<CalComBooking, CalComError> {
        let answer = self
            .send(
                "reschedule booking",
                reqwest::Method::POST,
                self.url(&format!("/v2/bookings/{}/reschedule", path_segment(uid)))?,
                CALCOM_BOOKINGS_VERSION,
                Some(&json!({"start": iso(start), "reschedulingReason": reason})),
            )
            .await?;
        booking_of(&answer["data"])
    }
}

/// A booking Cal.com made: its uid, and the user id of its (first) host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalComBooking {
    pub uid: String,
    pub host_id: Option<u64>,
}

/// The booking of an answer's `data`: an object, or for a recurring event type an array of
/// the series' bookings (the first is the one asked for).
fn booking_of(data: &Value) -> Result<CalComBooking, CalComError> {
    let booking = match data {
        Value::Array(series) => series.first().unwrap_or(&Value::Null),
        one => one,
    };
    let uid = booking["uid"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CalComError::Unavailable("booking answer has no uid".into()))?;
    Ok(CalComBooking {
        uid,
        host_id: booking["hosts"][0]["id"].as_u64(),
    })
}

/// UTC, millisecond ISO 8601, as Cal.com writes it.
fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Uids are Cal.com's own (alphanumeric); anything else must not change the path.
fn path_segment(uid: &str) -> String {
    uid.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The key from the secret: the bare key or `{"api_key": "..."}`.
fn parse_api_key(secret: &str) -> Option<String> {
    let trimmed = secret.trim();
    let key = match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(doc)) => doc.get("api_key")?.as_str()?.trim().to_owned(),
        _ => trimmed.to_owned(),
    };
    (!key.is_empty()).then_some(key)
}

/// Cal.com's error code (`{"status":"error","error":{"code":"BadRequestException",...}}`);
/// the message is left out of logs: it may repeat what the caller said.
/// `error.code` and `error.message` of a Cal.com error answer (the message bounded).
fn error_code_and_message(body: &[u8]) -> (String, String) {
    let answer = serde_json::from_slice::<Value>(body).unwrap_or_default();
    let text = |v: &Value, missing: &str| {
        v.as_str()
            .map(|t| t.chars().take(200).collect())
            .unwrap_or_else(|| missing.to_owned())
    };
    (
        text(&answer["error"]["code"], "no error code"),
        text(&answer["error"]["message"], "no message"),
    )
}

impl CalComError {
    /// Whether Cal.com refused because the time is taken: a 400 or 409 that says the host (or
    /// one of the hosts) is not available. Every other refusal — an invalid phone or e-mail, a
    /// missing booking field, a time out of bounds or in the past — is the request's fault,
    /// and offering other times would fail the same way.
    pub fn is_taken(&self) -> bool {
        let CalComError::Rejected {
            status, message, ..
        } = self
        else {
            return false;
        };
        let message = message.to_ascii_lowercase();
        matches!(status, 400 | 409)
            && (message.contains("already has booking")
                || message.contains("is not available")
                || message.contains("one of the hosts")
                || message.contains("no_available_users_found"))
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        format!("request failed: {e}")
    }
}

/// A company's calendar in Cal.com, with its appointment items in DynamoDB.
#[derive(Clone)]
pub struct CalComCalendar {
    client: Arc<CalComClient>,
    settings: CalComSettings,
    items: AppointmentLedger,
}

impl CalComCalendar {
    pub fn new(
        client: Arc<CalComClient>,
        settings: CalComSettings,
        items: AppointmentLedger,
    ) -> Self {
        Self {
            client,
            settings,
            items,
        }
    }

    /// The event type that books `service` with `staff_id` (empty: anyone).
    fn event_type(&self, service: &Service, staff_id: &str) -> Result<u64, CalendarError> {
        self.settings
            .event_type(&service.id, staff_id)
            .ok_or_else(|| {
                CalendarError::Backend(format!(
                    "no Cal.com event type for {} with {staff_id:?}",
                    service.id
                ))
            })
    }

    /// The staff member a booking is with: the host Cal.com names (`hosts[0].id`, mapped back
    /// through `hosts`) — a round-robin type may choose or, on a move, change the host — else
    /// the one it was made for (`expected`; empty for a company without staff).
    fn staff_of(&self, expected: &str, booking: &CalComBooking) -> String {
        let chosen = booking
            .host_id
            .and_then(|user| self.settings.staff_of_user(user));
        match chosen {
            Some(chosen) => {
                if !expected.is_empty() && chosen != expected {
                    tracing::info!(
                        expected,
                        chosen,
                        "Cal.com booked another host than expected"
                    );
                }
                chosen.to_owned()
            }
            None => {
                if !self.settings.hosts.is_empty() {
                    tracing::warn!(host = ?booking.host_id, "Cal.com answered with a host that calendar.hosts does not map");
                }
                expected.to_owned()
            }
        }
    }

    /// Free starts `from..=to` per local day and time, as Cal.com offers them for one event type.
    async fn offered(
        &self,
        company: &Company,
        event_type: u64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<BTreeMap<NaiveDate, BTreeSet<NaiveTime>>, CalendarError> {
        let offered = self
            .client
            .slots(event_type, from, to, &company.settings.time_zone)
            .await?;
        let mut by_day: BTreeMap<NaiveDate, BTreeSet<NaiveTime>> = BTreeMap::new();
        for start in offered {
            let local = start.with_timezone(&company.time_zone);
            by_day
                .entry(local.date_naive())
                .or_default()
                .insert(local.time());
        }
        Ok(by_day)
    }

    fn booking_body(
        &self,
        company: &Company,
        req: &BookingRequest<'_>,
        event_type_id: u64,
        start: DateTime<Utc>,
        id: &str,
    ) -> Value {
        let phone = req.customer_phone.as_str();
        let german = company.is_german();
        let name = req
            .customer_name
            .map(str::to_owned)
            .unwrap_or_else(|| if german { "Anrufer" } else { "Caller" }.to_owned());
        let email = req.customer_email.map(str::to_owned).unwrap_or_else(|| {
            format!(
                "{}@{PLACEHOLDER_EMAIL_DOMAIN}",
                phone.trim_start_matches('+')
            )
        });
        let mut metadata = json!({"appointment_id": id, "source": "retell-phone-agent",
                                  "service_id": req.service.id});
        if let Some(call_id) = req.call_id {
            metadata["call_id"] = json!(call_id);
        }
        let mut body = json!({
            "start": iso(start),
            "eventTypeId": event_type_id,
            "attendee": {
                "name": name,
                "email": email,
                "timeZone": company.settings.time_zone,
                "phoneNumber": phone,
                "language": if german { "de" } else { "en" },
            },
            "metadata": metadata,
        });
        if let Some(notes) = req.notes {
            body["bookingFieldsResponses"] = json!({"notes": notes});
        }
        body
    }

    /// The replacement of a booking a cut-off attempt already moved to `start`, if any.
    async fn already_moved_to(
        &self,
        uid: &str,
        start: DateTime<Utc>,
    ) -> Result<Option<CalComBooking>, CalComError> {
        let old = self.client.booking(uid).await?;
        let Some(next) = old["rescheduledToUid"].as_str() else {
            return Ok(None);
        };
        let new = self.client.booking(next).await?;
        let same_start = new["start"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .is_some_and(|s| s == start);
        Ok(same_start.then(|| CalComBooking {
            uid: next.to_owned(),
            host_id: new["hosts"][0]["id"].as_u64(),
        }))
    }
}

impl Calendar for CalComCalendar {
    /// Cal.com's free slots, kept where the company's own schedule (hours, closures, notice,
    /// each person's hours and absences) agrees, so the agent never offers a time the booking
    /// tool would refuse. A company with staff asks each qualified person's event type (one
    /// request each, at once) to say who is free when.
    async fn free_slots(
        &self,
        company: &Company,
        service: &Service,
        date: NaiveDate,
        days: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<DaySlots>, CalendarError> {
        let last = date + chrono::Duration::days(i64::from(days.max(1)) - 1);
        // The company's local days, from the first midnight to the last millisecond.
        let tz = &company.time_zone;
        let from = local_day_start(tz, date).unwrap_or(now);
        let to = local_day_start(tz, last + chrono::Duration::days(1)).unwrap_or(from)
            - chrono::Duration::milliseconds(1);
        let team = &company.team;
        let people: Vec<&StaffMember> = team.qualified(&service.id).collect();
        let asked = people.iter().map(|p| async move {
            let event_type = self.event_type(service, &p.id)?;
            self.offered(company, event_type, from, to).await
        });
        let offered: HashMap<&str, BTreeMap<NaiveDate, BTreeSet<NaiveTime>>> = people
            .iter()
            .map(|p| p.id.as_str())
            .zip(futures::future::try_join_all(asked).await?)
            .collect();
        let none = Occupancy::default();
        Ok(day_slots(date, days, |day| {
            free_times(team, service, day, &none, now, None)
                .into_iter()
                .filter_map(|mut free| {
                    free.staff.retain(|id| {
                        offered
                            .get(id.as_str())
                            .and_then(|by_day| by_day.get(&day))
                            .is_some_and(|times| times.contains(&free.time))
                    });
                    (!free.staff.is_empty()).then_some(free)
                })
                .collect()
        }))
    }

    async fn book(
        &self,
        company: &Company,
        req: &BookingRequest<'_>,
    ) -> Result<BookingOutcome, CalendarError> {
        let asked = req.staff.map_or("", |m| m.id.as_str());
        let event_type = self.event_type(req.service, asked)?;
        let at = Placement::new(company, req.service, req.date, req.time)?.assigned(asked, None);
        let id = appointment_id(
            company.id(),
            req.customer_phone.as_str(),
            at.start,
            &req.service.id,
        );
        let retry = match self
            .items
            .external_reserve(company, req, &id, &at, "calcom")
            .await?
        {
            Reservation::Booked(existing) => return Ok(BookingOutcome::AlreadyBooked(*existing)),
            Reservation::Pending { retry } => retry,
        };
        let body = self.booking_body(company, req, event_type, at.start, &id);
        match self.client.create_booking(&body).await {
            Ok(booking) => {
                let at = at.assigned(&self.staff_of(asked, &booking), None);
                let a = self
                    .items
                    .external_confirm(company, req, &id, &at, &booking.uid)
                    .await?;
                Ok(BookingOutcome::Booked(a))
            }
            Err(e) if e.is_taken() => {
                // Taken, perhaps by our own earlier attempt that was cut off before it
                // recorded Cal.com's answer.
                if retry {
                    if let Some(booking) =
                        self.client.find_booking(event_type, at.start, &id).await?
                    {
                        let at = at.assigned(&self.staff_of(asked, &booking), None);
                        let a = self
                            .items
                            .external_confirm(company, req, &id, &at, &booking.uid)
                            .await?;
                        return Ok(BookingOutcome::AlreadyBooked(a));
                    }
                }
                self.items.external_release(company, &id).await?;
                Ok(BookingOutcome::SlotTaken)
            }
            // Refused for another reason (an invalid e-mail, a time out of bounds): Cal.com
            // booked nothing, and other times would fail the same way.
            Err(e @ CalComError::Rejected { .. }) => {
                tracing::warn!(reason = %e, "Cal.com refused the booking");
                self.items.external_release(company, &id).await?;
                Err(CalendarError::Refused(e.to_string()))
            }
            // The pending item stays: a retry looks for this attempt's booking in Cal.com.
            Err(e) => Err(e.into()),
        }
    }

    fn ledger(&self) -> &AppointmentLedger {
        &self.items
    }

    async fn cancel(
        &self,
        company: &Company,
        appointment: &Appointment,
        by: &str,
    ) -> Result<bool, CalendarError> {
        if let Some(uid) = &appointment.external_uid {
            self.cancel_booking(uid, "Cancelled by the caller on the phone")
                .await?;
        }
        // Its item has no lock items: the native cancellation is exactly the item update.
        self.items.cancel(company, appointment, by).await
    }

    /// Within the same person (or, for a round-robin booking, whoever Cal.com keeps) Cal.com
    /// moves the booking itself. To another person it is that person's event type: Cal.com
    /// cannot move a booking between event types, so it is a new booking there (carrying the
    /// appointment's id, so a retry finds it) and then the old one cancelled.
    async fn reschedule(
        &self,
        company: &Company,
        appointment: &Appointment,
        service: &Service,
        date: NaiveDate,
        time: NaiveTime,
        staff: Option<&StaffMember>,
        by: &str,
    ) -> Result<Option<Appointment>, CalendarError> {
        let to = Placement::new(company, service, date, time)?;
        let uid = appointment.external_uid.as_deref().ok_or_else(|| {
            CalendarError::Corrupt(format!("{} has no Cal.com uid", appointment.appointment_id))
        })?;
        let current = appointment.staff_id.as_deref().unwrap_or_default();
        let asked = staff.map_or("", |m| m.id.as_str());
        if !asked.is_empty() && asked != current {
            return self
                .move_to_person(
                    company,
                    appointment,
                    service,
                    (date, time),
                    to,
                    (asked, uid),
                    by,
                )
                .await;
        }
        let moved = match self
            .client
            .reschedule(uid, to.start, "Rescheduled by the caller on the phone")
            .await
        {
            Ok(moved) => moved,
            Err(e) if e.is_taken() => match self.already_moved_to(uid, to.start).await? {
                Some(moved) => moved,
                None => return Ok(None),
            },
            Err(e) => return Err(e.into()),
        };
        let to = to.assigned(&self.staff_of(current, &moved), None);
        self.items
            .external_moved(company, appointment, (date, time), &to, &moved.uid, by)
            .await
            .map(Some)
    }
}

impl CalComCalendar {
    /// Cancels a booking in Cal.com; one already cancelled there (a retry, or staff did) is fine.
    async fn cancel_booking(&self, uid: &str, reason: &str) -> Result<(), CalendarError> {
        match self.client.cancel(uid, reason).await {
            Ok(()) => Ok(()),
            Err(CalComError::Rejected { .. }) => {
                let booking = self.client.booking(uid).await?;
                let status = booking["status"].as_str().unwrap_or_default();
                if status == "cancelled" || status == "rejected" {
                    Ok(())
                } else {
                    Err(CalendarError::Backend(format!(
                        "Cal.com refused to cancel a booking that is {status:?}"
                    )))
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Moves an appointment to another person: a booking on their event type, then the old
    /// booking cancelled. `Ok(None)`: they are not free then (nothing changed).
    #[allow(clippy::too_many_arguments)]
    async fn move_to_person(
        &self,
        company: &Company,
        appointment: &Appointment,
        service: &Service,
        (date, time): (NaiveDate, NaiveTime),
        to: Placement,
        (person, old_uid): (&str, &str),
        by: &str,
    ) -> Result<Option<Appointment>, CalendarError> {
        let event_type = self.event_type(service, person)?;
        let phone = crate::booking::phone::PhoneNumber::parse(&appointment.customer_phone)
            .map_err(|e| CalendarError::Corrupt(format!("stored phone number: {e}")))?;
        let req = BookingRequest {
            date,
            time,
            service,
            customer_phone: &phone,
            customer_name: appointment.customer_name.as_deref(),
            customer_email: None,
            notes: None,
            call_id: None,
            staff: None,
            contact_proven: false,
            booked_by: None,
        };
        let id = &appointment.appointment_id;
        let body = self.booking_body(company, &req, event_type, to.start, id);
        let booking = match self.client.create_booking(&body).await {
            Ok(booking) => booking,
            // Perhaps an earlier attempt of this move booked it and was cut off.
            Err(e) if e.is_taken() => {
                match self.client.find_booking(event_type, to.start, id).await? {
                    Some(booking) => booking,
                    None => return Ok(None),
                }
            }
            Err(e @ CalComError::Rejected { .. }) => {
                tracing::warn!(reason = %e, "Cal.com refused the booking with another person");
                return Err(CalendarError::Refused(e.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        // The new booking stands whatever the old one's cancel says: the caller has their new
        // time; an old booking Cal.com would not cancel is logged for the business to remove.
        if let Err(e) = self
            .cancel_booking(
                old_uid,
                "Moved to another person by the caller on the phone",
            )
            .await
        {
            tracing::error!(old_uid, error = %e, "moved to another person, but the old Cal.com booking is still there; cancel it in Cal.com");
        }
        let to = to.assigned(person, None);
        self.items
            .external_moved(company, appointment, (date, time), &to, &booking.uid, by)
            .await
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_from_bare_or_json_secret() {
        assert_eq!(
            parse_api_key(" cal_live_abc \n").as_deref(),
            Some("cal_live_abc")
        );
        assert_eq!(
            parse_api_key(r#"{"api_key": "cal_live_x"}"#).as_deref(),
            Some("cal_live_x")
        );
        assert_eq!(parse_api_key(r#"{"key": "x"}"#), None);
        assert_eq!(parse_api_key("  "), None);
    }

    #[test]
    fn uids_cannot_change_the_path() {
        assert_eq!(path_segment("abc-123_X"), "abc-123_X");
        assert_eq!(path_segment("../../v2/me?x=1"), "v2mex1");
    }

    #[test]
    fn error_codes_are_read_from_calcom_errors() {
        let body = br#"{"status":"error","timestamp":"2025-01-01T00:00:00.000Z","path":"/v2/bookings","error":{"code":"BadRequestException","message":"User either already has booking at this time or is not available"}}"#;
        let (code, message) = error_code_and_message(body);
        assert_eq!(code, "BadRequestException");
        let rejected = |status: u16, message: &str| CalComError::Rejected {
            op: "create booking",
            status,
            code: code.clone(),
            message: message.to_owned(),
        };
        assert!(rejected(400, &message).is_taken());
        assert!(rejected(
            409,
            "One of the hosts either already has booking at this time or is not available"
        )
        .is_taken());
        for other in [
            "Attempting to book a meeting in the past.",
            "booking_time_out_of_bounds_error",
            "Invalid phone number",
            "responses - {email}error_required_field",
        ] {
            assert!(!rejected(400, other).is_taken(), "{other}");
        }
        assert!(!rejected(404, &message).is_taken());
        assert_eq!(
            error_code_and_message(b"<html>"),
            ("no error code".into(), "no message".into())
        );
    }

    #[test]
    fn a_recurring_event_types_answer_names_its_first_booking() {
        let uid = |data: Value| booking_of(&data).map(|b| b.uid);
        assert_eq!(uid(json!({"uid": "a"})), Ok("a".into()));
        assert_eq!(
            uid(json!([{"uid": "first"}, {"uid": "second"}])),
            Ok("first".into())
        );
        assert!(uid(json!([])).is_err());
        let hosted = booking_of(&json!({"uid": "b", "hosts": [{"id": 12, "name": "Ben"}]}));
        assert_eq!(hosted.map(|b| b.host_id), Ok(Some(12)));
    }

    #[test]
    fn booking_starts_are_utc_millis() {
        let t = DateTime::parse_from_rfc3339("2025-01-14T10:00:00+01:00")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(iso(t), "2025-01-14T09:00:00.000Z");
    }
}
