//! The audit trail: who viewed a call's transcript or recording, who exported or erased a
//! caller's data, and every settings change. One item per entry in the audit table
//! (`pk = C#<company>`, `sk = <13-digit ms>#<8 hex>`), written with
//! `attribute_not_exists(pk)`: an entry is never overwritten, and the functions' roles allow
//! `PutItem` and reads only (no update, no delete). Entries name calls, appointments and users,
//! never a caller's number.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::PrivacyError;

/// Entries one listing returns at most.
pub const MAX_LIST: usize = 500;
/// A detail longer than this (an erasure of thousands of calls) is kept cut, as a JSON string.
const DETAIL_MAX_CHARS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub company_id: String,
    pub at_ms: i64,
    /// `desk:<user>`, `api:<user>`, `retell-ops:<os user>`, `companies load`.
    pub by: String,
    /// `viewed_transcript`, `played_recording`, `exported`, `erased`, `settings_changed`.
    pub action: String,
    /// What it was done to: a call id, `caller` (an export or erasure: the number is not
    /// written), `settings`.
    pub subject: String,
    /// More, as JSON (an erasure's receipt, the settings that changed).
    #[serde(default)]
    pub detail: serde_json::Value,
}

#[derive(Clone, Debug)]
pub struct AuditLog {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl AuditLog {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Appends one entry. A key that exists already (two entries in one millisecond with the
    /// same random suffix) is retried with a new suffix, never overwritten.
    pub async fn record(&self, entry: &AuditEntry) -> Result<(), PrivacyError> {
        let mut detail = entry.detail.to_string();
        if detail.chars().count() > DETAIL_MAX_CHARS {
            let head: String = detail.chars().take(DETAIL_MAX_CHARS).collect();
            detail = serde_json::json!({"truncated": true, "head": head}).to_string();
        }
        for _ in 0..3 {
            let sk = format!("{:013}#{:08x}", entry.at_ms.max(0), fastrand::u32(..));
            let item = HashMap::from([
                ("pk".to_owned(), s(format!("C#{}", entry.company_id))),
                ("sk".to_owned(), s(sk)),
                ("company_id".to_owned(), s(&entry.company_id)),
                (
                    "at_ms".to_owned(),
                    AttributeValue::N(entry.at_ms.to_string()),
                ),
                ("by".to_owned(), s(&entry.by)),
                ("action".to_owned(), s(&entry.action)),
                ("subject".to_owned(), s(&entry.subject)),
                ("detail".to_owned(), s(&detail)),
            ]);
            match self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    continue
                }
                Err(e) => return Err(PrivacyError::Audit(DisplayErrorContext(e).to_string())),
            }
        }
        Err(PrivacyError::Audit("no free key after three tries".into()))
    }

    /// The company's entries from `from_ms` on, newest first, at most `limit` (≤ [`MAX_LIST`]).
    pub async fn list(
        &self,
        company_id: &str,
        from_ms: i64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, PrivacyError> {
        let limit = limit.clamp(1, MAX_LIST);
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk >= :from")
                .expression_attribute_values(":pk", s(format!("C#{company_id}")))
                .expression_attribute_values(":from", s(format!("{:013}", from_ms.max(0))))
                .scan_index_forward(false)
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| PrivacyError::Audit(DisplayErrorContext(e).to_string()))?;
            for item in page.items() {
                entries.push(entry_of(item, company_id)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() || entries.len() >= limit {
                entries.truncate(limit);
                return Ok(entries);
            }
        }
    }
}

fn entry_of(
    item: &HashMap<String, AttributeValue>,
    company_id: &str,
) -> Result<AuditEntry, PrivacyError> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(PrivacyError::Corrupt(format!("audit entry without {name}"))),
    };
    let at_ms = match item.get("at_ms") {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| PrivacyError::Corrupt("audit entry at_ms".into()))?,
        _ => return Err(PrivacyError::Corrupt("audit entry without at_ms".into())),
    };
    Ok(AuditEntry {
        company_id: company_id.to_owned(),
        at_ms,
        by: text("by")?,
        action: text("action")?,
        subject: text("subject")?,
        detail: text("detail")
            .ok()
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or(serde_json::Value::Null),
    })
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
