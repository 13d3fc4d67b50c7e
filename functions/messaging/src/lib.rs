//! The messaging Lambda: consumes the messaging queue (each notice sent by
//! `shared::messaging::dispatch`; a notice that must be retried is reported as a batch item
//! failure, so SQS retries it and, after the queue's receive count, dead-letters it), and every
//! five minutes sweeps the due index back onto the queue (reminders, and messages that waited
//! for quiet or calling hours to end).
//!
//! The sweep runs for the schedule's `time`: EventBridge alone may invoke this function, so that
//! is when it was due to run.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shared::booking::directory::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::calendar::AppointmentLedger;
use shared::callbacks::CallbackStore;
use shared::messaging::dispatch::{Dispatcher, RetellCalls};
use shared::messaging::outbox::{Outbox, QUEUE_URL_VAR};
use shared::messaging::sender::Providers;
use shared::messaging::store::MessageStore;
use shared::messaging::Notice;
use shared::platform::aws::AwsClients;
use shared::platform::config::{ConfigError, Env, DEFAULT_RETELL_BASE_URL};
use shared::retell::keys::{KeyProvider, SecretsManagerSource, DEFAULT_REFRESH_INTERVAL};

/// At most this many due notices per sweep (the rest wait five minutes).
pub const SWEEP_LIMIT: usize = 1000;

pub struct Messaging {
    pub dispatcher: Dispatcher,
    pub outbox: Outbox,
}

impl Messaging {
    pub fn build(env: &Env, aws: &AwsClients) -> Result<Self, ConfigError> {
        let appointments = env.required("APPOINTMENTS_TABLE")?;
        let retell = env.optional("RETELL_SECRET_ID").map(|secret_id| {
            Arc::new(RetellCalls {
                keys: KeyProvider::new(
                    SecretsManagerSource::new(aws.secrets.clone(), &secret_id),
                    env.optional("DEFAULT_COMPANY_ID")
                        .unwrap_or_else(|| "default".into()),
                    DEFAULT_REFRESH_INTERVAL,
                ),
                base_url: env
                    .optional("RETELL_BASE_URL")
                    .unwrap_or_else(|| DEFAULT_RETELL_BASE_URL.into()),
            })
        });
        Ok(Self {
            dispatcher: Dispatcher {
                companies: CompanyDirectory::new(
                    aws.dynamodb.clone(),
                    env.required("COMPANIES_TABLE")?,
                    COMPANY_CACHE_TTL,
                ),
                ledger: AppointmentLedger::new(aws.dynamodb.clone(), &appointments),
                callbacks: CallbackStore::new(aws.dynamodb.clone(), &appointments),
                store: MessageStore::new(aws.dynamodb.clone(), &appointments),
                providers: Providers::new(&aws.sdk),
                retell,
            },
            outbox: Outbox::new(&aws.sdk, env.required(QUEUE_URL_VAR)?).map_err(|e| {
                ConfigError::Invalid {
                    name: QUEUE_URL_VAR,
                    reason: e.to_string(),
                }
            })?,
        })
    }

    /// A queue batch or a scheduled sweep, told apart by shape.
    pub async fn handle(&self, event: Value) -> Value {
        if event.get("Records").is_some() {
            match serde_json::from_value::<SqsEvent>(event) {
                Ok(batch) => {
                    serde_json::to_value(self.handle_batch(batch).await).unwrap_or(Value::Null)
                }
                Err(e) => {
                    tracing::error!(error = %e, "not an SQS event; ignored");
                    Value::Null
                }
            }
        } else {
            let at = event
                .get("time")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(Utc::now);
            self.sweep(at).await
        }
    }

    pub async fn handle_batch(&self, batch: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in batch.records {
            let id = record.message_id.clone().unwrap_or_default();
            let body = record.body.as_deref().unwrap_or_default();
            let result = match serde_json::from_str::<Notice>(body) {
                Ok(notice) => self
                    .dispatcher
                    .handle(&notice, Utc::now())
                    .await
                    .map_err(|e| e.to_string()),
                // Not ours to guess at: dead-lettered after the retries, for a person to read.
                Err(e) => Err(format!("not a notice: {e}")),
            };
            if let Err(reason) = result {
                // The words and fields the dead-letter listing looks for (its consumer's last
                // `event failed` line for the message).
                tracing::error!(message_id = %id, error = %reason, "event failed; notice will be retried");
                response.add_failure(id);
            }
        }
        response
    }

    /// Puts what is due at `at` back on the queue, and drops it from the index.
    pub async fn sweep(&self, at: DateTime<Utc>) -> Value {
        let due = match self.dispatcher.store.due(at, SWEEP_LIMIT).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "sweep could not read the due index");
                return json!({"swept": 0, "error": e.to_string()});
            }
        };
        let mut swept = 0;
        for item in &due {
            // Queued first, removed after: a failure in between queues it twice, which the
            // message's claim makes harmless; the other order could lose it.
            if let Err(e) = self.outbox.send(&item.notice).await {
                tracing::error!(error = %e, "due notice not queued; next sweep tries again");
                continue;
            }
            if let Err(e) = self.dispatcher.store.remove(item).await {
                tracing::warn!(error = %e, "due notice queued but not removed");
            }
            swept += 1;
        }
        tracing::info!(swept, at = %at, "sweep done");
        json!({"swept": swept, "at": at.to_rfc3339()})
    }
}
