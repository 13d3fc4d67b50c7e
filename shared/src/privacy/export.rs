//! Everything held about one caller as one JSON document (DSGVO Art. 15): their customer
//! record, calls (with transcripts: a transcript the item had to shorten is read whole from the
//! call's archived event), appointments, the messages sent about them, callbacks, and the names
//! of their recordings in the bucket. Only what [`Holdings`] found for that number: nothing of
//! another caller.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Map, Value};

use super::holdings::{text, Holdings, Item};
use super::{PrivacyError, PrivacyStores, Subject};
use crate::platform::dynamo::from_attribute;

/// Bookkeeping that says nothing about the caller.
const INTERNAL: &[&str] = &[
    "pk",
    "sk",
    "field_rank",
    "version",
    "events_applied",
    "payload_refs",
    "customer_key",
    "locks",
    "active_company",
    "trimmed_fields",
];
/// Largest archived event read for a shortened transcript.
const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

fn plain(item: &Item) -> Value {
    let mut map = Map::new();
    for (k, v) in item {
        if !INTERNAL.contains(&k.as_str()) {
            map.insert(k.clone(), from_attribute(v));
        }
    }
    Value::Object(map)
}

/// A message item with what it was about: its key `<appointment>#<change>#<kind>#<channel>`.
fn message(item: &Item) -> Value {
    let mut value = plain(item);
    if let (Some(key), Some(map)) = (text(item, "sk"), value.as_object_mut()) {
        map.insert(
            "message".to_owned(),
            Value::String(key.trim_start_matches("M#").to_owned()),
        );
    }
    value
}

/// The document. `now_ms` is when it was made.
pub async fn export(
    stores: &PrivacyStores,
    subject: &Subject,
    holdings: &Holdings,
    now_ms: i64,
) -> Result<Value, PrivacyError> {
    let mut calls = Vec::new();
    for item in &holdings.calls {
        let mut call = plain(item);
        if matches!(
            item.get("transcript_truncated"),
            Some(AttributeValue::Bool(true))
        ) {
            if let Some(full) = full_transcript(stores, item).await? {
                call["transcript"] = Value::String(full);
                if let Some(map) = call.as_object_mut() {
                    map.remove("transcript_truncated");
                }
            }
        }
        calls.push(call);
    }
    let recordings: Vec<&String> = holdings
        .objects
        .iter()
        .filter(|k| k.starts_with("recordings/"))
        .collect();
    Ok(json!({
        "format": "retell-backend caller export v1",
        "company_id": subject.company_id,
        "phone": subject.phone.as_str(),
        "exported_at_ms": now_ms,
        "customer": holdings.customer.as_ref().map(plain),
        "calls": calls,
        "appointments": holdings.appointments.iter().map(plain).collect::<Vec<_>>(),
        "messages": holdings.messages.iter().map(message).collect::<Vec<_>>(),
        "callbacks": holdings.callbacks.iter().map(plain).collect::<Vec<_>>(),
        "recordings": recordings,
    }))
}

/// The transcript of the call's latest archived call_analyzed or call_ended body.
async fn full_transcript(
    stores: &PrivacyStores,
    call: &Item,
) -> Result<Option<String>, PrivacyError> {
    let refs = match call.get("payload_refs") {
        Some(AttributeValue::Ss(refs)) => refs.clone(),
        _ => return Ok(None),
    };
    for event in ["call_analyzed", "call_ended"] {
        let Some(key) = refs.iter().find(|k| k.ends_with(&format!("/{event}.json"))) else {
            continue;
        };
        let Some(body) = stores.read(key, MAX_EVENT_BYTES).await? else {
            continue;
        };
        let transcript = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
            v.pointer("/call/transcript")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        if transcript.is_some() {
            return Ok(transcript);
        }
    }
    tracing::warn!(
        call_id = text(call, "call_id").unwrap_or_default(),
        "a shortened transcript's full text is no longer archived"
    );
    Ok(None)
}

impl PrivacyStores {
    /// An object's body, if it exists and is at most `max_bytes`.
    pub(crate) async fn read(
        &self,
        key: &str,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>, PrivacyError> {
        use crate::platform::s3_objects::{read_bounded, Bounded};
        match read_bounded(&self.s3, &self.bucket, key, max_bytes)
            .await
            .map_err(PrivacyError::Storage)?
        {
            Bounded::Body(bytes) => Ok(Some(bytes)),
            Bounded::Missing | Bounded::TooLarge(_) => Ok(None),
        }
    }
}
