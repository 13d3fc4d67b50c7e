//! Cal.com's webhook deliveries into the ledger, so a booking made on Cal.com's own pages is on
//! the desk and a caller can move or cancel it by phone. Each delivery is applied at most once:
//! its trigger and booking uid are written (`CW#<trigger>#<uid>`, kept 90 days) in the same
//! transaction as its change, so a replay changes nothing.
//!
//! - `BOOKING_CREATED` adds an appointment (id from the uid) for the event type's service and
//!   the host's staff member, with the attendee's phone as the customer's number; a booking
//!   this project made itself (`metadata.appointment_id`, or already in the ledger with this
//!   uid) is left to the calendar path that made it.
//! - `BOOKING_RESCHEDULED` moves the appointment of the replaced booking (`rescheduleUid`, found
//!   at `rescheduleStartTime`) to the new uid and time, if it is still at the old uid.
//! - `BOOKING_CANCELLED` cancels it, unless the reason is one of this project's own.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::calcom_webhook::{Delivery, Trigger, OWN_REASON_SUFFIX};
use super::ledger::{backend, change_entry, company_pk, n, s, AppointmentLedger};
use super::{Appointment, AppointmentStatus, CalendarError};
use crate::booking::company::{CalendarBackend, Company};
use crate::booking::phone::PhoneNumber;

/// Who the change log names for what Cal.com's deliveries change.
const BY: &str = "calcom";

/// How long a delivery's trigger and uid are remembered against replays.
const REPLAY_DAYS: i64 = 90;

/// What a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Booked(String),
    Moved(String),
    Cancelled(String),
    /// The ledger has it already (this project's own booking, move or cancel).
    Known,
    /// Applied before: a replay or a redelivery.
    Replay,
    /// Nothing to apply it to, said why (an event type of no service, a booking never seen).
    Skipped(&'static str),
}

/// The appointment id of a booking made on Cal.com.
pub fn online_appointment_id(company_id: &str, uid: &str) -> String {
    let digest = Sha256::digest(format!("calcom|{company_id}|{uid}"));
    format!("apt_{}", &hex::encode(digest)[..16])
}

impl AppointmentLedger {
    /// The company's appointment with Cal.com uid `uid` starting at `start`, if any.
    async fn by_uid(
        &self,
        company_id: &str,
        uid: &str,
        start: DateTime<Utc>,
    ) -> Result<Option<Appointment>, CalendarError> {
        let at = self
            .appointments_between(
                company_id,
                start,
                start + chrono::Duration::milliseconds(1),
                50,
            )
            .await?;
        Ok(at
            .into_iter()
            .find(|a| a.external_uid.as_deref() == Some(uid)))
    }

    fn replay_guard(
        &self,
        company_id: &str,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, CalendarError> {
        Ok(TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .item("pk", s(company_pk(company_id)))
                    .item(
                        "sk",
                        s(format!("CW#{}#{}", delivery.trigger.as_str(), delivery.uid)),
                    )
                    .item("expires_at", n(now.timestamp() + REPLAY_DAYS * 86_400))
                    .condition_expression("attribute_not_exists(sk)")
                    .build()
                    .map_err(backend)?,
            )
            .build())
    }

    /// Runs the change with the replay guard first: `Replay` if the guard's condition failed,
    /// `Known` if the change's did (the ledger moved on meanwhile).
    async fn guarded(
        &self,
        company_id: &str,
        delivery: &Delivery,
        change: Option<TransactWriteItem>,
        applied: Applied,
        now: DateTime<Utc>,
    ) -> Result<Applied, CalendarError> {
        let mut items = vec![self.replay_guard(company_id, delivery, now)?];
        items.extend(change);
        match self.transact(items).await? {
            Ok(()) => Ok(applied),
            Err(codes) if codes.first().map(String::as_str) == Some("ConditionalCheckFailed") => {
                Ok(Applied::Replay)
            }
            Err(_) => Ok(Applied::Known),
        }
    }

