//! The raw-payload archive in S3: claim checks for bodies too large for SQS, and the lossless
//! copy of every stored event. Keys carry the company, so two companies' events never share a
//! key, even for the same call id:
//!
//! - `calls/<company_id>/<call_id>/<event>.json` for a call event (`call_started`, …), one per
//!   call and event: a redelivery overwrites its own copy;
//! - `calls/<company_id>/<call_id>/<transfer event>-<digest>.json` for a transfer event, one per
//!   body (a second transfer attempt in the call keeps its own).
//!
//! (Events archived before the company was part of the key are at `calls/<call_id>/…`; the
//! call records name them in `payload_refs`.)

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::retell::{CallId, EventKind, TransferEvent};

/// The archive key of a call event's raw payload; deterministic so a retried event overwrites
/// its own copy instead of adding one.
pub fn event_key(company_id: &str, call_id: &CallId, kind: EventKind) -> String {
    format!(
        "calls/{company_id}/{}/{}.json",
        call_id.as_str(),
        kind.as_str()
    )
}

/// The archive key of a transfer event's raw body: per event and body, so neither a second
/// attempt nor the call's own events overwrite it, and a redelivery does.
pub fn transfer_key(
    company_id: &str,
    call_id: &CallId,
    event: TransferEvent,
    body: &[u8],
) -> String {
    format!(
        "calls/{company_id}/{}/{}-{}.json",
        call_id.as_str(),
        event.as_str(),
        body_digest(body)
    )
}

/// The first 16 hex digits of the body's SHA-256, surrounding whitespace left out (the queue
/// carries the body as a JSON value, which does not keep it).
pub(crate) fn body_digest(body: &[u8]) -> String {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let end = body
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    hex::encode(&Sha256::digest(&body[start..end])[..8])
}

#[derive(Debug, thiserror::Error)]
#[error("S3 {operation} {key}: {message}")]
pub struct ArchiveError {
    pub operation: &'static str,
    pub key: String,
    pub message: String,
}

#[derive(Clone, Debug)]
pub struct PayloadArchive {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl PayloadArchive {
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            s3,
            bucket: bucket.into(),
        }
    }

    /// Stores `body` under `key`; the buffer is shared with the upload, not copied.
    pub async fn put(&self, key: &str, body: Bytes) -> Result<(), ArchiveError> {
        self.put_tagged(key, body, None).await
    }

    /// [`PayloadArchive::put`] with the object's tags (`x-amz-tagging`, e.g. the retention the
    /// bucket's lifecycle rules expire it by: `crate::calls::retention`).
    pub async fn put_tagged(
        &self,
        key: &str,
        body: Bytes,
        tagging: Option<&str>,
    ) -> Result<(), ArchiveError> {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .set_tagging(tagging.map(str::to_owned))
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ArchiveError {
                operation: "PutObject",
                key: key.to_owned(),
                message: DisplayErrorContext(e).to_string(),
            })
    }

    /// Tags an object stored without them (a claim-checked body the webhook put before the
    /// company's retention was looked up).
    pub async fn tag(&self, key: &str, tag: &str, value: &str) -> Result<(), ArchiveError> {
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .tag_set(
                aws_sdk_s3::types::Tag::builder()
                    .key(tag)
                    .value(value)
                    .build()
                    .map_err(|e| ArchiveError {
                        operation: "PutObjectTagging",
                        key: key.to_owned(),
                        message: e.to_string(),
                    })?,
            )
            .build()
            .map_err(|e| ArchiveError {
                operation: "PutObjectTagging",
                key: key.to_owned(),
                message: e.to_string(),
            })?;
        self.s3
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .tagging(tagging)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ArchiveError {
                operation: "PutObjectTagging",
                key: key.to_owned(),
                message: DisplayErrorContext(e).to_string(),
            })
    }

    /// Removes an object (absent ones too: S3 answers a delete of nothing with success).
    pub async fn delete(&self, key: &str) -> Result<(), ArchiveError> {
        self.s3
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ArchiveError {
                operation: "DeleteObject",
                key: key.to_owned(),
                message: DisplayErrorContext(e).to_string(),
            })
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, ArchiveError> {
        let err = |message: String| ArchiveError {
            operation: "GetObject",
            key: key.to_owned(),
            message,
        };
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| err(DisplayErrorContext(e).to_string()))?;
        Ok(out
            .body
            .collect()
            .await
            .map_err(|e| err(e.to_string()))?
            .into_bytes())
    }
}
