//! Copies of call recordings in the events bucket (`recordings/<company>/<day>/<call_id>.<ext>`):
//! Retell keeps a recording only as long as its own retention, and its URL may stop working.
//!
//! Which recording a call may have copied follows the call's `data_storage_setting`, as Retell
//! itself stores it: `everything` (or none given): `recording_url`; `everything_except_pii`: only
//! the PII-free `scrubbed_recording_url`; `basic_attributes_only`: nothing (nor for a call that
//! opted out of sensitive data storage). A copy that exists is never fetched again.
//!
//! A recording's URL comes with the call's data, so it is fetched only where recordings live:
//! over https from the hosts the stack lists (`RECORDING_HOSTS`, Retell's storage; locally the
//! simulator's exact origin), never from a private, loopback or link-local address, checked
//! after DNS and again on every redirect ([`crate::platform::outbound`]). It is streamed to S3
//! in parts, so a copy holds at most one part in memory whatever the recording's size.

use std::time::Duration;

use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use serde_json::Value;

use crate::calls::record::CallRecord;
use crate::platform::outbound::{guarded_client_builder, literal_ip_allowed, OutboundPolicy};

/// A recording larger than this is refused (an hour of 16-bit mono at 24 kHz is ~170 MB).
pub const MAX_RECORDING_BYTES: usize = 256 * 1024 * 1024;
/// The size of each part streamed to S3 (S3's minimum for all parts but the last is 5 MiB): the
/// most a copy holds in memory, far below the consumer's 256 MB.
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// Redirects followed (storage may redirect to a signed URL), each to an allowed host.
const MAX_REDIRECTS: usize = 3;

/// The call fields that hold a recording's URL (Retell signs them; they expire after 24 hours).
pub const RECORDING_FIELDS: [&str; 2] = ["recording_url", "scrubbed_recording_url"];

/// What may be copied for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingSource {
    Url(String),
    /// Why nothing is copied.
    Nothing(&'static str),
}

/// The recording a call may have copied, by its `data_storage_setting`.
pub fn recording_source(record: &CallRecord) -> RecordingSource {
    let text = |k: &str| {
        record
            .fields
            .get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    // Its caller's data was erased: a recording Retell still has is not brought back.
    if record.erased_at_ms.is_some() {
        return RecordingSource::Nothing("the caller's data was erased");
    }
    if record.fields.get("opt_out_sensitive_data_storage") == Some(&Value::Bool(true)) {
        return RecordingSource::Nothing("the call opted out of sensitive data storage");
    }
    // A setting that is there but not a string is not read as "everything": nothing is copied.
    let setting = match record.fields.get("data_storage_setting") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return RecordingSource::Nothing("unreadable data_storage_setting"),
    };
    let (field, missing) = match setting {
        None | Some("everything") => ("recording_url", "no recording"),
        Some("everything_except_pii") => (
            "scrubbed_recording_url",
            "no PII-free recording (data_storage_setting everything_except_pii)",
        ),
        Some("basic_attributes_only") => {
            return RecordingSource::Nothing(
                "data_storage_setting basic_attributes_only keeps no recording",
            )
        }
        Some(_) => return RecordingSource::Nothing("unknown data_storage_setting"),
    };
    match text(field) {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            RecordingSource::Url(url.to_owned())
        }
        Some(_) => RecordingSource::Nothing("the recording URL is not http(s)"),
        None => RecordingSource::Nothing(missing),
    }
}

