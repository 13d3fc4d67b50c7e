//! The appointment ledger: the record, in DynamoDB's `AppointmentsTable`, of who booked what
//! by phone (docs/data-model.md). One appointment item per booking (`A#<id>`) and one customer
//! item per phone number (`U#<phone>`), whatever calendar the company uses: the native calendar
//! writes them with its lock items, Cal.com bookings are mirrored here (`pending`, then
//! `booked` with the booking's uid). They give a Retell retry its earlier booking back
//! (idempotency), let cancel/reschedule find only the caller's own appointments (ownership),
//! give the inbound call webhook the caller's name, and tell the consumer what became of a
//! write whose outcome the caller never heard.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};

use super::placement::Placement;
use super::{Appointment, AppointmentStatus, Attendance, BookingRequest, CalendarError, Change};

/// The longest change log an appointment keeps.
pub const MAX_CHANGES: usize = 100;
use crate::booking::company::Company;
use crate::booking::phone::PhoneNumber;

pub(super) fn backend<E: std::fmt::Display>(e: E) -> CalendarError {
    CalendarError::Backend(e.to_string())
}

/// What the inbound webhook knows about a caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerRecord {
    pub name: Option<String>,
    pub vip: bool,
    /// The staff marked them "no messages": no confirmation, reminder or offer is sent.
    pub no_messages: bool,
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn company_pk(company_id: &str) -> String {
    format!("C#{company_id}")
}

/// The appointment a booking request makes at `at`, once it is booked.
pub(super) fn booked_appointment(
    company: &Company,
    req: &BookingRequest<'_>,
    id: &str,
    at: &Placement,
    external_uid: Option<&str>,
    locks: BTreeSet<String>,
) -> Appointment {
    Appointment {
        appointment_id: id.to_owned(),
        company_id: company.id().to_owned(),
        date: req.date,
        time: req.time,
        start: at.start,
        end: at.end,
        service_id: req.service.id.clone(),
        customer_phone: req.customer_phone.as_str().to_owned(),
        customer_name: req.customer_name.map(str::to_owned),
        customer_email: req
            .customer_email
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned),
        status: AppointmentStatus::Booked,
        external_uid: external_uid.map(str::to_owned),
        staff_id: Some(at.staff_id.clone()).filter(|id| !id.is_empty()),
        call_id: req.call_id.map(str::to_owned),
        booked_by: req.booked_by.map(str::to_owned),
        backend: external_uid.map(|_| "calcom".to_owned()),
        attendance: None,
        changes: Vec::new(),
        locks,
    }
}

/// An external booking's item before the external calendar answered.
pub(super) enum Reservation {
    /// The item is written as `pending`; `retry` if an earlier attempt left it pending (that
    /// attempt may have booked externally before it was cut off).
    Pending { retry: bool },
    /// This booking exists already (a retry after success).
    Booked(Box<Appointment>),
}

/// Appointment and customer items of every company, in one table.
#[derive(Clone, Debug)]
pub struct AppointmentLedger {
    pub(super) client: aws_sdk_dynamodb::Client,
    pub(super) table: String,
}

