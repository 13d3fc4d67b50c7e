//! `webhook` Lambda: POST /api/retell/webhook. Verifies Retell's signature, queues the event,
//! answers. The decision logic is [`shared::calls::ingest`]; this crate maps it onto HTTP.

use std::time::Duration;

use bytes::Bytes;
use lambda_http::{Body, Request, Response};
use shared::calls::ingest::{ingest, IngestError, IngestOutcome};
use shared::calls::queue::{Delivery, EventQueue, SqsEventQueue};
use shared::platform::aws::AwsClients;
use shared::platform::config::WebhookConfig;
use shared::platform::http::json_response;
use shared::retell::auth::{RequestAuth, SIGNATURE_HEADER};
use shared::retell::keys::{SecretSource, SecretsManagerSource};
use tracing::Instrument;

/// The webhook answers within this, whatever AWS does: Retell waits 10 s and retries a 5xx, so
/// a stalled dependency gives a 503 in time rather than a timeout Retell cannot tell apart.
/// Each AWS call has its own, shorter budget (`AwsBudget::CALLER_WAITING`); this bounds them
/// all together (a cold container reads a company, the keys, S3 and SQS).
pub const WEBHOOK_DEADLINE: Duration = Duration::from_secs(6);

pub struct Webhook<S, Q> {
    pub auth: RequestAuth<S>,
    pub queue: Q,
    pub max_body_bytes: usize,
    pub deadline: Duration,
}

impl Webhook<SecretsManagerSource, SqsEventQueue> {
    /// The webhook as its Lambda runs it, from its configuration and the container's clients:
    /// `main` and the tests build it here.
    pub fn build(config: &WebhookConfig, aws: &AwsClients) -> Self {
        Webhook {
            auth: RequestAuth::build(&config.auth, aws),
            queue: SqsEventQueue::new(
                aws.sqs.client(),
                aws.s3.client(),
                config.bucket.clone(),
                config.queue_urls.clone(),
                config.inline_limit_bytes,
            ),
            max_body_bytes: config.max_body_bytes,
            deadline: WEBHOOK_DEADLINE,
        }
    }
}

impl<S: SecretSource, Q: EventQueue> Webhook<S, Q> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let span = shared::event_span!("webhook");
        shared::platform::telemetry::answered("webhook", "webhook", self.respond(request))
            .instrument(span)
            .await
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
        let outcome = tokio::time::timeout(
            self.deadline,
            ingest(
                &self.auth,
                &self.queue,
                body,
                signature,
                now_ms,
                self.max_body_bytes,
            ),
        )
        .await
        .unwrap_or(Err(IngestError::Deadline));
        match outcome {
            Ok(IngestOutcome::Queued {
                event,
                call_id,
                company_id,
                delivery,
            }) => {
                span.record("call_id", call_id.as_str());
                span.record("event", event);
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
