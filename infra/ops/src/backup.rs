//! `backup recordings` (Retell's recordings into the events bucket, as each call's storage setting
//! allows) and `backup calls` (the calls and statistics tables, through DynamoDB's own export to
//! S3 or its on-demand backups). `backup agents` is in `commands`.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{BackupStatus, ExportFormat, ExportStatus};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::json;
use shared::calls::recordings::{Copied, RecordingCopier, RECORDING_FIELDS};
use shared::calls::store::CallStore;
use shared::platform::outbound::OutboundPolicy;
use shared::retell::CallId;

use crate::commands::{err, Context};
use crate::output::{Check, Status};

/// Recordings fetched at once.
const RECORDING_COPIES: usize = 4;

/// The recordings of the calls that started in `[from, to)`, into the events bucket.
pub async fn backup_recordings(
    ctx: &Context,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    company: Option<&str>,
) -> Result<bool, String> {
    let companies = ctx.companies(company).await?;
    let store = ctx.call_store();
    let hosts = OutboundPolicy::parse(&ctx.stack.recording_hosts)
        .map_err(|e| format!("the stack's RecordingHosts: {e}"))?;
    let copier =
        RecordingCopier::new(ctx.aws.s3.clone(), ctx.stack.bucket.clone(), hosts).map_err(err)?;
    let retell = ctx.retell()?;
    let ids = ctx
        .call_ids(&companies, from.timestamp_millis(), to.timestamp_millis())
        .await?;
    let bar = ctx.out.progress(Some(ids.len() as u64), "recordings");
    let (mut copied, mut there, mut bytes) = (0usize, 0usize, 0usize);
    let mut skipped: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut failed: Vec<String> = Vec::new();
    let mut copies = futures::stream::iter(ids.iter().map(|id| {
        let (store, copier) = (&store, &copier);
        async move {
            let call_id = CallId::parse(id).map_err(|e| (id.clone(), e.to_string()))?;
            let mut record = store
                .load(&call_id)
                .await
                .map_err(|e| (id.clone(), e.to_string()))?
                .ok_or_else(|| (id.clone(), "no longer stored".to_owned()))?;
            // The stored URLs are signed and expire after 24 hours: Retell's current ones.
            let fresh = retell
                .get_call(id)
                .await
                .map_err(|e| (id.clone(), format!("Retell: {e}")))?;
            for field in RECORDING_FIELDS {
                match fresh.other.get(field) {
                    Some(url) => record.fields.insert(field.to_owned(), url.clone()),
                    None => record.fields.remove(field),
                };
            }
            copier
                .copy(&record)
                .await
                .map_err(|e| (id.clone(), e.to_string()))
        }
    }))
    .buffer_unordered(RECORDING_COPIES);
    while let Some(result) = copies.next().await {
        bar.inc(1);
        match result {
            Ok(Copied::Copied { bytes: n, .. }) => {
                copied += 1;
                bytes += n;
            }
            Ok(Copied::AlreadyThere { .. }) => there += 1,
            Ok(Copied::Skipped(why)) => *skipped.entry(why).or_default() += 1,
            Err((id, e)) => failed.push(format!("{id}: {e}")),
        }
    }
    bar.finish_and_clear();
    let ok = failed.is_empty();
    let out = &ctx.out;
    out.line(&format!(
        "{} calls from {} to {} ({}): {copied} recordings copied ({:.1} MB), {there} copied before, {} not copied, {} failed",
        ids.len(),
        from.to_rfc3339(),
        to.to_rfc3339(),
        companies.join(", "),
        bytes as f64 / 1e6,
        skipped.values().sum::<usize>(),
        failed.len()
    ));
    for (why, n) in &skipped {
        out.line(&format!("  not copied, {why}: {n}"));
    }
    for f in failed.iter().take(20) {
        out.check(&Check::failed("copy", f.clone()));
    }
    out.json_value(&json!({
        "ok": ok, "bucket": ctx.stack.bucket, "calls": ids.len(), "copied": copied, "bytes": bytes,
        "already_there": there, "not_copied": skipped, "failed": failed,
        "from": from.to_rfc3339(), "to": to.to_rfc3339(), "companies": companies,
    }));
    Ok(ok)
}

/// How `backup calls` keeps the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallsBackup {
    /// ExportTableToPointInTime into S3 (DynamoDB JSON, gzip); needs point-in-time recovery.
    Export,
    /// CreateBackup: DynamoDB's own backup, restored with RestoreTableFromBackup.
    OnDemand,
}

