//! The messaging Lambda's work: a [`Notice`] in, the messages it means out. Each message is
//! decided (send, skip with a reason, or wait), claimed under its idempotency key, sent, and
//! recorded; metrics count sent, skipped and failed per channel.
//!
//! Checked when sending, not when queued: the appointment is read as it is now, so a
//! confirmation of a change that a later one replaced, or a reminder of an appointment that was
//! moved or cancelled, is not sent.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

use super::sender::Providers;
use super::store::{Claim, MessageStore, Outcome};
use super::texts::{render, Values};
use super::{change_number, count, ics, mime, Channel, MessagingError, Notice};
use crate::booking::company::{Company, MessagingSettings};
use crate::booking::directory::{CompanyDirectory, CompanyKey};
use crate::booking::messaging_settings::email_address;
use crate::booking::phone::{Destination, PhoneNumber};
use crate::booking::spoken::{german_date, hhmm};
use crate::calendar::{Appointment, AppointmentLedger, AppointmentStatus, Attendance};
use crate::callbacks::CallbackStore;
use crate::retell::api::{PhoneCallRequest, RetellClient};
use crate::retell::keys::{KeyProvider, SecretsManagerSource};

/// Why a notice goes back to the queue (retried, then dead-lettered).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Retry(pub String);

impl From<MessagingError> for Retry {
    fn from(e: MessagingError) -> Self {
        Retry(e.to_string())
    }
}

impl From<crate::calendar::CalendarError> for Retry {
    fn from(e: crate::calendar::CalendarError) -> Self {
        Retry(e.to_string())
    }
}

/// Retell, for reminder calls: the company's key from the stack's key ring.
pub struct RetellCalls {
    pub keys: KeyProvider<SecretsManagerSource>,
    pub base_url: String,
}

impl RetellCalls {
    async fn client(&self, company_id: &str) -> Result<RetellClient, String> {
        let ring = self.keys.current().await.map_err(|e| e.to_string())?;
        RetellClient::new(
            &self.base_url,
            ring.key_for(Some(company_id)).to_owned(),
            std::time::Duration::from_secs(10),
        )
        .map_err(|e| e.to_string())
    }
}

pub struct Dispatcher {
    pub companies: CompanyDirectory,
    pub ledger: AppointmentLedger,
    pub callbacks: CallbackStore,
    pub store: MessageStore,
    pub providers: Providers,
    pub retell: Option<Arc<RetellCalls>>,
}

/// What to do with one message.
enum Decision {
    Send,
    Skip(&'static str),
    /// Wait until then (quiet or calling hours), as this notice.
    Wait(DateTime<Utc>),
}

/// One message, decided.
struct Message<'a> {
    company: &'a Company,
    key: String,
    channel: Channel,
    kind: &'static str,
    /// Masked, for the record.
    recipient: String,
}

impl Dispatcher {
    pub async fn handle(&self, notice: &Notice, now: DateTime<Utc>) -> Result<(), Retry> {
        let Some(company) = self
            .companies
            .lookup(&CompanyKey::Id(notice.company_id().to_owned()))
            .await
            .map_err(|e| Retry(e.to_string()))?
        else {
            tracing::warn!(
                company_id = notice.company_id(),
                kind = notice.kind(),
                "notice for an unknown company; dropped"
            );
            return Ok(());
        };
        let Some(settings) = company.settings.messaging.clone() else {
            tracing::debug!(company_id = company.id(), "company sends no messages");
            return Ok(());
        };
        match notice {
            Notice::Appointment {
                appointment_id,
                change,
                channel,
                ..
            } => {
                self.confirmation(&company, &settings, appointment_id, *change, *channel, now)
                    .await
            }
            Notice::Reminder {
                appointment_id,
                change,
                channel,
                ..
            } => {
                self.reminder(&company, &settings, appointment_id, *change, *channel, now)
                    .await
            }
            Notice::NoShow { appointment_id, .. } => {
                self.no_show(&company, &settings, appointment_id, now).await
            }
            Notice::Callback { callback_id, .. } => {
                self.staff_callback(&company, &settings, callback_id, now)
                    .await
            }
        }
    }

