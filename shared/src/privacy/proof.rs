//! After an erasure, the check that nothing of the company still holds the number: every item of
//! the company's partition in the appointments table, every call item of the company, the
//! number's own verification item, and (unless asked to be quick) every archived event of the
//! company in the bucket, each searched for the number in any spelling
//! ([`Subject::mentioned_in`]). Recordings are audio: their names are checked, not their sound.
//! What it reports names places (keys), never the text around the number.

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::holdings::{s, Item};
use super::{PrivacyError, PrivacyStores, Subject};
use crate::platform::dynamo::from_attribute;

/// An archived event larger than this is reported as unread rather than read.
const MAX_SCANNED_OBJECT_BYTES: usize = 16 * 1024 * 1024;
/// Archived events read at once.
const PARALLEL_READS: usize = 16;

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Proof {
    pub items_scanned: usize,
    pub objects_scanned: usize,
    /// Where the number is still found: `calls:<call_id>`, `appointments:<sk>`, `s3:<key>`.
    pub found: Vec<String>,
    /// Objects too large to read (reported, not assumed clean).
    pub unread: Vec<String>,
    /// Whether the bucket's archived events were read (false: `--quick`).
    pub bucket_read: bool,
}

impl Proof {
    pub fn clean(&self) -> bool {
        self.found.is_empty() && self.unread.is_empty()
    }
}

fn mentions(subject: &Subject, item: &Item) -> bool {
    item.values()
        .any(|v| subject.mentioned_in(&from_attribute(v).to_string()))
}

/// Searches the company's data for the subject's number.
pub async fn scan(
    stores: &PrivacyStores,
    subject: &Subject,
    read_bucket: bool,
) -> Result<Proof, PrivacyError> {
    let mut proof = Proof {
        bucket_read: read_bucket,
        ..Proof::default()
    };
    let company = subject.company_id.as_str();
    let partition = stores
        .query(
            &stores.appointments_table,
            None,
            "pk = :pk",
            None,
            &[(":pk", s(format!("C#{company}")))],
        )
        .await?;
    proof.items_scanned += partition.len();
    for item in &partition {
        if mentions(subject, item) {
            let sk = super::holdings::text(item, "sk").unwrap_or_default();
            proof.found.push(format!("appointments:{sk}"));
        }
    }
    if stores
        .get(
            &stores.appointments_table,
            &[
                ("pk", s(format!("VC#{company}#{}", subject.phone.as_str()))),
                ("sk", s("VC")),
            ],
        )
        .await?
        .is_some()
    {
        proof.items_scanned += 1;
        proof.found.push("appointments:VC".to_owned());
    }
    let calls = stores.scan_company_calls(company).await?;
    proof.items_scanned += calls.len();
    for item in &calls {
        if mentions(subject, item) {
            let id = super::holdings::text(item, "call_id").unwrap_or_default();
            proof.found.push(format!("calls:{id}"));
        }
    }
    let mut keys = stores.list(&format!("recordings/{company}/")).await?;
    for key in &keys {
        if subject.mentioned_in(key) {
            proof.found.push(format!("s3:{key}"));
        }
    }
    proof.objects_scanned += keys.len();
    if read_bucket {
        keys = stores.list(&format!("calls/{company}/")).await?;
        proof.objects_scanned += keys.len();
        let results: Vec<(String, Option<bool>)> = futures::stream::iter(keys)
            .map(|key| async move {
                let body = stores.read(&key, MAX_SCANNED_OBJECT_BYTES).await?;
                let hit = body.map(|b| subject.mentioned_in(&String::from_utf8_lossy(&b)));
                Ok::<_, PrivacyError>((key, hit))
            })
            .buffer_unordered(PARALLEL_READS)
            .try_collect()
            .await?;
        for (key, hit) in results {
            match hit {
                Some(true) => proof.found.push(format!("s3:{key}")),
                Some(false) => {}
                None => proof.unread.push(format!("s3:{key}")),
            }
        }
    }
    proof.found.sort();
    proof.unread.sort();
    Ok(proof)
}

impl PrivacyStores {
    /// Every call item of the company (a Scan filtered on `company_id`: the only way to read
    /// whole items, transcripts included, of one company; an erasure is rare).
    async fn scan_company_calls(&self, company: &str) -> Result<Vec<Item>, PrivacyError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamodb
                .scan()
                .table_name(&self.calls_table)
                .filter_expression("company_id = :c")
                .expression_attribute_values(":c", s(company))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| {
                    PrivacyError::Storage(format!(
                        "DynamoDB Scan: {}",
                        aws_sdk_dynamodb::error::DisplayErrorContext(e)
                    ))
                })?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}
