//! The appointment desk: a company's appointments by day, and the desk's writes — a walk-in, a
//! move, a cancel, arrived or no-show — through the same calendars and lock items as the phone
//! agent's tools (`shared::calendar`), so a desk booking and a phone booking can never take one
//! person's time twice: whichever transaction comes second is refused, and the desk hears who is
//! free instead.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use shared::booking::company::{Company, Service};
use shared::booking::phone::PhoneNumber;
use shared::booking::slots::local_day_start;
use shared::booking::staff::StaffMember;
use shared::calendar::ledger::AppointmentLedger;
use shared::calendar::{
    Appointment, AppointmentStatus, Attendance, BookingOutcome, BookingRequest, Calendar,
    CalendarError, Calendars,
};

/// At most this many appointments in one view (a week of a large salon fits many times).
pub const MAX_APPOINTMENTS: usize = 2000;
/// How long before its start an appointment may be marked arrived or no-show.
const ATTENDANCE_LEAD_MINUTES: i64 = 60;
/// Names on the desk are bounded like the booking tool's.
const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("not found")]
    NotFound,
    /// A form field that cannot be read, named.
    #[error("{0}")]
    Invalid(String),
    /// The person (or anyone qualified) is not free then; who is, by display name.
    #[error("taken")]
    Taken { free: Vec<String> },
    /// It is not booked (any more): cancelled or moved meanwhile.
    #[error("not booked")]
    NotBooked,
    #[error("calendar: {0}")]
    Backend(String),
}

impl From<CalendarError> for DeskError {
    fn from(e: CalendarError) -> Self {
        match e {
            CalendarError::NonexistentTime => {
                DeskError::Invalid("time: does not exist that day (clock change)".into())
            }
            CalendarError::Refused(reason) => DeskError::Invalid(reason),
            other => DeskError::Backend(other.to_string()),
        }
    }
}

/// A desk booking as the form (or the admin API) gives it, read and checked.
#[derive(Debug, Clone)]
pub struct NewAppointment {
    pub service_id: String,
    pub date: NaiveDate,
    pub time: NaiveTime,
    pub customer_name: Option<String>,
    pub customer_phone: PhoneNumber,
    /// A staff id; `None`: whoever is free (the fair choice).
    pub staff: Option<String>,
}

impl NewAppointment {
    /// Reads the fields as text (a form or JSON strings); the first that cannot be read is named.
    pub fn read(
        service_id: &str,
        date: &str,
        time: &str,
        customer_name: &str,
        customer_phone: &str,
        staff: &str,
    ) -> Result<Self, DeskError> {
        let name = customer_name.trim();
        if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(DeskError::Invalid(format!(
                "customer_name: at most {MAX_NAME_CHARS} characters, no control characters"
            )));
        }
        Ok(Self {
            service_id: service_id.trim().to_owned(),
            date: read_date(date)?,
            time: read_time(time)?,
            customer_name: Some(name.to_owned()).filter(|n| !n.is_empty()),
            customer_phone: PhoneNumber::parse(customer_phone.trim())
                .map_err(|e| DeskError::Invalid(format!("customer_phone: {e}")))?,
            staff: Some(staff.trim().to_owned()).filter(|s| !s.is_empty()),
        })
    }
}

pub fn read_date(text: &str) -> Result<NaiveDate, DeskError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| (2000..=2100).contains(&chrono::Datelike::year(d)))
        .ok_or_else(|| DeskError::Invalid("date: not a date (YYYY-MM-DD)".into()))
}

pub fn read_time(text: &str) -> Result<NaiveTime, DeskError> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .map_err(|_| DeskError::Invalid("time: not a time (HH:MM)".into()))
}

/// The desk over the stack's calendars.
pub struct Desk {
    pub calendars: Calendars,
    pub ledger: AppointmentLedger,
    /// The messaging queue (a no-show's offer; the calendars tell it of their own changes).
    pub outbox: Option<shared::messaging::outbox::Outbox>,
}

