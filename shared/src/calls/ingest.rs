//! The webhook's work for one request: authenticate, parse, route, queue. Every rejection is an
//! [`IngestError`] with one HTTP status, decided here once.

use bytes::Bytes;

use crate::booking::directory::CompanyKey;
use crate::calls::queue::{AcceptedEvent, Delivery, EventQueue, QueueError};
use crate::retell::auth::{AuthError, RequestAuth};
use crate::retell::keys::SecretSource;
use crate::retell::signature::{SignatureError, SignatureHeader};
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
    let header = SignatureHeader::from_request(signature)?;
    let peek = WebhookPeek::parse(&body);
    let claim = peek
        .as_ref()
        .ok()
        .and_then(|p| p.agent_id())
        .map(|agent| CompanyKey::Agent(agent.to_owned()));
    let sender = auth
        .authenticate(&body, &header, claim.as_ref(), now_ms)
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
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::booking::company::demo_company;
    use crate::booking::directory::CompanyDirectory;
    use crate::platform::secrets::StaticSecret;
    use crate::retell::keys::{KeyProvider, DEFAULT_REFRESH_INTERVAL};
    use crate::retell::signature::sign;

    const NOW: i64 = 1_700_000_000_000;
    const LIMIT: usize = 1 << 20;

    /// What was queued, by event and company.
    #[derive(Default)]
    struct Recorded(Mutex<Vec<(&'static str, String)>>);

    impl EventQueue for Recorded {
        async fn enqueue(&self, event: &AcceptedEvent) -> Result<Delivery, QueueError> {
            if let Ok(mut queued) = self.0.lock() {
                queued.push((event.event_name(), event.company_id.clone()));
            }
            Ok(Delivery::Inline)
        }
    }

    /// The webhook's own path, with keys for the default company and `demo`, and a directory
    /// that has already read `agent_demo` (company `demo`) and `agent_other` (nobody's): no
    /// lookup leaves the process.
    async fn webhook() -> RequestAuth<StaticSecret> {
        let keys = KeyProvider::new(
            StaticSecret(
                r#"{"default": {"company_id": "default", "api_key": "key_default"},
                    "companies": [{"company_id": "demo", "api_key": "key_demo"}]}"#
                    .to_owned(),
            ),
            "default",
            DEFAULT_REFRESH_INTERVAL,
        );
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .region(aws_sdk_dynamodb::config::Region::new("eu-central-1"))
                .build(),
        );
        let directory = CompanyDirectory::new(dynamodb, "companies", Duration::from_secs(3600));
        directory
            .remember(
                [CompanyKey::Agent("agent_demo".into())],
                Some(Arc::new(demo_company())),
            )
            .await;
        directory
            .remember([CompanyKey::Agent("agent_other".into())], None)
            .await;
        RequestAuth::new(keys, directory)
    }

    async fn send(body: &[u8], signature: Option<&str>) -> Result<IngestOutcome, IngestError> {
        let queue = Recorded::default();
        let outcome = ingest(
            &webhook().await,
            &queue,
            Bytes::copy_from_slice(body),
            signature,
            NOW,
            LIMIT,
        )
        .await;
        let queued = queue.0.lock().map(|q| q.len()).unwrap_or(0);
        assert_eq!(
            queued,
            usize::from(matches!(outcome, Ok(IngestOutcome::Queued { .. }))),
            "queued exactly when accepted for the queue"
        );
        outcome
    }

    async fn check(body: &str, key: &str) -> Result<IngestOutcome, IngestError> {
        let sig = sign(body.as_bytes(), key, NOW);
        send(body.as_bytes(), Some(&sig)).await
    }

    fn queued_for(outcome: &IngestOutcome) -> (&str, &str) {
        match outcome {
            IngestOutcome::Queued {
                event, company_id, ..
            } => (event, company_id),
            IngestOutcome::Ignored { .. } => ("ignored", ""),
        }
    }

    #[tokio::test]
    async fn routes_stored_events_with_their_company() {
        let v = check(
            r#"{"event":"call_ended","call":{"call_id":"c1","agent_id":"agent_demo"}}"#,
            "key_demo",
        )
        .await
        .expect("accepted");
        assert_eq!(queued_for(&v), ("call_ended", "demo"));
        let v = check(
            r#"{"event":"call_started","call":{"call_id":"c1","agent_id":"agent_other"}}"#,
            "key_default",
        )
        .await
        .expect("accepted");
        assert_eq!(queued_for(&v), ("call_started", "default"));
    }

    #[tokio::test]
    async fn another_companys_key_is_not_accepted() {
        let err = check(
            r#"{"event":"call_ended","call":{"call_id":"c1","agent_id":"agent_demo"}}"#,
            "key_default",
        )
        .await
        .expect_err("wrong tenant");
        assert_eq!(err.status(), 401);
    }

    #[tokio::test]
    async fn transfer_events_are_queued_with_the_live_call() {
        for event in TransferEvent::ALL {
            let v = check(
                &format!(
                    r#"{{"event":"{event}","call":{{"call_id":"c1","agent_id":"agent_demo"}},"transfer_destination":"+4930123"}}"#,
                    event = event.as_str()
                ),
                "key_demo",
            )
            .await
            .expect("accepted");
            assert_eq!(queued_for(&v), (event.as_str(), "demo"));
        }
        // The same checks as any stored event: no call id, no queue.
        let err = check(r#"{"event":"transfer_bridged","call":{}}"#, "key_default")
            .await
            .expect_err("no call id");
        assert_eq!(err.reason(), "missing_call_id");
    }

    #[tokio::test]
    async fn unknown_events_are_acknowledged_not_queued() {
        for event in ["transcript_updated", "something_new"] {
            let v = check(
                &format!(r#"{{"event":"{event}","call":{{}}}}"#),
                "key_default",
            )
            .await
            .expect("ok");
            assert_eq!(
                v,
                IngestOutcome::Ignored {
                    event: event.into(),
                    company_id: "default".into()
                }
            );
        }
    }

    #[tokio::test]
    async fn bad_input_maps_to_its_status() {
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
            let err = check(body, "key_default").await.expect_err(body);
            assert_eq!((err.status(), err.reason()), (status, reason), "{body}");
        }
        // Bad JSON with a bad signature is an authentication failure first.
        let err = check(r#"{"event":"#, "wrong")
            .await
            .expect_err("unauthenticated");
        assert_eq!(err.status(), 401);
        let body = br#"{"event":"call_ended","call":{"call_id":"c"}}"#;
        for sig in [None, Some("garbage"), Some("v=1,d=zz")] {
            let err = send(body, sig).await.expect_err("unauthenticated");
            assert_eq!(err.status(), 401);
        }
        for skew in [-400_000, 400_000] {
            let signature = sign(body, "key_default", NOW + skew);
            let err = send(body, Some(&signature)).await.expect_err("stale");
            assert_eq!(err.reason(), "signature_stale");
        }
        let big = vec![b' '; LIMIT + 1];
        let err = send(&big, None).await.expect_err("too large");
        assert_eq!((err.status(), err.reason()), (413, "body_too_large"));
    }

    #[tokio::test]
    async fn queued_bodies_are_ones_a_consumer_can_store() {
        let nested = |depth: usize| {
            // The root and `call` are two levels; `custom` adds the rest.
            let inner = depth - 3;
            format!(
                r#"{{"event":"call_ended","call":{{"call_id":"c1","custom":{}1{}}}}}"#,
                "[".repeat(inner + 1),
                "]".repeat(inner + 1)
            )
        };
        assert!(check(&nested(MAX_JSON_DEPTH), "key_default").await.is_ok());
        for depth in [MAX_JSON_DEPTH + 1, 129, 10_000] {
            let err = check(&nested(depth), "key_default")
                .await
                .expect_err("too deep");
            assert_eq!((err.status(), err.reason()), (400, "too_deeply_nested"));
        }
        // Brackets inside strings are text, not nesting.
        let text = format!(
            r#"{{"event":"call_ended","call":{{"call_id":"c1","transcript":"{}\"{}"}}}}"#,
            "[".repeat(500),
            "{".repeat(500)
        );
        assert!(check(&text, "key_default").await.is_ok());

        let mut bytes =
            br#"{"event":"call_ended","call":{"call_id":"c1","transcript":"Gr"#.to_vec();
        bytes.extend_from_slice(&[0xfc, 0xdf, 0xff]);
        bytes.extend_from_slice(br#"e"}}"#);
        let sig = sign(&bytes, "key_default", NOW);
        let err = send(&bytes, Some(&sig)).await.expect_err("not UTF-8");
        assert_eq!((err.status(), err.reason()), (400, "invalid_utf8"));
    }
}