impl AppointmentLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table's client, for items kept beside the appointments in partitions of their own (a
    /// call's knowledge checks, `tools::caller`; the control center's test-call counts).
    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The appointment item of a booking, with `status`.
    pub(super) fn appointment_item(
        &self,
        company: &Company,
        req: &BookingRequest<'_>,
        id: &str,
        at: &Placement,
        status: AppointmentStatus,
        now_ms: i64,
    ) -> HashMap<String, AttributeValue> {
        let phone = req.customer_phone.as_str();
        let mut item = HashMap::from([
            ("pk".to_owned(), s(company_pk(company.id()))),
            ("sk".to_owned(), s(format!("A#{id}"))),
            ("appointment_id".to_owned(), s(id)),
            ("company_id".to_owned(), s(company.id())),
            ("date".to_owned(), s(req.date.to_string())),
            ("time".to_owned(), s(req.time.format("%H:%M").to_string())),
            ("start_ms".to_owned(), n(at.start.timestamp_millis())),
            ("end_ms".to_owned(), n(at.end.timestamp_millis())),
            ("service_id".to_owned(), s(&req.service.id)),
            ("customer_phone".to_owned(), s(phone)),
            (
                "customer_key".to_owned(),
                s(format!("{}#{phone}", company.id())),
            ),
            ("status".to_owned(), s(status.as_str())),
            ("created_at_ms".to_owned(), n(now_ms)),
        ]);
        if !at.staff_id.is_empty() {
            item.insert("staff_id".to_owned(), s(&at.staff_id));
        }
        for (k, v) in [
            ("customer_name", req.customer_name),
            ("customer_email", req.customer_email),
            ("notes", req.notes),
            ("call_id", req.call_id),
            ("booked_by", req.booked_by),
        ] {
            if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
                item.insert(k.to_owned(), s(v.trim()));
            }
        }
        item
    }

    /// Upserts the customer (phone, and name/email when given) as part of a booking.
    pub(super) fn customer_upsert(
        &self,
        company: &Company,
        req: &BookingRequest<'_>,
        now_ms: i64,
    ) -> Result<TransactWriteItem, CalendarError> {
        let phone = req.customer_phone.as_str();
        let mut update = "SET phone = :phone, updated_at_ms = :now".to_owned();
        let mut customer = Update::builder()
            .table_name(&self.table)
            .key("pk", s(company_pk(company.id())))
            .key("sk", s(format!("U#{phone}")))
            .expression_attribute_values(":phone", s(phone))
            .expression_attribute_values(":now", n(now_ms));
        // A booking for a number the caller does not ring from fills in a name or e-mail the
        // customer lacks, and never replaces one: a number said aloud proves nothing.
        let (name_value, email_value) = if req.contact_proven {
            (":name", ":email")
        } else {
            (
                "if_not_exists(#name, :name)",
                "if_not_exists(email, :email)",
            )
        };
        if let Some(name) = req.customer_name.filter(|v| !v.trim().is_empty()) {
            update.push_str(&format!(", #name = {name_value}"));
            customer = customer
                .expression_attribute_names("#name", "name")
                .expression_attribute_values(":name", s(name.trim()));
        }
        if let Some(email) = req.customer_email.filter(|v| !v.trim().is_empty()) {
            update.push_str(&format!(", email = {email_value}"));
            customer = customer.expression_attribute_values(":email", s(email.trim()));
        }
        Ok(TransactWriteItem::builder()
            .update(
                customer
                    .update_expression(update)
                    .build()
                    .map_err(backend)?,
            )
            .build())
    }

    /// The appointment `id` of company `company_id`, as stored now (for the consumers, which
    /// know a call's company by id only).
    pub async fn appointment_of(
        &self,
        company_id: &str,
        id: &str,
    ) -> Result<Option<Appointment>, CalendarError> {
        self.item(company_id, format!("A#{id}"))
            .await?
            .as_ref()
            .map(parse_appointment)
            .transpose()
    }

    /// The appointment `id` of `company`, as stored now.
    pub async fn appointment(
        &self,
        company: &Company,
        id: &str,
    ) -> Result<Option<Appointment>, CalendarError> {
        self.appointment_of(company.id(), id).await
    }

    /// The customer's appointments, oldest first (one Query of the customer index).
    pub async fn customer_appointments(
        &self,
        company: &Company,
        phone: &PhoneNumber,
    ) -> Result<Vec<Appointment>, CalendarError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("customer-appointments")
            .key_condition_expression("customer_key = :k")
            .expression_attribute_values(":k", s(format!("{}#{}", company.id(), phone.as_str())))
            .send()
            .await
            .map_err(|e| backend(DisplayErrorContext(e)))?;
        let mut list = out
            .items
            .unwrap_or_default()
            .iter()
            .map(parse_appointment)
            .collect::<Result<Vec<_>, _>>()?;
        list.sort_by_key(|a| a.start);
        Ok(list)
    }

    /// A company's appointments (every status) starting in `[from, to)`, by start: the
    /// `company-appointments` index, page by page, at most `limit`.
    pub async fn appointments_between(
        &self,
        company_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Appointment>, CalendarError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("company-appointments")
                .key_condition_expression("company_id = :c AND start_ms BETWEEN :from AND :to")
                .expression_attribute_values(":c", s(company_id))
                .expression_attribute_values(":from", n(from.timestamp_millis()))
                .expression_attribute_values(":to", n(to.timestamp_millis() - 1))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| backend(DisplayErrorContext(e)))?;
            for item in page.items() {
                out.push(parse_appointment(item)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() && out.len() < limit => start = Some(key),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// Appends to an appointment's change log (at most [`MAX_CHANGES`] entries; later ones are
    /// logged, not kept). After the change itself, so a failure here never undoes it. Cancels
    /// and moves carry their entry in their own write instead (`cancellation`, `move_item`).
    pub async fn record_change(
        &self,
        company_id: &str,
        appointment_id: &str,
        by: &str,
        what: &str,
        detail: &str,
    ) -> Result<(), CalendarError> {
        let entry = change_entry(by, what, detail);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(company_pk(company_id)))
            .key("sk", s(format!("A#{appointment_id}")))
            .update_expression("SET changes = list_append(if_not_exists(changes, :none), :entry)")
            .condition_expression(
                "attribute_exists(sk) AND (attribute_not_exists(changes) OR size(changes) < :max)",
            )
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":entry", entry)
            .expression_attribute_values(":max", n(MAX_CHANGES as i64))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                tracing::warn!(
                    appointment_id,
                    what,
                    "change log full (or the appointment is gone): not kept"
                );
                Ok(())
            }
            Err(err) => Err(backend(DisplayErrorContext(err))),
        }
    }

    /// Marks whether a booked appointment's customer came; `Ok(false)`: it is not booked (any
    /// more), nothing changed.
    pub async fn set_attendance(
        &self,
        company_id: &str,
        appointment_id: &str,
        attendance: Attendance,
        by: &str,
    ) -> Result<bool, CalendarError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(company_pk(company_id)))
            .key("sk", s(format!("A#{appointment_id}")))
            .update_expression("SET attendance = :a, attendance_by = :by, attendance_at_ms = :now")
            .condition_expression("#status = :booked")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":booked", s(AppointmentStatus::Booked.as_str()))
            .expression_attribute_values(":a", s(attendance.as_str()))
            .expression_attribute_values(":by", s(by))
            .expression_attribute_values(":now", n(Utc::now().timestamp_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(backend(DisplayErrorContext(err))),
        }
    }

    /// The customer's record: the name a booking gave, and whether they are a VIP (one GetItem).
    pub async fn customer(
        &self,
        company: &Company,
        phone: &PhoneNumber,
    ) -> Result<CustomerRecord, CalendarError> {
        let item = self
            .item(company.id(), format!("U#{}", phone.as_str()))
            .await?;
        Ok(CustomerRecord {
            name: match item.as_ref().and_then(|i| i.get("name")) {
                Some(AttributeValue::S(name)) => Some(name.clone()),
                _ => None,
            },
            vip: matches!(
                item.as_ref().and_then(|i| i.get("vip")),
                Some(AttributeValue::Bool(true))
            ),
            no_messages: matches!(
                item.as_ref().and_then(|i| i.get("no_messages")),
                Some(AttributeValue::Bool(true))
            ),
        })
    }

    /// The names stored for these customers of `company_id`, by E.164 number (those without a
    /// record or a name left out): one BatchGetItem per 100 numbers, its unprocessed keys asked
    /// again at most twice.
    pub async fn customer_names(
        &self,
        company_id: &str,
        phones: &[PhoneNumber],
    ) -> Result<HashMap<String, String>, CalendarError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut names = HashMap::new();
        let mut unique: Vec<&str> = phones.iter().map(PhoneNumber::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        for chunk in unique.chunks(100) {
            let keys = chunk
                .iter()
                .map(|phone| {
                    HashMap::from([
                        ("pk".to_owned(), s(company_pk(company_id))),
                        ("sk".to_owned(), s(format!("U#{phone}"))),
                    ])
                })
                .collect();
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .projection_expression("sk, #name")
                    .expression_attribute_names("#name", "name")
                    .build()
                    .map_err(backend)?,
            );
            for _ in 0..3 {
                let Some(ask) = request.take() else { break };
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ask)
                    .send()
                    .await
                    .map_err(|e| backend(DisplayErrorContext(e)))?;
                for item in out
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    if let (Some(AttributeValue::S(sk)), Some(AttributeValue::S(name))) =
                        (item.get("sk"), item.get("name"))
                    {
                        if let Some(phone) = sk.strip_prefix("U#") {
                            names.insert(phone.to_owned(), name.clone());
                        }
                    }
                }
                request = out
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(&self.table))
                    .filter(|left| !left.keys.is_empty());
            }
        }
        Ok(names)
    }

    /// Marks a customer of `company_id` as not to be sent messages (or to be again); the record
    /// is created if the customer never booked.
    pub async fn set_no_messages(
        &self,
        company_id: &str,
        phone: &PhoneNumber,
        no_messages: bool,
        now_ms: i64,
    ) -> Result<(), CalendarError> {
        self.set_customer_flag(company_id, phone, "no_messages", no_messages, now_ms)
            .await
    }

    /// Marks a customer of `company_id` as a VIP (or not); the record is created if the
    /// customer never booked.
    pub async fn set_vip(
        &self,
        company_id: &str,
        phone: &PhoneNumber,
        vip: bool,
        now_ms: i64,
    ) -> Result<(), CalendarError> {
        self.set_customer_flag(company_id, phone, "vip", vip, now_ms)
            .await
    }

    /// Sets one of the customer record's flags (`vip`, `no_messages`).
    async fn set_customer_flag(
        &self,
        company_id: &str,
        phone: &PhoneNumber,
        flag: &'static str,
        on: bool,
        now_ms: i64,
    ) -> Result<(), CalendarError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(company_pk(company_id)))
            .key("sk", s(format!("U#{}", phone.as_str())))
            .update_expression("SET phone = :phone, #flag = :on, updated_at_ms = :now")
            .expression_attribute_names("#flag", flag)
            .expression_attribute_values(":phone", s(phone.as_str()))
            .expression_attribute_values(":on", AttributeValue::Bool(on))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await
            .map_err(|e| backend(DisplayErrorContext(e)))?;
        Ok(())
    }

    /// One item of the company's partition.
    async fn item(
        &self,
        company_id: &str,
        sk: String,
    ) -> Result<Option<HashMap<String, AttributeValue>>, CalendarError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(company_pk(company_id)))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend(DisplayErrorContext(e)))?;
        Ok(out.item)
    }

    /// Marks a booked appointment's item cancelled (the native calendar frees its lock items in
    /// the same transaction).
    pub(super) fn cancellation(
        &self,
        company: &Company,
        appointment: &Appointment,
        by: &str,
    ) -> Result<TransactWriteItem, CalendarError> {
        let detail = format!(
            "{} {} {}",
            appointment.date,
            appointment.time.format("%H:%M"),
            appointment.staff_id.as_deref().unwrap_or_default()
        );
        Ok(TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.table)
                    .key("pk", s(company_pk(company.id())))
                    .key("sk", s(format!("A#{}", appointment.appointment_id)))
                    .update_expression(
                        "SET #status = :cancelled, cancelled_at_ms = :now, \
                         changes = list_append(if_not_exists(changes, :none), :entry)",
                    )
                    .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
                    .expression_attribute_values(
                        ":entry",
                        change_entry(by, "cancelled", detail.trim_end()),
                    )
                    .condition_expression("#status = :booked")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(
                        ":cancelled",
                        s(AppointmentStatus::Cancelled.as_str()),
                    )
                    .expression_attribute_values(":booked", s(AppointmentStatus::Booked.as_str()))
                    .expression_attribute_values(":now", n(Utc::now().timestamp_millis()))
                    .build()
                    .map_err(backend)?,
            )
            .build())
    }

    /// Cancels an appointment that holds no lock items (an external calendar's): `false` if it
    /// was not booked any more.
    pub(super) async fn cancel(
        &self,
        company: &Company,
        appointment: &Appointment,
        by: &str,
    ) -> Result<bool, CalendarError> {
        self.run(vec![self.cancellation(company, appointment, by)?])
            .await
    }

    /// Moves a booked appointment's item to `to` (its time, locks and external uid), if it is
    /// still booked at its old time.
    pub(super) fn move_item(
        &self,
        company: &Company,
        appointment: &Appointment,
        (date, time): (NaiveDate, NaiveTime),
        to: &Placement,
        external_uid: Option<&str>,
        by: &str,
    ) -> Result<TransactWriteItem, CalendarError> {
        let mut update = "SET #date = :date, #time = :time, start_ms = :start, end_ms = :end, rescheduled_at_ms = :now, \
                          changes = list_append(if_not_exists(changes, :none), :entry)".to_owned();
        let staff = if to.staff_id.is_empty() {
            appointment.staff_id.as_deref().unwrap_or_default()
        } else {
            to.staff_id.as_str()
        };
        let detail = format!("{date} {} {staff}", time.format("%H:%M"));
        let mut builder = Update::builder()
            .table_name(&self.table)
            .key("pk", s(company_pk(company.id())))
            .key("sk", s(format!("A#{}", appointment.appointment_id)))
            .condition_expression("#status = :booked AND start_ms = :old_start")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#date", "date")
            .expression_attribute_names("#time", "time")
            .expression_attribute_values(":booked", s(AppointmentStatus::Booked.as_str()))
            .expression_attribute_values(":old_start", n(appointment.start.timestamp_millis()))
            .expression_attribute_values(":date", s(date.to_string()))
            .expression_attribute_values(":time", s(time.format("%H:%M").to_string()))
            .expression_attribute_values(":start", n(to.start.timestamp_millis()))
            .expression_attribute_values(":end", n(to.end.timestamp_millis()))
            .expression_attribute_values(":now", n(Utc::now().timestamp_millis()))
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":entry", change_entry(by, "moved", detail.trim_end()));
        if !to.staff_id.is_empty() {
            update.push_str(", staff_id = :staff");
            builder = builder.expression_attribute_values(":staff", s(&to.staff_id));
        }
        // A moved appointment is a new visit: whether the customer came is not known yet.
        let clear = " REMOVE attendance, attendance_by, attendance_at_ms";
        match external_uid {
            Some(uid) => {
                update.push_str(", external_uid = :uid");
                // Cal.com's webhook for this very move may have landed first (calcom_inbox).
                builder = builder
                    .condition_expression(
                        "#status = :booked AND (start_ms = :old_start OR external_uid = :uid)",
                    )
                    .expression_attribute_values(":uid", s(uid));
            }
            None => {
                update.push_str(", #locks = :locks");
                builder = builder
                    .expression_attribute_names("#locks", "locks")
                    .expression_attribute_values(
                        ":locks",
                        AttributeValue::Ss(to.locks.iter().cloned().collect()),
                    );
            }
        }
        update.push_str(clear);
        Ok(TransactWriteItem::builder()
            .update(builder.update_expression(update).build().map_err(backend)?)
            .build())
    }

    /// Runs a transaction. `Err(codes)` inside: it was cancelled (nothing was written), with
    /// one cancellation code per item, in item order.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Vec<String>>, CalendarError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(err) => match cancellation_codes(&err) {
                codes if !codes.is_empty() => Ok(Err(codes)),
                _ => Err(backend(DisplayErrorContext(err))),
            },
        }
    }

    /// Runs a transaction; `Ok(false)` if a condition failed (nothing was written).
    pub(super) async fn run(&self, items: Vec<TransactWriteItem>) -> Result<bool, CalendarError> {
        Ok(self.transact(items).await?.is_ok())
    }
}

