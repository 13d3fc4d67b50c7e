//! One call webhook event, read: the verified body split into the call and the rest
//! (`webhook_parts`), and the call's fields normalised to Retell's names (`normalise_call`:
//! Retell's shape and the seed document's older one; phone numbers in E.164; bookkeeping and
//! derived names dropped). Pure logic, no I/O.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::booking::phone::PhoneNumber;
use crate::retell::{CallId, CallIdError, EventKind};

/// Attributes this service owns on a call item. A payload field with one of these names is
/// dropped, so a caller-controlled payload can never overwrite bookkeeping.
pub const RESERVED_ATTRIBUTES: &[&str] = &[
    "company_id",
    "events_applied",
    "field_rank",
    "version",
    "first_seen_ms",
    "payload_refs",
    "stats_day",
    "stats_hour",
    "call_ts",
    "active_company",
    "transcript_truncated",
    "trimmed_fields",
    "updated_at_ms",
    "retention_days",
    "expires_at",
    "erased_at_ms",
];

/// Call fields this service derives (`crate::calendar::unresolved`): stored with the call's fields, but a
/// payload field of the same name is dropped, so a caller cannot fake them.
pub const DERIVED_FIELDS: &[&str] = &[
    "transfers",
    "unresolved_writes",
    "needs_follow_up",
    "booked_appointments",
    "booked_staff",
    "asked_staff",
];

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallEventError {
    #[error("payload is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("payload has no call object")]
    MissingCall,
    #[error("payload event {found:?} does not match the queue's event {expected}")]
    WrongEvent { expected: EventKind, found: String },
    #[error("payload event {found:?} does not match the envelope's event {}", expected.as_str())]
    WrongTransferEvent {
        expected: crate::retell::TransferEvent,
        found: String,
    },
    #[error("call.call_id is missing")]
    MissingCallId,
    #[error("call.call_id is invalid: {0}")]
    InvalidCallId(#[from] CallIdError),
}

/// One webhook event, normalised to Retell's field names.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    pub kind: EventKind,
    pub call_id: CallId,
    pub company_id: String,
    pub received_at_ms: i64,
    pub fields: BTreeMap<String, Value>,
    /// Where the raw payload is archived (S3 key).
    pub payload_ref: String,
    /// The company's retention, set by the consumer (`crate::calls::retention`): the stored
    /// call expires that many days after it started. None: the record keeps what it had.
    pub retention_days: Option<u16>,
}

impl CallEvent {
    /// Parses a verified webhook body. Accepts Retell's call object and the older shape in the
    /// seed document (`customer_number`, `duration_seconds`, `summary`, `custom_data`).
    pub fn from_payload(
        kind: EventKind,
        company_id: &str,
        received_at_ms: i64,
        payload: &[u8],
    ) -> Result<Self, CallEventError> {
        let WebhookParts { call, call_id, .. } =
            webhook_parts(payload, kind.as_str(), |found| CallEventError::WrongEvent {
                expected: kind,
                found,
            })?;
        let fields = normalise_call(call);
        Ok(Self {
            kind,
            payload_ref: crate::calls::archive::event_key(company_id, &call_id, kind),
            call_id,
            company_id: company_id.to_owned(),
            received_at_ms,
            fields,
            retention_days: None,
        })
    }
}

/// A verified webhook body, split.
pub(crate) struct WebhookParts {
    /// The root object without `call` (a transfer event's destination is here).
    pub root: Map<String, Value>,
    pub call: Map<String, Value>,
    pub call_id: CallId,
}

/// A verified webhook body of event `expected`, split; `wrong(found)` is the error for a body of
/// another event.
pub(crate) fn webhook_parts(
    payload: &[u8],
    expected: &str,
    wrong: impl FnOnce(String) -> CallEventError,
) -> Result<WebhookParts, CallEventError> {
    let mut root: Map<String, Value> =
        serde_json::from_slice(payload).map_err(|e| CallEventError::InvalidJson(e.to_string()))?;
    let name = root
        .get("event")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name != expected {
        return Err(wrong(name.chars().take(64).collect()));
    }
    let call = match root.remove("call") {
        Some(Value::Object(call)) => call,
        _ => return Err(CallEventError::MissingCall),
    };
    let call_id = match call.get("call_id") {
        Some(Value::String(id)) => CallId::parse(id)?,
        _ => return Err(CallEventError::MissingCallId),
    };
    Ok(WebhookParts {
        root,
        call,
        call_id,
    })
}

pub(crate) fn normalise_call(call: Map<String, Value>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut analysis = None;
    for (key, value) in call {
        if value.is_null()
            || RESERVED_ATTRIBUTES.contains(&key.as_str())
            || DERIVED_FIELDS.contains(&key.as_str())
        {
            continue;
        }
        match key.as_str() {
            "call_analysis" => analysis = Some(value),
            _ => {
                out.insert(key, value);
            }
        }
    }
    // Retell nests the analysis; the record keeps its fields at the top level by their names.
    if let Some(Value::Object(analysis)) = analysis {
        for (key, value) in analysis {
            if !value.is_null()
                && !RESERVED_ATTRIBUTES.contains(&key.as_str())
                && !DERIVED_FIELDS.contains(&key.as_str())
            {
                out.entry(key).or_insert(value);
            }
        }
    }
    if let Some(cost) = out
        .get("call_cost")
        .and_then(|c| c.get("combined_cost"))
        .cloned()
    {
        out.entry("combined_cost".to_owned()).or_insert(cost);
    }
    // The seed document's payload shape.
    if let Some(number) = out.remove("customer_number") {
        out.entry("from_number".to_owned()).or_insert(number);
    }
    if let Some(summary) = out.remove("summary") {
        out.entry("call_summary".to_owned()).or_insert(summary);
    }
    if let Some(seconds) = out.remove("duration_seconds") {
        if let Some(ms) = seconds.as_f64().map(|s| (s * 1000.0).round() as i64) {
            out.entry("duration_ms".to_owned())
                .or_insert(Value::from(ms));
        }
    }
    if !out.contains_key("duration_ms") {
        if let (Some(start), Some(end)) = (
            out.get("start_timestamp").and_then(Value::as_i64),
            out.get("end_timestamp").and_then(Value::as_i64),
        ) {
            if end >= start {
                out.insert("duration_ms".to_owned(), Value::from(end - start));
            }
        }
    }
    for key in ["from_number", "to_number"] {
        if let Some(Value::String(raw)) = out.get(key) {
            match PhoneNumber::parse(raw) {
                Ok(phone) => {
                    out.insert(key.to_owned(), Value::String(phone.as_str().to_owned()));
                }
                Err(_) => {
                    // Web calls and withheld numbers: keep what was sent, out of the E.164 field.
                    if let Some(raw) = out.remove(key) {
                        out.insert(format!("{key}_raw"), raw);
                    }
                }
            }
        }
    }
    out
}
