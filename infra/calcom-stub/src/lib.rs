//! A local stand-in for Cal.com's API v2, as far as this project uses it, following Cal.com's
//! documented requests and answers:
//!
//! - `GET /v2/slots?eventTypeId&start&end&timeZone` (`cal-api-version: 2024-09-04`) →
//!   `{"status":"success","data":{"YYYY-MM-DD":[{"start":"<ISO 8601 with offset>"}]}}`;
//!   `start`/`end` are instants, or bare dates read as UTC days (as Cal.com reads them)
//! - `POST /v2/bookings`, `GET /v2/bookings`, `GET /v2/bookings/{uid}`,
//!   `POST /v2/bookings/{uid}/cancel`, `POST /v2/bookings/{uid}/reschedule`
//!   (`cal-api-version: 2024-08-13`); a time that is not free is a 400
//!   `{"status":"error","error":{"code":"BadRequestException","message":...}}` saying the host
//!   is not available, and so are a missing attendee field and a start in the past, with their
//!   own messages.
//!
//! Every request needs `Authorization: Bearer <api key>` and the right `cal-api-version`.
//! Hosts have weekly hours in one time zone; an event type has a length and its hosts: one (the
//! account owner's types, or a person's own type) or several (a round-robin team type, booked
//! with the free host who has the fewest bookings). A host's bookings of any event type block
//! that host; a booking answers its `hosts`. Faults (a hang, 500s) can be switched on to play
//! an outage.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration as Span, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

mod webhooks;

pub use webhooks::Delivered;

pub const SLOTS_VERSION: &str = "2024-09-04";
pub const BOOKINGS_VERSION: &str = "2024-08-13";

/// Monday first: opening and closing time, or closed.
pub type WeekHours = [Option<(NaiveTime, NaiveTime)>; 7];

/// The account owner's user id: the host of `StubConfig::event_types`.
pub const OWNER_ID: u64 = 1;

#[derive(Debug, Clone)]
pub struct StubConfig {
    pub api_key: String,
    /// The hosts' time zone; `hours` are local to it.
    pub time_zone: Tz,
    /// The account owner's hours.
    pub hours: WeekHours,
    /// The owner's event types: id → length in minutes (slots start every `length` minutes).
    pub event_types: HashMap<u64, u32>,
    /// Team members (hosts besides the owner).
    pub team: Vec<TeamMember>,
    /// Event types of team members: a person's own (one host) or round robin (several).
    pub team_event_types: HashMap<u64, TeamEventType>,
}

#[derive(Debug, Clone)]
pub struct TeamMember {
    pub user_id: u64,
    pub name: String,
    pub hours: WeekHours,
}

#[derive(Debug, Clone)]
pub struct TeamEventType {
    pub length: u32,
    /// User ids; more than one: round robin.
    pub hosts: Vec<u64>,
}

impl StubConfig {
    /// Mon–Sat 09:00–18:00 Europe/Berlin; event types 1001 (30 min), 1002 (90), 1003 (15):
    /// the demo salon's services.
    pub fn salon(api_key: &str) -> Self {
        let open = NaiveTime::from_hms_opt(9, 0, 0);
        let close = NaiveTime::from_hms_opt(18, 0, 0);
        let day = open.zip(close);
        Self {
            api_key: api_key.to_owned(),
            time_zone: chrono_tz::Europe::Berlin,
            hours: [day, day, day, day, day, day, None],
            event_types: HashMap::from([(1001, 30), (1002, 90), (1003, 15)]),
            team: Vec::new(),
            team_event_types: HashMap::new(),
        }
    }

