//! Retell's transfer events (`transfer_started`, `_bridged`, `_cancelled`, `_ended`): the
//! call's transfer log, to whom, when, and how each attempt went. Pure logic, no I/O.
//!
//! A transfer event is not merged into the call's fields like the three call events: it adds
//! one entry to the call's `transfers` list. The entry's id is a digest of the raw body, so a
//! redelivery of the same event changes nothing while a second attempt in the same call (a
//! cancelled transfer tried again) adds its own entries.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::calls::archive::{body_digest, transfer_key};
use crate::calls::event::{normalise_call, webhook_parts, CallEventError, WebhookParts};
use crate::retell::{CallId, TransferEvent};

/// Call fields a transfer event may give a call no call event has reached yet (they do not
/// change during a call, so which event gave them does not matter).
const IDENTITY_FIELDS: &[&str] = &[
    "start_timestamp",
    "from_number",
    "to_number",
    "direction",
    "agent_id",
    "call_type",
    "call_status",
];

/// Longest destination or option kept; Retell's are a number, a SIP URI or a short name.
const MAX_TEXT: usize = 256;

/// One transfer event, as the call's transfer log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub event: TransferEvent,
    pub call_id: CallId,
    pub company_id: String,
    pub received_at_ms: i64,
    /// Digest of the raw body.
    pub id: String,
    /// When it happened: Retell's `transfer_end_timestamp` for the end, else when it arrived.
    pub at_ms: i64,
    /// Whom the call went to: a number or SIP URI (Retell's `transfer_destination`).
    pub destination: Option<String>,
    /// Retell's `transfer_option` type (`cold_transfer`, `warm_transfer`, …).
    pub option: Option<String>,
    /// [`IDENTITY_FIELDS`] the event carried.
    pub call_fields: BTreeMap<String, Value>,
    pub payload_ref: String,
}

impl Transfer {
    /// Parses a verified webhook body of `event`.
    pub fn from_payload(
        event: TransferEvent,
        company_id: &str,
        received_at_ms: i64,
        payload: &[u8],
    ) -> Result<Self, CallEventError> {
        let WebhookParts {
            root,
            call,
            call_id,
        } = webhook_parts(payload, event.as_str(), |found| {
            CallEventError::WrongTransferEvent {
                expected: event,
                found,
            }
        })?;
        // Retell puts them beside the call object; older payloads had them on the call.
        let destination = root
            .get("transfer_destination")
            .or_else(|| call.get("transfer_destination"))
            .and_then(|d| text_or(d, "number"));
        let option = root.get("transfer_option").and_then(|o| text_or(o, "type"));
        let end = call
            .get("transfer_end_timestamp")
            .and_then(Value::as_i64)
            .filter(|ms| (0..=4_102_444_800_000).contains(ms)); // before 2100
        let at_ms = match event {
            TransferEvent::Ended => end.unwrap_or(received_at_ms),
            _ => received_at_ms,
        };
        let mut call_fields = normalise_call(call);
        call_fields.retain(|k, _| IDENTITY_FIELDS.contains(&k.as_str()));
        Ok(Self {
            event,
            payload_ref: transfer_key(company_id, &call_id, event, payload),
            id: body_digest(payload),
            call_id,
            company_id: company_id.to_owned(),
            received_at_ms,
            at_ms,
            destination,
            option,
            call_fields,
        })
    }

    /// The entry in the call's `transfers` list.
    pub fn entry(&self) -> Value {
        let mut entry = json!({"id": self.id, "event": self.event.as_str(), "at_ms": self.at_ms});
        if let Some(d) = &self.destination {
            entry["destination"] = Value::from(d.as_str());
        }
        if let Some(o) = &self.option {
            entry["option"] = Value::from(o.as_str());
        }
        entry
    }
}

/// A string, or the string under `key` of an object; bounded, control characters refused.
fn text_or(value: &Value, key: &str) -> Option<String> {
    let text = match value {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o.get(key)?.as_str()?,
        _ => return None,
    };
    let text = text.trim();
    (!text.is_empty() && text.chars().count() <= MAX_TEXT && !text.chars().any(char::is_control))
        .then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(event: &str, extra: &str) -> String {
        format!(
            r#"{{"event":"{event}","call":{{"call_id":"call_t1","agent_id":"agent_demo","call_status":"ongoing","start_timestamp":1700000000000,"from_number":"+4917612345678","transcript":"Hallo"{extra}}},"transfer_destination":"+493012345","transfer_option":{{"type":"cold_transfer"}}}}"#
        )
    }

    #[test]
    fn reads_whom_when_and_how() {
        let b = body("transfer_started", "");
        let t = Transfer::from_payload(TransferEvent::Started, "demo", 5, b.as_bytes())
            .expect("parses");
        assert_eq!(t.destination.as_deref(), Some("+493012345"));
        assert_eq!(t.option.as_deref(), Some("cold_transfer"));
        assert_eq!(t.at_ms, 5);
        let kept: Vec<_> = t.call_fields.keys().map(String::as_str).collect();
        assert_eq!(
            kept,
            ["agent_id", "call_status", "from_number", "start_timestamp"]
        );
        assert!(t
            .payload_ref
            .starts_with("calls/demo/call_t1/transfer_started-"));
        assert_eq!(t.entry()["event"], "transfer_started");

        let b = body(
            "transfer_ended",
            r#","transfer_end_timestamp":1700000060000"#,
        );
        let t =
            Transfer::from_payload(TransferEvent::Ended, "demo", 5, b.as_bytes()).expect("parses");
        assert_eq!(t.at_ms, 1_700_000_060_000);
    }

    #[test]
    fn the_same_body_is_the_same_entry_and_another_attempt_is_not() {
        let a = body("transfer_started", "");
        let again = format!("  {a}\n");
        let later = body("transfer_started", r#","duration_ms":90000"#);
        let id = |b: &str| {
            Transfer::from_payload(TransferEvent::Started, "demo", 1, b.as_bytes())
                .expect("parses")
                .id
        };
        assert_eq!(id(&a), id(&again));
        assert_ne!(id(&a), id(&later));
    }

    #[test]
    fn hostile_values_are_left_out_not_guessed() {
        for destination in [
            r#"{"number": 4930}"#.to_owned(),
            r#"["+4930"]"#.to_owned(),
            format!(r#""{}""#, "9".repeat(MAX_TEXT + 1)),
            r#""+4930\u0000""#.to_owned(),
            r#""   ""#.to_owned(),
        ] {
            let b = format!(
                r#"{{"event":"transfer_bridged","call":{{"call_id":"call_t1","transfer_end_timestamp":"soon"}},"transfer_destination":{destination},"transfer_option":7}}"#
            );
            let t = Transfer::from_payload(TransferEvent::Bridged, "demo", 1, b.as_bytes())
                .expect("parses");
            assert_eq!((t.destination, t.option), (None, None), "{destination}");
        }
        let wrong = body("transfer_bridged", "");
        assert!(matches!(
            Transfer::from_payload(TransferEvent::Started, "demo", 1, wrong.as_bytes()),
            Err(CallEventError::WrongTransferEvent { .. })
        ));
        let no_call = br#"{"event":"transfer_started","call":"call_t1"}"#;
        assert_eq!(
            Transfer::from_payload(TransferEvent::Started, "demo", 1, no_call),
            Err(CallEventError::MissingCall)
        );
    }
}