    /// Applies a verified delivery for `company` (a Cal.com company).
    pub async fn apply_calcom(
        &self,
        company: &Company,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<Applied, CalendarError> {
        let id = company.id();
        match delivery.trigger {
            Trigger::Created => {
                if delivery.own_appointment.is_some()
                    || self
                        .by_uid(id, &delivery.uid, delivery.start)
                        .await?
                        .is_some()
                {
                    return self.guarded(id, delivery, None, Applied::Known, now).await;
                }
                let Some(item) = self.online_item(company, delivery, now)? else {
                    return self
                        .guarded(
                            id,
                            delivery,
                            None,
                            Applied::Skipped("event type of no service"),
                            now,
                        )
                        .await;
                };
                let appointment_id = online_appointment_id(id, &delivery.uid);
                let put = TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(item))
                            .condition_expression("attribute_not_exists(sk)")
                            .build()
                            .map_err(backend)?,
                    )
                    .build();
                self.guarded(
                    id,
                    delivery,
                    Some(put),
                    Applied::Booked(appointment_id),
                    now,
                )
                .await
            }
            Trigger::Cancelled => {
                if delivery
                    .cancellation_reason
                    .as_deref()
                    .is_some_and(|r| r.ends_with(OWN_REASON_SUFFIX))
                {
                    return self.guarded(id, delivery, None, Applied::Known, now).await;
                }
                let Some(appointment) = self.by_uid(id, &delivery.uid, delivery.start).await?
                else {
                    return self
                        .guarded(
                            id,
                            delivery,
                            None,
                            Applied::Skipped("no appointment with this uid"),
                            now,
                        )
                        .await;
                };
                let cancel = self.cancellation(company, &appointment, BY)?;
                self.guarded(
                    id,
                    delivery,
                    Some(cancel),
                    Applied::Cancelled(appointment.appointment_id),
                    now,
                )
                .await
            }
            Trigger::Rescheduled => {
                if self
                    .by_uid(id, &delivery.uid, delivery.start)
                    .await?
                    .is_some()
                {
                    return self.guarded(id, delivery, None, Applied::Known, now).await;
                }
                let (old_uid, old_start) = delivery.replaces.clone().ok_or_else(|| {
                    CalendarError::Refused("reschedule without rescheduleUid".into())
                })?;
                let old = match old_start {
                    Some(at) => self.by_uid(id, &old_uid, at).await?,
                    None => None,
                };
                let Some(old) = old else {
                    // The replaced booking was never in the ledger: the new one is a booking.
                    let created = Delivery {
                        trigger: Trigger::Created,
                        ..delivery.clone()
                    };
                    return Box::pin(self.apply_calcom(company, &created, now)).await;
                };
                let moved = self.online_move(company, &old, &old_uid, delivery)?;
                self.guarded(
                    id,
                    delivery,
                    Some(moved),
                    Applied::Moved(old.appointment_id),
                    now,
                )
                .await
            }
        }
    }

    /// The appointment item of a booking made on Cal.com; `None` for an event type that is
    /// none of the company's services.
    fn online_item(
        &self,
        company: &Company,
        d: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<Option<HashMap<String, AttributeValue>>, CalendarError> {
        let CalendarBackend::CalCom(cal) = &company.settings.calendar else {
            return Ok(None);
        };
        let Some((service, own_staff)) = d.event_type_id.and_then(|t| cal.service_of_event_type(t))
        else {
            return Ok(None);
        };
        let staff = own_staff.or_else(|| d.organizer_id.and_then(|u| cal.staff_of_user(u)));
        let local = d.start.with_timezone(&company.time_zone);
        let appointment_id = online_appointment_id(company.id(), &d.uid);
        let mut item = HashMap::from([
            ("pk".to_owned(), s(company_pk(company.id()))),
            ("sk".to_owned(), s(format!("A#{appointment_id}"))),
            ("appointment_id".to_owned(), s(&appointment_id)),
            ("company_id".to_owned(), s(company.id())),
            ("date".to_owned(), s(local.date_naive().to_string())),
            ("time".to_owned(), s(local.format("%H:%M").to_string())),
            ("start_ms".to_owned(), n(d.start.timestamp_millis())),
            ("end_ms".to_owned(), n(d.end.timestamp_millis())),
            ("service_id".to_owned(), s(service)),
            ("status".to_owned(), s(AppointmentStatus::Booked.as_str())),
            ("backend".to_owned(), s("calcom")),
            ("external_uid".to_owned(), s(&d.uid)),
            ("created_at_ms".to_owned(), n(now.timestamp_millis())),
            ("booked_at_ms".to_owned(), n(now.timestamp_millis())),
        ]);
        // The customer is found by phone (a later call): a number Cal.com's form collected.
        let phone = d
            .attendee_phone
            .as_deref()
            .and_then(|p| PhoneNumber::parse(p).ok());
        item.insert(
            "customer_phone".to_owned(),
            s(phone.as_ref().map_or("", |p| p.as_str())),
        );
        if let Some(phone) = &phone {
            item.insert(
                "customer_key".to_owned(),
                s(format!("{}#{}", company.id(), phone.as_str())),
            );
        }
        if let Some(staff) = staff {
            item.insert("staff_id".to_owned(), s(staff));
        }
        let detail = format!(
            "{} {} {}",
            local.date_naive(),
            local.format("%H:%M"),
            staff.unwrap_or_default()
        );
        item.insert(
            "changes".to_owned(),
            change_entry(BY, "booked", detail.trim_end()),
        );
        for (k, v) in [
            ("customer_name", &d.attendee_name),
            ("customer_email", &d.attendee_email),
        ] {
            if let Some(v) = v {
                item.insert(k.to_owned(), s(v));
            }
        }
        Ok(Some(item))
    }

    /// The move of `old` to the delivery's new uid and time, if it is still at `old_uid`.
    fn online_move(
        &self,
        company: &Company,
        old: &Appointment,
        old_uid: &str,
        d: &Delivery,
    ) -> Result<TransactWriteItem, CalendarError> {
        let local = d.start.with_timezone(&company.time_zone);
        let staff = match &company.settings.calendar {
            CalendarBackend::CalCom(cal) => d
                .event_type_id
                .and_then(|t| cal.service_of_event_type(t))
                .and_then(|(_, staff)| staff)
                .or_else(|| d.organizer_id.and_then(|u| cal.staff_of_user(u))),
            CalendarBackend::Native => None,
        };
        let mut update = "SET #date = :date, #time = :time, start_ms = :start, end_ms = :end, \
                          external_uid = :uid, rescheduled_at_ms = :now, \
                          changes = list_append(if_not_exists(changes, :none), :entry)"
            .to_owned();
        let detail = format!(
            "{} {} {}",
            local.date_naive(),
            local.format("%H:%M"),
            staff.or(old.staff_id.as_deref()).unwrap_or_default()
        );
        let mut builder = Update::builder()
            .table_name(&self.table)
            .key("pk", s(company_pk(company.id())))
            .key("sk", s(format!("A#{}", old.appointment_id)))
            .condition_expression("#status = :booked AND external_uid = :old_uid")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#date", "date")
            .expression_attribute_names("#time", "time")
            .expression_attribute_values(":booked", s(AppointmentStatus::Booked.as_str()))
            .expression_attribute_values(":old_uid", s(old_uid))
            .expression_attribute_values(":date", s(local.date_naive().to_string()))
            .expression_attribute_values(":time", s(local.format("%H:%M").to_string()))
            .expression_attribute_values(":start", n(d.start.timestamp_millis()))
            .expression_attribute_values(":end", n(d.end.timestamp_millis()))
            .expression_attribute_values(":uid", s(&d.uid))
            .expression_attribute_values(":now", n(Utc::now().timestamp_millis()))
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":entry", change_entry(BY, "moved", detail.trim_end()));
        if let Some(staff) = staff {
            update.push_str(", staff_id = :staff");
            builder = builder.expression_attribute_values(":staff", s(staff));
        }
        update.push_str(" REMOVE attendance, attendance_by, attendance_at_ms");
        Ok(TransactWriteItem::builder()
            .update(builder.update_expression(update).build().map_err(backend)?)
            .build())
    }
}