/// The item side of bookings in an external calendar: one conditional write before the
/// external call, one transaction after it.
impl AppointmentLedger {
    /// Writes the booking's item as `pending` unless the same booking is already booked.
    pub(super) async fn external_reserve(
        &self,
        company: &Company,
        req: &BookingRequest<'_>,
        id: &str,
        at: &Placement,
        backend_name: &str,
    ) -> Result<Reservation, CalendarError> {
        let now = Utc::now().timestamp_millis();
        let mut item = self.appointment_item(company, req, id, at, AppointmentStatus::Pending, now);
        item.insert("backend".to_owned(), s(backend_name));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(sk) OR #status IN (:cancelled, :pending)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":cancelled", s(AppointmentStatus::Cancelled.as_str()))
            .expression_attribute_values(":pending", s(AppointmentStatus::Pending.as_str()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let retry = matches!(
                    out.attributes.as_ref().and_then(|old| old.get("status")),
                    Some(AttributeValue::S(status)) if status == AppointmentStatus::Pending.as_str()
                );
                Ok(Reservation::Pending { retry })
            }
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                match self.appointment(company, id).await? {
                    Some(existing) if existing.status == AppointmentStatus::Booked => {
                        Ok(Reservation::Booked(Box::new(existing)))
                    }
                    _ => Err(CalendarError::Backend(
                        "the booking changed concurrently".into(),
                    )),
                }
            }
            Err(err) => Err(backend(DisplayErrorContext(err))),
        }
    }

    /// The external calendar took the booking: the item becomes `booked` with the external
    /// uid, and the customer is upserted, in one transaction.
    pub(super) async fn external_confirm(
        &self,
        company: &Company,
        req: &BookingRequest<'_>,
        id: &str,
        at: &Placement,
        uid: &str,
    ) -> Result<Appointment, CalendarError> {
        let now = Utc::now().timestamp_millis();
        let mut confirm = Update::builder()
            .table_name(&self.table)
            .key("pk", s(company_pk(company.id())))
            .key("sk", s(format!("A#{id}")));
        // The person is known only now when the external calendar chose them (round robin).
        confirm = if at.staff_id.is_empty() {
            confirm.update_expression(
                "SET #status = :booked, external_uid = :uid, booked_at_ms = :now",
            )
        } else {
            confirm
                .update_expression(
                    "SET #status = :booked, external_uid = :uid, booked_at_ms = :now, staff_id = :staff",
                )
                .expression_attribute_values(":staff", s(&at.staff_id))
        };
        let items = vec![
            TransactWriteItem::builder()
                .update(
                    confirm
                        .condition_expression("attribute_exists(sk) AND #status <> :cancelled")
                        .expression_attribute_names("#status", "status")
                        .expression_attribute_values(
                            ":booked",
                            s(AppointmentStatus::Booked.as_str()),
                        )
                        .expression_attribute_values(
                            ":cancelled",
                            s(AppointmentStatus::Cancelled.as_str()),
                        )
                        .expression_attribute_values(":uid", s(uid))
                        .expression_attribute_values(":now", n(now))
                        .build()
                        .map_err(backend)?,
                )
                .build(),
            self.customer_upsert(company, req, now)?,
        ];
        if !self.run(items).await? {
            return Err(CalendarError::Backend(format!(
                "booking {uid} was made but its appointment item changed concurrently"
            )));
        }
        // An external booking's item holds no lock items: the external calendar keeps the time.
        Ok(booked_appointment(
            company,
            req,
            id,
            at,
            Some(uid),
            BTreeSet::new(),
        ))
    }

    /// The external calendar refused the booking: the pending item goes.
    pub(super) async fn external_release(
        &self,
        company: &Company,
        id: &str,
    ) -> Result<(), CalendarError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(company_pk(company.id())))
            .key("sk", s(format!("A#{id}")))
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(AppointmentStatus::Pending.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // A concurrent retry confirmed it meanwhile: keep it.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(backend(DisplayErrorContext(err))),
        }
    }

    /// The external calendar moved it (to a booking with a new uid).
    pub(super) async fn external_moved(
        &self,
        company: &Company,
        appointment: &Appointment,
        (date, time): (NaiveDate, NaiveTime),
        to: &Placement,
        uid: &str,
        by: &str,
    ) -> Result<Appointment, CalendarError> {
        let item = self.move_item(company, appointment, (date, time), to, Some(uid), by)?;
        if !self.run(vec![item]).await? {
            return Err(CalendarError::Backend(format!(
                "booking moved to {uid} but its appointment item changed concurrently"
            )));
        }
        Ok(Appointment {
            date,
            time,
            start: to.start,
            end: to.end,
            external_uid: Some(uid.to_owned()),
            staff_id: Some(to.staff_id.clone())
                .filter(|id| !id.is_empty())
                .or_else(|| appointment.staff_id.clone()),
            attendance: None,
            changes: changes_after_move(appointment, (date, time), to, by),
            ..appointment.clone()
        })
    }
}

