//! The SQS consumers (`call-started`, `call-ended`, `call-analyzed`): one shared handler,
//! parameterised by the event type its queue carries. The call_started queue also carries the
//! live call's transfer events (`crate::calls::transfer`).
//!
//! Each record is processed on its own: a failure, even a panic, fails only that message
//! (ReportBatchItemFailures); SQS redelivers it and, after the queue's maxReceiveCount, moves it
//! to the dead-letter queue. Nothing is dropped silently.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use bytes::Bytes;
use chrono_tz::Tz;
use futures::FutureExt;
use tracing::Instrument;

use chrono::Utc;

use crate::booking::phone::PhoneNumber;
use crate::booking::privacy_settings::DEFAULT_RETENTION_DAYS;
use crate::calendar::unresolved::{resolution, unresolved_writes};
use crate::calendar::{AppointmentLedger, CalendarError};
use crate::callbacks::{CallbackSource, CallbackStore, NewCallback, Opened, MAX_REASON_CHARS};
use crate::calls::archive::{event_key, transfer_key};
use crate::calls::archive::{ArchiveError, PayloadArchive};
use crate::calls::event::{CallEvent, CallEventError};
use crate::calls::queue::Envelope;
use crate::calls::record::CallRecord;
use crate::calls::recordings::{Copied, RecordingCopier};
use crate::calls::retention::{CallRetention, RetentionPolicy, RETENTION_TAG};
use crate::calls::store::{
    apply_event, apply_transfer, ApplyOutcome, CallStore, DynamoCallStore, StoreError,
};
use crate::calls::transfer::Transfer;
use crate::platform::aws::{AwsBudget, AwsClients};
use crate::platform::config::{ConsumerConfig, Env};
use crate::retell::{CallId, EventKind, TransferEvent};

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("message has no body")]
    NoBody,
    #[error("message is not an event envelope: {0}")]
    Envelope(String),
    #[error("message is a {found} event but this consumer handles {expected}")]
    WrongQueue { expected: EventKind, found: String },
    #[error("payload archive failed: {0}")]
    Archive(#[from] ArchiveError),
    #[error("invalid event: {0}")]
    Event(#[from] CallEventError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("appointments: {0}")]
    Appointments(CalendarError),
    #[error("callbacks: {0}")]
    Callbacks(String),
}

pub struct Consumer<S> {
    kind: EventKind,
    store: S,
    archive: PayloadArchive,
    tz: Tz,
    appointments: Option<AppointmentLedger>,
    recordings: Option<RecordingCopier>,
    /// The messaging queue: a follow-up callback's notice to the staff.
    outbox: Option<crate::messaging::outbox::Outbox>,
    /// How long each company's calls are kept, and whether they are recorded.
    retention: RetentionPolicy,
}

/// How long a batch may spend copying its calls' recordings after storing its events; what is
/// not copied by then is left to `retell-ops backup recordings`.
const RECORDING_COPY_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);
/// Time kept back before the invocation's deadline for answering the batch.
const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

impl<S: CallStore + Sync> Consumer<S> {
    pub fn new(
        kind: EventKind,
        store: S,
        s3: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        tz: Tz,
    ) -> Self {
        Self {
            kind,
            store,
            archive: PayloadArchive::new(s3, bucket),
            tz,
            appointments: None,
            recordings: None,
            outbox: None,
            retention: RetentionPolicy::fixed(DEFAULT_RETENTION_DAYS),
        }
    }

    /// Each company's retention and recording setting (default: the stack's 90 days for all).
    pub fn with_retention(mut self, retention: RetentionPolicy) -> Self {
        self.retention = retention;
        self
    }

    /// Also copy each analyzed call's recording into the bucket (best effort, within
    /// [`RECORDING_COPY_BUDGET`] per batch).
    pub fn with_recordings(mut self, recordings: RecordingCopier) -> Self {
        self.recordings = Some(recordings);
        self
    }

    /// Tells the staff of the callbacks it opens through this messaging queue.
    pub fn with_outbox(mut self, outbox: Option<crate::messaging::outbox::Outbox>) -> Self {
        self.outbox = outbox;
        self
    }

