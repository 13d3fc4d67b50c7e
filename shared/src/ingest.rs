//! The webhook's decision for one request: authenticate, parse, route. Every rejection is an
//! [`IngestError`] with one HTTP status, decided here once.

use bytes::Bytes;

use crate::keys::{KeyError, KeyHint, KeyProvider, KeyRing, SecretSource, VerifyError};
use crate::queue::{AcceptedEvent, Delivery, EventQueue, QueueError};
use crate::retell::{CallId, CallIdError, EventKind, WebhookPeek};
use crate::signature::{verify_signature, SignatureError, SignatureHeader};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("body of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("{0}")]
    Signature(#[from] SignatureError),
    #[error("body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("body has no event name")]
    MissingEvent,
    #[error("call.call_id is missing")]
    MissingCallId,
    #[error("call.call_id is invalid: {0}")]
    InvalidCallId(#[from] CallIdError),
    #[error("webhook keys unavailable: {0}")]
    Keys(#[from] KeyError),
    #[error("queueing failed: {0}")]
    Queue(#[from] QueueError),
}

impl From<VerifyError> for IngestError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Signature(s) => IngestError::Signature(s),
            VerifyError::Keys(k) => IngestError::Keys(k),
        }
    }
}

impl IngestError {
    pub fn status(&self) -> u16 {
        match self {
            IngestError::TooLarge { .. } => 413,
            IngestError::Signature(_) => 401,
            IngestError::MalformedJson(_)
            | IngestError::MissingEvent
            | IngestError::MissingCallId
            | IngestError::InvalidCallId(_) => 400,
            // Retell retries 5xx, which is what we want while a dependency is down.
            IngestError::Keys(_) | IngestError::Queue(_) => 503,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::TooLarge { .. } => "body_too_large",
            IngestError::Signature(e) => e.reason(),
            IngestError::MalformedJson(_) => "malformed_json",
            IngestError::MissingEvent => "missing_event",
            IngestError::MissingCallId => "missing_call_id",
            IngestError::InvalidCallId(_) => "invalid_call_id",
            IngestError::Keys(_) => "keys_unavailable",
            IngestError::Queue(_) => "queue_unavailable",
        }
    }
}

/// Where a verified event goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Queue {
        kind: EventKind,
        call_id: CallId,
    },
    /// Verified, but not an event we store (transcript_updated, transfer_*, anything new).
    Ignore {
        event: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub company_id: String,
    pub route: Route,
}

/// Verify + parse + route with a given key ring; no I/O. The body is parsed before the
/// signature is checked only to find which company's key to check it with: nothing from an
/// unverified body is acted on or stored.
pub fn authenticate(
    ring: &KeyRing,
    body: &[u8],
    signature: Option<&str>,
    now_ms: i64,
) -> Result<Verified, IngestError> {
    let header = SignatureHeader::parse(signature.ok_or(SignatureError::Missing)?)?;
    let peek = WebhookPeek::parse(body);
    let tenant = ring.tenant_for(KeyHint::agent(
        peek.as_ref().ok().and_then(|p| p.agent_id()),
    ));
    verify_signature(body, tenant.api_key(), &header, now_ms)?;
    route(peek, &tenant.company_id)
}

