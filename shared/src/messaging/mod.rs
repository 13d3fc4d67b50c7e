//! Messages to a company's customers and staff: confirmations of every booking, move and
//! cancel (phone, desk or Cal.com), reminders before the appointment (SMS, and a call by the
//! company's reminder agent), an offer after a no-show, notices to the staff, and verification
//! codes.
//!
//! Off the caller's path: whoever changes an appointment puts a [`Notice`] on the messaging
//! queue ([`outbox::Outbox`]); the messaging Lambda reads the appointment as it is then and
//! sends ([`dispatch`]). Exactly one message per appointment change and channel: each send first
//! claims its key (appointment id, change number, kind, channel) in the appointments table
//! ([`store`]), so a redelivered notice or a retried batch finds the claim and sends nothing.
//! What waits (a reminder, an SMS in quiet hours, a call outside calling hours) is an item of the
//! due index that the sweep, run every five minutes, puts back on the queue when due.

pub mod dispatch;
pub mod ics;
pub mod mime;
pub mod outbox;
pub mod sender;
pub mod store;
pub mod texts;
pub mod verification;

use serde::{Deserialize, Serialize};

/// How a message goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
    /// A reminder call by the company's reminder agent (Retell `create-phone-call`).
    Call,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Call => "call",
        }
    }
}

/// What the messaging queue carries: what happened, not the message (that is made from the
/// appointment as it is when sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Notice {
    /// An appointment was booked, moved or cancelled: its confirmation. `change` is the
    /// appointment's change number after that write ([`change_number`]).
    Appointment {
        company_id: String,
        appointment_id: String,
        change: u32,
        /// Only this channel (a send that waited for the end of quiet hours).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
    },
    /// The reminder of an appointment as it was at `change`: nothing if it moved or was
    /// cancelled since.
    Reminder {
        company_id: String,
        appointment_id: String,
        change: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
    },
    /// The desk marked a no-show: the offer of a new appointment.
    NoShow {
        company_id: String,
        appointment_id: String,
    },
    /// A callback was opened (asked for on the phone, or a call left a booking unresolved): the
    /// staff's notice.
    Callback {
        company_id: String,
        callback_id: String,
    },
}

impl Notice {
    pub fn company_id(&self) -> &str {
        match self {
            Notice::Appointment { company_id, .. }
            | Notice::Reminder { company_id, .. }
            | Notice::NoShow { company_id, .. }
            | Notice::Callback { company_id, .. } => company_id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Notice::Appointment { .. } => "confirmation",
            Notice::Reminder { .. } => "reminder",
            Notice::NoShow { .. } => "no_show",
            Notice::Callback { .. } => "callback",
        }
    }
}

/// Counts one message as `MessagesSent`, `MessagesSkipped` or `MessagesFailed`, per channel and
/// in all (the failure alarm watches the total).
pub fn count(channel: Channel, metric: &str) {
    crate::platform::metrics::emit(
        &[("Channel", channel.as_str())],
        &[&["Channel"], &[]],
        &[(metric, crate::platform::metrics::Unit::Count, 1.0)],
    );
}

/// An appointment's change number: how often it was moved or cancelled (a booking is 0). The
/// calendar's SEQUENCE, and part of each message's idempotency key.
pub fn change_number(appointment: &crate::calendar::Appointment) -> u32 {
    let moves = appointment
        .changes
        .iter()
        .filter(|c| matches!(c.what.as_str(), "moved" | "cancelled"))
        .count();
    // A cancel written before change logs existed still counts.
    let unlogged_cancel = appointment.status == crate::calendar::AppointmentStatus::Cancelled
        && !appointment.changes.iter().any(|c| c.what == "cancelled");
    u32::try_from(moves + usize::from(unlogged_cancel)).unwrap_or(u32::MAX)
}

/// DynamoDB values and errors, as the messaging stores write them.
pub(crate) fn s(v: impl Into<String>) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(v.into())
}

pub(crate) fn n(v: i64) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::N(v.to_string())
}

pub(crate) fn backend(e: impl std::fmt::Display) -> MessagingError {
    MessagingError::Backend(e.to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    #[error("messaging backend: {0}")]
    Backend(String),
    /// A provider refused this message for good (an invalid number or address): not retried.
    #[error("refused by {channel}: {reason}")]
    Refused {
        channel: &'static str,
        reason: String,
    },
    #[error("stored item is invalid: {0}")]
    Corrupt(String),
}
