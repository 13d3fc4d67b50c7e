//! The native appointment calendar in DynamoDB (`AppointmentsTable`, see docs/data-model.md).
//!
//! A booking occupies its slot-step units (`L#<epoch ms>` lock items): the appointment and its
//! locks are written in one transaction, each lock conditional on not existing, so of two
//! simultaneous bookings of overlapping times exactly one wins. The appointment id is derived
//! from company, caller, start and service, so Retell's retry of the same booking finds its own
//! appointment instead of a taken slot.
//!
//! With staff, each person's time is locked by their own lock items and a resource's by its
//! units' (`calendar::placement`): a salon with three stylists takes three bookings at ten.
//!
//! The appointment and customer items themselves are the [`AppointmentLedger`]'s; this adds the
//! lock items and the free-slot search over them.

use std::collections::{BTreeSet, HashSet};

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

use super::ledger::{backend, booked_appointment, company_pk, s, AppointmentLedger};
use super::placement::{lock_sk, parse_lock_sk, LockOwner, Placement};
use super::{
    appointment_id, day_slots, Appointment, AppointmentStatus, BookingOutcome, BookingRequest,
    Calendar, CalendarError, DaySlots,
};
use crate::booking::availability::{free_times, Occupancy};
use crate::booking::company::{Company, Service};
use crate::booking::slots::{local_day_start, Busy};
use crate::booking::staff::StaffMember;

#[derive(Clone, Debug)]
pub struct NativeCalendar {
    ledger: AppointmentLedger,
}

