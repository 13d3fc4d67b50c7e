//! The daily backup (the `backup` function, on an EventBridge schedule; `retell-ops backup
//! tables` runs the same): every table that holds what the stack cannot make again (calls,
//! statistics, appointments with their customers and callbacks, companies, the audit trail)
//! exported by DynamoDB to `s3://<bucket>/backups/tables/<stamp>/<table>/`, every Retell agent
//! with its LLM beside them, and a `manifest.json` naming it all. A run is kept no longer than
//! the shortest retention any company has (its personal data must not outlive that), and runs
//! past their `keep_until` are deleted by the next run ([`Backups::expire`]); the bucket's
//! lifecycle rule on `backups/` is the backstop. Restoring: [`restore`].

pub mod daily;
pub mod dynamo_json;
pub mod restore;

use std::collections::BTreeMap;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::ExportFormat;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Where every run goes in the bucket.
pub const BACKUP_PREFIX: &str = "backups/tables";

/// The tables a backup holds, by what they are (a restore maps them onto another stack's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableRole {
    Calls,
    Statistics,
    /// Appointments, customers, callbacks and staff absences: the native calendar's table.
    Appointments,
    Companies,
    Audit,
}

impl TableRole {
    pub const ALL: [TableRole; 5] = [
        Self::Calls,
        Self::Statistics,
        Self::Appointments,
        Self::Companies,
        Self::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Calls => "calls",
            Self::Statistics => "statistics",
            Self::Appointments => "appointments",
            Self::Companies => "companies",
            Self::Audit => "audit",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text.trim())
    }
}

/// One table's export in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableExport {
    pub table: String,
    pub export_arn: String,
    /// The export's S3 prefix (DynamoDB writes `AWSDynamoDB/<id>/data/*.json.gz` under it).
    pub prefix: String,
}

/// What a run wrote: `backups/tables/<stamp>/manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub stamp: String,
    pub bucket: String,
    pub created_at: DateTime<Utc>,
    pub keep_days: u16,
    pub keep_until: DateTime<Utc>,
    pub tables: BTreeMap<TableRole, TableExport>,
    /// The agent files' keys (`agents/<agent_id>.json`: the agent's draft and its LLM).
    #[serde(default)]
    pub agents: Vec<String>,
    /// Agents that could not be read (the run still keeps the tables).
    #[serde(default)]
    pub agent_errors: Vec<String>,
}

impl Manifest {
    pub fn place(&self) -> String {
        format!("s3://{}/{}", self.bucket, run_prefix(&self.stamp))
    }
}

/// One agent as the backup keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentCopy {
    pub agent_id: String,
    pub agent: serde_json::Value,
    pub llm: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("DynamoDB: {0}")]
    Dynamo(String),
    #[error("S3: {0}")]
    S3(String),
    #[error("{0}")]
    Bad(String),
}

fn run_prefix(stamp: &str) -> String {
    format!("{BACKUP_PREFIX}/{stamp}")
}

/// A run's stamp: its start, sortable.
pub fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// `s3://bucket/backups/tables/<stamp>[/]` → (bucket, stamp).
pub fn parse_place(place: &str) -> Result<(String, String), BackupError> {
    let bad = || {
        BackupError::Bad(format!(
            "{:?} is not a backup (s3://BUCKET/{BACKUP_PREFIX}/STAMP)",
            place.chars().take(200).collect::<String>()
        ))
    };
    let rest = place.trim().strip_prefix("s3://").ok_or_else(bad)?;
    let (bucket, key) = rest.split_once('/').ok_or_else(bad)?;
    let stamp = key
        .trim_end_matches('/')
        .strip_prefix(BACKUP_PREFIX)
        .and_then(|s| s.strip_prefix('/'))
        .ok_or_else(bad)?;
    let stamp_ok = stamp.len() == 16
        && DateTime::parse_from_str(&format!("{stamp}+0000"), "%Y%m%dT%H%M%SZ%z").is_ok();
    if bucket.is_empty() || bucket.len() > 63 || !stamp_ok {
        return Err(bad());
    }
    Ok((bucket.to_owned(), stamp.to_owned()))
}

/// The bucket the runs are kept in, and the clients to write and read them.
#[derive(Clone)]
pub struct Backups {
    pub db: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
}

