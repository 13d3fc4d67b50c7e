//! Callbacks the business owes a caller: asked for by the agent's `request_callback` tool, or
//! opened when a call ends with something staff must confirm (an unresolved write). Staff see
//! them on the desk's callbacks page, assign them, add notes and mark them done; one that is
//! still open after the company's promise (`callback_promise_minutes` of business hours) is
//! overdue, shown red and counted in a metric.
//!
//! - [`deadline`]: when a promise of business minutes runs out, by the company's hours;
//! - [`store`]: the items, beside the company's appointments (docs/data-model.md, "Callbacks").

pub mod deadline;
pub mod store;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::booking::company::Company;
use crate::booking::phone::PhoneNumber;

pub use store::{CallbackStore, Opened};

/// A callback's reason, as the caller said it.
pub const MAX_REASON_CHARS: usize = 500;
/// When the caller would like the call ("morgen ab 14 Uhr").
pub const MAX_PREFERRED_CHARS: usize = 100;
/// A note staff add.
pub const MAX_NOTE_CHARS: usize = 1000;
/// Notes and change-log entries kept per callback (later ones are refused, not dropped).
pub const MAX_NOTES: usize = 50;
pub const MAX_CHANGES: usize = 100;
/// Who a callback is assigned to (a name or e-mail of the staff).
pub const MAX_ASSIGNEE_CHARS: usize = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackStatus {
    Open,
    Assigned,
    Done,
}

impl CallbackStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Assigned => "assigned",
            Self::Done => "done",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(Self::Open),
            "assigned" => Some(Self::Assigned),
            "done" => Some(Self::Done),
            _ => None,
        }
    }

    /// Still owed to the caller (open or assigned).
    pub fn is_pending(self) -> bool {
        self != Self::Done
    }
}

/// Where a callback came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackSource {
    /// The agent's `request_callback` tool.
    Phone,
    /// A call that ended with a write the caller never heard the outcome of.
    FollowUp,
}

/// A note staff added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackNote {
    pub at_ms: i64,
    pub by: String,
    pub text: String,
}

/// One entry of a callback's change log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackChange {
    pub at_ms: i64,
    pub by: String,
    pub what: String,
}

/// A callback as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    pub callback_id: String,
    pub company_id: String,
    pub status: CallbackStatus,
    pub source: CallbackSource,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E.164.
    pub phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_ms: Option<i64>,
    #[serde(default)]
    pub notes: Vec<CallbackNote>,
    #[serde(default)]
    pub changes: Vec<CallbackChange>,
    /// Raised by every update: an update made on an older read is refused.
    pub version: i64,
}

impl Callback {
    /// When the company's promise runs out: `callback_promise_minutes` of its opening hours
    /// after the callback was opened (by the settings of now, so a changed promise counts).
    pub fn due(&self, company: &Company) -> DateTime<Utc> {
        let created = DateTime::from_timestamp_millis(self.created_ms).unwrap_or_default();
        deadline::business_deadline(
            &company.schedule,
            created,
            company.settings.callback_promise_minutes,
        )
    }

    /// Still pending after its promise ran out.
    pub fn is_overdue(&self, company: &Company, now: DateTime<Utc>) -> bool {
        self.status.is_pending() && now > self.due(company)
    }
}

/// A callback to open.
#[derive(Debug, Clone)]
pub struct NewCallback {
    pub source: CallbackSource,
    pub reason: String,
    pub name: Option<String>,
    pub phone: PhoneNumber,
    pub preferred: Option<String>,
    /// The call it was asked for in: one callback per call (a retry finds the first).
    pub call_id: Option<String>,
}

/// What staff change on a callback (each part optional, at least one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackUpdate {
    pub status: Option<CallbackStatus>,
    /// `Some(None)`: unassign.
    pub assignee: Option<Option<String>>,
    pub note: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("no such callback")]
    NotFound,
    /// Someone else changed it since it was read.
    #[error("the callback was changed meanwhile; reload and try again")]
    Changed,
    #[error("{0}")]
    Invalid(String),
    #[error("callbacks unavailable: {0}")]
    Backend(String),
}

/// `cb_<13-digit creation ms>_<8 hex>`: sorts by creation, names nothing personal.
pub fn is_callback_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("cb_") else {
        return false;
    };
    let Some((ms, hex)) = rest.split_once('_') else {
        return false;
    };
    ms.len() == 13
        && ms.bytes().all(|b| b.is_ascii_digit())
        && hex.len() == 8
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_before_use() {
        assert!(is_callback_id("cb_1765000000000_0a1b2c3d"));
        for bad in [
            "",
            "cb_",
            "cb_1765000000000",
            "cb_176500000000_0a1b2c3d",
            "cb_1765000000000_0A1B2C3D",
            "cb_1765000000000_0a1b2c3d#",
            "apt_0123456789abcdef",
        ] {
            assert!(!is_callback_id(bad), "{bad}");
        }
    }
}
