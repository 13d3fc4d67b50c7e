//! The webhook's decision for one request: authenticate, parse, route. Every rejection is an
//! [`IngestError`] with one HTTP status, decided here once.

use bytes::Bytes;

use crate::booking::directory::CompanyKey;
use crate::calls::queue::{AcceptedEvent, Delivery, EventQueue, QueueError};
use crate::retell::auth::{AuthError, RequestAuth};
use crate::retell::keys::{KeyRing, SecretSource};
use crate::retell::signature::{verify_signature, SignatureError, SignatureHeader};
use crate::retell::{
    exceeds_json_depth, is_utf8, CallId, CallIdError, EventKind, TransferEvent, WebhookPeek,
    MAX_JSON_DEPTH,
};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("body of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("body is not valid UTF-8")]
    InvalidUtf8,
    #[error("body nests JSON deeper than {MAX_JSON_DEPTH} levels")]
    TooDeep,
    #[error("body has no event name")]
    MissingEvent,
    #[error("call.call_id is missing")]
    MissingCallId,
    #[error("call.call_id is invalid: {0}")]
    InvalidCallId(#[from] CallIdError),
    #[error("queueing failed: {0}")]
    Queue(#[from] QueueError),
    #[error("no answer from AWS within the webhook's deadline")]
    Deadline,
}

impl From<SignatureError> for IngestError {
    fn from(e: SignatureError) -> Self {
        IngestError::Auth(AuthError::Signature(e))
    }
}

impl IngestError {
    pub fn status(&self) -> u16 {
        match self {
            IngestError::TooLarge { .. } => 413,
            IngestError::Auth(e) => e.status(),
            IngestError::MalformedJson(_)
            | IngestError::InvalidUtf8
            | IngestError::TooDeep
            | IngestError::MissingEvent
            | IngestError::MissingCallId
            | IngestError::InvalidCallId(_) => 400,
            // Retell retries 5xx, which is what we want while a dependency is down.
            IngestError::Queue(_) | IngestError::Deadline => 503,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::TooLarge { .. } => "body_too_large",
            IngestError::Auth(e) => e.reason(),
            IngestError::MalformedJson(_) => "malformed_json",
            IngestError::InvalidUtf8 => "invalid_utf8",
            IngestError::TooDeep => "too_deeply_nested",
            IngestError::MissingEvent => "missing_event",
            IngestError::MissingCallId => "missing_call_id",
            IngestError::InvalidCallId(_) => "invalid_call_id",
            IngestError::Queue(_) => "queue_unavailable",
            IngestError::Deadline => "deadline_exceeded",
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
    /// A transfer event: queued with the live call's events, stored in the call's transfer log.
    Transfer {
        event: TransferEvent,
        call_id: CallId,
    },
    /// Verified, but not an event we store (transcript_updated, anything new).
    Ignore {
        event: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub company_id: String,
    pub route: Route,
}

/// Verify + parse + route with a given key ring and the company the directory named (`None`:
/// the default company); no I/O. This is the webhook's CPU work per request.
pub fn authenticate(
    ring: &KeyRing,
    company_id: Option<&str>,
    body: &[u8],
    signature: Option<&str>,
    now_ms: i64,
) -> Result<Verified, IngestError> {
    let header = SignatureHeader::parse(signature.ok_or(SignatureError::Missing)?)?;
    let peek = WebhookPeek::parse(body);
    verify_signature(body, ring.key_for(company_id), &header, now_ms)?;
    route(
        peek,
        body,
        company_id.unwrap_or_else(|| ring.default_company_id()),
    )
}

/// Where a verified body goes. A body that is queued is one a consumer can parse and DynamoDB
/// can store: valid UTF-8 throughout (the syntax check skips the contents of fields it does not
/// read) and nested no deeper than [`MAX_JSON_DEPTH`]. Anything else is refused here with a 400
/// rather than accepted and then failed into the dead-letter queue.
fn route(
    peek: Result<WebhookPeek<'_>, serde_json::Error>,
    body: &[u8],
    company_id: &str,
) -> Result<Verified, IngestError> {
    let peek = peek.map_err(|e| IngestError::MalformedJson(e.to_string()))?;
    let event = peek.event.as_deref().ok_or(IngestError::MissingEvent)?;
    let storable = || -> Result<CallId, IngestError> {
        let call_id = CallId::parse(peek.call_id().ok_or(IngestError::MissingCallId)?)?;
        if !is_utf8(body) {
            return Err(IngestError::InvalidUtf8);
        }
        if exceeds_json_depth(body, MAX_JSON_DEPTH) {
            return Err(IngestError::TooDeep);
        }
        Ok(call_id)
    };
    let route = match (EventKind::parse(event), TransferEvent::parse(event)) {
        (Some(kind), _) => Route::Queue {
            kind,
            call_id: storable()?,
        },
        (None, Some(event)) => Route::Transfer {
            event,
            call_id: storable()?,
        },
        (None, None) => Route::Ignore {
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
        /// Retell's name for it (`call_ended`, `transfer_started`, …).
        event: &'static str,
        call_id: CallId,
        company_id: String,
        delivery: Delivery,
    },
    Ignored {
        event: String,
        company_id: String,
    },
}

/// The whole webhook: size limit, signature with the key of the company the directory names
/// for the agent (re-reading a rotated key at most once a refresh interval), routing, durable
/// queueing.
pub async fn ingest<S: SecretSource, Q: EventQueue>(
    auth: &RequestAuth<S>,
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
    // An unsigned request costs no parse.
    SignatureHeader::parse(signature.ok_or(SignatureError::Missing)?)?;
    let peek = WebhookPeek::parse(&body);
    let claim = peek
        .as_ref()
        .ok()
        .and_then(|p| p.agent_id())
        .map(|agent| CompanyKey::Agent(agent.to_owned()));
    let sender = auth
        .authenticate(&body, signature, claim.as_ref(), now_ms)
        .await?;
    let verified = route(peek, &body, &sender.company_id)?;
    let (kind, transfer, call_id) = match verified.route {
        Route::Ignore { event } => {
            return Ok(IngestOutcome::Ignored {
                event,
                company_id: verified.company_id,
            })
        }
        Route::Queue { kind, call_id } => (kind, None, call_id),
        Route::Transfer { event, call_id } => (TransferEvent::QUEUE, Some(event), call_id),
    };
    let accepted = AcceptedEvent {
        kind,
        transfer,
        call_id,
        company_id: verified.company_id,
        received_at_ms: now_ms,
        body,
    };
    let delivery = queue.enqueue(&accepted).await?;
    Ok(IngestOutcome::Queued {
        event: accepted.event_name(),
        call_id: accepted.call_id,
        company_id: accepted.company_id,
        delivery,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retell::signature::sign;

    const NOW: i64 = 1_700_000_000_000;

    fn ring() -> KeyRing {
        KeyRing::parse(
            r#"{"default": {"company_id": "default", "api_key": "key_default"},
                "companies": [{"company_id": "acme", "api_key": "key_acme"}]}"#,
            "default",
        )
        .expect("valid")
    }

    /// As the webhook sees it when the directory says `agent_acme` is company `acme`.
    fn check(body: &str, key: &str) -> Result<Verified, IngestError> {
        let sig = sign(body.as_bytes(), key, NOW);
        let company = body.contains("agent_acme").then_some("acme");
        authenticate(&ring(), company, body.as_bytes(), Some(&sig), NOW)
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
    fn transfer_events_are_queued_with_the_live_call() {
        for event in TransferEvent::ALL {
            let v = check(
                &format!(
                    r#"{{"event":"{event}","call":{{"call_id":"c1","agent_id":"agent_acme"}},"transfer_destination":"+4930123"}}"#,
                    event = event.as_str()
                ),
                "key_acme",
            )
            .expect("accepted");
            assert_eq!(v.company_id, "acme");
            assert_eq!(
                v.route,
                Route::Transfer {
                    event,
                    call_id: CallId::parse("c1").expect("valid")
                }
            );
        }
        // The same checks as any stored event: no call id, no queue.
        let err = check(r#"{"event":"transfer_bridged","call":{}}"#, "key_default")
            .expect_err("no call id");
        assert_eq!(err.reason(), "missing_call_id");
    }

    #[test]
    fn unknown_events_are_acknowledged_not_queued() {
        for event in ["transcript_updated", "something_new"] {
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
            let err = authenticate(&ring(), None, body, sig, NOW).expect_err("unauthenticated");
            assert_eq!(err.status(), 401);
        }
        let stale = sign(body, "key_default", NOW - 400_000);
        assert_eq!(
            authenticate(&ring(), None, body, Some(&stale), NOW)
                .map_err(|e| e.reason())
                .err(),
            Some("signature_stale")
        );
        let future = sign(body, "key_default", NOW + 400_000);
        assert_eq!(
            authenticate(&ring(), None, body, Some(&future), NOW)
                .map_err(|e| e.reason())
                .err(),
            Some("signature_stale")
        );
    }

    #[test]
    fn queued_bodies_are_ones_a_consumer_can_store() {
        let nested = |depth: usize| {
            // The root and `call` are two levels; `custom` adds the rest.
            let inner = depth - 3;
            format!(
                r#"{{"event":"call_ended","call":{{"call_id":"c1","custom":{}1{}}}}}"#,
                "[".repeat(inner + 1),
                "]".repeat(inner + 1)
            )
        };
        assert!(check(&nested(MAX_JSON_DEPTH), "key_default").is_ok());
        for depth in [MAX_JSON_DEPTH + 1, 129, 10_000] {
            let err = check(&nested(depth), "key_default").expect_err("too deep");
            assert_eq!((err.status(), err.reason()), (400, "too_deeply_nested"));
        }
        // Brackets inside strings are text, not nesting.
        let text = format!(
            r#"{{"event":"call_ended","call":{{"call_id":"c1","transcript":"{}\"{}"}}}}"#,
            "[".repeat(500),
            "{".repeat(500)
        );
        assert!(check(&text, "key_default").is_ok());

        let mut bytes =
            br#"{"event":"call_ended","call":{"call_id":"c1","transcript":"Gr"#.to_vec();
        bytes.extend_from_slice(&[0xfc, 0xdf, 0xff]);
        bytes.extend_from_slice(br#"e"}}"#);
        let sig = sign(&bytes, "key_default", NOW);
        let err = authenticate(&ring(), None, &bytes, Some(&sig), NOW).expect_err("not UTF-8");
        assert_eq!((err.status(), err.reason()), (400, "invalid_utf8"));
    }
}