fn s3_err<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_s3::error::SdkError<E, R>,
) -> BackupError {
    BackupError::S3(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
}

impl Backups {
    /// Starts each table's export (DynamoDB finishes it in the background), writes the agents and
    /// the manifest. `keep_days`: how long this run is kept.
    pub async fn run(
        &self,
        tables: &[(TableRole, String)],
        agents: &[AgentCopy],
        agent_errors: Vec<String>,
        keep_days: u16,
        now: DateTime<Utc>,
    ) -> Result<Manifest, BackupError> {
        let stamp = stamp(now);
        let base = run_prefix(&stamp);
        let mut exports = BTreeMap::new();
        for (role, table) in tables {
            let arn = self
                .db
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map_err(|e| BackupError::Dynamo(DisplayErrorContext(e).to_string()))?
                .table
                .and_then(|t| t.table_arn)
                .ok_or_else(|| BackupError::Dynamo(format!("table {table} has no ARN")))?;
            let prefix = format!("{base}/{}", role.as_str());
            let export = self
                .db
                .export_table_to_point_in_time()
                .table_arn(arn)
                .s3_bucket(&self.bucket)
                .s3_prefix(&prefix)
                .export_format(ExportFormat::DynamodbJson)
                // One export per table and run (a retried invocation is a run of its own; the
                // next run's expiry deletes a run that never wrote its manifest).
                .client_token(format!("{stamp}-{}", role.as_str()))
                .send()
                .await
                .map_err(|e| {
                    BackupError::Dynamo(format!("export of {table}: {}", DisplayErrorContext(e)))
                })?;
            let export_arn = export
                .export_description
                .and_then(|d| d.export_arn)
                .ok_or_else(|| BackupError::Dynamo(format!("export of {table}: no ARN")))?;
            exports.insert(
                *role,
                TableExport {
                    table: table.clone(),
                    export_arn,
                    prefix,
                },
            );
        }
        let mut agent_keys = Vec::new();
        for agent in agents {
            let key = format!("agents/{}.json", agent.agent_id);
            self.put_json(&format!("{base}/{key}"), agent).await?;
            agent_keys.push(key);
        }
        let manifest = Manifest {
            stamp: stamp.clone(),
            bucket: self.bucket.clone(),
            created_at: now,
            keep_days,
            keep_until: now + Duration::days(i64::from(keep_days)),
            tables: exports,
            agents: agent_keys,
            agent_errors,
        };
        self.put_json(&format!("{base}/manifest.json"), &manifest)
            .await?;
        Ok(manifest)
    }

    async fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), BackupError> {
        let body = serde_json::to_vec_pretty(value).map_err(|e| BackupError::Bad(e.to_string()))?;
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    /// Every run's manifest in this bucket, oldest first.
    pub async fn list(&self) -> Result<Vec<Manifest>, BackupError> {
        let mut manifests = Vec::new();
        for stamp in self.stamps().await? {
            // A run whose manifest is missing (it failed before writing it) is not a backup.
            if let Ok(m) = self.manifest(&stamp).await {
                manifests.push(m);
            }
        }
        Ok(manifests)
    }

    /// Every run's stamp (its folder under `backups/tables/`), oldest first.
    async fn stamps(&self) -> Result<Vec<String>, BackupError> {
        let mut stamps = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(format!("{BACKUP_PREFIX}/"))
                .delimiter("/")
                .set_continuation_token(token)
                .send()
                .await
                .map_err(s3_err)?;
            for p in page.common_prefixes() {
                if let Some(stamp) = p
                    .prefix()
                    .and_then(|p| p.strip_prefix(&format!("{BACKUP_PREFIX}/")))
                    .map(|s| s.trim_end_matches('/'))
                {
                    stamps.push(stamp.to_owned());
                }
            }
            match page.next_continuation_token {
                Some(t) if page.is_truncated == Some(true) => token = Some(t),
                _ => break,
            }
        }
        stamps.retain(|s| stamp_time(s).is_some());
        stamps.sort();
        Ok(stamps)
    }

    /// The manifest of the run `stamp`.
    pub async fn manifest(&self, stamp: &str) -> Result<Manifest, BackupError> {
        let bytes = self
            .get(&format!("{}/manifest.json", run_prefix(stamp)))
            .await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| BackupError::Bad(format!("backup {stamp}: manifest: {e}")))
    }

    /// An object of this bucket, at most 256 MiB.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, BackupError> {
        use crate::platform::s3_objects::{read_bounded, Bounded};
        match read_bounded(&self.s3, &self.bucket, key, 256 << 20)
            .await
            .map_err(BackupError::S3)?
        {
            Bounded::Body(bytes) => Ok(bytes),
            Bounded::Missing => Err(BackupError::Bad(format!("{key} is not there"))),
            Bounded::TooLarge(n) => Err(BackupError::Bad(format!(
                "{key} is larger than 256 MiB ({n} bytes)"
            ))),
        }
    }

    /// Every key under `prefix`.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, BackupError> {
        crate::platform::s3_objects::keys_under(&self.s3, &self.bucket, prefix)
            .await
            .map_err(BackupError::S3)
    }

    /// Each table export's state (IN_PROGRESS, COMPLETED, FAILED), as DynamoDB reports it;
    /// `UNKNOWN: <why>` where DynamoDB cannot say (another account or region, or an export it
    /// no longer knows): its files in S3 are then what there is.
    pub async fn export_states(&self, manifest: &Manifest) -> BTreeMap<TableRole, String> {
        let mut states = BTreeMap::new();
        for (role, export) in &manifest.tables {
            let state = match self
                .db
                .describe_export()
                .export_arn(&export.export_arn)
                .send()
                .await
            {
                Ok(described) => described
                    .export_description
                    .and_then(|d| d.export_status)
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_else(|| "UNKNOWN: no status".into()),
                Err(e) => format!(
                    "UNKNOWN: {}",
                    DisplayErrorContext(e)
                        .to_string()
                        .chars()
                        .take(200)
                        .collect::<String>()
                ),
            };
            states.insert(*role, state);
        }
        states
    }

    /// Deletes every run past its time: its `keep_until`, or sooner when the retention now
    /// (`keep_days_now`: a company shortened its retention, the cap was lowered) says so; and
    /// every run older than a day that never wrote its manifest (it failed half-way). Returns
    /// their stamps.
    pub async fn expire(
        &self,
        now: DateTime<Utc>,
        keep_days_now: u16,
    ) -> Result<Vec<String>, BackupError> {
        let kept: BTreeMap<String, Manifest> = self
            .list()
            .await?
            .into_iter()
            .map(|m| (m.stamp.clone(), m))
            .collect();
        let mut expired = Vec::new();
        for stamp in self.stamps().await? {
            let due = match kept.get(&stamp) {
                Some(m) => {
                    let now_says = m.created_at + Duration::days(i64::from(keep_days_now));
                    m.keep_until.min(now_says) <= now
                }
                None => stamp_time(&stamp).is_some_and(|t| t + Duration::days(1) <= now),
            };
            if !due {
                continue;
            }
            let keys = self.keys(&format!("{}/", run_prefix(&stamp))).await?;
            // The manifest last: a run cut short is found again and finished next time.
            let (manifests, data): (Vec<_>, Vec<_>) = keys
                .into_iter()
                .partition(|k| k.ends_with("/manifest.json"));
            for chunk in data.chunks(1000).chain(manifests.chunks(1000)) {
                self.delete(chunk).await?;
            }
            expired.push(stamp);
        }
        Ok(expired)
    }

    async fn delete(&self, keys: &[String]) -> Result<(), BackupError> {
        let objects = keys
            .iter()
            .filter_map(|k| {
                aws_sdk_s3::types::ObjectIdentifier::builder()
                    .key(k)
                    .build()
                    .ok()
            })
            .collect();
        let delete = aws_sdk_s3::types::Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| BackupError::S3(e.to_string()))?;
        self.s3
            .delete_objects()
            .bucket(&self.bucket)
            .delete(delete)
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }
}

