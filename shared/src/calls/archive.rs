//! The raw-payload archive in S3 (`calls/<call_id>/<event>.json`): claim checks for bodies too
//! large for SQS, and the lossless copy of every stored event.

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

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
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
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