impl Desk {
    /// The appointments (booked and cancelled, not the pending attempts of an external
    /// booking) starting on `days` local days from `first`: one Query of the company's index.
    /// More than [`MAX_APPOINTMENTS`] is refused (a narrower range), never cut short silently.
    pub async fn appointments(
        &self,
        company: &Company,
        first: NaiveDate,
        days: u32,
    ) -> Result<Vec<Appointment>, DeskError> {
        let tz = &company.time_zone;
        let from = local_day_start(tz, first).ok_or(DeskError::NotFound)?;
        let to = local_day_start(tz, first + Duration::days(i64::from(days.max(1))))
            .ok_or(DeskError::NotFound)?;
        let mut list = self
            .ledger
            .appointments_between(company.id(), from, to, MAX_APPOINTMENTS + 1)
            .await?;
        if list.len() > MAX_APPOINTMENTS {
            return Err(DeskError::Invalid(format!(
                "more than {MAX_APPOINTMENTS} appointments: choose fewer days"
            )));
        }
        list.retain(|a| a.status != AppointmentStatus::Pending);
        Ok(list)
    }

    /// Books at the desk: the person asked for, or the fairest free one, in the same
    /// transaction as a phone booking would be.
    pub async fn book(
        &self,
        company: &Company,
        new: &NewAppointment,
        by: &str,
    ) -> Result<Appointment, DeskError> {
        let service = service(company, &new.service_id)?;
        let person = person(company, new.staff.as_deref(), service)?;
        works_then(company, service, new.date, new.time, person)?;
        let request = BookingRequest {
            date: new.date,
            time: new.time,
            service,
            customer_phone: &new.customer_phone,
            customer_name: new.customer_name.as_deref(),
            customer_email: None,
            notes: None,
            call_id: None,
            staff: person,
            contact_proven: false,
            booked_by: Some(by),
        };
        let calendar = self.calendars.for_company(company);
        match calendar.book(company, &request).await? {
            BookingOutcome::Booked(a) => {
                self.log(company, &a, by, "booked").await;
                Ok(a)
            }
            // The same customer, service and time (a repeated request): that booking, not a
            // second one.
            BookingOutcome::AlreadyBooked(a) => Ok(a),
            BookingOutcome::SlotTaken => Err(DeskError::Taken {
                free: self.free_then(company, service, new.date, new.time).await?,
            }),
        }
    }

    /// Moves an appointment to `date` `time`, with `staff` (`None`: the same person).
    pub async fn reschedule(
        &self,
        company: &Company,
        appointment_id: &str,
        (date, time): (NaiveDate, NaiveTime),
        staff: Option<&str>,
        by: &str,
    ) -> Result<Appointment, DeskError> {
        let appointment = self.booked(company, appointment_id).await?;
        let service = service(company, &appointment.service_id)?;
        // Asked for nobody: the same person (an appointment from before the company listed
        // staff is its first member's, where the calendar moves it).
        let person = match person(company, staff, service)? {
            Some(p) => Some(p),
            None if company.team.is_staffed() => Some(
                company
                    .team
                    .member_or_default(appointment.staff_id.as_deref()),
            ),
            None => None,
        };
        works_then(company, service, date, time, person)?;
        let calendar = self.calendars.for_company(company);
        match calendar
            .reschedule(company, &appointment, service, date, time, person, by)
            .await?
        {
            // The calendar's write carries the change-log entry.
            Some(moved) => Ok(moved),
            None => {
                // Refused: the time is taken, or the appointment itself changed meanwhile.
                self.booked(company, appointment_id).await?;
                Err(DeskError::Taken {
                    free: self.free_then(company, service, date, time).await?,
                })
            }
        }
    }

    pub async fn cancel(
        &self,
        company: &Company,
        appointment_id: &str,
        by: &str,
    ) -> Result<(), DeskError> {
        let appointment = self.booked(company, appointment_id).await?;
        let calendar = self.calendars.for_company(company);
        if calendar.cancel(company, &appointment, by).await? {
            Ok(())
        } else {
            Err(DeskError::NotBooked)
        }
    }

