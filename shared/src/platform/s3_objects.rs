//! S3 objects as the privacy code and the backups read them: every key under a prefix, page by
//! page (ListObjectsV2), and an object's body within a size bound.

/// Every key under `prefix`, in S3's order; the error is S3's, as text.
pub async fn keys_under(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "S3 ListObjectsV2: {}",
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )
            })?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return Ok(keys);
        }
    }
}

/// What [`read_bounded`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bounded {
    Missing,
    /// Larger than the bound (its size); not read.
    TooLarge(i64),
    Body(Vec<u8>),
}

/// An object's body if it exists and is at most `max_bytes` (by its Content-Length, and again
/// as read); the error is S3's, as text.
pub async fn read_bounded(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    max_bytes: usize,
) -> Result<Bounded, String> {
    let out = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(aws_sdk_s3::error::SdkError::ServiceError(e)) if e.err().is_no_such_key() => {
            return Ok(Bounded::Missing)
        }
        Err(e) => {
            return Err(format!(
                "S3 GetObject: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            ))
        }
    };
    if let Some(n) = out.content_length().filter(|n| *n > max_bytes as i64) {
        return Ok(Bounded::TooLarge(n));
    }
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| format!("S3 GetObject body: {e}"))?
        .into_bytes();
    if bytes.len() > max_bytes {
        return Ok(Bounded::TooLarge(bytes.len() as i64));
    }
    Ok(Bounded::Body(bytes.to_vec()))
}