    /// Also resolve the writes whose outcome the caller never heard (`crate::calendar::unresolved`).
    pub fn with_appointments(mut self, appointments: AppointmentLedger) -> Self {
        self.appointments = Some(appointments);
        self
    }

    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_batch_within(event, None).await
    }

    /// [`Consumer::handle_batch`] in an invocation that ends after `time_left`: the recording
    /// copies stop in time for the batch's answer to reach Lambda (an invocation that times out
    /// loses it, and SQS delivers the whole batch again).
    pub async fn handle_batch_within(
        &self,
        event: SqsEvent,
        time_left: Option<std::time::Duration>,
    ) -> SqsBatchResponse {
        let deadline = time_left.map(|t| std::time::Instant::now() + t);
        let mut response = SqsBatchResponse::default();
        let mut analyzed = Vec::new();
        for message in &event.records {
            let message_id = message.message_id.clone().unwrap_or_default();
            let span = crate::event_span!("consume");
            span.record("event", self.kind.as_str());
            // Boxed: inlined, a message's future nests too deep for rustc's layout query.
            let result = AssertUnwindSafe(Box::pin(self.process(message)).instrument(span.clone()))
                .catch_unwind()
                .await;
            let _guard = span.enter();
            match result {
                Ok(Ok((
                    _,
                    ApplyOutcome::Applied {
                        version,
                        counted,
                        record,
                    },
                ))) => {
                    tracing::info!(message_id, version, "event stored");
                    if self.kind == EventKind::CallAnalyzed && self.recordings.is_some() {
                        analyzed.push(*record);
                    }
                    // Retell's median latency arrives with the call's end: one value per call.
                    let latency = (counted.latency_calls == 1).then_some(counted.latency_e2e_ms);
                    crate::platform::metrics::call_counted(
                        counted.calls,
                        counted.completed,
                        latency,
                    );
                }
                Ok(Ok((_, ApplyOutcome::Duplicate))) => {
                    tracing::info!(message_id, "duplicate event ignored")
                }
                Ok(Ok((_, ApplyOutcome::OtherCompany { stored_company }))) => {
                    // Not retried and never dead-lettered: no delivery can make it mergeable.
                    // The raw event stays in the archive under its own company's key.
                    tracing::error!(
                        message_id,
                        stored_company,
                        reason = "call_of_another_company",
                        "event not merged: its call is stored under another company"
                    );
                    crate::platform::metrics::call_company_conflict();
                }
                Ok(Err(err)) => {
                    tracing::error!(message_id, error = %err, "event failed; message will be retried");
                    response.add_failure(message_id);
                }
                Err(_) => {
                    tracing::error!(message_id, "handler panicked; message will be retried");
                    response.add_failure(message_id);
                }
            }
        }
        if let Some(copier) = &self.recordings {
            let budget = match deadline {
                Some(d) => RECORDING_COPY_BUDGET.min(
                    d.saturating_duration_since(std::time::Instant::now())
                        .saturating_sub(DEADLINE_MARGIN),
                ),
                None => RECORDING_COPY_BUDGET,
            };
            self.copy_recordings(copier, &analyzed, budget).await;
        }
        response
    }

    /// The recordings of the calls just analyzed, one after another, within the budget. A failure is
    /// logged and costs nothing else: the events are stored, `backup recordings` catches up.
    async fn copy_recordings(
        &self,
        copier: &RecordingCopier,
        calls: &[CallRecord],
        budget: std::time::Duration,
    ) {
        let copies = calls.iter().map(|record| {
            let span = crate::event_span!("consume");
            span.record("event", "recording_copy");
            span.record("call_id", record.call_id.as_str());
            async move {
                tracing::Span::current().record("company", record.company_id.as_str());
                match self.retention.of(&record.company_id).await {
                    Ok(r) if !r.record_calls => {
                        tracing::info!(why = "company_does_not_record", "recording not copied");
                        return;
                    }
                    Ok(_) => {}
                    // Not copied now is copied later (`backup recordings`); copied wrongly is not undone.
                    Err(e) => {
                        tracing::warn!(error = %e, "recording not copied: the company's settings are unreadable");
                        return;
                    }
                }
                match copier.copy(record).await {
                    Ok(Copied::Copied { key, bytes }) => {
                        tracing::info!(key, bytes, "recording copied")
                    }
                    Ok(Copied::AlreadyThere { key }) => {
                        tracing::info!(key, "recording copied before")
                    }
                    Ok(Copied::Skipped(why)) => tracing::info!(why, "recording not copied"),
                    Err(e) => tracing::warn!(error = %e, "recording copy failed"),
                }
            }
            .instrument(span)
        });
        // One at a time: each holds its recording in memory, and the function has 256 MB.
        // Boxed, as a message's future is: inlined, rustc's layout query nests too deep.
        let one_by_one = Box::pin(async {
            for copy in copies {
                copy.await;
            }
        });
        if tokio::time::timeout(budget, one_by_one).await.is_err() {
            tracing::warn!(
                calls = calls.len(),
                "recording copies ran out of time; `retell-ops backup recordings` copies the rest"
            );
        }
    }

    async fn process(&self, message: &SqsMessage) -> Result<(CallId, ApplyOutcome), ConsumeError> {
        let body = message.body.as_deref().ok_or(ConsumeError::NoBody)?;
        let envelope: Envelope<'_> =
            serde_json::from_str(body).map_err(|e| ConsumeError::Envelope(e.to_string()))?;
        let span = tracing::Span::current();
        span.record("company", envelope.company_id.as_str());
        span.record("call_id", envelope.call_id.as_str());
        if let Some(transfer) = TransferEvent::parse(&envelope.event) {
            if self.kind == TransferEvent::QUEUE {
                span.record("event", transfer.as_str());
                return self.process_transfer(transfer, envelope).await;
            }
        }
        if envelope.event != self.kind.as_str() {
            return Err(ConsumeError::WrongQueue {
                expected: self.kind,
                found: envelope.event,
            });
        }
        let call_id = CallId::parse(&envelope.call_id).map_err(CallEventError::from)?;
        let kind = self.kind;
        let retention = self.retention_of(&envelope.company_id).await;
        let payload = self
            .payload(&envelope, &retention, |_| {
                event_key(&envelope.company_id, &call_id, kind)
            })
            .await?;
        let mut event = CallEvent::from_payload(
            self.kind,
            &envelope.company_id,
            envelope.received_at_ms,
            &payload,
        )?;
        event.retention_days = Some(retention.days);
        if event.call_id != call_id {
            return Err(ConsumeError::Envelope(
                "payload call_id differs from envelope".into(),
            ));
        }
        self.record_unresolved_writes(&mut event).await?;
        let outcome = apply_event(&self.store, &event, &self.tz).await?;
        self.forget_if_erased(&call_id, &outcome, &event.payload_ref)
            .await?;
        Ok((call_id, outcome))
    }

    /// The company's retention; if its settings cannot be read, the stack's default (logged):
    /// an event is not held back, or dead-lettered, for want of its expiry date.
    async fn retention_of(&self, company_id: &str) -> CallRetention {
        match self.retention.of(company_id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "the company's retention is unreadable: the stack's default is used");
                self.retention.default()
            }
        }
    }

    /// A call erased before this event arrived keeps no copy of it: not the body just archived
    /// (or claim-checked by the webhook), whether the event was new or delivered again.
    async fn forget_if_erased(
        &self,
        call_id: &CallId,
        outcome: &ApplyOutcome,
        payload_ref: &str,
    ) -> Result<(), ConsumeError> {
        let erased = match outcome {
            ApplyOutcome::Applied { record, .. } => record.erased_at_ms.is_some(),
            // Rare (a redelivery): one more read to know.
            ApplyOutcome::Duplicate => self
                .store
                .load(call_id)
                .await?
                .is_some_and(|r| r.erased_at_ms.is_some()),
            ApplyOutcome::OtherCompany { .. } => false,
        };
        if erased {
            self.archive.delete(payload_ref).await?;
            tracing::info!("event of an erased call: its raw body is not kept");
        }
        Ok(())
    }

    /// The event's raw body: inline in the message (archived first under `key(body)`: the item
    /// may be trimmed to fit DynamoDB, the archive never is; the key is deterministic, so a
    /// redelivery overwrites) or claim-checked in the archive.
    async fn payload(
        &self,
        envelope: &Envelope<'_>,
        retention: &CallRetention,
        key: impl FnOnce(&[u8]) -> String,
    ) -> Result<Bytes, ConsumeError> {
        match (envelope.payload, &envelope.payload_ref) {
            (Some(raw), _) => {
                let bytes = Bytes::copy_from_slice(raw.get().as_bytes());
                self.archive
                    .put_tagged(&key(&bytes), bytes.clone(), Some(&retention.tagging()))
                    .await?;
                Ok(bytes)
            }
            (None, Some(reference)) => {
                let body = self.archive.get(reference).await?;
                // The webhook stored it before anyone read the company's retention.
                self.archive
                    .tag(reference, RETENTION_TAG, &retention.days.to_string())
                    .await?;
                Ok(body)
            }
            (None, None) => Err(ConsumeError::Envelope(
                "no payload and no payload_ref".into(),
            )),
        }
    }

    /// A transfer event: archived under its own key, then one entry in the call's transfer log.
    async fn process_transfer(
        &self,
        event: TransferEvent,
        envelope: Envelope<'_>,
    ) -> Result<(CallId, ApplyOutcome), ConsumeError> {
        let call_id = CallId::parse(&envelope.call_id).map_err(CallEventError::from)?;
        let retention = self.retention_of(&envelope.company_id).await;
        let payload = self
            .payload(&envelope, &retention, |body| {
                transfer_key(&envelope.company_id, &call_id, event, body)
            })
            .await?;
        let transfer = Transfer::from_payload(
            event,
            &envelope.company_id,
            envelope.received_at_ms,
            &payload,
        )?;
        if transfer.call_id != call_id {
            return Err(ConsumeError::Envelope(
                "payload call_id differs from envelope".into(),
            ));
        }
        let outcome = apply_transfer(&self.store, &transfer, &self.tz).await?;
        self.forget_if_erased(&call_id, &outcome, &transfer.payload_ref)
            .await?;
        Ok((call_id, outcome))
    }

    /// Writes the caller never heard the outcome of, each with what actually happened, go on
    /// the call for staff (`unresolved_writes`, `needs_follow_up`).
    async fn record_unresolved_writes(&self, event: &mut CallEvent) -> Result<(), ConsumeError> {
        let (Some(appointments), Some(transcript)) = (
            &self.appointments,
            event.fields.get("transcript_with_tool_calls"),
        ) else {
            return Ok(());
        };
        let open = unresolved_writes(transcript);
        if open.is_empty() {
            return Ok(());
        }
        let mut recorded = Vec::with_capacity(open.len());
        for unresolved in open {
            let stored = appointments
                .appointment_of(&event.company_id, &unresolved.write.appointment_id)
                .await
                .map_err(ConsumeError::Appointments)?;
            let outcome = resolution(
                &unresolved.write,
                stored.as_ref().map(|a| (a.status, a.date, a.time)),
            );
            tracing::warn!(
                appointment_id = %unresolved.write.appointment_id,
                tool = %unresolved.tool,
                outcome,
                "the caller never heard this write's outcome: recorded for follow-up"
            );
            recorded.push(serde_json::json!({
                "tool": unresolved.tool,
                "action": unresolved.write.action,
                "appointment_id": unresolved.write.appointment_id,
                "date": unresolved.write.date.to_string(),
                "time": unresolved.write.time,
                "outcome": outcome,
            }));
        }
        let reason = recorded
            .iter()
            .map(|w| {
                let text = |k: &str| w.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
                format!(
                    "{} {} {}: {}",
                    text("action"),
                    text("date"),
                    text("time"),
                    text("outcome")
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        event.fields.insert(
            "unresolved_writes".to_owned(),
            serde_json::Value::Array(recorded),
        );
        event
            .fields
            .insert("needs_follow_up".to_owned(), serde_json::Value::Bool(true));
        self.open_follow_up(appointments, event, reason).await
    }

    /// A call that needs following up is a callback for staff (one per call: a redelivered
    /// event, or a callback the agent already noted in that call, opens none).
    async fn open_follow_up(
        &self,
        appointments: &AppointmentLedger,
        event: &CallEvent,
        reason: String,
    ) -> Result<(), ConsumeError> {
        let text = |k: &str| event.fields.get(k).and_then(serde_json::Value::as_str);
        let customer = match text("direction") {
            Some("outbound") => text("to_number"),
            _ => text("from_number"),
        };
        let Some(phone) = customer.and_then(|n| PhoneNumber::parse(n).ok()) else {
            tracing::warn!("a call to follow up has no customer number: no callback opened");
            return Ok(());
        };
        // A call whose caller was erased opens nothing with their number again.
        if self
            .store
            .load(&event.call_id)
            .await?
            .is_some_and(|r| r.erased_at_ms.is_some())
        {
            tracing::info!("the call's caller was erased: no follow-up callback");
            return Ok(());
        }
        let store = CallbackStore::new(appointments.client().clone(), appointments.table());
        let new = NewCallback {
            source: CallbackSource::FollowUp,
            reason: reason.chars().take(MAX_REASON_CHARS).collect(),
            name: None,
            phone,
            preferred: None,
            call_id: Some(event.call_id.as_str().to_owned()),
        };
        let opened = store
            .open(&event.company_id, new, Utc::now())
            .await
            .map_err(|e| ConsumeError::Callbacks(e.to_string()))?;
        match &opened {
            Opened::New(cb) => {
                tracing::info!(callback_id = %cb.callback_id, "follow-up callback opened")
            }
            Opened::Existing(cb) => {
                tracing::info!(callback_id = %cb.callback_id, "the call has a callback already")
            }
        }
        // Told again on a redelivery: the notice's own key keeps it to one e-mail.
        crate::messaging::outbox::notify(
            self.outbox.as_ref(),
            crate::messaging::Notice::Callback {
                company_id: event.company_id.clone(),
                callback_id: opened.callback().callback_id.clone(),
            },
        )
        .await;
        Ok(())
    }
}

impl Consumer<DynamoCallStore> {
    /// The consumer as its Lambda runs it, from its configuration and the container's clients:
    /// the Lambda and the tests build it here.
    pub fn build(kind: EventKind, config: &ConsumerConfig, aws: &AwsClients) -> Self {
        let consumer = Consumer::new(
            kind,
            DynamoCallStore::new(
                aws.dynamodb.clone(),
                config.calls_table.clone(),
                config.stats_table.clone(),
            ),
            aws.s3.client(),
            config.bucket.clone(),
            config.time_zone,
        );
        let consumer = match &config.appointments_table {
            Some(table) => consumer
                .with_appointments(AppointmentLedger::new(aws.dynamodb.clone(), table.clone())),
            None => consumer,
        };
        let consumer = consumer.with_outbox(crate::messaging::outbox::Outbox::from_env(&aws.sdk));
        let consumer = consumer.with_retention(match &config.companies_table {
            Some(table) => RetentionPolicy::from_table(
                aws.dynamodb.clone(),
                table.clone(),
                config.retention_days,
            ),
            None => RetentionPolicy::fixed(config.retention_days),
        });
        if kind != EventKind::CallAnalyzed || !config.copy_recordings {
            return consumer;
        }
        match RecordingCopier::new(
            aws.s3.client(),
            config.bucket.clone(),
            config.recording_hosts.clone(),
        ) {
            Ok(copier) => consumer.with_recordings(copier),
            Err(e) => {
                tracing::error!(error = %e, "recordings will not be copied");
                consumer
            }
        }
    }
}

/// The whole consumer Lambda for one event type: clients built once, then the runtime loop.
pub async fn run_lambda(kind: EventKind) -> Result<(), lambda_runtime::Error> {
    crate::platform::telemetry::init();
    let config = ConsumerConfig::from_env(&Env::from_process())?;
    let aws = AwsClients::from_env(AwsBudget::BACKGROUND).await;
    let consumer = Arc::new(Consumer::build(kind, &config, &aws));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let consumer = consumer.clone();
            let time_left = event
                .context
                .deadline()
                .duration_since(std::time::SystemTime::now())
                .ok();
            async move {
                Ok::<_, lambda_runtime::Error>(
                    consumer.handle_batch_within(event.payload, time_left).await,
                )
            }
        },
    ))
    .await
}