    pub async fn attendance(
        &self,
        company: &Company,
        appointment_id: &str,
        attendance: Attendance,
        by: &str,
    ) -> Result<(), DeskError> {
        let appointment = self.booked(company, appointment_id).await?;
        // Whether someone came is known from shortly before the appointment on.
        if appointment.start > Utc::now() + Duration::minutes(ATTENDANCE_LEAD_MINUTES) {
            return Err(DeskError::Invalid(
                "attendance: the appointment has not started yet".into(),
            ));
        }
        if self
            .ledger
            .set_attendance(company.id(), appointment_id, attendance, by)
            .await?
        {
            self.log(company, &appointment, by, attendance.as_str())
                .await;
            if attendance == Attendance::NoShow {
                shared::messaging::outbox::notify(
                    self.outbox.as_ref(),
                    shared::messaging::Notice::NoShow {
                        company_id: company.id().to_owned(),
                        appointment_id: appointment_id.to_owned(),
                    },
                )
                .await;
            }
            Ok(())
        } else {
            Err(DeskError::NotBooked)
        }
    }

    /// Notes a change in the appointment's log: `what`, and the time and person it is at now.
    /// The change is made already; a log that cannot be written is logged, not an error.
    async fn log(&self, company: &Company, a: &Appointment, by: &str, what: &str) {
        let detail = format!(
            "{} {} {}",
            a.date,
            a.time.format("%H:%M"),
            a.staff_id.as_deref().unwrap_or_default()
        );
        if let Err(e) = self
            .ledger
            .record_change(company.id(), &a.appointment_id, by, what, detail.trim_end())
            .await
        {
            tracing::warn!(appointment_id = %a.appointment_id, reason = %e, "change log not written");
        }
    }

    /// A booked appointment of `company` (read where the company is named: another company's
    /// id is not found).
    async fn booked(&self, company: &Company, id: &str) -> Result<Appointment, DeskError> {
        if !shared::calendar::is_appointment_id(id) {
            return Err(DeskError::NotFound);
        }
        match self.ledger.appointment(company, id).await? {
            Some(a) if a.status == AppointmentStatus::Booked => Ok(a),
            Some(_) => Err(DeskError::NotBooked),
            None => Err(DeskError::NotFound),
        }
    }

    /// Who is free at `date` `time` for `service`, by display name.
    async fn free_then(
        &self,
        company: &Company,
        service: &Service,
        date: NaiveDate,
        time: NaiveTime,
    ) -> Result<Vec<String>, DeskError> {
        let calendar = self.calendars.for_company(company);
        let days = calendar
            .free_slots(company, service, date, 1, desk_now(company))
            .await?;
        Ok(days
            .iter()
            .flat_map(|(_, times)| times)
            .filter(|f| f.time == time)
            .flat_map(|f| &f.staff)
            .filter_map(|id| company.team.member(id))
            .filter(|m| !m.is_implicit())
            .map(|m| m.name.clone())
            .collect())
    }
}

fn service<'a>(company: &'a Company, id: &str) -> Result<&'a Service, DeskError> {
    company
        .settings
        .services
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| DeskError::Invalid("service_id: not one of the company's services".into()))
}

/// The staff member `id` names, who must perform `service`.
fn person<'a>(
    company: &'a Company,
    id: Option<&str>,
    service: &Service,
) -> Result<Option<&'a StaffMember>, DeskError> {
    let Some(id) = id else { return Ok(None) };
    let member = company
        .team
        .member(id)
        .filter(|m| !m.is_implicit())
        .ok_or_else(|| DeskError::Invalid("staff: not one of the company's staff".into()))?;
    if !member.performs(&service.id) {
        return Err(DeskError::Invalid(format!(
            "staff: {} does not perform {}",
            member.name, service.id
        )));
    }
    Ok(Some(member))
}

/// The desk books walk-ins: the company's minimum notice does not apply, the hours do.
fn desk_now(company: &Company) -> DateTime<Utc> {
    Utc::now() - Duration::minutes(i64::from(company.settings.min_notice_minutes))
}

/// Whether `time` on `date` starts `service` inside the person's (or someone qualified's)
/// hours, breaks and absences, on the slot grid, and not in the past (the shared check of the
/// tools, with the desk's "now").
fn works_then(
    company: &Company,
    service: &Service,
    date: NaiveDate,
    time: NaiveTime,
    person: Option<&StaffMember>,
) -> Result<(), DeskError> {
    if company
        .team
        .is_bookable_start(service, date, time, person, desk_now(company))
    {
        Ok(())
    } else {
        Err(DeskError::Invalid(
            "time: outside the hours (or on a break, an absence, a closure, in the past, or off the slot grid)".into(),
        ))
    }
}
