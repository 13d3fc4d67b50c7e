//! Putting a backup back: every item of a run's table exports is written into the stack's table
//! (conditionally: an item present is never overwritten); an item whose time to live has passed
//! is not brought back (its retention is over). By default only into empty tables (a fresh
//! stack); `Merge` adds the missing items to the tables whose items are never deleted on purpose
//! (see [`RestoreMode`]). A dry run reads the same and writes nothing.

use std::collections::HashMap;
use std::io::Read;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{dynamo_json, BackupError, Backups, Manifest, TableRole};

/// A data file is at most this large once unpacked.
const MAX_UNPACKED: u64 = 2 << 30;
/// Unreadable lines named in the report (the count is complete).
const REFUSALS_SHOWN: usize = 5;

/// What a restore did (or, dry, would do) to one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableRestore {
    pub role: Option<TableRole>,
    pub table: String,
    pub in_backup: u64,
    pub already_there: u64,
    /// Written (a dry run: would be written).
    pub brought_back: u64,
    /// Past their time to live: not brought back.
    pub expired: u64,
    pub unreadable: u64,
    pub refusals: Vec<String>,
    /// Said about the export (its state unknown to DynamoDB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Restores `manifest`'s exports of the `targets` tables (role → this stack's table name),
/// read from `source` (the bucket the backup is in).
pub async fn restore(
    source: &Backups,
    manifest: &Manifest,
    targets: &[(TableRole, String)],
    db: &aws_sdk_dynamodb::Client,
    dry_run: bool,
    mode: RestoreMode,
    now: DateTime<Utc>,
) -> Result<Vec<TableRestore>, BackupError> {
    let states = source.export_states(manifest).await;
    // Every table is checked before any is written: a restore that cannot finish starts nothing.
    let mut plans = Vec::new();
    for (role, table) in targets {
        let export = manifest.tables.get(role).ok_or_else(|| {
            BackupError::Bad(format!(
                "backup {} holds no {} table",
                manifest.stamp,
                role.as_str()
            ))
        })?;
        let files: Vec<String> = source
            .keys(&format!("{}/AWSDynamoDB/", export.prefix))
            .await?
            .into_iter()
            .filter(|k| k.contains("/data/") && k.ends_with(".gz"))
            .collect();
        let state = states.get(role).map(String::as_str).unwrap_or("UNKNOWN");
        let note = match state {
            "COMPLETED" => None,
            // DynamoDB does not know the export (another account or region, or long ago):
            // its files are what there is.
            unknown if unknown.starts_with("UNKNOWN") && !files.is_empty() => Some(format!(
                "DynamoDB cannot say whether this export completed ({unknown}); its {} data file(s) were read as they are",
                files.len()
            )),
            other => {
                return Err(BackupError::Bad(format!(
                    "the {} export of backup {} is {other} (DynamoDB finishes exports within minutes; try again)",
                    role.as_str(),
                    manifest.stamp,
                )))
            }
        };
        if !dry_run {
            check_target(db, *role, table, mode).await?;
        }
        plans.push((*role, table, files, note));
    }
    let mut reports = Vec::new();
    for (role, table, files, note) in plans {
        let shape = TableShape::of(db, table).await?;
        let mut report = TableRestore {
            role: Some(role),
            table: table.clone(),
            note,
            ..TableRestore::default()
        };
        for file in files {
            let packed = source.get(&file).await?;
            let mut text = String::new();
            flate2::read::GzDecoder::new(packed.as_slice())
                .take(MAX_UNPACKED)
                .read_to_string(&mut text)
                .map_err(|e| BackupError::Bad(format!("{file}: {e}")))?;
            if text.len() as u64 >= MAX_UNPACKED {
                return Err(BackupError::Bad(format!(
                    "{file} unpacks to more than {} GiB: not restored past that (restore it table by table with more memory, or with ImportTable)",
                    MAX_UNPACKED >> 30
                )));
            }
            let mut batch = Vec::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                report.in_backup += 1;
                match dynamo_json::item_of_line(line) {
                    Ok(item) if shape.expired(&item, now) => report.expired += 1,
                    Ok(item) if shape.key_of(&item).is_some() => batch.push(item),
                    Ok(_) => refuse(&mut report, "an item without the table's key".into()),
                    Err(e) => refuse(&mut report, e),
                }
                if batch.len() == 100 {
                    settle(db, &shape, std::mem::take(&mut batch), dry_run, &mut report).await?;
                }
            }
            settle(db, &shape, batch, dry_run, &mut report).await?;
        }
        reports.push(report);
    }
    Ok(reports)
}