/// The calls and statistics tables, exported to S3 (or backed up on demand), waited for.
pub async fn backup_calls(
    ctx: &Context,
    how: CallsBackup,
    to: Option<&str>,
    wait: Duration,
) -> Result<bool, String> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let tables = [
        ("calls", ctx.stack.calls_table.clone()),
        ("statistics", ctx.stack.stats_table.clone()),
    ];
    let (bucket, prefix) = match to {
        None => (ctx.stack.bucket.clone(), "backups/calls".to_owned()),
        Some(t) => crate::commands::s3_place(t).unwrap_or_else(|| {
            Err(format!(
                "--to {}: an s3://bucket/prefix",
                crate::commands::shown(t)
            ))
        })?,
    };
    if how == CallsBackup::OnDemand && to.is_some() {
        return Err("--to is for exports; an on-demand backup stays in DynamoDB".into());
    }
    let db = &ctx.aws.dynamodb;
    let mut started = Vec::new();
    for (what, table) in &tables {
        let id = match how {
            CallsBackup::Export => {
                let arn = db
                    .describe_table()
                    .table_name(table)
                    .send()
                    .await
                    .map_err(|e| DisplayErrorContext(e).to_string())?
                    .table
                    .and_then(|t| t.table_arn)
                    .ok_or_else(|| format!("{table}: no ARN"))?;
                let at = format!(
                    "{}{stamp}/{what}",
                    if prefix.is_empty() {
                        String::new()
                    } else {
                        format!("{prefix}/")
                    }
                );
                let export = db
                    .export_table_to_point_in_time()
                    .table_arn(arn)
                    .s3_bucket(&bucket)
                    .s3_prefix(&at)
                    .export_format(ExportFormat::DynamodbJson)
                    .send()
                    .await
                    .map_err(|e| {
                        let text = DisplayErrorContext(e).to_string();
                        if text.contains("PointInTimeRecovery") {
                            format!("{table}: point-in-time recovery is off (template.yaml turns it on): {text}")
                        } else {
                            format!("{table}: {text}")
                        }
                    })?;
                let arn = export
                    .export_description
                    .and_then(|d| d.export_arn)
                    .ok_or_else(|| format!("{table}: the export has no ARN"))?;
                (arn, Some(format!("s3://{bucket}/{at}")))
            }
            CallsBackup::OnDemand => {
                let backup = db
                    .create_backup()
                    .table_name(table)
                    .backup_name(format!("{table}-{stamp}"))
                    .send()
                    .await
                    .map_err(|e| format!("{table}: {}", DisplayErrorContext(e)))?;
                let arn = backup
                    .backup_details
                    .map(|d| d.backup_arn)
                    .ok_or_else(|| format!("{table}: the backup has no ARN"))?;
                (arn, None)
            }
        };
        started.push((*what, table.clone(), id.0, id.1));
    }

    // Wait for each to finish (an export of a large table takes minutes in AWS).
    let bar = ctx.out.progress(None, "waiting for DynamoDB");
    let deadline = Instant::now() + wait;
    let mut results = Vec::new();
    for (what, table, arn, location) in &started {
        let (status, items, detail) = loop {
            let (status, items, detail) = match how {
                CallsBackup::Export => {
                    let d = db
                        .describe_export()
                        .export_arn(arn)
                        .send()
                        .await
                        .map_err(|e| format!("{table}: {}", DisplayErrorContext(e)))?
                        .export_description
                        .ok_or_else(|| format!("{table}: no export description"))?;
                    let status = match d.export_status {
                        Some(ExportStatus::Completed) => "completed",
                        Some(ExportStatus::Failed) => "failed",
                        _ => "in progress",
                    };
                    let detail = d.failure_message.or(d.failure_code);
                    (status, d.item_count, detail)
                }
                CallsBackup::OnDemand => {
                    let d = db
                        .describe_backup()
                        .backup_arn(arn)
                        .send()
                        .await
                        .map_err(|e| format!("{table}: {}", DisplayErrorContext(e)))?
                        .backup_description
                        .and_then(|d| d.backup_details)
                        .ok_or_else(|| format!("{table}: no backup description"))?;
                    let status = match d.backup_status {
                        BackupStatus::Available => "completed",
                        BackupStatus::Deleted => "failed",
                        _ => "in progress",
                    };
                    (status, None, None)
                }
            };
            if status != "in progress" || Instant::now() >= deadline {
                break (status, items, detail);
            }
            bar.tick();
            tokio::time::sleep(Duration::from_secs(2)).await;
        };
        results.push(json!({
            "what": what, "table": table, "arn": arn, "status": status, "items": items,
            "location": location, "detail": detail,
        }));
    }
    bar.finish_and_clear();
    let ok = results.iter().all(|r| r["status"] == "completed");
    let out = &ctx.out;
    for r in &results {
        let what = format!(
            "{} ({}) {}",
            r["what"].as_str().unwrap_or_default(),
            r["table"].as_str().unwrap_or_default(),
            if how == CallsBackup::Export {
                "exported"
            } else {
                "backed up"
            }
        );
        let detail = match (r["location"].as_str(), r["items"].as_i64()) {
            (Some(at), Some(n)) => format!("{n} items to {at}"),
            (Some(at), None) => at.to_owned(),
            _ => r["arn"].as_str().unwrap_or_default().to_owned(),
        };
        let check = match r["status"].as_str() {
            Some("completed") => Check::ok(what, Some(detail)),
            Some("failed") => {
                Check::failed(what, r["detail"].as_str().unwrap_or("failed").to_owned())
            }
            _ => Check {
                what,
                status: Status::Unknown,
                detail: Some(format!(
                    "still in progress after {} s: {detail}",
                    wait.as_secs()
                )),
            },
        };
        out.check(&check);
    }
    out.json_value(&json!({"ok": ok, "how": match how { CallsBackup::Export => "export", CallsBackup::OnDemand => "on-demand" },
                           "tables": results}));
    Ok(ok)
}
