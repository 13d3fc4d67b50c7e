//! Putting a [`Notice`] on the messaging queue, from whoever changed something: one SQS
//! `SendMessage` after the write succeeded. A failed enqueue never fails the booking (the caller
//! has their appointment); it is logged as an error with the appointment, and the message is
//! the one thing missing.

use crate::platform::aws_json::AwsJsonClient;

use super::{change_number, MessagingError, Notice};
use crate::calendar::Appointment;

/// The environment variable with the queue's URL; unset: this function sends no notices.
pub const QUEUE_URL_VAR: &str = "MESSAGING_QUEUE_URL";

#[derive(Clone, Debug)]
pub struct Outbox {
    /// SQS over its JSON protocol: the functions that queue notices (the tools among them) keep
    /// their bootstraps without the SQS SDK's operations.
    sqs: AwsJsonClient,
    queue_url: String,
}

impl Outbox {
    /// The outbox of the queue at `queue_url`, with the clients' configuration.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        queue_url: impl Into<String>,
    ) -> Result<Self, MessagingError> {
        let sqs = AwsJsonClient::new(sdk, "sqs", "AmazonSQS", None)
            .map_err(|e| MessagingError::Backend(e.to_string()))?
            .json_1_0();
        Ok(Self::over_json(sqs, queue_url))
    }

    /// Over an SQS JSON-protocol client already built (`AwsJsonClient::json_1_0` for
    /// `sqs`/`AmazonSQS`).
    pub fn over_json(sqs: AwsJsonClient, queue_url: impl Into<String>) -> Self {
        Self {
            sqs,
            queue_url: queue_url.into(),
        }
    }

    /// The outbox of this function's queue (`MESSAGING_QUEUE_URL`), if it has one (a client
    /// that cannot be built is logged: the function then queues nothing).
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Option<Self> {
        let url = std::env::var(QUEUE_URL_VAR)
            .ok()
            .filter(|url| !url.is_empty())?;
        Self::new(sdk, url)
            .map_err(|e| tracing::error!(error = %e, "messaging queue client not built"))
            .ok()
    }

    pub async fn send(&self, notice: &Notice) -> Result<(), MessagingError> {
        let body =
            serde_json::to_string(notice).map_err(|e| MessagingError::Backend(e.to_string()))?;
        self.sqs
            .call::<serde_json::Value>(
                "SendMessage",
                &serde_json::json!({"QueueUrl": self.queue_url, "MessageBody": body}),
            )
            .await
            .map_err(|e| MessagingError::Backend(e.to_string()))?;
        Ok(())
    }

    /// The confirmation of `appointment` as it is after a write (booked, moved or cancelled).
    pub async fn appointment_changed(&self, appointment: &Appointment) {
        let notice = Notice::Appointment {
            company_id: appointment.company_id.clone(),
            appointment_id: appointment.appointment_id.clone(),
            change: change_number(appointment),
            channel: None,
        };
        self.send_logged(&notice).await;
    }

    /// Sends, logging a failure instead of returning it (the write it follows stands).
    pub async fn send_logged(&self, notice: &Notice) {
        if let Err(e) = self.send(notice).await {
            tracing::error!(error = %e, kind = notice.kind(), company_id = notice.company_id(),
                notice = ?notice, "message not queued");
        }
    }
}

/// Enqueues through `outbox` when there is one (a function without the queue sends nothing).
pub async fn notify(outbox: Option<&Outbox>, notice: Notice) {
    if let Some(outbox) = outbox {
        outbox.send_logged(&notice).await;
    }
}

impl crate::calendar::AppointmentWatcher for Outbox {
    fn changed<'a>(
        &'a self,
        appointment: &'a Appointment,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(self.appointment_changed(appointment))
    }
}