/// Where a restore may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreMode {
    /// Only into empty tables: a fresh stack (the disaster-recovery case).
    Fresh,
    /// Into tables that hold items, adding what is missing: only for the tables whose items the
    /// stack never deletes on purpose. Appointments (a cancelled appointment's slot locks, due
    /// messages) and companies (a dropped number's route) are refused: bringing back what was
    /// deleted there would make slots unbookable and route numbers again.
    Merge,
}

/// Whether the restore may write into `table`.
async fn check_target(
    db: &aws_sdk_dynamodb::Client,
    role: TableRole,
    table: &str,
    mode: RestoreMode,
) -> Result<(), BackupError> {
    match mode {
        RestoreMode::Merge if matches!(role, TableRole::Appointments | TableRole::Companies) => {
            Err(BackupError::Bad(format!(
                "the {} table is not merged into: what was deleted there since the backup was deleted on purpose (a cancelled appointment's slot lock, a dropped number's route); restore it into a fresh stack",
                role.as_str()
            )))
        }
        RestoreMode::Merge => Ok(()),
        RestoreMode::Fresh => {
            let any = db
                .scan()
                .table_name(table)
                .limit(1)
                .send()
                .await
                .map_err(|e| BackupError::Dynamo(format!("{table}: {}", DisplayErrorContext(e))))?;
            if any.items().is_empty() {
                Ok(())
            } else {
                Err(BackupError::Bad(format!(
                    "the {} table ({table}) holds items: a restore fills a fresh stack's empty tables (bringing back into a live one what was deleted since would undo cancellations, dropped numbers and erasures); --merge adds only what is missing to calls, statistics or audit",
                    role.as_str()
                )))
            }
        }
    }
}

fn refuse(report: &mut TableRestore, reason: String) {
    report.unreadable += 1;
    if report.refusals.len() < REFUSALS_SHOWN {
        report.refusals.push(reason);
    }
}

/// A table's key attributes and its time-to-live attribute.
struct TableShape {
    table: String,
    keys: Vec<String>,
    ttl: Option<String>,
}