    /// The demo salon with its staff as Cal.com hosts (`infra/local/companies/calcom-demo.json`):
    /// Anna (11), Ben (12, Monday to Friday) and Clara (13); 1001–1003 are round-robin team
    /// types (colouring: Anna and Clara), and each person has their own type per service they
    /// perform: Anna 2001–2003, Ben 2101 and 2103, Clara 2201–2203.
    pub fn salon_team(api_key: &str) -> Self {
        let salon = Self::salon(api_key);
        let weekdays = {
            let mut h = salon.hours;
            h[5] = None;
            h
        };
        let member = |user_id: u64, name: &str, hours: WeekHours| TeamMember {
            user_id,
            name: name.to_owned(),
            hours,
        };
        let mut types = HashMap::from([
            (
                1001,
                TeamEventType {
                    length: 30,
                    hosts: vec![11, 12, 13],
                },
            ),
            (
                1002,
                TeamEventType {
                    length: 90,
                    hosts: vec![11, 13],
                },
            ),
            (
                1003,
                TeamEventType {
                    length: 15,
                    hosts: vec![11, 12, 13],
                },
            ),
        ]);
        for (base, user, services) in [
            (2000, 11, &[1, 2, 3][..]),
            (2100, 12, &[1, 3][..]),
            (2200, 13, &[1, 2, 3][..]),
        ] {
            for n in services {
                let length = [30, 90, 15][*n as usize - 1];
                types.insert(
                    base + n,
                    TeamEventType {
                        length,
                        hosts: vec![user],
                    },
                );
            }
        }
        Self {
            event_types: HashMap::new(),
            team: vec![
                member(11, "Anna Berg", salon.hours),
                member(12, "Ben Weber", weekdays),
                member(13, "Clara Jansen", salon.hours),
            ],
            team_event_types: types,
            ..salon
        }
    }
}

/// What the stub does instead of answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Waits this long before answering (a timeout on the client's side).
    Hang(Duration),
    /// Does the work, then waits this long before answering (the client gives up after the
    /// booking was made).
    AnswerLate(Duration),
    /// Answers 500.
    ServerError,
    /// Answers 400 with this message, as Cal.com refuses a request that is at fault (an invalid
    /// phone number, a missing booking field, a time out of bounds).
    Refuse(&'static str),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub api_version: Option<String>,
    pub body: Option<Value>,
}

#[derive(Debug, Clone)]
struct Booking {
    id: u64,
    uid: String,
    event_type_id: u64,
    host: Host,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    status: String,
    attendee: Value,
    metadata: Value,
    fields: Value,
    cancellation_reason: Option<String>,
    rescheduled_from: Option<String>,
    rescheduled_to: Option<String>,
}

impl Booking {
    fn json(&self) -> Value {
        let mut b = json!({
            "id": self.id,
            "uid": self.uid,
            "title": format!("Appointment with {}", self.attendee["name"].as_str().unwrap_or("caller")),
            "status": self.status,
            "start": iso(self.start),
            "end": iso(self.end),
            "duration": (self.end - self.start).num_minutes(),
            "eventTypeId": self.event_type_id,
            "eventType": {"id": self.event_type_id},
            "hosts": [{"id": self.host.id, "name": self.host.name, "email": self.host.email(),
                       "username": self.host.username(), "timeZone": self.host.time_zone}],
            "attendees": [self.attendee],
            "guests": [],
            "metadata": self.metadata,
            "bookingFieldsResponses": self.fields,
            "createdAt": iso(Utc::now()),
        });
        if let Some(r) = &self.cancellation_reason {
            b["cancellationReason"] = json!(r);
        }
        if let Some(u) = &self.rescheduled_from {
            b["rescheduledFromUid"] = json!(u);
        }
        if let Some(u) = &self.rescheduled_to {
            b["rescheduledToUid"] = json!(u);
        }
        b
    }

    fn blocks(&self) -> bool {
        self.status == "accepted" || self.status == "pending"
    }
}

/// A host as bookings name it.
#[derive(Debug, Clone)]
struct Host {
    id: u64,
    name: String,
    hours: WeekHours,
    time_zone: String,
}

impl Host {
    fn username(&self) -> String {
        self.name.to_lowercase().replace(' ', "-")
    }

    fn email(&self) -> String {
        format!("{}@salon.example", self.username())
    }
}