    /// The appointment as it is, if it is still at `change` (else a later notice covers it).
    async fn current(
        &self,
        company: &Company,
        appointment_id: &str,
        change: Option<u32>,
    ) -> Result<Option<Appointment>, Retry> {
        let Some(appointment) = self.ledger.appointment(company, appointment_id).await? else {
            tracing::warn!(appointment_id, "notice for an unknown appointment; dropped");
            return Ok(None);
        };
        if let Some(change) = change {
            let now = change_number(&appointment);
            if now != change {
                tracing::info!(
                    appointment_id,
                    change,
                    now,
                    "superseded by a later change; not sent"
                );
                return Ok(None);
            }
        }
        Ok(Some(appointment))
    }

    async fn confirmation(
        &self,
        company: &Company,
        settings: &MessagingSettings,
        appointment_id: &str,
        change: u32,
        only: Option<Channel>,
        now: DateTime<Utc>,
    ) -> Result<(), Retry> {
        let Some(a) = self.current(company, appointment_id, Some(change)).await? else {
            return Ok(());
        };
        let event = match a.status {
            AppointmentStatus::Cancelled => "cancelled",
            AppointmentStatus::Booked if change == 0 => "booked",
            AppointmentStatus::Booked => "moved",
            _ => return Ok(()),
        };
        let language = settings.language(&company.settings.language);
        let values = values(company, &a, language);
        let customer = self.customer(company, &a).await?;
        let wants = |c: Channel| only.is_none_or(|o| o == c);
        if settings.sms && wants(Channel::Sms) {
            let text = render(&format!("{event}_sms"), language, &settings.texts, &values);
            let wait_as = Notice::Appointment {
                company_id: company.id().to_owned(),
                appointment_id: a.appointment_id.clone(),
                change,
                channel: Some(Channel::Sms),
            };
            let key = format!("{}#{change}#confirmation#sms", a.appointment_id);
            self.sms(
                company,
                settings,
                key,
                "confirmation",
                &a.customer_phone,
                customer,
                &text,
                wait_as,
                None,
                now,
            )
            .await?;
        }
        if settings.email && wants(Channel::Email) {
            if let Some(to) = a.customer_email.as_deref() {
                let subject = render(
                    &format!("{event}_subject"),
                    language,
                    &settings.texts,
                    &values,
                );
                let text = render(&format!("{event}_sms"), language, &settings.texts, &values);
                let body = email_body(&text, &values, language);
                let key = format!("{}#{change}#confirmation#email", a.appointment_id);
                let summary = format!("{} – {}", values.service, values.company);
                let uid = format!("{}@{}", a.appointment_id, company.id());
                let calendar = ics::calendar(&ics::Event {
                    uid: &uid,
                    sequence: change,
                    cancelled: event == "cancelled",
                    start: a.start,
                    end: a.end,
                    zone: company.time_zone,
                    summary: &summary,
                    description: &body,
                    organizer: settings
                        .email_from
                        .as_deref()
                        .and_then(|f| email_address(f).ok())
                        .map(|address| (company.settings.name.as_str(), address)),
                    stamp: now,
                });
                let method = if event == "cancelled" {
                    "CANCEL"
                } else {
                    "REQUEST"
                };
                self.email(
                    company,
                    settings,
                    key,
                    "confirmation",
                    to,
                    customer,
                    &subject,
                    &body,
                    Some(("termin.ics", method, &calendar)),
                    now,
                )
                .await?;
            }
        }
        if a.status == AppointmentStatus::Booked {
            self.plan_reminder(company, settings, &a, change, now)
                .await?;
        }
        Ok(())
    }

    /// Puts the reminder of `a` at `change` in the due index, if it is still ahead: a booking
    /// made after its reminder would have gone has its confirmation instead.
    async fn plan_reminder(
        &self,
        company: &Company,
        settings: &MessagingSettings,
        a: &Appointment,
        change: u32,
        now: DateTime<Utc>,
    ) -> Result<(), Retry> {
        let reminds = (settings.sms && settings.reminder_sms) || settings.reminder_call.is_some();
        let due = a.start - Duration::minutes(i64::from(settings.reminder_lead_minutes));
        if !reminds || due <= now {
            return Ok(());
        }
        let notice = Notice::Reminder {
            company_id: company.id().to_owned(),
            appointment_id: a.appointment_id.clone(),
            change,
            channel: None,
        };
        self.store
            .schedule(&notice, &format!("R#{}#{change}", a.appointment_id), due)
            .await?;
        Ok(())
    }

