//! `POST /api/calcom/webhook/{company_id}`: Cal.com's booking webhooks for one company
//! (registered by `retell-ops sync`). The delivery's `X-Cal-Signature-256` must be the HMAC of
//! the raw body with the company's webhook secret (`<stack>/calcom-webhook/<company_id>`; a
//! rotated secret is read again after a mismatch); the booking is then applied to the ledger
//! once (`shared::calendar::calcom_inbox`). Answers: 200 applied (or a replay, or a trigger not
//! acted on), 400 a body that is not a booking delivery, 401 unsigned or wrongly signed (also
//! `no-secret-provided`), 404 no such Cal.com company, 413 too large, 503 storage unavailable.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::booking::company::{CalendarBackend, Company};
use shared::booking::directory::{CompanyDirectory, CompanyKey, COMPANY_CACHE_TTL};
use shared::calendar::calcom_inbox::Applied;
use shared::calendar::calcom_webhook::{
    parse, verify, DeliveryError, MAX_BODY_BYTES, SIGNATURE_HEADER,
};
use shared::calendar::ledger::AppointmentLedger;
use shared::platform::aws::AwsClients;
use shared::platform::config::CalComWebhookConfig;
use shared::platform::http::json_response;
use shared::platform::secrets::{SecretSource, SecretsManagerSource};
use tokio::sync::Mutex;
use tracing::Instrument;

/// A webhook secret is read again after this long (and after a signature that does not match).
const SECRET_TTL: Duration = Duration::from_secs(300);

pub struct CalComInbox {
    pub companies: CompanyDirectory,
    pub ledger: AppointmentLedger,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// The messaging queue: the customer's confirmation of what happened on Cal.com.
    pub outbox: Option<shared::messaging::outbox::Outbox>,
    cache: Mutex<HashMap<String, (Instant, Arc<String>)>>,
}

impl CalComInbox {
    pub fn build(config: &CalComWebhookConfig, aws: &AwsClients) -> Self {
        Self {
            companies: CompanyDirectory::new(
                aws.dynamodb.clone(),
                &config.companies_table,
                COMPANY_CACHE_TTL,
            ),
            ledger: AppointmentLedger::new(aws.dynamodb.clone(), &config.appointments_table),
            secrets: aws.secrets.clone(),
            outbox: shared::messaging::outbox::Outbox::from_env(&aws.sdk),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        let span = shared::event_span!("calcom_webhook");
        shared::platform::telemetry::answered("calcom", "calcom_webhook", self.respond(request))
            .instrument(span)
            .await
    }

    async fn secret(&self, id: &str, fresh: bool) -> Result<Arc<String>, String> {
        if !fresh {
            if let Some((at, secret)) = self.cache.lock().await.get(id) {
                if at.elapsed() < SECRET_TTL {
                    return Ok(secret.clone());
                }
            }
        }
        let secret = SecretsManagerSource::new(self.secrets.clone(), id)
            .fetch()
            .await
            .map_err(|e| e.to_string())?;
        let secret = Arc::new(secret.trim().to_owned());
        let mut cache = self.cache.lock().await;
        if cache.len() > 1000 {
            cache.clear();
        }
        cache.insert(id.to_owned(), (Instant::now(), secret.clone()));
        Ok(secret)
    }

    /// The Cal.com company the path names.
    async fn company(&self, path: &str) -> Result<Option<Arc<Company>>, String> {
        let id = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        let key = CompanyKey::Id(id.to_owned());
        if !key.is_well_formed() {
            return Ok(None);
        }
        let company = self
            .companies
            .lookup(&key)
            .await
            .map_err(|e| e.to_string())?;
        Ok(company.filter(|c| matches!(c.settings.calendar, CalendarBackend::CalCom(_))))
    }

    async fn respond(&self, request: Request) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let body: &[u8] = body.as_ref();
        if body.len() > MAX_BODY_BYTES {
            tracing::warn!(
                status = 413,
                reason = "too_large",
                bytes = body.len(),
                "Cal.com delivery refused"
            );
            return json_response(413, &json!({"error": "too_large"}));
        }
        let company = match self.company(parts.uri.path()).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                tracing::warn!(
                    status = 404,
                    reason = "no_calcom_company",
                    "Cal.com delivery refused"
                );
                return json_response(404, &json!({"error": "not_found"}));
            }
            Err(e) => {
                tracing::error!(status = 503, reason = "directory", error = %e, "Cal.com delivery not taken");
                return json_response(503, &json!({"error": "unavailable"}));
            }
        };
        tracing::Span::current().record("company", company.id());
        let CalendarBackend::CalCom(cal) = &company.settings.calendar else {
            return json_response(404, &json!({"error": "not_found"}));
        };
        let secret_id = cal.webhook_secret_id();
        let header = parts
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok());
        let mut verified = Err(DeliveryError::Unsigned);
        for fresh in [false, true] {
            let secret = match self.secret(&secret_id, fresh).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(status = 503, reason = "secret", error = %e, "Cal.com delivery not taken");
                    return json_response(503, &json!({"error": "unavailable"}));
                }
            };
            verified = verify(body, header, &secret);
            // Only a mismatch may be a rotated secret; no header is no header.
            if verified != Err(DeliveryError::BadSignature) {
                break;
            }
        }
        if let Err(e) = verified {
            tracing::warn!(
                status = 401,
                reason = e.reason(),
                "Cal.com delivery refused"
            );
            return json_response(401, &json!({"error": e.reason()}));
        }
        let delivery = match parse(body) {
            Ok(Some(d)) => d,
            Ok(None) => {
                tracing::info!("Cal.com delivery of a trigger not acted on");
                return json_response(200, &json!({"applied": "ignored"}));
            }
            Err(e) => {
                tracing::warn!(status = 400, reason = e.reason(), error = %e, "Cal.com delivery refused");
                return json_response(400, &json!({"error": e.reason(), "message": e.to_string()}));
            }
        };
        let now = chrono::Utc::now();
        match self.ledger.apply_calcom(&company, &delivery, now).await {
            Ok(applied) => {
                let (what, id) = match &applied {
                    Applied::Booked(id) => ("booked", Some(id)),
                    Applied::Moved(id) => ("moved", Some(id)),
                    Applied::Cancelled(id) => ("cancelled", Some(id)),
                    Applied::Known => ("known", None),
                    Applied::Replay => ("replay", None),
                    Applied::Skipped(why) => {
                        tracing::warn!(uid = %delivery.uid, why, "Cal.com delivery not applied");
                        ("skipped", None)
                    }
                };
                tracing::info!(trigger = delivery.trigger.as_str(), uid = %delivery.uid, applied = what, "Cal.com delivery");
                if let (Some(id), Some(outbox)) = (id, &self.outbox) {
                    // The appointment as the delivery left it: its change number keys the
                    // confirmation. Not read, not told: the delivery stands either way.
                    match self.ledger.appointment(&company, id).await {
                        Ok(Some(appointment)) => outbox.appointment_changed(&appointment).await,
                        Ok(None) => {}
                        Err(e) => tracing::error!(error = %e, "confirmation not queued"),
                    }
                }
                json_response(200, &json!({"applied": what, "appointment_id": id}))
            }
            Err(e) => {
                tracing::error!(status = 503, reason = "ledger", error = %e, "Cal.com delivery not applied");
                json_response(503, &json!({"error": "unavailable"}))
            }
        }
    }
}