struct Inner {
    config: StubConfig,
    hosts: Vec<Host>,
    /// Event type id → length and host ids.
    types: HashMap<u64, (u32, Vec<u64>)>,
    bookings: Vec<Booking>,
    fault: Fault,
    received: Vec<Received>,
    next_id: u64,
    webhooks: Vec<webhooks::Webhook>,
    delivered: Vec<Delivered>,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running stub.
pub struct CalComStub {
    shared: Shared,
    addr: SocketAddr,
}

impl CalComStub {
    /// Serves on `addr` (port 0: any free port) until the runtime ends.
    pub async fn start(config: StubConfig, addr: SocketAddr) -> std::io::Result<Self> {
        let time_zone = config.time_zone.name().to_owned();
        let mut hosts = vec![Host {
            id: OWNER_ID,
            name: "Salon Demo".into(),
            hours: config.hours,
            time_zone: time_zone.clone(),
        }];
        hosts.extend(config.team.iter().map(|m| Host {
            id: m.user_id,
            name: m.name.clone(),
            hours: m.hours,
            time_zone: time_zone.clone(),
        }));
        let mut types: HashMap<u64, (u32, Vec<u64>)> = config
            .event_types
            .iter()
            .map(|(id, length)| (*id, (*length, vec![OWNER_ID])))
            .collect();
        types.extend(
            config
                .team_event_types
                .iter()
                .map(|(id, t)| (*id, (t.length, t.hosts.clone()))),
        );
        let shared = Shared(Arc::new(Mutex::new(Inner {
            config,
            hosts,
            types,
            bookings: Vec::new(),
            fault: Fault::None,
            received: Vec::new(),
            next_id: 1,
            webhooks: Vec::new(),
            delivered: Vec::new(),
        })));
        let app = Router::new()
            .route("/v2/slots", get(slots))
            .route("/v2/bookings", post(create).get(list))
            .route("/v2/bookings/{uid}", get(one))
            .route("/v2/bookings/{uid}/cancel", post(cancel))
            .route("/v2/bookings/{uid}/reschedule", post(reschedule))
            .route("/v2/webhooks", post(webhooks::create).get(webhooks::list))
            .route("/v2/webhooks/{id}", axum::routing::delete(webhooks::delete))
            .layer(middleware::from_fn_with_state(shared.clone(), faults))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { shared, addr })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_fault(&self, fault: Fault) {
        self.shared.lock().fault = fault;
    }

    /// The webhook deliveries made so far.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.shared.lock().delivered.clone()
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// Every booking as the API would show it.
    pub fn bookings(&self) -> Vec<Value> {
        self.shared
            .lock()
            .bookings
            .iter()
            .map(Booking::json)
            .collect()
    }

    /// A booking made elsewhere (the Cal.com booking page, staff): blocks its time for the
    /// event type's first host.
    pub fn add_booking(&self, event_type_id: u64, start: DateTime<Utc>, minutes: i64) -> String {
        let mut inner = self.shared.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        let uid = format!("ext{id:06}");
        let host_id = inner
            .types
            .get(&event_type_id)
            .and_then(|(_, hosts)| hosts.first().copied())
            .unwrap_or(OWNER_ID);
        let host = inner.host(host_id);
        inner.bookings.push(Booking {
            id,
            uid: uid.clone(),
            event_type_id,
            host,
            start,
            end: start + Span::minutes(minutes),
            status: "accepted".into(),
            attendee: json!({"name": "Walk-in", "email": "walkin@example.com", "timeZone": "Europe/Berlin"}),
            metadata: json!({}),
            fields: json!({}),
            cancellation_reason: None,
            rescheduled_from: None,
            rescheduled_to: None,
        });
        uid
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"status": "error", "timestamp": iso(Utc::now()), "error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "BadRequestException", message)
}

fn booking_not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NotFoundException",
        "Booking not found",
    )
}

const NOT_AVAILABLE: &str = "User either already has booking at this time or is not available";

/// What Cal.com says when no host of a round-robin type is free.
const NO_HOST_AVAILABLE: &str =
    "One of the hosts either already has booking at this time or is not available";

fn not_available(hosts: &[u64]) -> &'static str {
    if hosts.len() > 1 {
        NO_HOST_AVAILABLE
    } else {
        NOT_AVAILABLE
    }
}

/// Records every request and plays the fault around the handler.
async fn faults(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return bad_request("body too large");
    };
    let fault = {
        let mut inner = shared.lock();
        inner.received.push(Received {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            api_version: parts
                .headers
                .get("cal-api-version")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: serde_json::from_slice(&bytes).ok(),
        });
        inner.fault
    };
    match fault {
        Fault::None | Fault::AnswerLate(_) => {}
        Fault::Hang(d) => tokio::time::sleep(d).await,
        Fault::ServerError => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerErrorException",
                "Internal server error",
            )
        }
        Fault::Refuse(message) => return bad_request(message),
    }
    let response = next
        .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await;
    if let Fault::AnswerLate(d) = fault {
        tokio::time::sleep(d).await;
    }
    response
}

