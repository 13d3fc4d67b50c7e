//! Editing a company's settings where two people may edit at once (the desk's settings page,
//! the admin API): every write raises the company's `version`, an edit names the version it was
//! made on and is refused (`CompanyError::Stale`) if another write came first, and the company
//! item keeps a change log (who, when, which settings). All of the company's items are written in
//! one transaction, each only if it is not another company's and not newer.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{listed_keys, CompanyDirectory, CompanyKey};
use crate::booking::company::{Company, CompanyError, CompanySettings};

/// Change-log entries kept on a company (the oldest go first).
pub const MAX_SETTINGS_CHANGES: usize = 100;
/// One transaction: the company's item, its agents and numbers, and the ones it drops.
const MAX_ITEMS: usize = 100;

/// A company's settings as stored: the document, the version every write raises, the log.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSettings {
    pub settings: CompanySettings,
    pub version: u64,
    pub changes: Vec<SettingsChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsChange {
    pub at_ms: i64,
    pub by: String,
    /// The settings that changed (`hours`, `staff[anna].absences`, …).
    pub what: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn backend(e: impl std::fmt::Display) -> CompanyError {
    CompanyError::Backend(e.to_string())
}

/// The version and change log stored on a company item.
pub(super) fn version_and_log(
    item: Option<&HashMap<String, AttributeValue>>,
) -> (u64, Vec<SettingsChange>) {
    let Some(item) = item else {
        return (0, Vec::new());
    };
    let version = match item.get("version") {
        Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
        _ => 0,
    };
    let changes = match item.get("settings_changes") {
        Some(AttributeValue::S(json)) => serde_json::from_str(json).unwrap_or_default(),
        _ => Vec::new(),
    };
    (version, changes)
}

/// The log with `entry` added, the oldest dropped past the cap, as stored.
pub(super) fn log_with(mut log: Vec<SettingsChange>, entry: SettingsChange) -> AttributeValue {
    log.push(entry);
    let excess = log.len().saturating_sub(MAX_SETTINGS_CHANGES);
    log.drain(..excess);
    s(serde_json::to_string(&log).unwrap_or_else(|_| "[]".into()))
}

/// Which settings differ, by name (each staff member's and service's parts by id).
pub fn changed_settings(before: &CompanySettings, after: &CompanySettings) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return vec!["settings".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let (x, y) = (a.get(key), b.get(key));
        if x == y {
            continue;
        }
        match (key.as_str(), x, y) {
            ("staff" | "services", Some(Value::Array(x)), Some(Value::Array(y))) => {
                out.extend(changed_members(key, x, y));
            }
            _ => out.push(key.clone()),
        }
    }
    out
}

/// `staff[anna].absences`, `services[beard]` (added or removed), by id.
fn changed_members(list: &str, before: &[Value], after: &[Value]) -> Vec<String> {
    let by_id = |items: &[Value]| -> Vec<(String, Value)> {
        items
            .iter()
            .map(|v| (v["id"].as_str().unwrap_or("?").to_owned(), v.clone()))
            .collect()
    };
    let (before, after) = (by_id(before), by_id(after));
    let mut out = Vec::new();
    for (id, new) in &after {
        match before.iter().find(|(old_id, _)| old_id == id) {
            None => out.push(format!("{list}[{id}] added")),
            Some((_, old)) if old != new => {
                let fields: Vec<String> = match (old, new) {
                    (Value::Object(o), Value::Object(nw)) => {
                        let mut f: Vec<String> = o
                            .keys()
                            .chain(nw.keys())
                            .filter(|k| o.get(*k) != nw.get(*k))
                            .cloned()
                            .collect();
                        f.sort();
                        f.dedup();
                        f
                    }
                    _ => Vec::new(),
                };
                out.push(format!("{list}[{id}].{}", fields.join("+")));
            }
            Some(_) => {}
        }
    }
    for (id, _) in &before {
        if !after.iter().any(|(new_id, _)| new_id == id) {
            out.push(format!("{list}[{id}] removed"));
        }
    }
    if out.is_empty() {
        // Same members, another order (the fair choice breaks ties in file order).
        out.push(format!("{list} order"));
    }
    out
}

