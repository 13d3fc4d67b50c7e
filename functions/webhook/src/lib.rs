//! `webhook` Lambda: POST /api/retell/webhook. Verifies Retell's signature, queues the event,
//! answers. The decision logic is [`shared::ingest`]; this crate maps it onto HTTP.

use bytes::Bytes;
use lambda_http::{Body, Request, Response};
use shared::http::json_response;
use shared::ingest::{ingest, IngestError, IngestOutcome};
use shared::keys::{KeyProvider, SecretSource};
use shared::queue::{Delivery, EventQueue};
use tracing::Instrument;

pub const SIGNATURE_HEADER: &str = "x-retell-signature";

pub struct Webhook<S, Q> {
    pub keys: KeyProvider<S>,
    pub queue: Q,
    pub max_body_bytes: usize,
}

impl<S: SecretSource, Q: EventQueue> Webhook<S, Q> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let span = shared::event_span!("webhook");
        self.respond(request).instrument(span).await
    }

    async fn respond(&self, request: Request) -> Response<Body> {
        if request.method() != lambda_http::http::Method::POST {
            tracing::warn!(reason = "method_not_allowed", method = %request.method(), "webhook rejected");
            return json_response(405, &serde_json::json!({"error": "method_not_allowed"}));
        }
        let (parts, body) = request.into_parts();
        let signature = parts
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok());
        let body = into_bytes(body);
        let size = body.len();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let span = tracing::Span::current();
        match ingest(
            &self.keys,
            &self.queue,
            body,
            signature,
            now_ms,
            self.max_body_bytes,
        )
        .await
        {
            Ok(IngestOutcome::Queued {
                kind,
                call_id,
                company_id,
                delivery,
            }) => {
                span.record("call_id", call_id.as_str());
                span.record("event", kind.as_str());
                span.record("company", company_id.as_str());
                let claim_check = matches!(delivery, Delivery::ClaimCheck { .. });
                tracing::info!(bytes = size, claim_check, "event queued");
                json_response(200, &serde_json::json!({"status": "accepted"}))
            }
            Ok(IngestOutcome::Ignored { event, company_id }) => {
                span.record("event", event.as_str());
                span.record("company", company_id.as_str());
                tracing::info!("event acknowledged and not processed");
                json_response(200, &serde_json::json!({"status": "ignored"}))
            }
            Err(err) => {
                log_rejection(&err, size);
                json_response(err.status(), &serde_json::json!({"error": err.reason()}))
            }
        }
    }
}

/// Takes the request's buffer without copying it.
fn into_bytes(body: Body) -> Bytes {
    match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(data) => Bytes::from(data),
        other => Bytes::copy_from_slice(other.as_ref()),
    }
}

fn log_rejection(err: &IngestError, bytes: usize) {
    let status = err.status();
    if status >= 500 {
        tracing::error!(status, reason = err.reason(), error = %err, bytes, "webhook failed");
    } else {
        tracing::warn!(status, reason = err.reason(), error = %err, bytes, "webhook rejected");
    }
}
