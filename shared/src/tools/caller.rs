//! Whose appointments a tool call may read or change. A number said aloud proves nothing: the
//! tools act on the number the caller rings from (Retell's `from_number`). A caller on another
//! line, or with a withheld number, acts on a different number only after a knowledge check: the
//! name the booking is under and the day of one of its appointments, three tries per call. Until
//! then every answer is the same whether the number is known or not, so nobody learns by asking
//! which numbers are customers.
//!
//! The tries and the numbers proven in a call are one item per call in the appointments table
//! (`pk = V#<company>#<call_id>`, `sk = V`), expiring a day later (DynamoDB TTL, `expires_at`).
//! The own-number path reads nothing extra.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::{Args, ToolContext};
use crate::booking::person::PersonName;
use crate::booking::phone::PhoneNumber;
use crate::calendar::{AppointmentLedger, AppointmentStatus, Calendar, CalendarError};
use crate::retell::CallId;

/// Knowledge checks a caller may fail in one call before the tools stop trying.
pub const MAX_CHECKS_PER_CALL: u32 = 3;
/// How long a call's checks are kept (the item's TTL).
const CHECKS_KEPT_SECS: i64 = 24 * 3600;

/// Why the tools may act for a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// The caller rings from it.
    OwnLine,
    /// The caller named the booking's name and an appointment's day, in this call.
    KnowledgeCheck,
}

/// The customer a read or change is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenCustomer {
    pub phone: PhoneNumber,
    pub proof: Proof,
}

/// What a call has proven so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallChecks {
    pub failed: u32,
    pub proven: BTreeSet<String>,
}

/// The per-call check items, in the appointments table.
pub struct CheckStore<'a> {
    ledger: &'a AppointmentLedger,
}

impl<'a> CheckStore<'a> {
    pub fn new(ledger: &'a AppointmentLedger) -> Self {
        Self { ledger }
    }

    fn key(company_id: &str, call_id: &CallId) -> [(String, AttributeValue); 2] {
        [
            (
                "pk".to_owned(),
                AttributeValue::S(format!("V#{company_id}#{}", call_id.as_str())),
            ),
            ("sk".to_owned(), AttributeValue::S("V".to_owned())),
        ]
    }

    pub async fn load(
        &self,
        company_id: &str,
        call_id: &CallId,
    ) -> Result<CallChecks, CalendarError> {
        let out = self
            .ledger
            .client()
            .get_item()
            .table_name(self.ledger.table())
            .set_key(Some(Self::key(company_id, call_id).into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| CalendarError::Backend(DisplayErrorContext(e).to_string()))?;
        let item = out.item.unwrap_or_default();
        Ok(CallChecks {
            failed: match item.get("failed") {
                Some(AttributeValue::N(n)) => n.parse().unwrap_or(MAX_CHECKS_PER_CALL),
                _ => 0,
            },
            proven: match item.get("proven") {
                Some(AttributeValue::Ss(set)) => set.iter().cloned().collect(),
                _ => BTreeSet::new(),
            },
        })
    }

    /// Records a passed check for `phone`.
    pub async fn passed(
        &self,
        company_id: &str,
        call_id: &CallId,
        phone: &PhoneNumber,
        now_s: i64,
    ) -> Result<(), CalendarError> {
        self.ledger
            .client()
            .update_item()
            .table_name(self.ledger.table())
            .set_key(Some(Self::key(company_id, call_id).into_iter().collect()))
            .update_expression("ADD proven :phone SET expires_at = :expires")
            .expression_attribute_values(":phone", AttributeValue::Ss(vec![phone.as_str().into()]))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N((now_s + CHECKS_KEPT_SECS).to_string()),
            )
            .send()
            .await
            .map_err(|e| CalendarError::Backend(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// Records a failed check; the number of failures in this call so far.
    pub async fn failed(
        &self,
        company_id: &str,
        call_id: &CallId,
        now_s: i64,
    ) -> Result<u32, CalendarError> {
        let out = self
            .ledger
            .client()
            .update_item()
            .table_name(self.ledger.table())
            .set_key(Some(Self::key(company_id, call_id).into_iter().collect()))
            .update_expression("ADD failed :one SET expires_at = :expires")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N((now_s + CHECKS_KEPT_SECS).to_string()),
            )
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| CalendarError::Backend(DisplayErrorContext(e).to_string()))?;
        Ok(
            match out.attributes.as_ref().and_then(|a| a.get("failed")) {
                Some(AttributeValue::N(n)) => n.parse().unwrap_or(MAX_CHECKS_PER_CALL),
                _ => MAX_CHECKS_PER_CALL,
            },
        )
    }
}

impl ToolContext<'_> {
    /// The customer's own line: the number the caller rings from, if Retell sent one that is a
    /// number; on a call the business placed (a reminder call, from one of its own numbers), the
    /// number it called.
    pub fn own_number(&self) -> Option<PhoneNumber> {
        let parse = |n: &Option<String>| n.as_deref().and_then(|n| PhoneNumber::parse(n).ok());
        let from = parse(&self.call.from_number)?;
        let settings = &self.company.settings;
        let business = settings.phone_numbers.iter().any(|n| n == from.as_str())
            || settings
                .messaging
                .as_ref()
                .and_then(|m| m.reminder_call.as_ref())
                .is_some_and(|c| c.from_number == from.as_str());
        if business {
            parse(&self.call.to_number)
        } else {
            Some(from)
        }
    }