/// The answer to a request with a wrong API key or API version, if it has one.
fn refusal(shared: &Shared, headers: &HeaderMap, version: &str) -> Option<Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let key = shared.lock().config.api_key.clone();
    if header("authorization") != Some(format!("Bearer {key}").as_str()) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedException",
            "Invalid API key",
        ));
    }
    if header("cal-api-version") != Some(version) {
        return Some(bad_request(&format!(
            "this stub serves this endpoint only with cal-api-version {version}"
        )));
    }
    None
}

impl Inner {
    fn host(&self, id: u64) -> Host {
        self.hosts
            .iter()
            .find(|h| h.id == id)
            .cloned()
            .unwrap_or_else(|| self.hosts[0].clone())
    }

    /// Whether `[start, end)` is inside `host`'s hours and clear of their bookings (but
    /// `except`).
    fn free(
        &self,
        host: &Host,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        except: Option<&str>,
    ) -> bool {
        let tz = self.config.time_zone;
        let day = start.with_timezone(&tz).date_naive();
        let Some((open, close)) =
            host.hours[chrono::Datelike::weekday(&day).num_days_from_monday() as usize]
        else {
            return false;
        };
        let (Some(open), Some(close)) = (
            tz.from_local_datetime(&day.and_time(open)).single(),
            tz.from_local_datetime(&day.and_time(close)).single(),
        ) else {
            return false;
        };
        start >= open
            && end <= close
            && start > Utc::now()
            && !self
                .bookings
                .iter()
                .filter(|b| b.blocks() && b.host.id == host.id && Some(b.uid.as_str()) != except)
                .any(|b| b.start < end && start < b.end)
    }

    /// The hosts of `hosts` free for `[start, end)`, fewest bookings first (ties in order).
    fn free_hosts(
        &self,
        hosts: &[u64],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        except: Option<&str>,
    ) -> Vec<Host> {
        let mut free: Vec<Host> = hosts
            .iter()
            .map(|id| self.host(*id))
            .filter(|h| self.free(h, start, end, except))
            .collect();
        free.sort_by_key(|h| {
            self.bookings
                .iter()
                .filter(|b| b.blocks() && b.host.id == h.id)
                .count()
        });
        free
    }

    /// Slot starts of an event type (its length and hosts) on a host-local day: every
    /// `length` minutes from the earliest opening, where one of its hosts is free.
    fn day_slots(
        &self,
        length: u32,
        hosts: &[u64],
        day: NaiveDate,
        except: Option<&str>,
    ) -> Vec<DateTime<Utc>> {
        let tz = self.config.time_zone;
        let weekday = chrono::Datelike::weekday(&day).num_days_from_monday() as usize;
        let Some(open) = hosts
            .iter()
            .filter_map(|id| self.host(*id).hours[weekday].map(|(open, _)| open))
            .min()
        else {
            return Vec::new();
        };
        let Some(first) = tz.from_local_datetime(&day.and_time(open)).single() else {
            return Vec::new();
        };
        let step = Span::minutes(i64::from(length));
        let mut out = Vec::new();
        let mut start = first.with_timezone(&Utc);
        while start.with_timezone(&tz).date_naive() == day {
            if !self
                .free_hosts(hosts, start, start + step, except)
                .is_empty()
            {
                out.push(start);
            }
            start += step;
        }
        out
    }
}

/// A slots bound as Cal.com reads it: an ISO 8601 instant as it is, a bare date as that day
/// in UTC (its start for `start`, its last millisecond for `end`), whatever `timeZone` says.
fn instant_param(q: &HashMap<String, String>, name: &str) -> Option<DateTime<Utc>> {
    let raw = q.get(name)?;
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    let day: NaiveDate = raw.parse().ok()?;
    let start = Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN));
    Some(if name == "end" {
        start + Span::days(1) - Span::milliseconds(1)
    } else {
        start
    })
}