/// The change log of `appointment` after a move to `to` (the entry `move_item` appends), for
/// the appointment a move returns.
pub(super) fn changes_after_move(
    appointment: &Appointment,
    (date, time): (NaiveDate, NaiveTime),
    to: &Placement,
    by: &str,
) -> Vec<super::Change> {
    let staff = if to.staff_id.is_empty() {
        appointment.staff_id.as_deref().unwrap_or_default()
    } else {
        to.staff_id.as_str()
    };
    let mut changes = appointment.changes.clone();
    changes.push(super::Change {
        at_ms: Utc::now().timestamp_millis(),
        by: by.to_owned(),
        what: "moved".to_owned(),
        detail: format!("{date} {} {staff}", time.format("%H:%M"))
            .trim_end()
            .to_owned(),
    });
    changes
}

/// One change-log entry, as a list of one to append: when, who, what, and where it is now.
pub(super) fn change_entry(by: &str, what: &str, detail: &str) -> AttributeValue {
    AttributeValue::L(vec![AttributeValue::M(HashMap::from([
        ("at_ms".to_owned(), n(Utc::now().timestamp_millis())),
        ("by".to_owned(), s(by)),
        ("what".to_owned(), s(what)),
        ("detail".to_owned(), s(detail)),
    ]))])
}