    async fn reminder(
        &self,
        company: &Company,
        settings: &MessagingSettings,
        appointment_id: &str,
        change: u32,
        only: Option<Channel>,
        now: DateTime<Utc>,
    ) -> Result<(), Retry> {
        let Some(a) = self.current(company, appointment_id, Some(change)).await? else {
            return Ok(());
        };
        if a.status != AppointmentStatus::Booked || a.start <= now {
            tracing::info!(appointment_id, "not booked any more or begun; no reminder");
            return Ok(());
        }
        let language = settings.language(&company.settings.language);
        let values = values(company, &a, language);
        let customer = self.customer(company, &a).await?;
        let wants = |c: Channel| only.is_none_or(|o| o == c);
        if settings.sms && settings.reminder_sms && wants(Channel::Sms) {
            let text = render("reminder_sms", language, &settings.texts, &values);
            let wait_as = Notice::Reminder {
                company_id: company.id().to_owned(),
                appointment_id: a.appointment_id.clone(),
                change,
                channel: Some(Channel::Sms),
            };
            let key = format!("{}#{change}#reminder#sms", a.appointment_id);
            self.sms(
                company,
                settings,
                key,
                "reminder",
                &a.customer_phone,
                customer,
                &text,
                wait_as,
                Some(a.start),
                now,
            )
            .await?;
        }
        if settings.reminder_call.is_some() && wants(Channel::Call) {
            self.reminder_call(company, settings, &a, change, customer, &values, now)
                .await?;
        }
        Ok(())
    }