async fn slots(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = refusal(&shared, &headers, SLOTS_VERSION) {
        return r;
    }
    let inner = shared.lock();
    let Some((length, hosts)) = q
        .get("eventTypeId")
        .and_then(|id| id.parse::<u64>().ok())
        .and_then(|id| inner.types.get(&id).cloned())
    else {
        return error(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            "Event type not found",
        );
    };
    let (Some(start), Some(end)) = (instant_param(&q, "start"), instant_param(&q, "end")) else {
        return bad_request("start and end are required (ISO 8601 date or date-time)");
    };
    if end < start || (end - start).num_days() > 62 {
        return bad_request("end must be after start, within two months");
    }
    let tz: Tz = match q.get("timeZone").map(|t| t.parse()) {
        None => chrono_tz::UTC,
        Some(Ok(tz)) => tz,
        Some(Err(_)) => return bad_request("timeZone is not an IANA time zone"),
    };
    let mut data = serde_json::Map::new();
    let host = inner.config.time_zone;
    let (first, last) = (
        start.with_timezone(&host).date_naive(),
        end.with_timezone(&host).date_naive(),
    );
    for day in first.iter_days().take_while(|d| *d <= last) {
        for s in inner
            .day_slots(length, &hosts, day, None)
            .into_iter()
            .filter(|s| (start..=end).contains(s))
        {
            let local = s.with_timezone(&tz);
            let key = local.date_naive().to_string();
            let entry = data.entry(key).or_insert_with(|| json!([]));
            if let Some(list) = entry.as_array_mut() {
                list.push(json!({"start": local.to_rfc3339_opts(SecondsFormat::Millis, false)}));
            }
        }
    }
    Json(json!({"status": "success", "data": data})).into_response()
}

fn parse_start(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

async fn create(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = refusal(&shared, &headers, BOOKINGS_VERSION) {
        return r;
    }
    let mut inner = shared.lock();
    let Some(start) = parse_start(&body["start"]) else {
        return bad_request("start must be an ISO 8601 date-time in UTC");
    };
    let Some(event_type_id) = body["eventTypeId"].as_u64() else {
        return bad_request("eventTypeId is required");
    };
    let Some((length, hosts)) = inner.types.get(&event_type_id).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            "Event type not found",
        );
    };
    let attendee = &body["attendee"];
    for field in ["name", "email", "timeZone"] {
        if attendee[field].as_str().is_none_or(str::is_empty) {
            return bad_request(&format!("attendee.{field} is required"));
        }
    }
    if attendee["timeZone"]
        .as_str()
        .and_then(|t| t.parse::<Tz>().ok())
        .is_none()
    {
        return bad_request("attendee.timeZone is not an IANA time zone");
    }
    // What Cal.com answers for a start in the past (not "taken": no other time will do).
    if start <= Utc::now() {
        return bad_request("Attempting to book a meeting in the past.");
    }
    let end = start + Span::minutes(i64::from(length));
    let day = start.with_timezone(&inner.config.time_zone).date_naive();
    let free = inner.free_hosts(&hosts, start, end, None);
    let (Some(host), true) = (
        free.into_iter().next(),
        inner.day_slots(length, &hosts, day, None).contains(&start),
    ) else {
        return bad_request(not_available(&hosts));
    };
    let id = inner.next_id;
    inner.next_id += 1;
    let booking = Booking {
        id,
        uid: format!("bk{id:06}x{}", start.timestamp() % 100_000),
        event_type_id,
        host,
        start,
        end,
        status: "accepted".into(),
        attendee: attendee.clone(),
        metadata: body.get("metadata").cloned().unwrap_or(json!({})),
        fields: body
            .get("bookingFieldsResponses")
            .cloned()
            .unwrap_or(json!({})),
        cancellation_reason: None,
        rescheduled_from: None,
        rescheduled_to: None,
    };
    let out = booking.json();
    inner.bookings.push(booking.clone());
    drop(inner);
    webhooks::deliver(&shared, "BOOKING_CREATED", &booking, json!({}));
    (
        StatusCode::CREATED,
        Json(json!({"status": "success", "data": out})),
    )
        .into_response()
}

