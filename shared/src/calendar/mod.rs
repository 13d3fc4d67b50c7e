//! Appointment calendars behind one trait, chosen per company (`calendar` in the company
//! settings): the native calendar in DynamoDB, or Cal.com's API v2.
//!
//! Whatever the backend, the appointment items in `AppointmentsTable` are the record of who
//! booked what by phone: they give a Retell retry its earlier booking back (idempotency), and
//! cancel/reschedule find only the caller's own appointments (ownership). For Cal.com they
//! mirror the bookings this service made there (docs/data-model.md).

mod breaker;
mod calcom;
pub mod calcom_inbox;
pub mod calcom_webhook;
mod native;
mod placement;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sha2::{Digest, Sha256};

pub use breaker::CircuitBreaker;
pub use calcom::{
    CalComBooking, CalComCalendar, CalComClient, CalComError, CALCOM_BOOKINGS_VERSION,
    CALCOM_SLOTS_VERSION,
};
pub use ledger::AppointmentLedger;
pub use native::NativeCalendar;

pub mod ledger;
pub mod unresolved;

pub use crate::booking::availability::FreeTime;
use crate::booking::company::{CalendarBackend, Company, Service};
use crate::booking::phone::PhoneNumber;
use crate::booking::staff::StaffMember;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    pub appointment_id: String,
    pub company_id: String,
    pub date: NaiveDate,
    pub time: NaiveTime,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub service_id: String,
    pub customer_phone: String,
    pub customer_name: Option<String>,
    /// The address the booking gave (the confirmation e-mail goes there).
    pub customer_email: Option<String>,
    pub status: AppointmentStatus,
    /// The booking's id in the external calendar (Cal.com's booking uid).
    pub external_uid: Option<String>,
    /// Who it is with; `None` for a company without staff and for bookings made before the
    /// company listed its staff.
    pub staff_id: Option<String>,
    /// The call that booked it (phone bookings).
    pub call_id: Option<String>,
    /// The control-center user who booked it (desk bookings).
    pub booked_by: Option<String>,
    /// `calcom` for a Cal.com company's appointment (none: the native calendar).
    pub backend: Option<String>,
    /// Whether the customer came, as the desk marked it.
    pub attendance: Option<Attendance>,
    /// What the desk changed, oldest first (`changes`).
    pub changes: Vec<Change>,
    locks: BTreeSet<String>,
}

/// One entry of an appointment's change log: when, who (`desk:<user>`, `api:<user>`), what
/// (`booked`, `moved`, `cancelled`, `arrived`, `no_show`) and to what (`2026-12-29 11:00 clara`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub at_ms: i64,
    pub by: String,
    pub what: String,
    pub detail: String,
}

/// Where an appointment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppointmentSource {
    /// By the phone agent, on a call.
    Phone,
    /// On the control center's desk.
    Desk,
    /// In Cal.com itself (its booking page).
    CalCom,
}

impl Appointment {
    pub fn source(&self) -> AppointmentSource {
        if self.call_id.is_some() {
            AppointmentSource::Phone
        } else if self.booked_by.is_some() {
            AppointmentSource::Desk
        } else if self.backend.as_deref() == Some("calcom") {
            AppointmentSource::CalCom
        } else {
            // A phone booking whose call id was not given (an args-only tool call).
            AppointmentSource::Phone
        }
    }
}

/// Whether the customer came (`attendance` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attendance {
    Arrived,
    NoShow,
}

impl Attendance {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Arrived => "arrived",
            Self::NoShow => "no_show",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "arrived" => Some(Self::Arrived),
            "no_show" => Some(Self::NoShow),
            _ => None,
        }
    }
}

/// Where an appointment item stands (its `status` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppointmentStatus {
    /// Written before an external calendar (Cal.com) was asked; not yet a booking.
    Pending,
    Booked,
    Cancelled,
}

impl AppointmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Booked => "booked",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "booked" => Some(Self::Booked),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// What the caller wants booked.
#[derive(Debug, Clone)]
pub struct BookingRequest<'a> {
    pub date: NaiveDate,
    pub time: NaiveTime,
    pub service: &'a Service,
    pub customer_phone: &'a PhoneNumber,
    pub customer_name: Option<&'a str>,
    pub customer_email: Option<&'a str>,
    pub notes: Option<&'a str>,
    pub call_id: Option<&'a str>,
    /// The person the caller asked for; `None`: whoever is free (the fair choice).
    pub staff: Option<&'a StaffMember>,
    /// Whether the caller rings from `customer_phone`: only then does the booking replace the
    /// name and e-mail stored for that customer (otherwise it fills in only what is missing).
    pub contact_proven: bool,
    /// The control-center user booking at the desk (`None`: the phone agent). The desk books
    /// walk-ins: the company's minimum notice does not apply to it, the hours do.
    pub booked_by: Option<&'a str>,
}