impl TableShape {
    async fn of(db: &aws_sdk_dynamodb::Client, table: &str) -> Result<Self, BackupError> {
        let dynamo = |e: String| BackupError::Dynamo(format!("{table}: {e}"));
        let described = db
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| dynamo(DisplayErrorContext(e).to_string()))?;
        let keys = described
            .table
            .map(|t| {
                t.key_schema()
                    .iter()
                    .map(|k| k.attribute_name().to_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if keys.is_empty() {
            return Err(dynamo("no key schema".into()));
        }
        let ttl = db
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .ok()
            .and_then(|t| t.time_to_live_description)
            .filter(|d| {
                d.time_to_live_status
                    .as_ref()
                    .is_some_and(|s| s.as_str() == "ENABLED")
            })
            .and_then(|d| d.attribute_name);
        Ok(Self {
            table: table.to_owned(),
            keys,
            ttl,
        })
    }

    fn key_of(
        &self,
        item: &HashMap<String, AttributeValue>,
    ) -> Option<HashMap<String, AttributeValue>> {
        self.keys
            .iter()
            .map(|k| item.get(k).map(|v| (k.clone(), v.clone())))
            .collect()
    }

    fn expired(&self, item: &HashMap<String, AttributeValue>, now: DateTime<Utc>) -> bool {
        let Some(attr) = &self.ttl else { return false };
        match item.get(attr) {
            Some(AttributeValue::N(n)) => n
                .parse::<f64>()
                .is_ok_and(|t| t > 0.0 && (t as i64) < now.timestamp()),
            _ => false,
        }
    }
}

/// Counts which of `items` the table has; writes the others unless dry.
async fn settle(
    db: &aws_sdk_dynamodb::Client,
    shape: &TableShape,
    items: Vec<HashMap<String, AttributeValue>>,
    dry_run: bool,
    report: &mut TableRestore,
) -> Result<(), BackupError> {
    if items.is_empty() {
        return Ok(());
    }
    let dynamo = |e: String| BackupError::Dynamo(format!("{}: {e}", shape.table));
    if dry_run {
        let present = present_keys(db, shape, &items).await?;
        let there = items
            .iter()
            .filter(|i| {
                shape
                    .key_of(i)
                    .is_some_and(|k| present.contains(&key_text(&k)))
            })
            .count() as u64;
        report.already_there += there;
        report.brought_back += items.len() as u64 - there;
        return Ok(());
    }
    let names: HashMap<String, String> = shape
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| (format!("#k{i}"), k.clone()))
        .collect();
    let condition = (0..shape.keys.len())
        .map(|i| format!("attribute_not_exists(#k{i})"))
        .collect::<Vec<_>>()
        .join(" AND ");
    for item in items {
        let put = db
            .put_item()
            .table_name(&shape.table)
            .set_item(Some(item))
            .condition_expression(&condition)
            .set_expression_attribute_names(Some(names.clone()))
            .send()
            .await;
        match put {
            Ok(_) => report.brought_back += 1,
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                report.already_there += 1
            }
            Err(e) => return Err(dynamo(DisplayErrorContext(e).to_string())),
        }
    }
    Ok(())
}

fn key_text(key: &HashMap<String, AttributeValue>) -> String {
    let mut parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    parts.sort();
    parts.join("|")
}

/// The keys of `items` the table has (BatchGetItem, unprocessed keys asked again).
async fn present_keys(
    db: &aws_sdk_dynamodb::Client,
    shape: &TableShape,
    items: &[HashMap<String, AttributeValue>],
) -> Result<std::collections::HashSet<String>, BackupError> {
    let mut keys: Vec<HashMap<String, AttributeValue>> =
        items.iter().filter_map(|i| shape.key_of(i)).collect();
    keys.sort_by_key(key_text);
    keys.dedup_by_key(|k| key_text(k));
    let mut present = std::collections::HashSet::new();
    let mut pending = keys;
    for _attempt in 0..10 {
        if pending.is_empty() {
            break;
        }
        let request = KeysAndAttributes::builder()
            .set_keys(Some(pending.clone()))
            .set_projection_expression(Some(
                (0..shape.keys.len())
                    .map(|i| format!("#k{i}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ))
            .set_expression_attribute_names(Some(
                shape
                    .keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (format!("#k{i}"), k.clone()))
                    .collect(),
            ))
            .build()
            .map_err(|e| BackupError::Dynamo(e.to_string()))?;
        let out = db
            .batch_get_item()
            .request_items(&shape.table, request)
            .send()
            .await
            .map_err(|e| BackupError::Dynamo(DisplayErrorContext(e).to_string()))?;
        for item in out
            .responses
            .unwrap_or_default()
            .remove(&shape.table)
            .unwrap_or_default()
        {
            if let Some(k) = shape.key_of(&item) {
                present.insert(key_text(&k));
            }
        }
        pending = out
            .unprocessed_keys
            .and_then(|mut u| u.remove(&shape.table))
            .map(|k| k.keys)
            .unwrap_or_default();
    }
    Ok(present)
}
