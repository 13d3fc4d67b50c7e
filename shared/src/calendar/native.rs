//! The native appointment calendar in DynamoDB (`AppointmentsTable`, see docs/data-model.md).
//!
//! A booking occupies its slot-step units (`L#<epoch ms>` lock items): the appointment and its
//! locks are written in one transaction, each lock conditional on not existing, so of two
//! simultaneous bookings of overlapping times exactly one wins. The appointment id is derived
//! from company, caller, start and service, so Retell's retry of the same booking finds its own
//! appointment instead of a taken slot.
//!
//! The appointment and customer items themselves are the [`AppointmentLedger`]'s; this adds the
//! lock items and the free-slot search over them.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

use super::ledger::{backend, booked_appointment, company_pk, s, AppointmentLedger};
use super::placement::{lock_sk, Placement};
use super::{
    appointment_id, day_slots, Appointment, AppointmentStatus, BookingOutcome, BookingRequest,
    Calendar, CalendarError, DaySlots,
};
use crate::booking::company::{Company, Service};
use crate::booking::slots::{local_instant, Busy, SlotFinder};

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

    /// Busy intervals between two instants (one strongly consistent Query of the lock items).
    pub async fn busy(
        &self,
        company: &Company,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Busy>, CalendarError> {
        let step = Duration::minutes(i64::from(company.settings.slot_step_minutes));
        let mut busy = Vec::new();
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
                .projection_expression("sk")
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|e| backend(DisplayErrorContext(e)))?;
            for item in out.items.unwrap_or_default() {
                if let Some(AttributeValue::S(sk)) = item.get("sk") {
                    let ms: i64 = sk[2..]
                        .parse()
                        .map_err(|_| CalendarError::Corrupt(sk.clone()))?;
                    if let Some(t) = Utc.timestamp_millis_opt(ms).single() {
                        busy.push(Busy {
                            start: t,
                            end: t + step,
                        });
                    }
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start_key = Some(k),
                _ => return Ok(busy),
            }
        }
    }

    async fn book_native(
        &self,
        company: &Company,
        req: &BookingRequest<'_>,
    ) -> Result<BookingOutcome, CalendarError> {
        let at = Placement::new(company, req.service, req.date, req.time)?;
        let phone = req.customer_phone.as_str();
        let id = appointment_id(company.id(), phone, at.start, &req.service.id);
        let pk = company_pk(company.id());
        let now = Utc::now().timestamp_millis();
        let mut appointment =
            self.ledger
                .appointment_item(company, req, &id, &at, AppointmentStatus::Booked, now);
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
        for lock in &at.locks {
            items.push(self.put_lock(&pk, lock, &id)?);
        }
        // Upsert the customer in the same transaction.
        items.push(self.ledger.customer_upsert(company, req, now)?);
        match self.ledger.transact(items).await? {
            Ok(()) => Ok(BookingOutcome::Booked(booked_appointment(
                company,
                req,
                &id,
                &at,
                None,
                at.locks.clone(),
            ))),
            Err(reasons) => {
                if reasons.first().map(String::as_str) == Some("ConditionalCheckFailed") {
                    // Our own appointment exists and is booked: this is a retry.
                    if let Some(existing) = self.ledger.appointment(company, &id).await? {
                        if existing.status == AppointmentStatus::Booked {
                            return Ok(BookingOutcome::AlreadyBooked(existing));
                        }
                    }
                }
                // A lock exists (ConditionalCheckFailed), or a concurrent booking of the same
                // units is committing (TransactionConflict): either way the other one wins.
                Ok(BookingOutcome::SlotTaken)
            }
        }
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

    async fn reschedule_native(
        &self,
        company: &Company,
        appointment: &Appointment,
        service: &Service,
        date: NaiveDate,
        time: NaiveTime,
    ) -> Result<Option<Appointment>, CalendarError> {
        let to = Placement::new(company, service, date, time)?;
        let pk = company_pk(company.id());
        let id = &appointment.appointment_id;
        let mut items = vec![self
            .ledger
            .move_item(company, appointment, date, time, &to, None)?];
        // Units in both the old and the new time stay ours; only the difference changes.
        for lock in appointment.locks.difference(&to.locks) {
            items.push(self.delete_lock(&pk, lock, id)?);
        }
        for lock in to.locks.difference(&appointment.locks) {
            items.push(self.put_lock(&pk, lock, id)?);
        }
        if !self.ledger.run(items).await? {
            return Ok(None);
        }
        Ok(Some(Appointment {
            date,
            time,
            start: to.start,
            end: to.end,
            locks: to.locks,
            ..appointment.clone()
        }))
    }
}

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
        let from = local_instant(tz, date, NaiveTime::MIN).unwrap_or(now);
        let last = date + Duration::days(i64::from(days));
        let to = local_instant(tz, last, NaiveTime::MIN).unwrap_or(from);
        let busy = self.busy(company, from, to).await?;
        let finder = SlotFinder::new(&company.schedule);
        Ok(day_slots(date, days, |day| {
            let slots = finder.free_slots(day, service.timing(), &busy, now);
            slots.iter().map(|s| s.local).collect()
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
    ) -> Result<bool, CalendarError> {
        let pk = company_pk(company.id());
        let mut items = vec![self.ledger.cancellation(company, appointment)?];
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
    ) -> Result<Option<Appointment>, CalendarError> {
        self.reschedule_native(company, appointment, service, date, time)
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
