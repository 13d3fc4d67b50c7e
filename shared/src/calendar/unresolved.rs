//! Writes whose outcome the caller does not know.
//!
//! A tool answers within a deadline (`tools::REPLY_DEADLINE`). When a booking, cancellation or
//! reschedule is still on its way to the calendar at the deadline (AWS or Cal.com stalled), it
//! may yet commit: saying "that failed" would leave the caller believing something false. So:
//!
//! 1. The calendar's writes go through [`JournaledCalendar`], which notes each write before it
//!    is sent and whether it settled (an answer, or a definite refusal). A reply cut off with a
//!    write under way, or a write that failed with a backend error (a timeout: it may have
//!    committed), says the outcome is being checked and asks the agent to call the same tool
//!    again (the tools' `ToolContext::unknown_outcome`). The retry is idempotent (same appointment
//!    id) and answers the truth.
//! 2. Retell keeps every tool result in the call's `transcript_with_tool_calls`. When the call
//!    ends, the consumer reads it ([`unresolved_writes`]): a write that answered "unknown" and
//!    was never answered again by a later call of the same tool is unresolved. The consumer
//!    looks up what actually happened and records it on the call (`unresolved_writes`,
//!    `needs_follow_up`) for staff to confirm with the customer (docs/data-model.md).

use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::booking::company::{Company, Service};
use crate::booking::slots::local_instant;
use crate::booking::staff::StaffMember;
use crate::calendar::ledger::AppointmentLedger;
use crate::calendar::{
    appointment_id, is_appointment_id, Appointment, AppointmentStatus, BookingOutcome,
    BookingRequest, Calendar, CalendarError, CompanyCalendar, DaySlots,
};

/// Marks a reply whose write may or may not have happened.
pub const UNKNOWN_OUTCOME: &str = "unknown";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteAction {
    Book,
    Cancel,
    Reschedule,
}

/// A write sent to the calendar: enough to find out later what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingWrite {
    pub action: WriteAction,
    pub appointment_id: String,
    /// The appointment's time after the write (booked at, moved to, or cancelled at).
    pub date: NaiveDate,
    pub time: String,
}

/// The last write a tool call sent (a tool sends at most one), and whether it settled.
#[derive(Debug, Default)]
pub struct WriteJournal(Mutex<Option<(PendingWrite, bool)>>);

impl WriteJournal {
    fn note(&self, write: PendingWrite) {
        if let Ok(mut last) = self.0.lock() {
            *last = Some((write, false));
        }
    }

    /// Records how the write ended: only a backend error (timeout, 5xx, broken connection)
    /// leaves its outcome unknown.
    fn settle<T>(&self, result: &Result<T, CalendarError>) {
        if matches!(result, Err(CalendarError::Backend(_))) {
            return;
        }
        if let Ok(mut last) = self.0.lock() {
            if let Some((_, settled)) = last.as_mut() {
                *settled = true;
            }
        }
    }

    /// The write whose outcome nobody knows: sent, and not answered for sure.
    pub fn unsettled(&self) -> Option<PendingWrite> {
        match self.0.lock().ok()?.as_ref()? {
            (write, false) => Some(write.clone()),
            _ => None,
        }
    }
}

/// A company's calendar whose writes are noted in a journal before they are sent; reads go
/// straight through.
pub struct JournaledCalendar<'a> {
    inner: &'a CompanyCalendar,
    journal: &'a WriteJournal,
}

impl<'a> JournaledCalendar<'a> {
    pub fn new(inner: &'a CompanyCalendar, journal: &'a WriteJournal) -> Self {
        Self { inner, journal }
    }
}

