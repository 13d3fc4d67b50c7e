//! After an erasure, the check that nothing of the company still holds the number: every item of
//! the company's partition in the appointments table, the number's own verification item, the
//! erased calls' items or ([`Scope::Company`]) every call item of the company, and
//! ([`Scope::CompanyAndArchive`]) every archived event of the company in the bucket, each
//! searched for the number in any spelling ([`Subject::mentioned_in`]). Recordings are audio:
//! their names are checked, not their sound. What it reports names places (keys, the number in
//! them masked), never the text around the number. Not searched: other calls' verification
//! items (`V#…`, a day's TTL), which can name a number proven during another call.

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::holdings::{s, Item};
use super::{PrivacyError, PrivacyStores, Subject};
use crate::platform::dynamo::from_attribute;

/// An archived event larger than this is reported as unread rather than read.
const MAX_SCANNED_OBJECT_BYTES: usize = 16 * 1024 * 1024;
/// Archived events read at once.
const PARALLEL_READS: usize = 16;

/// How much of the company is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The company's appointments partition and the erased calls' own items: bounded by the
    /// caller's data (the control center's erasure, within a request's seconds).
    Caller,
    /// And every call item of the company (a Scan filtered by company).
    Company,
    /// And every archived event of the company (`retell-ops privacy erase` without `--quick`).
    CompanyAndArchive,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Proof {
    pub items_scanned: usize,
    pub objects_scanned: usize,
    /// Where the number is still found: `calls:<call_id>`, `appointments:<sk>`, `s3:<key>`.
    pub found: Vec<String>,
    /// Objects too large to read (reported, not assumed clean).
    pub unread: Vec<String>,
    pub scope: Scope,
}

impl Proof {
    pub fn clean(&self) -> bool {
        self.found.is_empty() && self.unread.is_empty()
    }
}

/// A key as it may be shown: the subject's number in it masked (a customer item's key is
/// `U#<number>`).
fn shown(subject: &Subject, key: &str) -> String {
    key.replace(subject.phone.as_str(), &subject.phone.masked())
}

fn mentions(subject: &Subject, item: &Item) -> bool {
    item.values()
        .any(|v| subject.mentioned_in(&from_attribute(v).to_string()))
}

/// Searches the company's data for the subject's number.
pub async fn scan(
    stores: &PrivacyStores,
    subject: &Subject,
    scope: Scope,
    erased_calls: &[String],
) -> Result<Proof, PrivacyError> {
    let mut proof = Proof {
        items_scanned: 0,
        objects_scanned: 0,
        found: Vec::new(),
        unread: Vec::new(),
        scope,
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
            proof
                .found
                .push(format!("appointments:{}", shown(subject, &sk)));
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
    let calls = if scope == Scope::Caller {
        let mut items = Vec::new();
        for call_id in erased_calls {
            items.extend(
                stores
                    .get(&stores.calls_table, &[("call_id", s(call_id))])
                    .await?,
            );
        }
        items
    } else {
        stores.scan_company_calls(company).await?
    };
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
            proof.found.push(format!("s3:{}", shown(subject, key)));
        }
    }
    proof.objects_scanned += keys.len();
    if scope == Scope::CompanyAndArchive {
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