    async fn no_show(
        &self,
        company: &Company,
        settings: &MessagingSettings,
        appointment_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Retry> {
        if !(settings.sms && settings.no_show_offer) {
            return Ok(());
        }
        let Some(a) = self.current(company, appointment_id, None).await? else {
            return Ok(());
        };
        if a.attendance != Some(Attendance::NoShow) {
            tracing::info!(appointment_id, "not a no-show any more; no offer");
            return Ok(());
        }
        let language = settings.language(&company.settings.language);
        let text = render(
            "no_show_sms",
            language,
            &settings.texts,
            &values(company, &a, language),
        );
        let customer = self.customer(company, &a).await?;
        let wait_as = Notice::NoShow {
            company_id: company.id().to_owned(),
            appointment_id: a.appointment_id.clone(),
        };
        let key = format!("{}#no_show#sms", a.appointment_id);
        self.sms(
            company,
            settings,
            key,
            "no_show",
            &a.customer_phone,
            customer,
            &text,
            wait_as,
            None,
            now,
        )
        .await
    }

    /// The staff's notice of a callback: who, why, by when.
    async fn staff_callback(
        &self,
        company: &Company,
        settings: &MessagingSettings,
        callback_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Retry> {
        let Some(to) = settings.staff_email.as_deref() else {
            return Ok(());
        };
        if settings.email_from.is_none() {
            return Ok(());
        }
        let Some(callback) = self
            .callbacks
            .get(company.id(), callback_id)
            .await
            .map_err(|e| Retry(e.to_string()))?
        else {
            tracing::warn!(callback_id, "notice for an unknown callback; dropped");
            return Ok(());
        };
        let en = settings.language(&company.settings.language) == "en";
        let due = callback.due(company).with_timezone(&company.time_zone);
        let who = callback
            .name
            .clone()
            .unwrap_or_else(|| callback.phone.clone());
        let (subject, body) = if en {
            (
                format!("Callback requested: {who}"),
                format!(
                    "Please call back {who} on {}.\n\nReason: {}\nPreferred: {}\nDue by: {}\n{}\n",
                    callback.phone,
                    callback.reason,
                    callback.preferred.as_deref().unwrap_or("-"),
                    due.format("%Y-%m-%d %H:%M"),
                    if callback.source == crate::callbacks::CallbackSource::FollowUp {
                        "A call left a booking unresolved."
                    } else {
                        "Requested on the phone."
                    }
                ),
            )
        } else {
            (
                format!("Rückruf erbeten: {who}"),
                format!(
                    "Bitte {who} unter {} zurückrufen.\n\nAnliegen: {}\nWunschzeit: {}\nFällig bis: {}\n{}\n",
                    callback.phone,
                    callback.reason,
                    callback.preferred.as_deref().unwrap_or("-"),
                    due.format("%d.%m.%Y %H:%M"),
                    if callback.source == crate::callbacks::CallbackSource::FollowUp {
                        "Ein Anruf hat eine Buchung offen gelassen."
                    } else {
                        "Am Telefon erbeten."
                    }
                ),
            )
        };
        let key = format!("{callback_id}#staff#email");
        self.email(
            company,
            settings,
            key,
            "staff_notice",
            to,
            NO_CUSTOMER,
            &subject,
            &body,
            None,
            now,
        )
        .await
    }

    /// The customer's record: whether they want no messages.
    async fn customer(&self, company: &Company, a: &Appointment) -> Result<Customer, Retry> {
        let Ok(phone) = PhoneNumber::parse(&a.customer_phone) else {
            return Ok(Customer { no_messages: false });
        };
        let record = self.ledger.customer(company, &phone).await?;
        Ok(Customer {
            no_messages: record.no_messages,
        })
    }

    // Every part is a different thing the send needs; grouping them would only rename them.
    #[allow(clippy::too_many_arguments)]
    async fn sms(
        &self,
        company: &Company,
        settings: &MessagingSettings,
        key: String,
        kind: &'static str,
        phone: &str,
        customer: Customer,
        text: &str,
        wait_as: Notice,
        before: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), Retry> {
        let number = PhoneNumber::parse(phone).ok();
        let message = Message {
            company,
            key,
            channel: Channel::Sms,
            kind,
            recipient: crate::booking::phone::mask_phone(phone),
        };
        let decision = match &number {
            None => Decision::Skip("invalid_number"),
            Some(_) if customer.no_messages => Decision::Skip("no_messages"),
            Some(n) if !n.can_receive_sms() => Decision::Skip("not_mobile"),
            Some(_) => match quiet_until(company, settings, now) {
                Some(end) if before.is_some_and(|b| end >= b) => Decision::Skip("quiet_hours"),
                Some(end) => Decision::Wait(end),
                None => Decision::Send,
            },
        };
        let decision = match (decision, &number) {
            (Decision::Send, Some(n)) if self.providers.opted_out(n.as_str()).await? => {
                Decision::Skip("opted_out")
            }
            (d, _) => d,
        };
        let sender = settings.sms_sender_id.clone();
        self.run(message, decision, wait_as, now, || async move {
            let Some(number) = number else {
                return Err(MessagingError::Refused {
                    channel: "sms",
                    reason: "invalid number".into(),
                });
            };
            self.providers
                .sms(number.as_str(), text, sender.as_deref())
                .await
        })
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn email(
        &self,
        company: &Company,
        settings: &MessagingSettings,
        key: String,
        kind: &'static str,
        to: &str,
        customer: Customer,
        subject: &str,
        text: &str,
        calendar: Option<(&str, &str, &str)>,
        now: DateTime<Utc>,
    ) -> Result<(), Retry> {
        let address = email_address(to).ok();
        let from = settings.email_from.clone().unwrap_or_default();
        let message = Message {
            company,
            key: key.clone(),
            channel: Channel::Email,
            kind,
            recipient: mask_email(to),
        };
        let decision = match (&address, email_address(&from)) {
            (None, _) => Decision::Skip("invalid_address"),
            (_, Err(_)) => Decision::Skip("no_sender"),
            _ if customer.no_messages => Decision::Skip("no_messages"),
            _ => Decision::Send,
        };
        let wait_as = Notice::Callback {
            company_id: company.id().to_owned(),
            callback_id: String::new(),
        };
        self.run(message, decision, wait_as, now, || async move {
            let to = address.unwrap_or_default();
            let raw = mime::raw(&mime::Email {
                from: &from,
                to,
                subject,
                text,
                calendar,
                date: now,
                id: &key,
            });
            let bare_from = email_address(&from).unwrap_or_default();
            self.providers.email(bare_from, to, &raw).await
        })
        .await
    }

    /// A reminder call by the company's reminder agent: within its calling hours (else when
    /// they next begin, if before the appointment), at most one per appointment ever.
    #[allow(clippy::too_many_arguments)]
    async fn reminder_call(
        &self,
        company: &Company,
        settings: &MessagingSettings,
        a: &Appointment,
        change: u32,
        customer: Customer,
        values: &Values,
        now: DateTime<Utc>,
    ) -> Result<(), Retry> {
        let Some(call) = settings.reminder_call.clone() else {
            return Ok(());
        };
        let number = PhoneNumber::parse(&a.customer_phone).ok();
        let message = Message {
            company,
            key: format!("{}#call", a.appointment_id),
            channel: Channel::Call,
            kind: "reminder",
            recipient: crate::booking::phone::mask_phone(&a.customer_phone),
        };
        let hours = crate::booking::company::weekly_hours(&call.hours).unwrap_or_default();
        let decision = match &number {
            None => Decision::Skip("invalid_number"),
            Some(n) if n.destination() != Destination::Ordinary => Decision::Skip("special_number"),
            Some(_) if customer.no_messages => Decision::Skip("no_messages"),
            Some(_) if self.retell.is_none() => Decision::Skip("no_retell"),
            Some(_) => match next_calling_time(company, &hours, now) {
                Some(at) if at <= now => Decision::Send,
                Some(at) if at < a.start - Duration::hours(1) => Decision::Wait(at),
                _ => Decision::Skip("outside_calling_hours"),
            },
        };
        let wait_as = Notice::Reminder {
            company_id: company.id().to_owned(),
            appointment_id: a.appointment_id.clone(),
            change,
            channel: Some(Channel::Call),
        };
        let variables = BTreeMap::from([
            ("customer_name".to_owned(), values.name.clone()),
            ("appointment_id".to_owned(), a.appointment_id.clone()),
            ("appointment_date".to_owned(), values.date.clone()),
            ("appointment_time".to_owned(), values.time.clone()),
            ("service".to_owned(), values.service.clone()),
            ("staff".to_owned(), values.staff.clone()),
            ("company_name".to_owned(), values.company.clone()),
            ("disclosure".to_owned(), company.settings.disclosure()),
        ]);
        let request = PhoneCallRequest {
            from_number: call.from_number.clone(),
            to_number: a.customer_phone.clone(),
            override_agent_id: Some(call.agent_id.clone()),
            idempotency_key: Some(format!("reminder-{}", a.appointment_id)),
            retell_llm_dynamic_variables: Some(variables),
            metadata: Some(
                serde_json::json!({"purpose": "reminder", "appointment_id": a.appointment_id}),
            ),
            ..Default::default()
        };
        let retell = self.retell.clone();
        let company_id = company.id().to_owned();
        self.run(message, decision, wait_as, now, || async move {
            let Some(retell) = retell else {
                return Err(MessagingError::Backend("no Retell access".into()));
            };
            let client = retell
                .client(&company_id)
                .await
                .map_err(MessagingError::Backend)?;
            match client.create_phone_call(&request).await {
                Ok(call) => Ok(call.call_id),
                Err(e)
                    if e.status()
                        .is_some_and(|s| (400..500).contains(&s) && s != 429) =>
                {
                    Err(MessagingError::Refused {
                        channel: "call",
                        reason: e.to_string(),
                    })
                }
                Err(e) => Err(MessagingError::Backend(e.to_string())),
            }
        })
        .await
    }

    /// Claims, sends (or records the skip), and counts one message; waits by scheduling.
    async fn run<F, Fut>(
        &self,
        m: Message<'_>,
        decision: Decision,
        wait_as: Notice,
        now: DateTime<Utc>,
        send: F,
    ) -> Result<(), Retry>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<String, MessagingError>>,
    {
        let company_id = m.company.id();
        if let Decision::Wait(at) = decision {
            tracing::info!(key = %m.key, channel = m.channel.as_str(), at = %at, "message waits");
            self.store
                .schedule(&wait_as, &format!("W#{}", m.key), at)
                .await?;
            return Ok(());
        }
        match self
            .store
            .claim(
                company_id,
                &m.key,
                m.channel.as_str(),
                m.kind,
                &m.recipient,
                now,
            )
            .await?
        {
            Claim::Ours => {}
            Claim::Settled(status) => {
                tracing::info!(key = %m.key, status, "already handled; not sent again");
                return Ok(());
            }
            Claim::Busy => return Err(Retry(format!("{} is being sent", m.key))),
        }
        let outcome = match decision {
            Decision::Skip(reason) => Outcome::Skipped { reason },
            _ => match send().await {
                Ok(provider_id) => Outcome::Sent { provider_id },
                Err(MessagingError::Refused { reason, .. }) => Outcome::Failed { reason },
                Err(e) => {
                    let reason = e.to_string();
                    self.store
                        .finish(
                            company_id,
                            &m.key,
                            &Outcome::Failed {
                                reason: reason.clone(),
                            },
                            now,
                        )
                        .await?;
                    count(m.channel, "MessagesFailed");
                    tracing::warn!(key = %m.key, channel = m.channel.as_str(), reason, "send failed; retried");
                    return Err(Retry(reason));
                }
            },
        };
        self.store.finish(company_id, &m.key, &outcome, now).await?;
        match &outcome {
            Outcome::Sent { .. } => {
                count(m.channel, "MessagesSent");
                tracing::info!(key = %m.key, channel = m.channel.as_str(), kind = m.kind, to = %m.recipient, "message sent");
            }
            Outcome::Skipped { reason } => {
                count(m.channel, "MessagesSkipped");
                tracing::info!(key = %m.key, channel = m.channel.as_str(), kind = m.kind, to = %m.recipient, reason, "message skipped");
            }
            Outcome::Failed { reason } => {
                count(m.channel, "MessagesFailed");
                tracing::error!(key = %m.key, channel = m.channel.as_str(), kind = m.kind, to = %m.recipient, reason, "message refused by the provider");
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Customer {
    no_messages: bool,
}

const NO_CUSTOMER: Customer = Customer { no_messages: false };

/// The appointment's values for the texts, in `language`.
pub fn values(company: &Company, a: &Appointment, language: &str) -> Values {
    let service = company
        .settings
        .services
        .iter()
        .find(|s| s.id == a.service_id)
        .and_then(|s| s.names.first().cloned())
        .unwrap_or_else(|| a.service_id.clone());
    let staff = a
        .staff_id
        .as_deref()
        .and_then(|id| company.team.member(id))
        .map(|m| m.name.clone())
        .unwrap_or_default();
    let date = if language == "en" {
        a.date.format("%A, %-d %B").to_string()
    } else {
        german_date(a.date)
    };
    Values {
        company: company.settings.name.clone(),
        name: a.customer_name.clone().unwrap_or_default(),
        date,
        time: hhmm(a.time),
        service,
        staff,
        code: String::new(),
    }
}

/// The e-mail's text: the confirmation's words, then the details.
fn email_body(text: &str, v: &Values, language: &str) -> String {
    let mut body = String::new();
    if !v.name.is_empty() {
        body.push_str(&if language == "en" {
            format!("Hello {},\n\n", v.name)
        } else {
            format!("Hallo {},\n\n", v.name)
        });
    }
    body.push_str(text);
    body.push_str("\n\n");
    let rows: [(&str, &str, &str); 4] = [
        ("Leistung", "Service", &v.service),
        ("Datum", "Date", &v.date),
        ("Uhrzeit", "Time", &v.time),
        ("Bei", "With", &v.staff),
    ];
    for (de, en, value) in rows {
        if !value.is_empty() {
            body.push_str(&format!(
                "{}: {value}\n",
                if language == "en" { en } else { de }
            ));
        }
    }
    body.push_str(&format!("\n{}\n", v.company));
    body
}

/// `k***@example.org`.
pub fn mask_email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => format!(
            "{}***@{}",
            local.chars().next().unwrap_or('*'),
            domain.chars().take(64).collect::<String>()
        ),
        None => "***".into(),
    }
}

/// When the company's quiet hours end, if `now` is in them.
fn quiet_until(
    company: &Company,
    settings: &MessagingSettings,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let quiet = settings.quiet().ok().flatten()?;
    let local = now.with_timezone(&company.time_zone);
    if !quiet.contains(local.time()) {
        return None;
    }
    let today = local.date_naive();
    let day = if local.time() < quiet.end {
        today
    } else {
        today.succ_opt()?
    };
    local_time(company, day, quiet.end)
}

fn local_time(company: &Company, day: NaiveDate, t: chrono::NaiveTime) -> Option<DateTime<Utc>> {
    company
        .time_zone
        .from_local_datetime(&day.and_time(t))
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

/// `now` if it is within the calling hours, else when they next begin (within a week).
fn next_calling_time(
    company: &Company,
    hours: &[Vec<crate::booking::slots::OpenInterval>; 7],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&company.time_zone);
    for offset in 0..8 {
        let day = local.date_naive() + Duration::days(offset);
        let weekday = day.weekday().num_days_from_monday() as usize;
        for interval in &hours[weekday] {
            let (start, end) = (
                local_time(company, day, interval.start)?,
                local_time(company, day, interval.end)?,
            );
            if now < end {
                return Some(start.max(now));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked() {
        assert_eq!(mask_email("kai@example.org"), "k***@example.org");
        assert_eq!(mask_email("nonsense"), "***");
    }
}