/// Where a call's recording is kept: by company and the day it is counted on, with the
/// extension of the URL's file (`wav` when it has none we know).
pub fn recording_key(record: &CallRecord, url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|file| file.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|ext| {
            matches!(
                ext.as_str(),
                "wav" | "mp3" | "ogg" | "m4a" | "flac" | "webm"
            )
        })
        .unwrap_or_else(|| "wav".into());
    format!(
        "recordings/{}/{}/{}.{ext}",
        record.company_id,
        record.stats_day,
        record.call_id.as_str()
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copied {
    Copied { key: String, bytes: usize },
    AlreadyThere { key: String },
    Skipped(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The URL names a host the stack does not list, or a non-public address.
    #[error("the recording URL's host {0:?} is not one recordings are fetched from")]
    HostNotAllowed(String),
    #[error("fetching the recording failed: {0}")]
    Fetch(String),
    #[error("the recording answered HTTP {0}")]
    Status(u16),
    #[error("the recording is larger than {MAX_RECORDING_BYTES} bytes")]
    TooLarge,
    #[error("S3: {0}")]
    Storage(String),
}

/// Fetches recordings and writes them to the bucket.
#[derive(Clone)]
pub struct RecordingCopier {
    http: reqwest::Client,
    s3: aws_sdk_s3::Client,
    bucket: String,
    hosts: OutboundPolicy,
}

impl RecordingCopier {
    /// A copier fetching only from `hosts` (see the module docs).
    pub fn new(
        s3: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        hosts: OutboundPolicy,
    ) -> Result<Self, RecordingError> {
        let http = guarded_client_builder(Some(hosts.clone()), MAX_REDIRECTS)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| RecordingError::Fetch(e.to_string()))?;
        Ok(Self {
            http,
            s3,
            bucket: bucket.into(),
            hosts,
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The call's recording into the bucket, unless its storage setting forbids it or a copy
    /// is there already.
    pub async fn copy(&self, record: &CallRecord) -> Result<Copied, RecordingError> {
        let url = match recording_source(record) {
            RecordingSource::Url(url) => url,
            RecordingSource::Nothing(why) => return Ok(Copied::Skipped(why)),
        };
        let key = recording_key(record, &url);
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(_) => return Ok(Copied::AlreadyThere { key }),
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() => {}
            Err(e) => return Err(RecordingError::Storage(DisplayErrorContext(e).to_string())),
        }
        let parsed =
            reqwest::Url::parse(&url).map_err(|_| RecordingError::HostNotAllowed(String::new()))?;
        if !self.hosts.allows(&parsed) || !literal_ip_allowed(&parsed, &self.hosts) {
            return Err(RecordingError::HostNotAllowed(
                parsed
                    .host_str()
                    .unwrap_or_default()
                    .chars()
                    .take(64)
                    .collect(),
            ));
        }
        let mut answer = self
            .http
            .get(parsed)
            .send()
            .await
            .map_err(|e| RecordingError::Fetch(without_url(&e)))?;
        if !answer.status().is_success() {
            return Err(RecordingError::Status(answer.status().as_u16()));
        }
        if answer
            .content_length()
            .is_some_and(|n| n > MAX_RECORDING_BYTES as u64)
        {
            return Err(RecordingError::TooLarge);
        }
        let content_type = answer
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .filter(|t| t.starts_with("audio/") || *t == "application/octet-stream")
            .unwrap_or("audio/wav")
            .to_owned();
        let object = Object {
            s3: &self.s3,
            bucket: &self.bucket,
            key: &key,
            content_type: &content_type,
            record,
        };
        let bytes = object.stream(&mut answer).await?;
        Ok(Copied::Copied { key, bytes })
    }
}

/// Where one recording goes in the bucket.
struct Object<'a> {
    s3: &'a aws_sdk_s3::Client,
    bucket: &'a str,
    key: &'a str,
    content_type: &'a str,
    record: &'a CallRecord,
}

impl Object<'_> {
    /// The call's retention, for the bucket's lifecycle rules (`crate::calls::retention`).
    fn tagging(&self) -> Option<String> {
        self.record
            .retention_days
            .map(crate::calls::retention::tagging)
    }

    /// The answer's body into the object, one part at a time: a recording that fits one part is
    /// one PutObject, a longer one a multipart upload (aborted if anything fails, so no part is
    /// left behind).
    async fn stream(&self, answer: &mut reqwest::Response) -> Result<usize, RecordingError> {
        let first = next_part(answer, 0).await?;
        if first.len() < PART_BYTES {
            let bytes = first.len();
            self.s3
                .put_object()
                .bucket(self.bucket)
                .key(self.key)
                .content_type(self.content_type)
                .metadata("call_id", self.record.call_id.as_str())
                .metadata("company_id", &self.record.company_id)
                .set_tagging(self.tagging())
                .body(ByteStream::from(first))
                .send()
                .await
                .map_err(|e| RecordingError::Storage(DisplayErrorContext(e).to_string()))?;
            return Ok(bytes);
        }
        let upload = self
            .s3
            .create_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .content_type(self.content_type)
            .metadata("call_id", self.record.call_id.as_str())
            .metadata("company_id", &self.record.company_id)
            .set_tagging(self.tagging())
            .send()
            .await
            .map_err(|e| RecordingError::Storage(DisplayErrorContext(e).to_string()))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_owned();
        match self.parts(answer, first, &upload_id).await {
            Ok(bytes) => Ok(bytes),
            Err(e) => {
                if let Err(abort) = self
                    .s3
                    .abort_multipart_upload()
                    .bucket(self.bucket)
                    .key(self.key)
                    .upload_id(&upload_id)
                    .send()
                    .await
                {
                    tracing::warn!(error = %DisplayErrorContext(abort), "aborting a recording's upload failed");
                }
                Err(e)
            }
        }
    }

    async fn parts(
        &self,
        answer: &mut reqwest::Response,
        first: Vec<u8>,
        upload_id: &str,
    ) -> Result<usize, RecordingError> {
        let storage = |e: String| RecordingError::Storage(e);
        let mut done = Vec::new();
        let mut total = 0;
        let mut part = first;
        loop {
            let number = i32::try_from(done.len() + 1).unwrap_or(i32::MAX);
            let last = part.len() < PART_BYTES;
            total += part.len();
            let uploaded = self
                .s3
                .upload_part()
                .bucket(self.bucket)
                .key(self.key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(part))
                .send()
                .await
                .map_err(|e| storage(DisplayErrorContext(e).to_string()))?;
            done.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(uploaded.e_tag().map(str::to_owned))
                    .build(),
            );
            if last {
                break;
            }
            part = next_part(answer, total).await?;
            if part.is_empty() {
                break;
            }
        }
        self.s3
            .complete_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| storage(DisplayErrorContext(e).to_string()))?;
        Ok(total)
    }
}

