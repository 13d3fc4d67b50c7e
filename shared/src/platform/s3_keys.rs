//! Every key under a prefix of a bucket, page by page (ListObjectsV2): what the privacy export
//! and erasure look through and what a backup's runs and exports are made of.

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