/// Where a verified body goes.
fn route(
    peek: Result<WebhookPeek<'_>, serde_json::Error>,
    company_id: &str,
) -> Result<Verified, IngestError> {
    let peek = peek.map_err(|e| IngestError::MalformedJson(e.to_string()))?;
    let event = peek.event.as_deref().ok_or(IngestError::MissingEvent)?;
    let route = match EventKind::parse(event) {
        Some(kind) => Route::Queue {
            kind,
            call_id: CallId::parse(peek.call_id().ok_or(IngestError::MissingCallId)?)?,
        },
        None => Route::Ignore {
            event: event.to_owned(),
        },
    };
    Ok(Verified {
        company_id: company_id.to_owned(),
        route,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    Queued {
        kind: EventKind,
        call_id: CallId,
        company_id: String,
        delivery: Delivery,
    },
    Ignored {
        event: String,
        company_id: String,
    },
}

/// The whole webhook: size limit, signature (re-reading a rotated key at most once a refresh
/// interval), routing, durable queueing.
pub async fn ingest<S: SecretSource, Q: EventQueue>(
    keys: &KeyProvider<S>,
    queue: &Q,
    body: Bytes,
    signature: Option<&str>,
    now_ms: i64,
    max_body_bytes: usize,
) -> Result<IngestOutcome, IngestError> {
    if body.len() > max_body_bytes {
        return Err(IngestError::TooLarge {
            size: body.len(),
            limit: max_body_bytes,
        });
    }
    let header = SignatureHeader::parse(signature.ok_or(SignatureError::Missing)?)?;
    let peek = WebhookPeek::parse(&body);
    let agent_id = peek.as_ref().ok().and_then(|p| p.agent_id());
    let tenant = keys
        .verify(&body, &header, KeyHint::agent(agent_id), now_ms)
        .await?;
    let verified = route(peek, &tenant.company_id)?;
    match verified.route {
        Route::Ignore { event } => Ok(IngestOutcome::Ignored {
            event,
            company_id: verified.company_id,
        }),
        Route::Queue { kind, call_id } => {
            let accepted = AcceptedEvent {
                kind,
                call_id,
                company_id: verified.company_id,
                received_at_ms: now_ms,
                body,
            };
            let delivery = queue.enqueue(&accepted).await?;
            Ok(IngestOutcome::Queued {
                kind,
                call_id: accepted.call_id,
                company_id: accepted.company_id,
                delivery,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::sign;

    const NOW: i64 = 1_700_000_000_000;

    fn ring() -> KeyRing {
        KeyRing::parse(
            r#"{"default": {"company_id": "default", "api_key": "key_default"},
                "companies": [{"company_id": "acme", "api_key": "key_acme", "agent_ids": ["agent_acme"]}]}"#,
            "default",
        )
        .expect("valid")
    }

    fn check(body: &str, key: &str) -> Result<Verified, IngestError> {
        let sig = sign(body.as_bytes(), key, NOW);
        authenticate(&ring(), body.as_bytes(), Some(&sig), NOW)
    }

    #[test]
    fn routes_stored_events_with_their_company() {
        let v = check(
            r#"{"event":"call_ended","call":{"call_id":"c1","agent_id":"agent_acme"}}"#,
            "key_acme",
        )
        .expect("accepted");
        assert_eq!(v.company_id, "acme");
        assert!(matches!(
            v.route,
            Route::Queue {
                kind: EventKind::CallEnded,
                ..
            }
        ));
        let v = check(
            r#"{"event":"call_started","call":{"call_id":"c1","agent_id":"other"}}"#,
            "key_default",
        )
        .expect("accepted");
        assert_eq!(v.company_id, "default");
    }

    #[test]
    fn another_companys_key_is_not_accepted() {
        let err = check(
            r#"{"event":"call_ended","call":{"call_id":"c1","agent_id":"agent_acme"}}"#,
            "key_default",
        )
        .expect_err("wrong tenant");
        assert_eq!(err.status(), 401);
    }

    #[test]
    fn unknown_events_are_acknowledged_not_queued() {
        for event in ["transcript_updated", "transfer_started", "something_new"] {
            let v = check(
                &format!(r#"{{"event":"{event}","call":{{}}}}"#),
                "key_default",
            )
            .expect("ok");
            assert_eq!(
                v.route,
                Route::Ignore {
                    event: event.into()
                }
            );
        }
    }

    #[test]
    fn bad_input_maps_to_its_status() {
        let cases: [(&str, u16, &str); 5] = [
            (r#"{"event":"call_ended""#, 400, "malformed_json"),
            (
                r#"{"event":"call_ended","call":{}}"#,
                400,
                "missing_call_id",
            ),
            (r#"{"call":{"call_id":"c"}}"#, 400, "missing_event"),
            (
                r#"{"event":"call_ended","call":{"call_id":"a/b"}}"#,
                400,
                "invalid_call_id",
            ),
            (r#"[1,2]"#, 400, "malformed_json"),
        ];
        for (body, status, reason) in cases {
            let err = check(body, "key_default").expect_err(body);
            assert_eq!((err.status(), err.reason()), (status, reason), "{body}");
        }
        // Bad JSON with a bad signature is an authentication failure first.
        let err = check(r#"{"event":"#, "wrong").expect_err("unauthenticated");
        assert_eq!(err.status(), 401);
        let body = br#"{"event":"call_ended","call":{"call_id":"c"}}"#;
        for sig in [None, Some("garbage"), Some("v=1,d=zz")] {
            let err = authenticate(&ring(), body, sig, NOW).expect_err("unauthenticated");
            assert_eq!(err.status(), 401);
        }
        let stale = sign(body, "key_default", NOW - 400_000);
        assert_eq!(
            authenticate(&ring(), body, Some(&stale), NOW)
                .map_err(|e| e.reason())
                .err(),
            Some("signature_stale")
        );
        let future = sign(body, "key_default", NOW + 400_000);
        assert_eq!(
            authenticate(&ring(), body, Some(&future), NOW)
                .map_err(|e| e.reason())
                .err(),
            Some("signature_stale")
        );
    }
}
