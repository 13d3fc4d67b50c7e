//! The providers: SMS through Amazon SNS (`Publish` to a phone number, transactional, with the
//! company's sender id; its opt-out list asked first), e-mail through Amazon SES v2
//! (`SendEmail` with raw MIME content). Errors a retry cannot fix (an invalid number, a
//! rejected message) are [`MessagingError::Refused`]; the rest are retried by the queue.

use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sns::types::MessageAttributeValue;

use super::MessagingError;

/// SNS and SES v2 clients.
#[derive(Clone, Debug)]
pub struct Providers {
    pub sns: aws_sdk_sns::Client,
    pub ses: aws_sdk_sesv2::Client,
}

fn backend(e: impl std::fmt::Display) -> MessagingError {
    MessagingError::Backend(e.to_string())
}

impl Providers {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            sns: aws_sdk_sns::Client::new(sdk),
            ses: aws_sdk_sesv2::Client::new(sdk),
        }
    }

    /// Whether the number replied STOP (SNS keeps the opt-out list).
    pub async fn opted_out(&self, phone: &str) -> Result<bool, MessagingError> {
        let out = self
            .sns
            .check_if_phone_number_is_opted_out()
            .phone_number(phone)
            .send()
            .await
            .map_err(|e| backend(aws_sdk_sns::error::DisplayErrorContext(e)))?;
        Ok(out.is_opted_out)
    }

    /// Sends one SMS; the provider's message id.
    pub async fn sms(
        &self,
        phone: &str,
        text: &str,
        sender_id: Option<&str>,
    ) -> Result<String, MessagingError> {
        let attribute = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(backend)
        };
        let mut publish = self
            .sns
            .publish()
            .phone_number(phone)
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", attribute("Transactional")?);
        if let Some(sender) = sender_id {
            publish = publish.message_attributes("AWS.SNS.SMS.SenderID", attribute(sender)?);
        }
        match publish.send().await {
            Ok(out) => Ok(out.message_id.unwrap_or_default()),
            Err(e) => {
                let refused = e.as_service_error().is_some_and(|s| {
                    s.is_invalid_parameter_exception() || s.is_invalid_parameter_value_exception()
                });
                let reason = aws_sdk_sns::error::DisplayErrorContext(e).to_string();
                if refused {
                    Err(MessagingError::Refused {
                        channel: "sms",
                        reason,
                    })
                } else {
                    Err(backend(reason))
                }
            }
        }
    }

    /// Sends one raw e-mail from `from` (bare address) to `to`; the provider's message id.
    pub async fn email(&self, from: &str, to: &str, raw: &str) -> Result<String, MessagingError> {
        use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
        let content = EmailContent::builder()
            .raw(
                RawMessage::builder()
                    .data(Blob::new(raw.as_bytes()))
                    .build()
                    .map_err(backend)?,
            )
            .build();
        match self
            .ses
            .send_email()
            .from_email_address(from)
            .destination(Destination::builder().to_addresses(to).build())
            .content(content)
            .send()
            .await
        {
            Ok(out) => Ok(out.message_id.unwrap_or_default()),
            Err(e) => {
                let refused = e
                    .as_service_error()
                    .is_some_and(|s| s.is_message_rejected() || s.is_bad_request_exception());
                let reason = aws_sdk_sesv2::error::DisplayErrorContext(e).to_string();
                if refused {
                    Err(MessagingError::Refused {
                        channel: "email",
                        reason,
                    })
                } else {
                    Err(backend(reason))
                }
            }
        }
    }
}