impl Calendar for JournaledCalendar<'_> {
    async fn free_slots(
        &self,
        company: &Company,
        service: &Service,
        date: NaiveDate,
        days: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<DaySlots>, CalendarError> {
        self.inner
            .free_slots(company, service, date, days, now)
            .await
    }

    async fn book(
        &self,
        company: &Company,
        req: &BookingRequest<'_>,
    ) -> Result<BookingOutcome, CalendarError> {
        if let Some(start) = local_instant(&company.time_zone, req.date, req.time) {
            self.journal.note(PendingWrite {
                action: WriteAction::Book,
                appointment_id: appointment_id(
                    company.id(),
                    req.customer_phone.as_str(),
                    start,
                    &req.service.id,
                ),
                date: req.date,
                time: req.time.format("%H:%M").to_string(),
            });
        }
        let result = self.inner.book(company, req).await;
        self.journal.settle(&result);
        result
    }

    fn ledger(&self) -> &AppointmentLedger {
        self.inner.ledger()
    }

    async fn cancel(
        &self,
        company: &Company,
        appointment: &Appointment,
        by: &str,
    ) -> Result<bool, CalendarError> {
        self.journal.note(PendingWrite {
            action: WriteAction::Cancel,
            appointment_id: appointment.appointment_id.clone(),
            date: appointment.date,
            time: appointment.time.format("%H:%M").to_string(),
        });
        let result = self.inner.cancel(company, appointment, by).await;
        self.journal.settle(&result);
        result
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
        self.journal.note(PendingWrite {
            action: WriteAction::Reschedule,
            appointment_id: appointment.appointment_id.clone(),
            date,
            time: time.format("%H:%M").to_string(),
        });
        let result = self
            .inner
            .reschedule(company, appointment, service, date, time, staff, by)
            .await;
        self.journal.settle(&result);
        result
    }
}

/// A write the caller never heard the outcome of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnresolvedWrite {
    pub tool: String,
    pub write: PendingWrite,
}