    /// A phone number argument: absent is `None`; present but unreadable is the refusal that
    /// asks for it again, never the caller's own number instead.
    pub fn phone_argument(&self, args: &Args, name: &str) -> Result<Option<PhoneNumber>, Value> {
        let Some(raw) = self.text(args, name)? else {
            return Ok(None);
        };
        PhoneNumber::parse(raw).map(Some).map_err(|_| {
            self.refuse_argument(
                name,
                "Die Telefonnummer habe ich nicht richtig verstanden. Können Sie sie bitte noch einmal Ziffer für Ziffer nennen?",
                "I did not get the phone number. Could you repeat it digit by digit?",
            )
        })
    }

    /// A booking's contact number: the argument, else the number the caller rings from; and
    /// whether it is the caller's own line (only then may the booking change the name and
    /// e-mail stored for that customer).
    pub fn contact_number(&self, args: &Args, name: &str) -> Result<(PhoneNumber, bool), Value> {
        let own = self.own_number();
        match (self.phone_argument(args, name)?, own) {
            (Some(asked), own) => {
                let own_line = own.as_ref() == Some(&asked);
                Ok((asked, own_line))
            }
            (None, Some(own)) => Ok((own, true)),
            (None, None) => Err(self.refuse_argument(
                name,
                "Unter welcher Telefonnummer sind Sie erreichbar?",
                "Which phone number can we reach you at?",
            )),
        }
    }

    /// The customer whose data a read or change is for (`get_customer_info`,
    /// `cancel_appointment`, `reschedule_appointment`): the caller's own line, or another number
    /// after a passed knowledge check (`customer_name` and `date` of one of its appointments).
    pub async fn proven_customer(
        &self,
        args: &Args,
        phone_arg: &str,
    ) -> Result<ProvenCustomer, Value> {
        let asked = self.phone_argument(args, phone_arg)?;
        let own = self.own_number();
        let phone = match (asked, own) {
            (None, Some(own)) => {
                return Ok(ProvenCustomer {
                    phone: own,
                    proof: Proof::OwnLine,
                })
            }
            (Some(asked), Some(own)) if asked == own => {
                return Ok(ProvenCustomer {
                    phone: own,
                    proof: Proof::OwnLine,
                })
            }
            (Some(asked), _) => asked,
            (None, None) => {
                return Err(self.refuse_argument(
                    phone_arg,
                    "Ihre Nummer wird mir nicht angezeigt. Unter welcher Telefonnummer haben Sie gebucht?",
                    "Your number is not shown to me. Which phone number did you book with?",
                ))
            }
        };
        self.knowledge_check(args, phone).await
    }

    async fn knowledge_check(
        &self,
        args: &Args,
        phone: PhoneNumber,
    ) -> Result<ProvenCustomer, Value> {
        // Every argument is read before anything is looked up.
        let said_name = self.text(args, "customer_name")?;
        let date = self.appointment_date(args, "date")?;
        let Some(call_id) = self
            .call
            .call_id
            .as_deref()
            .and_then(|id| CallId::parse(id).ok())
        else {
            tracing::info!(
                reason = "no_call",
                "other number refused: no call to count checks in"
            );
            return Err(self.refuse(
                "Zu einer anderen Nummer als der, von der Sie anrufen, kann ich hier leider nichts nachsehen oder ändern.",
                "I cannot look up or change anything for a number other than the one you are calling from.",
            ));
        };
        let store = CheckStore::new(self.calendar.ledger());
        let company = self.company.id();
        let checks = store
            .load(company, &call_id)
            .await
            .map_err(|e| self.unavailable(&e))?;
        if checks.proven.contains(phone.as_str()) {
            return Ok(ProvenCustomer {
                phone,
                proof: Proof::KnowledgeCheck,
            });
        }
        if checks.failed >= MAX_CHECKS_PER_CALL {
            tracing::warn!(reason = "checks_exhausted", "other number refused");
            return Err(self.checks_exhausted());
        }
        let (Some(said_name), Some(date)) = (said_name, date) else {
            return Err(self.refuse(
                "Für eine andere Nummer als die, von der Sie anrufen, brauche ich zur Sicherheit den Namen, auf den gebucht wurde, und das Datum eines der Termine.",
                "For a number other than the one you are calling from, I need the name the booking is under and the date of one of its appointments.",
            ));
        };
        let appointments = self
            .calendar
            .customer_appointments(self.company, &phone)
            .await
            .map_err(|e| self.unavailable(&e))?;
        let known = appointments.iter().any(|a| {
            a.status == AppointmentStatus::Booked
                && a.date == date
                && a.customer_name
                    .as_deref()
                    .and_then(|n| PersonName::parse(n).ok())
                    .is_some_and(|n| n.is_said_as(said_name))
        });
        let now_s = self.now.timestamp();
        if known {
            store
                .passed(company, &call_id, &phone, now_s)
                .await
                .map_err(|e| self.unavailable(&e))?;
            tracing::info!(customer = %phone.masked(), "knowledge check passed for another number");
            return Ok(ProvenCustomer {
                phone,
                proof: Proof::KnowledgeCheck,
            });
        }
        let failed = store
            .failed(company, &call_id, now_s)
            .await
            .map_err(|e| self.unavailable(&e))?;
        tracing::warn!(failed, customer = %phone.masked(), "knowledge check failed for another number");
        if failed >= MAX_CHECKS_PER_CALL {
            return Err(self.checks_exhausted());
        }
        let left = MAX_CHECKS_PER_CALL - failed;
        Err(self.refuse(
            format!("Name und Datum passen zu keinem Termin unter dieser Nummer. Sie können es noch {left} Mal versuchen."),
            format!("The name and date match no appointment under this number. You can try {left} more time(s)."),
        ))
    }

    fn checks_exhausted(&self) -> Value {
        self.refuse(
            "Das kann ich in diesem Gespräch leider nicht weiter prüfen. Am besten rufen Sie von der Nummer an, unter der gebucht wurde.",
            "I cannot check this any further in this call. Please call from the number the booking was made with.",
        )
    }
}