/// The time a stamp names.
fn stamp_time(stamp: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(&format!("{stamp}+0000"), "%Y%m%dT%H%M%SZ%z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How long a run is kept: the shortest retention of any company (and the stack's default),
/// at most `cap` days (`BackupRetentionDays`), at least one day.
pub fn keep_days(retentions: impl IntoIterator<Item = u16>, default_days: u16, cap: u16) -> u16 {
    retentions
        .into_iter()
        .chain([default_days, cap])
        .min()
        .unwrap_or(cap)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_is_kept_no_longer_than_the_shortest_retention() {
        assert_eq!(keep_days([90, 7, 30], 90, 35), 7);
        assert_eq!(keep_days([], 90, 35), 35);
        assert_eq!(keep_days([365], 14, 35), 14);
        assert_eq!(keep_days([], 90, 0), 1);
    }

    #[test]
    fn places_are_read_strictly() {
        assert_eq!(
            parse_place("s3://b-1/backups/tables/20261206T020000Z/").unwrap(),
            ("b-1".to_owned(), "20261206T020000Z".to_owned())
        );
        for bad in [
            "",
            "b/backups/tables/20261206T020000Z",
            "s3://b/backups/tables/",
            "s3://b/backups/tables/../../x",
            "s3://b/backups/tables/20261306T020000Z",
            "s3://b/other/20261206T020000Z",
            "s3:///backups/tables/20261206T020000Z",
            &format!("s3://{}/backups/tables/20261206T020000Z", "b".repeat(100)),
        ] {
            assert!(parse_place(bad).is_err(), "{bad}");
        }
        for role in TableRole::ALL {
            assert_eq!(TableRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(TableRole::parse("agents"), None);
    }
}