/// The writes in a call's `transcript_with_tool_calls` (Retell's call object) that answered
/// "unknown" and were not answered again by a later call of the same tool.
pub fn unresolved_writes(transcript_with_tool_calls: &Value) -> Vec<UnresolvedWrite> {
    let Some(entries) = transcript_with_tool_calls.as_array() else {
        return Vec::new();
    };
    let mut names = std::collections::HashMap::new();
    let mut open: Vec<UnresolvedWrite> = Vec::new();
    for entry in entries {
        let field = |k: &str| entry.get(k).and_then(Value::as_str);
        match field("role") {
            Some("tool_call_invocation") => {
                if let (Some(id), Some(name)) = (field("tool_call_id"), field("name")) {
                    names.insert(id.to_owned(), name.to_owned());
                }
            }
            Some("tool_call_result") => {
                let Some(tool) = field("tool_call_id").and_then(|id| names.get(id)) else {
                    continue;
                };
                let content: Value = field("content")
                    .and_then(|c| serde_json::from_str(c).ok())
                    .unwrap_or(Value::Null);
                // Any later answer of the same tool told the caller where things stand.
                open.retain(|w| &w.tool != tool);
                if content.get("outcome").and_then(Value::as_str) == Some(UNKNOWN_OUTCOME) {
                    // Only what this service wrote there: a well-formed write of one of its ids.
                    if let Some(write) = content
                        .get("pending_write")
                        .and_then(|w| serde_json::from_value::<PendingWrite>(w.clone()).ok())
                        .filter(|w| is_appointment_id(&w.appointment_id))
                    {
                        open.push(UnresolvedWrite {
                            tool: tool.clone(),
                            write,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    open
}

/// What became of an unresolved write, from the appointment as stored now (its status, date
/// and time; `None` if there is no such appointment).
pub fn resolution(
    write: &PendingWrite,
    stored: Option<(AppointmentStatus, NaiveDate, NaiveTime)>,
) -> &'static str {
    let booked = |s: &Option<(AppointmentStatus, NaiveDate, NaiveTime)>| {
        s.is_some_and(|(st, _, _)| st == AppointmentStatus::Booked)
    };
    let at_write_time = stored.is_some_and(|(_, date, time)| {
        date == write.date && time.format("%H:%M").to_string() == write.time
    });
    match write.action {
        WriteAction::Book if booked(&stored) => "booked_caller_not_told",
        // A Cal.com booking whose answer never came back: Cal.com may hold it.
        WriteAction::Book if stored.is_some_and(|(st, _, _)| st == AppointmentStatus::Pending) => {
            "unconfirmed_check_external_calendar"
        }
        WriteAction::Book => "not_booked",
        WriteAction::Cancel if booked(&stored) => "still_booked",
        WriteAction::Cancel => "cancelled_caller_not_told",
        WriteAction::Reschedule if booked(&stored) && at_write_time => "moved_caller_not_told",
        WriteAction::Reschedule if booked(&stored) => "not_moved",
        WriteAction::Reschedule => "no_longer_booked",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entries(results: &[(&str, &str, Value)]) -> Value {
        let mut out = Vec::new();
        for (i, (name, _, content)) in results.iter().enumerate() {
            out.push(json!({"role": "tool_call_invocation", "tool_call_id": format!("t{i}"), "name": name, "arguments": "{}"}));
            out.push(json!({"role": "tool_call_result", "tool_call_id": format!("t{i}"), "content": content.to_string()}));
        }
        Value::Array(out)
    }

    const APT_1: &str = "apt_0123456789abcdef";
    const APT_2: &str = "apt_fedcba9876543210";

    fn pending(id: &str) -> Value {
        json!({"success": false, "outcome": "unknown", "message": "…",
               "pending_write": {"action": "book", "appointment_id": id, "date": "2030-01-15", "time": "10:00"}})
    }

    #[test]
    fn every_write_is_resolved_from_what_is_stored() {
        let day = NaiveDate::from_ymd_opt(2030, 1, 15).unwrap_or_default();
        let ten = NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default();
        let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default();
        let write = |action| PendingWrite {
            action,
            appointment_id: "apt_1".into(),
            date: day,
            time: "10:00".into(),
        };
        let cases = [
            (
                WriteAction::Book,
                Some((AppointmentStatus::Booked, day, ten)),
                "booked_caller_not_told",
            ),
            (WriteAction::Book, None, "not_booked"),
            (
                WriteAction::Book,
                Some((AppointmentStatus::Pending, day, ten)),
                "unconfirmed_check_external_calendar",
            ),
            (
                WriteAction::Book,
                Some((AppointmentStatus::Cancelled, day, ten)),
                "not_booked",
            ),
            (
                WriteAction::Cancel,
                Some((AppointmentStatus::Cancelled, day, ten)),
                "cancelled_caller_not_told",
            ),
            (
                WriteAction::Cancel,
                Some((AppointmentStatus::Booked, day, ten)),
                "still_booked",
            ),
            (
                WriteAction::Reschedule,
                Some((AppointmentStatus::Booked, day, ten)),
                "moved_caller_not_told",
            ),
            (
                WriteAction::Reschedule,
                Some((AppointmentStatus::Booked, day, nine)),
                "not_moved",
            ),
            (
                WriteAction::Reschedule,
                Some((AppointmentStatus::Cancelled, day, ten)),
                "no_longer_booked",
            ),
        ];
        for (action, stored, expected) in cases {
            assert_eq!(
                resolution(&write(action), stored),
                expected,
                "{action:?} {stored:?}"
            );
        }
    }

    #[test]
    fn an_unknown_outcome_is_open_until_the_same_tool_answers_again() {
        let open = unresolved_writes(&entries(&[("book_appointment", "", pending(APT_1))]));
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].write.appointment_id, APT_1);
        assert_eq!(open[0].write.action, WriteAction::Book);

        let answered = entries(&[
            ("book_appointment", "", pending(APT_1)),
            (
                "check_availability",
                "",
                json!({"available": true, "message": "…"}),
            ),
            (
                "book_appointment",
                "",
                json!({"success": true, "appointment_id": APT_1, "message": "…"}),
            ),
        ]);
        assert!(unresolved_writes(&answered).is_empty());

        // Another tool's answer does not resolve it; garbage is skipped.
        let other = entries(&[
            ("book_appointment", "", pending(APT_2)),
            ("check_availability", "", json!({"available": false})),
        ]);
        assert_eq!(unresolved_writes(&other).len(), 1);
        assert!(unresolved_writes(&json!("not a list")).is_empty());
        // An id this service never hands out is not looked up (a megabyte one would not even be
        // a valid DynamoDB key).
        let forged = entries(&[("book_appointment", "", pending(&"x".repeat(1_000_000)))]);
        assert!(unresolved_writes(&forged).is_empty());
        assert!(unresolved_writes(
            &json!([{"role": "tool_call_result", "tool_call_id": "x", "content": "{"}])
        )
        .is_empty());
    }
}