/// Up to [`PART_BYTES`] more of the body (fewer only at its end), `so_far` bytes having been
/// read before; the whole may not exceed [`MAX_RECORDING_BYTES`].
async fn next_part(
    answer: &mut reqwest::Response,
    so_far: usize,
) -> Result<Vec<u8>, RecordingError> {
    let mut part = Vec::with_capacity(PART_BYTES.min(1024 * 1024));
    while part.len() < PART_BYTES {
        let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|e| RecordingError::Fetch(without_url(&e)))?
        else {
            break;
        };
        if so_far + part.len() + chunk.len() > MAX_RECORDING_BYTES {
            return Err(RecordingError::TooLarge);
        }
        part.extend_from_slice(&chunk);
    }
    Ok(part)
}

/// A fetch error without its URL: recording URLs can carry signed tokens, which logs never do.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() {
        "the body broke off"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::event::CallEvent;
    use crate::retell::EventKind;
    use serde_json::json;

    fn record(call: Value) -> CallRecord {
        let body = json!({"event": "call_ended", "call": call}).to_string();
        let event =
            CallEvent::from_payload(EventKind::CallEnded, "demo", 1, body.as_bytes()).unwrap();
        CallRecord::apply(None, &event, &chrono_tz::Europe::Berlin)
            .unwrap()
            .record
    }

    fn call(extra: Value) -> Value {
        let mut c = json!({"call_id": "call_rec1", "call_status": "ended",
                           "start_timestamp": 1_764_500_000_000i64, "end_timestamp": 1_764_500_060_000i64});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    #[test]
    fn an_erased_calls_recording_is_never_copied_again() {
        // `backup recordings` puts Retell's current URL back on the record before copying.
        let mut r = record(call(json!({"recording_url": "https://rec/x.wav"})));
        r.erased_at_ms = Some(1);
        assert!(matches!(recording_source(&r), RecordingSource::Nothing(_)));
    }

    #[test]
    fn the_storage_setting_decides_which_recording_is_copied() {
        let r = record(call(json!({"recording_url": "https://rec/x.wav",
                                   "scrubbed_recording_url": "https://rec/x-scrubbed.wav"})));
        assert_eq!(
            recording_source(&r),
            RecordingSource::Url("https://rec/x.wav".into())
        );
        let r = record(call(
            json!({"recording_url": "https://rec/x.wav", "data_storage_setting": "everything",
                                   "scrubbed_recording_url": "https://rec/x-scrubbed.wav"}),
        ));
        assert_eq!(
            recording_source(&r),
            RecordingSource::Url("https://rec/x.wav".into())
        );
        let r = record(call(
            json!({"recording_url": "https://rec/x.wav", "data_storage_setting": "everything_except_pii",
                                   "scrubbed_recording_url": "https://rec/x-scrubbed.wav"}),
        ));
        assert_eq!(
            recording_source(&r),
            RecordingSource::Url("https://rec/x-scrubbed.wav".into())
        );
        let r = record(call(
            json!({"recording_url": "https://rec/x.wav", "data_storage_setting": "everything_except_pii"}),
        ));
        assert!(matches!(recording_source(&r), RecordingSource::Nothing(_)));
        let r = record(call(
            json!({"recording_url": "https://rec/x.wav", "data_storage_setting": "basic_attributes_only"}),
        ));
        assert!(matches!(recording_source(&r), RecordingSource::Nothing(_)));
        let r = record(call(
            json!({"recording_url": "https://rec/x.wav", "opt_out_sensitive_data_storage": true}),
        ));
        assert!(matches!(recording_source(&r), RecordingSource::Nothing(_)));
        for bad in [
            json!("file:///etc/passwd"),
            json!(""),
            json!({"url": "https://x"}),
            json!(5),
        ] {
            let r = record(call(json!({"recording_url": bad})));
            assert!(
                matches!(recording_source(&r), RecordingSource::Nothing(_)),
                "{bad}"
            );
        }
        let r = record(call(
            json!({"recording_url": "https://rec/x.wav", "data_storage_setting": {"x": 1}}),
        ));
        assert!(matches!(recording_source(&r), RecordingSource::Nothing(_)));
    }

    #[test]
    fn recordings_are_kept_by_company_day_and_call() {
        let r = record(call(json!({})));
        assert_eq!(
            recording_key(
                &r,
                "https://storage/abc/recording.MP3?X-Amz-Signature=secret"
            ),
            format!("recordings/demo/{}/call_rec1.mp3", r.stats_day)
        );
        assert!(recording_key(&r, "https://storage/abc/recording").ends_with("/call_rec1.wav"));
        assert!(recording_key(&r, "https://storage/a.b/rec.exe").ends_with("/call_rec1.wav"));
    }
}