fn cancellation_codes<R>(
    err: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>,
) -> Vec<String> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("None").to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

fn parse_change(entry: &AttributeValue) -> Option<Change> {
    let AttributeValue::M(m) = entry else {
        return None;
    };
    let text = |k: &str| match m.get(k) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    Some(Change {
        at_ms: match m.get("at_ms") {
            Some(AttributeValue::N(v)) => v.parse().ok()?,
            _ => return None,
        },
        by: text("by")?,
        what: text("what")?,
        detail: text("detail").unwrap_or_default(),
    })
}

/// An appointment item read back (docs/data-model.md, "Appointments table").
pub fn parse_appointment(
    item: &HashMap<String, AttributeValue>,
) -> Result<Appointment, CalendarError> {
    let corrupt = |f: &str| CalendarError::Corrupt(f.to_owned());
    let text = |f: &str| match item.get(f) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(corrupt(f)),
    };
    let ms = |f: &str| match item.get(f) {
        Some(AttributeValue::N(v)) => v
            .parse::<i64>()
            .ok()
            .and_then(|m| Utc.timestamp_millis_opt(m).single())
            .ok_or_else(|| corrupt(f)),
        _ => Err(corrupt(f)),
    };
    Ok(Appointment {
        appointment_id: text("appointment_id")?,
        company_id: text("company_id")?,
        date: text("date")?.parse().map_err(|_| corrupt("date"))?,
        time: NaiveTime::parse_from_str(&text("time")?, "%H:%M").map_err(|_| corrupt("time"))?,
        start: ms("start_ms")?,
        end: ms("end_ms")?,
        service_id: text("service_id")?,
        customer_phone: text("customer_phone")?,
        customer_name: text("customer_name").ok(),
        customer_email: text("customer_email").ok(),
        status: AppointmentStatus::parse(&text("status")?).ok_or_else(|| corrupt("status"))?,
        external_uid: text("external_uid").ok(),
        staff_id: text("staff_id").ok(),
        call_id: text("call_id").ok(),
        booked_by: text("booked_by").ok(),
        backend: text("backend").ok(),
        attendance: text("attendance").ok().and_then(|a| Attendance::parse(&a)),
        changes: match item.get("changes") {
            Some(AttributeValue::L(entries)) => entries.iter().filter_map(parse_change).collect(),
            _ => Vec::new(),
        },
        locks: match item.get("locks") {
            Some(AttributeValue::Ss(l)) => l.iter().cloned().collect(),
            _ => BTreeSet::new(),
        },
    })
}
