//! The message between the webhook and the consumers, and the queue that carries it.
//!
//! Normal bodies travel inline: one SendMessage per accepted webhook. Bodies too large for SQS
//! are claim-checked: the raw body goes to S3 under the event's archive key first, and the
//! message carries only that key.

use std::collections::HashMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::calls::archive::{event_key, transfer_key, PayloadArchive};
use crate::retell::{CallId, EventKind, TransferEvent};

pub const ENVELOPE_VERSION: u8 = 1;

/// What the webhook queues. `payload` is the verified body exactly as Retell sent it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope<'a> {
    pub v: u8,
    pub event: String,
    pub call_id: String,
    pub company_id: String,
    pub received_at_ms: i64,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<&'a RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_ref: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no queue is configured for {0}")]
    NoQueue(EventKind),
    #[error("body is not JSON: {0}")]
    Body(String),
    #[error("archiving the payload failed: {0}")]
    Archive(String),
    #[error("sending to SQS failed: {0}")]
    Send(String),
}

/// A verified event, ready to queue. The body is shared, not copied: a claim-checked upload
/// streams the very buffer the request arrived in (bodies reach several MB).
#[derive(Debug)]
pub struct AcceptedEvent {
    /// The queue it goes to (for a transfer event, [`TransferEvent::QUEUE`]).
    pub kind: EventKind,
    /// Set for a transfer event, which travels on `kind`'s queue under its own name.
    pub transfer: Option<TransferEvent>,
    pub call_id: CallId,
    pub company_id: String,
    pub received_at_ms: i64,
    pub body: Bytes,
}

impl AcceptedEvent {
    /// Retell's name for the event, as the envelope carries it.
    pub fn event_name(&self) -> &'static str {
        self.transfer
            .map(TransferEvent::as_str)
            .unwrap_or(self.kind.as_str())
    }

    /// Where its raw body is archived (and claim-checked).
    pub fn archive_key(&self) -> String {
        match self.transfer {
            Some(t) => transfer_key(&self.company_id, &self.call_id, t, &self.body),
            None => event_key(&self.company_id, &self.call_id, self.kind),
        }
    }
}

/// How the event travelled, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Inline,
    ClaimCheck { key: String },
}

pub trait EventQueue {
    fn enqueue(
        &self,
        event: &AcceptedEvent,
    ) -> impl std::future::Future<Output = Result<Delivery, QueueError>> + Send;
}

#[derive(Clone, Debug)]
pub struct SqsEventQueue {
    sqs: aws_sdk_sqs::Client,
    archive: PayloadArchive,
    queue_urls: HashMap<EventKind, String>,
    inline_limit_bytes: usize,
}

impl SqsEventQueue {
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        s3: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        queue_urls: HashMap<EventKind, String>,
        inline_limit_bytes: usize,
    ) -> Self {
        Self {
            sqs,
            archive: PayloadArchive::new(s3, bucket),
            queue_urls,
            inline_limit_bytes,
        }
    }
}

/// Builds the message body: inline if it fits `inline_limit`, else a reference to `key`.
pub fn envelope_json(
    event: &AcceptedEvent,
    inline_limit: usize,
) -> Result<(String, Option<String>), QueueError> {
    let mut envelope = Envelope {
        v: ENVELOPE_VERSION,
        event: event.event_name().to_owned(),
        call_id: event.call_id.as_str().to_owned(),
        company_id: event.company_id.clone(),
        received_at_ms: event.received_at_ms,
        payload: None,
        payload_ref: None,
    };
    // ~300 bytes of envelope around the body.
    if event.body.len() + 512 <= inline_limit {
        let raw: &RawValue =
            serde_json::from_slice(&event.body).map_err(|e| QueueError::Body(e.to_string()))?;
        envelope.payload = Some(raw);
        let json = serde_json::to_string(&envelope).map_err(|e| QueueError::Body(e.to_string()))?;
        return Ok((json, None));
    }
    let key = event.archive_key();
    envelope.payload_ref = Some(key.clone());
    let json = serde_json::to_string(&envelope).map_err(|e| QueueError::Body(e.to_string()))?;
    Ok((json, Some(key)))
}

impl EventQueue for SqsEventQueue {
    async fn enqueue(&self, event: &AcceptedEvent) -> Result<Delivery, QueueError> {
        let queue_url = self
            .queue_urls
            .get(&event.kind)
            .ok_or(QueueError::NoQueue(event.kind))?;
        let (message, claim_key) = envelope_json(event, self.inline_limit_bytes)?;
        if let Some(key) = &claim_key {
            self.archive
                .put(key, event.body.clone())
                .await
                .map_err(|e| QueueError::Archive(e.to_string()))?;
        }
        self.sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(message)
            .message_attributes(
                "event",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(event.event_name())
                    .build()
                    .map_err(|e| QueueError::Send(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| {
                QueueError::Send(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
            })?;
        Ok(match claim_key {
            Some(key) => Delivery::ClaimCheck { key },
            None => Delivery::Inline,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(body: &[u8]) -> AcceptedEvent {
        AcceptedEvent {
            kind: EventKind::CallEnded,
            transfer: None,
            call_id: CallId::parse("call_1").expect("valid"),
            company_id: "acme".into(),
            received_at_ms: 5,
            body: Bytes::copy_from_slice(body),
        }
    }

    #[test]
    fn small_bodies_travel_inline_byte_for_byte() {
        let body = br#"{"event":"call_ended","call":{"call_id":"call_1","x":1.50}}"#;
        let (json, key) = envelope_json(&accepted(body), 10_000).expect("ok");
        assert_eq!(key, None);
        let env: Envelope<'_> = serde_json::from_str(&json).expect("parses");
        assert_eq!(env.payload.map(|p| p.get().as_bytes()), Some(&body[..]));
        assert_eq!(env.company_id, "acme");
    }

    #[test]
    fn large_bodies_are_claim_checked() {
        let body = format!(
            r#"{{"event":"call_ended","call":{{"call_id":"call_1","t":"{}"}}}}"#,
            "x".repeat(5000)
        );
        let (json, key) = envelope_json(&accepted(body.as_bytes()), 1000).expect("ok");
        assert_eq!(key.as_deref(), Some("calls/acme/call_1/call_ended.json"));
        assert!(json.len() < 300);
        let env: Envelope<'_> = serde_json::from_str(&json).expect("parses");
        assert!(env.payload.is_none());
    }
}