impl NativeCalendar {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            ledger: AppointmentLedger::new(client, table),
        }
    }

    /// What is booked between two instants (one strongly consistent Query of the lock items):
    /// busy time per person and per resource unit, and appointments per person and day. Locks of
    /// the implicit member (`L#<ms>`, bookings from before the company listed staff) count for
    /// its first staff member.
    pub async fn occupancy(
        &self,
        company: &Company,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Occupancy, CalendarError> {
        let step = Duration::minutes(i64::from(company.settings.slot_step_minutes));
        let default_staff = company.team.default_member().id.as_str();
        let mut occupancy = Occupancy::default();
        let mut counted: HashSet<(String, String)> = HashSet::new();
        let mut start_key = None;
        loop {
            let out = self
                .ledger
                .client
                .query()
                .table_name(&self.ledger.table)
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(company_pk(company.id())))
                .expression_attribute_values(":from", s(lock_sk(from.timestamp_millis())))
                .expression_attribute_values(":to", s(lock_sk(to.timestamp_millis())))
                .projection_expression("sk, appointment_id")
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|e| backend(DisplayErrorContext(e)))?;
            for item in out.items.unwrap_or_default() {
                let Some(AttributeValue::S(sk)) = item.get("sk") else {
                    continue;
                };
                let (ms, owner) =
                    parse_lock_sk(sk).ok_or_else(|| CalendarError::Corrupt(sk.clone()))?;
                let Some(t) = Utc.timestamp_millis_opt(ms).single() else {
                    return Err(CalendarError::Corrupt(sk.clone()));
                };
                let busy = Busy {
                    start: t,
                    end: t + step,
                };
                match owner {
                    LockOwner::Staff(id) => {
                        let id = if id.is_empty() { default_staff } else { id };
                        occupancy.staff_busy(id, busy);
                        if let Some(AttributeValue::S(appointment)) = item.get("appointment_id") {
                            if counted.insert((id.to_owned(), appointment.clone())) {
                                let day = t.with_timezone(&company.time_zone).date_naive();
                                occupancy.appointment(id, day);
                            }
                        }
                    }
                    LockOwner::Unit(resource, unit) => occupancy.unit_busy(resource, unit, busy),
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start_key = Some(k),
                _ => return Ok(occupancy),
            }
        }
    }

    /// The occupancy of the local day `date`.
    async fn day_occupancy(
        &self,
        company: &Company,
        date: NaiveDate,
    ) -> Result<Occupancy, CalendarError> {
        let tz = &company.time_zone;
        let (Some(from), Some(to)) = (
            local_day_start(tz, date),
            local_day_start(tz, date + Duration::days(1)),
        ) else {
            return Err(CalendarError::NonexistentTime);
        };
        self.occupancy(company, from, to).await
    }

    /// Books with the asked-for person, or else the fairest free one: each candidate (and
    /// resource unit) in turn is one transaction, which either takes every lock or none, so of
    /// racing bookings each person and unit goes to exactly one.
    async fn book_native(
        &self,
        company: &Company,
        req: &BookingRequest<'_>,
    ) -> Result<BookingOutcome, CalendarError> {
        let team = &company.team;
        let resource = team.resource_for(&req.service.id);
        let base = Placement::new(company, req.service, req.date, req.time)?;
        let id = appointment_id(
            company.id(),
            req.customer_phone.as_str(),
            base.start,
            &req.service.id,
        );
        let staff: Vec<&StaffMember>;
        let mut units: Vec<u32> = resource.map_or(vec![], |r| (0..r.capacity).collect());
        if let Some(person) = req.staff {
            // The asked-for person, or nobody: never a silent switch.
            staff = vec![person];
        } else if !team.is_staffed() && resource.is_none() {
            staff = vec![team.default_member()];
        } else {
            // Who is free then, the fairest first, and free units first (one Query).
            let occupancy = self.day_occupancy(company, req.date).await?;
            let free = free_times(
                team,
                req.service,
                req.date,
                &occupancy,
                req.notice_from(company),
                None,
            );
            let Some(at) = free.iter().find(|f| f.time == req.time) else {
                // Nobody is free then — perhaps because this very booking holds the time (a
                // retry whose first answer was lost): then it is that booking.
                return Ok(match self.ledger.appointment(company, &id).await? {
                    Some(a) if a.status == AppointmentStatus::Booked => {
                        BookingOutcome::AlreadyBooked(a)
                    }
                    _ => BookingOutcome::SlotTaken,
                });
            };
            staff = at.staff.iter().filter_map(|id| team.member(id)).collect();
            if let Some(r) = resource {
                let end = at.start
                    + Duration::minutes(i64::from(
                        req.service.duration_minutes + req.service.buffer_minutes,
                    ));
                units.sort_by_key(|u| !occupancy.unit_free(&r.id, *u, at.start, end));
            }
        }
        let mut attempts = 0;
        for person in staff {
            let unit_choices: Vec<Option<u32>> = if units.is_empty() {
                vec![None]
            } else {
                units.iter().copied().map(Some).collect()
            };
            'units: for unit in unit_choices {
                let at = Placement::new(company, req.service, req.date, req.time)?.assigned(
                    &person.id,
                    resource.zip(unit).map(|(r, u)| (r.id.as_str(), u)),
                );
                loop {
                    attempts += 1;
                    if attempts > MAX_BOOKING_ATTEMPTS {
                        return Ok(BookingOutcome::SlotTaken);
                    }
                    match self.try_book(company, req, &id, &at).await? {
                        Attempt::Done(outcome) => return Ok(*outcome),
                        Attempt::PersonTaken => break 'units,
                        Attempt::UnitTaken => continue 'units,
                        // Nobody has it yet: another booking's transaction was committing.
                        Attempt::Conflict => {
                            let pause = 10 + fastrand::u64(0..40);
                            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                        }
                    }
                }
            }
        }
        Ok(BookingOutcome::SlotTaken)
    }

    /// One transaction: the appointment, its locks and the customer.
    async fn try_book(
        &self,
        company: &Company,
        req: &BookingRequest<'_>,
        id: &str,
        at: &Placement,
    ) -> Result<Attempt, CalendarError> {
        let pk = company_pk(company.id());
        let now = Utc::now().timestamp_millis();
        let mut appointment =
            self.ledger
                .appointment_item(company, req, id, at, AppointmentStatus::Booked, now);
        appointment.insert(
            "locks".to_owned(),
            AttributeValue::Ss(at.locks.iter().cloned().collect()),
        );
        let mut items = vec![TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.ledger.table)
                    .set_item(Some(appointment))
                    .condition_expression("attribute_not_exists(sk) OR #status = :cancelled")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(
                        ":cancelled",
                        s(AppointmentStatus::Cancelled.as_str()),
                    )
                    .build()
                    .map_err(backend)?,
            )
            .build()];
        let locks: Vec<&String> = at.locks.iter().collect();
        for lock in &locks {
            items.push(self.put_lock(&pk, lock, id)?);
        }
        // The first staff member also owns the locks from before the company listed staff.
        let legacy = self.legacy_locks(company, at, &BTreeSet::new());
        for lock in &legacy {
            items.push(self.lock_absent(&pk, lock)?);
        }
        let locks: Vec<&String> = locks.into_iter().chain(legacy.iter()).collect();
        // Upsert the customer in the same transaction.
        items.push(self.ledger.customer_upsert(company, req, now)?);
        let reasons = match self.ledger.transact(items).await? {
            Ok(()) => {
                return Ok(Attempt::Done(Box::new(BookingOutcome::Booked(
                    booked_appointment(company, req, id, at, None, at.locks.clone()),
                ))))
            }
            Err(reasons) => reasons,
        };
        if reasons.first().map(String::as_str) == Some("ConditionalCheckFailed") {
            // Our own appointment exists and is booked: this is a retry.
            if let Some(existing) = self.ledger.appointment(company, id).await? {
                if existing.status == AppointmentStatus::Booked {
                    return Ok(Attempt::Done(Box::new(BookingOutcome::AlreadyBooked(
                        existing,
                    ))));
                }
            }
            return Ok(Attempt::Done(Box::new(BookingOutcome::SlotTaken)));
        }
        // A lock exists (ConditionalCheckFailed): the other one has that person or unit. A
        // concurrent transaction on the same items (TransactionConflict) may yet fail: again.
        if reasons.iter().any(|r| r == "TransactionConflict")
            && !reasons.iter().any(|r| r == "ConditionalCheckFailed")
        {
            return Ok(Attempt::Conflict);
        }
        let person_taken = locks
            .iter()
            .zip(reasons.iter().skip(1))
            .any(|(lock, reason)| {
                reason != "None" && matches!(parse_lock_sk(lock), Some((_, LockOwner::Staff(_))))
            });
        Ok(if person_taken {
            Attempt::PersonTaken
        } else {
            Attempt::UnitTaken
        })
    }

    /// The implicit member's lock keys `at` must find absent: those of the company's first staff
    /// member once it lists staff (bookings made before it did are theirs), but `own`.
    fn legacy_locks(
        &self,
        company: &Company,
        at: &Placement,
        own: &BTreeSet<String>,
    ) -> BTreeSet<String> {
        let team = &company.team;
        if !team.is_staffed() || at.staff_id != team.default_member().id {
            return BTreeSet::new();
        }
        at.unowned_locks().difference(own).cloned().collect()
    }

    /// A condition that lock `lock` does not exist (written by nobody in this transaction).
    fn lock_absent(&self, pk: &str, lock: &str) -> Result<TransactWriteItem, CalendarError> {
        Ok(TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder()
                    .table_name(&self.ledger.table)
                    .key("pk", s(pk))
                    .key("sk", s(lock))
                    .condition_expression("attribute_not_exists(sk)")
                    .build()
                    .map_err(backend)?,
            )
            .build())
    }

    fn put_lock(&self, pk: &str, lock: &str, id: &str) -> Result<TransactWriteItem, CalendarError> {
        Ok(TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.ledger.table)
                    .item("pk", s(pk))
                    .item("sk", s(lock))
                    .item("appointment_id", s(id))
                    .condition_expression("attribute_not_exists(sk)")
                    .build()
                    .map_err(backend)?,
            )
            .build())
    }

    fn delete_lock(
        &self,
        pk: &str,
        lock: &str,
        id: &str,
    ) -> Result<TransactWriteItem, CalendarError> {
        Ok(TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.ledger.table)
                    .key("pk", s(pk))
                    .key("sk", s(lock))
                    .condition_expression("appointment_id = :id")
                    .expression_attribute_values(":id", s(id))
                    .build()
                    .map_err(backend)?,
            )
            .build())
    }

    /// Moves with `staff`, or else the same person (the default member for an appointment made
    /// before the company listed staff); a service that needs a resource takes any free unit.
    async fn reschedule_native(
        &self,
        company: &Company,
        appointment: &Appointment,
        service: &Service,
        at: (NaiveDate, NaiveTime),
        staff: Option<&StaffMember>,
        by: &str,
    ) -> Result<Option<Appointment>, CalendarError> {
        let (date, time) = at;
        let team = &company.team;
        let person =
            staff.unwrap_or_else(|| team.member_or_default(appointment.staff_id.as_deref()));
        let resource = team.resource_for(&service.id);
        let units: Vec<Option<u32>> = match resource {
            None => vec![None],
            Some(r) => (0..r.capacity.min(MAX_BOOKING_ATTEMPTS))
                .map(Some)
                .collect(),
        };
        let pk = company_pk(company.id());
        let id = &appointment.appointment_id;
        for unit in units {
            let to = Placement::new(company, service, date, time)?.assigned(
                &person.id,
                resource.zip(unit).map(|(r, u)| (r.id.as_str(), u)),
            );
            let mut items =
                vec![self
                    .ledger
                    .move_item(company, appointment, (date, time), &to, None, by)?];
            // Units in both the old and the new time stay ours; only the difference changes.
            for lock in appointment.locks.difference(&to.locks) {
                items.push(self.delete_lock(&pk, lock, id)?);
            }
            let added: Vec<&String> = to.locks.difference(&appointment.locks).collect();
            for lock in &added {
                items.push(self.put_lock(&pk, lock, id)?);
            }
            // Moving to the first staff member: their locks from before staff were listed too
            // (but this appointment's own, which the transaction deletes).
            let legacy = self.legacy_locks(company, &to, &appointment.locks);
            for lock in &legacy {
                items.push(self.lock_absent(&pk, lock)?);
            }
            let added: Vec<&String> = added.into_iter().chain(legacy.iter()).collect();
            let removed = appointment.locks.difference(&to.locks).count();
            match self.ledger.transact(items).await? {
                Ok(()) => {
                    return Ok(Some(Appointment {
                        date,
                        time,
                        start: to.start,
                        end: to.end,
                        staff_id: Some(to.staff_id.clone()).filter(|s| !s.is_empty()),
                        attendance: None,
                        changes: super::ledger::changes_after_move(
                            appointment,
                            (date, time),
                            &to,
                            by,
                        ),
                        locks: to.locks,
                        ..appointment.clone()
                    }))
                }
                Err(reasons) => {
                    let person_taken = reasons.first().is_some_and(|r| r != "None")
                        || added.iter().zip(reasons.iter().skip(1 + removed)).any(
                            |(lock, reason)| {
                                reason != "None"
                                    && matches!(parse_lock_sk(lock), Some((_, LockOwner::Staff(_))))
                            },
                        );
                    if person_taken {
                        return Ok(None);
                    }
                }
            }
        }
        Ok(None)
    }
}