impl CompanyDirectory {
    /// The company's settings as stored now (a consistent read of its own item).
    pub async fn stored(&self, company_id: &str) -> Result<Option<StoredSettings>, CompanyError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(CompanyKey::Id(company_id.to_owned()).pk()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend(DisplayErrorContext(e)))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let Some(AttributeValue::S(json)) = item.get("settings") else {
            return Ok(None);
        };
        let settings = serde_json::from_str::<CompanySettings>(json)
            .map_err(|e| CompanyError::Invalid(e.to_string()))?;
        let (version, changes) = version_and_log(Some(&item));
        Ok(Some(StoredSettings {
            settings,
            version,
            changes,
        }))
    }

    /// Writes `settings` if the company is still at `expected_version`: `Stale` if another
    /// write came first, `NotFound` for a company that is not stored, `Invalid` for settings
    /// `companies load` would refuse, `Conflict` for an agent or number of another company.
    /// Returns the new version and what changed (nothing changed: no write, same version).
    pub async fn update(
        &self,
        settings: &CompanySettings,
        expected_version: u64,
        by: &str,
        now_ms: i64,
    ) -> Result<(u64, Vec<String>), CompanyError> {
        let me = settings.company_id.clone();
        let current = self
            .stored(&me)
            .await?
            .ok_or_else(|| CompanyError::NotFound(format!("company {me}")))?;
        if current.version != expected_version {
            return Err(CompanyError::Stale);
        }
        let company = Arc::new(Company::from_settings(settings.clone())?);
        let what = changed_settings(&current.settings, settings);
        if what.is_empty() {
            return Ok((current.version, what));
        }
        let json = serde_json::to_string(settings).map_err(backend)?;
        let version = expected_version + 1;
        let listed = listed_keys(settings)?;
        let before = listed_keys(&current.settings).unwrap_or_default();
        let dropped: Vec<&CompanyKey> = before.iter().filter(|k| !listed.contains(k)).collect();
        if listed.len() + dropped.len() + 1 > MAX_ITEMS {
            return Err(CompanyError::Invalid(format!(
                "at most {} agents and numbers per company",
                MAX_ITEMS - 1
            )));
        }
        let entry = SettingsChange {
            at_ms: now_ms,
            by: by.to_owned(),
            what: what.join(", "),
        };
        let own = CompanyKey::Id(me.clone()).pk();
        let own_put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(&own))
            .item("company_id", s(&me))
            .item("settings", s(&json))
            .item("version", n(version))
            .item("settings_changes", log_with(current.changes, entry))
            .condition_expression(if expected_version == 0 {
                "attribute_exists(pk) AND attribute_not_exists(version)"
            } else {
                "version = :expected"
            })
            .set_expression_attribute_values(
                (expected_version > 0)
                    .then(|| HashMap::from([(":expected".to_owned(), n(expected_version))])),
            )
            .build()
            .map_err(backend)?;
        let mut items = vec![TransactWriteItem::builder().put(own_put).build()];
        for key in &listed {
            let put = Put::builder()
                .table_name(&self.table)
                .item("pk", s(key.pk()))
                .item("company_id", s(&me))
                .item("settings", s(&json))
                .item("version", n(version))
                .condition_expression(
                    "(attribute_not_exists(pk) OR company_id = :me) \
                     AND (attribute_not_exists(version) OR version < :version)",
                )
                .expression_attribute_values(":me", s(&me))
                .expression_attribute_values(":version", n(version))
                .build()
                .map_err(backend)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        for key in &dropped {
            let delete = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(key.pk()))
                .condition_expression("attribute_not_exists(pk) OR company_id = :me")
                .expression_attribute_values(":me", s(&me))
                .build()
                .map_err(backend)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        let written = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        if let Err(e) = written {
            let reasons: Vec<Option<String>> = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().map(str::to_owned))
                    .collect(),
                _ => return Err(backend(DisplayErrorContext(e))),
            };
            let failed = |i: usize| {
                reasons
                    .get(i)
                    .is_some_and(|c| c.as_deref() == Some("ConditionalCheckFailed"))
            };
            return Err(
                if failed(0)
                    || reasons
                        .iter()
                        .any(|c| c.as_deref() == Some("TransactionConflict"))
                {
                    CompanyError::Stale
                } else if (1..reasons.len()).any(failed) {
                    CompanyError::Conflict(
                        "an agent or number of these settings is another company's".into(),
                    )
                } else {
                    backend(DisplayErrorContext(e))
                },
            );
        }
        for key in &dropped {
            self.forget(&key.pk()).await;
        }
        let mut keys = listed;
        keys.push(CompanyKey::Id(me));
        self.remember(keys, Some(company)).await;
        Ok((version, what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> CompanySettings {
        serde_json::from_str(include_str!("../../../../infra/local/companies/demo.json"))
            .expect("demo")
    }

    #[test]
    fn names_what_changed() {
        let before = demo();
        let mut after = before.clone();
        assert!(changed_settings(&before, &after).is_empty());
        after.min_notice_minutes += 15;
        after.staff[0]
            .absences
            .push(crate::booking::company::Closure::Day(
                chrono::NaiveDate::from_ymd_opt(2026, 12, 24).unwrap_or_default(),
            ));
        after.services.pop();
        let first = after.staff[0].id.clone();
        let removed = before
            .services
            .last()
            .map(|s| s.id.clone())
            .unwrap_or_default();
        assert_eq!(
            changed_settings(&before, &after),
            [
                "min_notice_minutes".to_owned(),
                format!("services[{removed}] removed"),
                format!("staff[{first}].absences"),
            ]
        );
    }

    #[test]
    fn the_log_keeps_the_newest() {
        let log: Vec<SettingsChange> = (0..MAX_SETTINGS_CHANGES as i64)
            .map(|i| SettingsChange {
                at_ms: i,
                by: "x".into(),
                what: "hours".into(),
            })
            .collect();
        let entry = SettingsChange {
            at_ms: 999,
            by: "y".into(),
            what: "closures".into(),
        };
        let AttributeValue::S(json) = log_with(log, entry) else {
            panic!("not a string");
        };
        let kept: Vec<SettingsChange> = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(kept.len(), MAX_SETTINGS_CHANGES);
        assert_eq!((kept[0].at_ms, kept[99].at_ms), (1, 999));
    }
}