async fn list(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = refusal(&shared, &headers, BOOKINGS_VERSION) {
        return r;
    }
    let inner = shared.lock();
    let event_type = q.get("eventTypeId").and_then(|v| v.parse::<u64>().ok());
    let after = q.get("afterStart").and_then(|v| parse_start(&json!(v)));
    let before = q.get("beforeEnd").and_then(|v| parse_start(&json!(v)));
    let data: Vec<Value> = inner
        .bookings
        .iter()
        .filter(|b| event_type.is_none_or(|e| b.event_type_id == e))
        .filter(|b| after.is_none_or(|a| b.start >= a))
        .filter(|b| before.is_none_or(|e| b.end <= e))
        .map(Booking::json)
        .collect();
    let total = data.len();
    Json(json!({"status": "success", "data": data,
                "pagination": {"totalItems": total, "remainingItems": 0, "hasNextPage": false}}))
    .into_response()
}

async fn one(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> Response {
    if let Some(r) = refusal(&shared, &headers, BOOKINGS_VERSION) {
        return r;
    }
    let inner = shared.lock();
    match inner.bookings.iter().find(|b| b.uid == uid) {
        Some(b) => Json(json!({"status": "success", "data": b.json()})).into_response(),
        None => booking_not_found(),
    }
}

async fn cancel(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = refusal(&shared, &headers, BOOKINGS_VERSION) {
        return r;
    }
    let mut inner = shared.lock();
    let Some(b) = inner.bookings.iter_mut().find(|b| b.uid == uid) else {
        return booking_not_found();
    };
    if b.status == "cancelled" {
        return bad_request("This booking has already been cancelled");
    }
    b.status = "cancelled".into();
    b.cancellation_reason = body["cancellationReason"].as_str().map(str::to_owned);
    let cancelled = b.clone();
    drop(inner);
    webhooks::deliver(&shared, "BOOKING_CANCELLED", &cancelled, json!({}));
    Json(json!({"status": "success", "data": cancelled.json()})).into_response()
}

async fn reschedule(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = refusal(&shared, &headers, BOOKINGS_VERSION) {
        return r;
    }
    let mut inner = shared.lock();
    let Some(start) = parse_start(&body["start"]) else {
        return bad_request("start must be an ISO 8601 date-time in UTC");
    };
    let Some(old) = inner.bookings.iter().find(|b| b.uid == uid).cloned() else {
        return booking_not_found();
    };
    if old.status != "accepted" && old.status != "pending" {
        let to = old.rescheduled_to.as_deref().unwrap_or("none");
        return bad_request(&format!(
            "Booking is {}; it was rescheduled to {to}",
            old.status
        ));
    }
    let length = old.end - old.start;
    let tz = inner.config.time_zone;
    let minutes = length.num_minutes() as u32;
    let day = start.with_timezone(&tz).date_naive();
    let hosts = inner
        .types
        .get(&old.event_type_id)
        .map(|(_, hosts)| hosts.clone())
        .unwrap_or_else(|| vec![old.host.id]);
    // The same host if free, else (round robin) another of the type's hosts.
    let free = inner.free_hosts(&hosts, start, start + length, Some(&uid));
    let host = free
        .iter()
        .find(|h| h.id == old.host.id)
        .or(free.first())
        .cloned();
    let (Some(host), true) = (
        host,
        inner
            .day_slots(minutes, &hosts, day, Some(&uid))
            .contains(&start),
    ) else {
        return bad_request(not_available(&hosts));
    };
    let id = inner.next_id;
    inner.next_id += 1;
    let new_uid = format!("bk{id:06}x{}", start.timestamp() % 100_000);
    let new = Booking {
        id,
        uid: new_uid.clone(),
        start,
        end: start + length,
        rescheduled_from: Some(uid.clone()),
        rescheduled_to: None,
        host,
        ..old
    };
    if let Some(b) = inner.bookings.iter_mut().find(|b| b.uid == uid) {
        b.status = "cancelled".into();
        b.rescheduled_to = Some(new_uid);
    }
    let out = new.json();
    inner.bookings.push(new.clone());
    drop(inner);
    webhooks::deliver(
        &shared,
        "BOOKING_RESCHEDULED",
        &new,
        json!({"rescheduleUid": uid, "rescheduleId": old.id,
               "rescheduleStartTime": iso(old.start), "rescheduleEndTime": iso(old.end)}),
    );
    (
        StatusCode::CREATED,
        Json(json!({"status": "success", "data": out})),
    )
        .into_response()
}