/// What one booking transaction came to.
enum Attempt {
    Done(Box<BookingOutcome>),
    /// The person is booked then: try the next one.
    PersonTaken,
    /// Only the resource unit is taken: try the next unit.
    UnitTaken,
    /// Cancelled by a concurrent transaction on the same items, nothing taken yet: try again.
    Conflict,
}

/// Transactions one booking may try (people × units) before it answers "taken".
const MAX_BOOKING_ATTEMPTS: u32 = 8;

impl Calendar for NativeCalendar {
    /// One Query of the lock items for the whole range, then the slot finder per day.
    async fn free_slots(
        &self,
        company: &Company,
        service: &Service,
        date: NaiveDate,
        days: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<DaySlots>, CalendarError> {
        let tz = &company.time_zone;
        let from = local_day_start(tz, date).unwrap_or(now);
        let last = date + Duration::days(i64::from(days));
        let to = local_day_start(tz, last).unwrap_or(from);
        let occupancy = self.occupancy(company, from, to).await?;
        Ok(day_slots(date, days, |day| {
            free_times(&company.team, service, day, &occupancy, now, None)
        }))
    }

    async fn book(
        &self,
        company: &Company,
        req: &BookingRequest<'_>,
    ) -> Result<BookingOutcome, CalendarError> {
        self.book_native(company, req).await
    }

    fn ledger(&self) -> &AppointmentLedger {
        &self.ledger
    }

    async fn cancel(
        &self,
        company: &Company,
        appointment: &Appointment,
        by: &str,
    ) -> Result<bool, CalendarError> {
        let pk = company_pk(company.id());
        let mut items = vec![self.ledger.cancellation(company, appointment, by)?];
        for lock in &appointment.locks {
            items.push(self.delete_lock(&pk, lock, &appointment.appointment_id)?);
        }
        self.ledger.run(items).await
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
        self.reschedule_native(company, appointment, service, (date, time), staff, by)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appointment_ids_are_stable_per_booking() {
        let t = Utc
            .timestamp_millis_opt(1_736_845_200_000)
            .single()
            .unwrap_or_default();
        let a = appointment_id("demo", "+4917611112222", t, "haircut");
        assert_eq!(a, appointment_id("demo", "+4917611112222", t, "haircut"));
        assert_ne!(a, appointment_id("demo", "+4917611112223", t, "haircut"));
        assert_ne!(a, appointment_id("other", "+4917611112222", t, "haircut"));
        assert!(a.starts_with("apt_") && a.len() == 20);
    }
}
