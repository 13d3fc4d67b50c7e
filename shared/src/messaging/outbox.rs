//! Putting a [`Notice`] on the messaging queue, from whoever changed something: one SQS
//! `SendMessage` after the write succeeded. A failed enqueue never fails the booking (the caller
//! has their appointment); it is logged as an error with the appointment, and the message is
//! the one thing missing.

use aws_sdk_sqs::error::DisplayErrorContext;

use super::{change_number, MessagingError, Notice};
use crate::calendar::Appointment;

/// The environment variable with the queue's URL; unset: this function sends no notices.
pub const QUEUE_URL_VAR: &str = "MESSAGING_QUEUE_URL";

#[derive(Clone, Debug)]
pub struct Outbox {
    sqs: Sqs,
    queue_url: String,
}

/// The SDK's SQS client where a function has it, or the small JSON-protocol one (the control
/// center, which keeps its bootstrap without the SQS SDK).
#[derive(Clone, Debug)]
enum Sqs {
    Sdk(aws_sdk_sqs::Client),
    Json(crate::platform::aws_json::AwsJsonClient),
}

impl Outbox {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            sqs: Sqs::Sdk(sqs),
            queue_url: queue_url.into(),
        }
    }

    /// Over SQS's JSON protocol (`AwsJsonClient::json_1_0` for `sqs`/`AmazonSQS`).
    pub fn over_json(
        sqs: crate::platform::aws_json::AwsJsonClient,
        queue_url: impl Into<String>,
    ) -> Self {
        Self {
            sqs: Sqs::Json(sqs),
            queue_url: queue_url.into(),
        }
    }

    /// The outbox of this function's queue (`MESSAGING_QUEUE_URL`), if it has one.
    pub fn from_env(sqs: &aws_sdk_sqs::Client) -> Option<Self> {
        std::env::var(QUEUE_URL_VAR)
            .ok()
            .filter(|url| !url.is_empty())
            .map(|url| Self::new(sqs.clone(), url))
    }

    pub async fn send(&self, notice: &Notice) -> Result<(), MessagingError> {
        let body =
            serde_json::to_string(notice).map_err(|e| MessagingError::Backend(e.to_string()))?;
        match &self.sqs {
            Sqs::Sdk(sqs) => {
                sqs.send_message()
                    .queue_url(&self.queue_url)
                    .message_body(body)
                    .send()
                    .await
                    .map_err(|e| MessagingError::Backend(DisplayErrorContext(e).to_string()))?;
            }
            Sqs::Json(sqs) => {
                sqs.call::<serde_json::Value>(
                    "SendMessage",
                    &serde_json::json!({"QueueUrl": self.queue_url, "MessageBody": body}),
                )
                .await
                .map_err(|e| MessagingError::Backend(e.to_string()))?;
            }
        }
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