impl BookingRequest<'_> {
    /// The "now" the hours are checked from: for the desk, without the minimum notice.
    pub fn notice_from(&self, company: &Company) -> DateTime<Utc> {
        let now = Utc::now();
        if self.booked_by.is_some() {
            now - chrono::Duration::minutes(i64::from(company.settings.min_notice_minutes))
        } else {
            now
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookingOutcome {
    Booked(Appointment),
    /// The same booking was made before (a retry): the existing appointment.
    AlreadyBooked(Appointment),
    SlotTaken,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("that time does not exist on that day (clock change)")]
    NonexistentTime,
    #[error("calendar unavailable: {0}")]
    Backend(String),
    /// The calendar answered and refused the request for a reason of its own (not a taken
    /// time); nothing was written.
    #[error("calendar refused the request: {0}")]
    Refused(String),
    #[error("stored appointment is invalid: {0}")]
    Corrupt(String),
}

/// Free start times per day, each with who could take it: the asked day first (even if empty),
/// then later days with room.
pub type DaySlots = (NaiveDate, Vec<FreeTime>);

/// `days` days from `first` (at least the first), each with its free times from `free`, in the
/// `DaySlots` order: the first day always, later days only where there is room.
fn day_slots(
    first: NaiveDate,
    days: u32,
    mut free: impl FnMut(NaiveDate) -> Vec<FreeTime>,
) -> Vec<DaySlots> {
    first
        .iter_days()
        .take(days.max(1) as usize)
        .map(|day| (day, free(day)))
        .filter(|(day, slots)| *day == first || !slots.is_empty())
        .collect()
}

/// Whether `id` is one [`appointment_id`] hands out: `apt_` and 16 lowercase hex digits. Anything
/// else (from a tool argument or a transcript) names no appointment, without asking the calendar.
pub fn is_appointment_id(id: &str) -> bool {
    id.strip_prefix("apt_").is_some_and(|hex| {
        hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Deterministic id: the same caller booking the same service at the same time gets the same id.
pub fn appointment_id(
    company_id: &str,
    phone: &str,
    start: DateTime<Utc>,
    service_id: &str,
) -> String {
    let digest = Sha256::digest(format!(
        "{company_id}|{phone}|{}|{service_id}",
        start.timestamp_millis()
    ));
    format!("apt_{}", &hex::encode(digest)[..16])
}

/// What the tools need from a calendar. Every method is scoped to one company.
pub trait Calendar: Sync {
    /// Free start times for `service` on `date` and the following days (`days` in all).
    fn free_slots(
        &self,
        company: &Company,
        service: &Service,
        date: NaiveDate,
        days: u32,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<DaySlots>, CalendarError>> + Send;

    /// Books atomically: of two bookings of overlapping times exactly one wins; the same
    /// booking again (a retry) returns the first one.
    fn book(
        &self,
        company: &Company,
        req: &BookingRequest<'_>,
    ) -> impl Future<Output = Result<BookingOutcome, CalendarError>> + Send;

    /// The appointment and customer items this calendar keeps (every backend keeps them in
    /// the same ledger, so the reads below are the same for all).
    fn ledger(&self) -> &AppointmentLedger;

    fn appointment(
        &self,
        company: &Company,
        id: &str,
    ) -> impl Future<Output = Result<Option<Appointment>, CalendarError>> + Send {
        self.ledger().appointment(company, id)
    }

    /// A customer's appointments (any status), oldest first.
    fn customer_appointments(
        &self,
        company: &Company,
        phone: &PhoneNumber,
    ) -> impl Future<Output = Result<Vec<Appointment>, CalendarError>> + Send {
        self.ledger().customer_appointments(company, phone)
    }

    fn customer_name(
        &self,
        company: &Company,
        phone: &PhoneNumber,
    ) -> impl Future<Output = Result<Option<String>, CalendarError>> + Send {
        let ledger = self.ledger();
        async move { Ok(ledger.customer(company, phone).await?.name) }
    }

    /// Cancels a booked appointment and frees its time; `false` if it was not booked any more.
    /// `by` (`phone:<call_id>`, `desk:<user>`, …) goes into its change log in the same write.
    fn cancel(
        &self,
        company: &Company,
        appointment: &Appointment,
        by: &str,
    ) -> impl Future<Output = Result<bool, CalendarError>> + Send;

    /// Moves a booked appointment, with the same person or with `staff`: the new time is taken
    /// and the old freed together, or nothing changes (`Ok(None)`: the new time is taken).
    // Every part is a different thing the move needs; the backends, the journal and the
    // dispatch all take them alike.
    #[allow(clippy::too_many_arguments)]
    fn reschedule(
        &self,
        company: &Company,
        appointment: &Appointment,
        service: &Service,
        date: NaiveDate,
        time: NaiveTime,
        staff: Option<&StaffMember>,
        by: &str,
    ) -> impl Future<Output = Result<Option<Appointment>, CalendarError>> + Send;
}

/// Told of every booking, move and cancel a calendar made, after the write, with the
/// appointment as it is now (the messaging outbox sends its confirmation). Telling never fails
/// the write.
pub trait AppointmentWatcher: Send + Sync {
    fn changed<'a>(
        &'a self,
        appointment: &'a Appointment,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// The calendar of one company, as its settings choose, and who is told of its changes.
#[derive(Clone)]
pub struct CompanyCalendar {
    backend: Backend,
    watcher: Option<Arc<dyn AppointmentWatcher>>,
}

#[derive(Clone)]
enum Backend {
    Native(NativeCalendar),
    CalCom(CalComCalendar),
}

impl CompanyCalendar {
    /// The native calendar, telling nobody.
    pub fn native(calendar: NativeCalendar) -> Self {
        Self {
            backend: Backend::Native(calendar),
            watcher: None,
        }
    }

    async fn tell(&self, appointment: &Appointment) {
        if let Some(watcher) = &self.watcher {
            watcher.changed(appointment).await;
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $cal:ident => $call:expr) => {
        match &$self.backend {
            Backend::Native($cal) => $call.await,
            Backend::CalCom($cal) => $call.await,
        }
    };
}

impl Calendar for CompanyCalendar {
    async fn free_slots(
        &self,
        company: &Company,
        service: &Service,
        date: NaiveDate,
        days: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<DaySlots>, CalendarError> {
        dispatch!(self, c => c.free_slots(company, service, date, days, now))
    }

    async fn book(
        &self,
        company: &Company,
        req: &BookingRequest<'_>,
    ) -> Result<BookingOutcome, CalendarError> {
        let outcome = dispatch!(self, c => c.book(company, req))?;
        // A retry is told again: the message's own key keeps it to one.
        if let BookingOutcome::Booked(a) | BookingOutcome::AlreadyBooked(a) = &outcome {
            self.tell(a).await;
        }
        Ok(outcome)
    }

    fn ledger(&self) -> &AppointmentLedger {
        match &self.backend {
            Backend::Native(c) => c.ledger(),
            Backend::CalCom(c) => c.ledger(),
        }
    }

    async fn cancel(
        &self,
        company: &Company,
        appointment: &Appointment,
        by: &str,
    ) -> Result<bool, CalendarError> {
        let cancelled = dispatch!(self, c => c.cancel(company, appointment, by))?;
        if cancelled {
            let mut now = appointment.clone();
            now.status = AppointmentStatus::Cancelled;
            now.changes.push(Change {
                at_ms: Utc::now().timestamp_millis(),
                by: by.to_owned(),
                what: "cancelled".to_owned(),
                detail: String::new(),
            });
            self.tell(&now).await;
        }
        Ok(cancelled)
    }

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
        let moved = dispatch!(self, c => c.reschedule(company, appointment, service, date, time, staff, by))?;
        if let Some(moved) = &moved {
            self.tell(moved).await;
        }
        Ok(moved)
    }
}

/// Builds each company's calendar. Cal.com clients (with their API key and circuit breaker)
/// live as long as the container, one per company, so an outage seen by one call opens the
/// breaker for the next.
pub struct Calendars {
    native: NativeCalendar,
    secrets: aws_sdk_secretsmanager::Client,
    calcom: Mutex<HashMap<String, Arc<CalComClient>>>,
    /// Cal.com base URLs on 127.0.0.1 are allowed (the local stack's stand-in only).
    loopback_allowed: bool,
    watcher: Option<Arc<dyn AppointmentWatcher>>,
}

impl Calendars {
    pub fn new(native: NativeCalendar, secrets: aws_sdk_secretsmanager::Client) -> Self {
        Self {
            native,
            secrets,
            calcom: Mutex::new(HashMap::new()),
            loopback_allowed: false,
            watcher: None,
        }
    }

    /// Tells `watcher` of every change the companies' calendars make.
    pub fn watched_by(mut self, watcher: Option<Arc<dyn AppointmentWatcher>>) -> Self {
        self.watcher = watcher;
        self
    }

    /// Lets companies' calendars be stand-ins on 127.0.0.1 (`ToolConfig::loopback_calendars`).
    pub fn allowing_loopback(mut self, allowed: bool) -> Self {
        self.loopback_allowed = allowed;
        self
    }

    pub fn for_company(&self, company: &Company) -> CompanyCalendar {
        let backend = match &company.settings.calendar {
            CalendarBackend::Native => Backend::Native(self.native.clone()),
            CalendarBackend::CalCom(settings) => {
                // Keyed by the settings the client is built from: a changed URL, secret or
                // timeout gets a fresh client.
                let key = format!(
                    "{}|{}|{}|{}",
                    company.id(),
                    settings.base_url,
                    settings.api_key_secret,
                    settings.timeout_ms
                );
                let client = {
                    let mut clients = self.calcom.lock().unwrap_or_else(|e| e.into_inner());
                    clients
                        .entry(key)
                        .or_insert_with(|| {
                            Arc::new(CalComClient::new(
                                settings,
                                self.secrets.clone(),
                                self.loopback_allowed,
                            ))
                        })
                        .clone()
                };
                Backend::CalCom(CalComCalendar::new(
                    client,
                    settings.clone(),
                    self.native.ledger().clone(),
                ))
            }
        };
        CompanyCalendar {
            backend,
            watcher: self.watcher.clone(),
        }
    }
}
