//! `backup calls`: the calls and statistics tables through DynamoDB's own export to S3 (default)
//! or its on-demand backups, waited for until complete.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{BackupStatus, ExportFormat, ExportStatus};
use chrono::Utc;
use serde_json::json;

use crate::args::s3_place;
use crate::context::Context;
use crate::error::{CliError, CliResult};
use crate::output::{shown, Check, Status};

#[derive(clap::Args)]
pub struct Args {
    /// Take on-demand DynamoDB backups instead of exports to S3.
    #[arg(long)]
    on_demand: bool,
    /// Where exports go: s3://bucket/prefix (default: the events bucket, backups/calls/).
    #[arg(long)]
    to: Option<String>,
    /// Seconds to wait for DynamoDB to finish (at most a day).
    #[arg(long, default_value_t = 1800, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    wait: u64,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let how = if args.on_demand {
        CallsBackup::OnDemand
    } else {
        CallsBackup::Export
    };
    backup_calls(ctx, how, args.to.as_deref(), Duration::from_secs(args.wait)).await
}

/// How `backup calls` keeps the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallsBackup {
    /// ExportTableToPointInTime into S3 (DynamoDB JSON, gzip); needs point-in-time recovery.
    Export,
    /// CreateBackup: DynamoDB's own backup, restored with RestoreTableFromBackup.
    OnDemand,
}

/// The calls and statistics tables, exported to S3 (or backed up on demand), waited for.
async fn backup_calls(
    ctx: &Context,
    how: CallsBackup,
    to: Option<&str>,
    wait: Duration,
) -> CliResult {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let tables = [
        ("calls", ctx.stack.calls_table.clone()),
        ("statistics", ctx.stack.stats_table.clone()),
    ];
    let (bucket, prefix) = match to {
        None => (ctx.stack.bucket.clone(), "backups/calls".to_owned()),
        Some(t) => s3_place(t).unwrap_or_else(|| {
            Err(CliError::Usage(format!(
                "--to {}: an s3://bucket/prefix",
                shown(t)
            )))
        })?,
    };
    if how == CallsBackup::OnDemand && to.is_some() {
        return Err(CliError::Usage(
            "--to is for exports; an on-demand backup stays in DynamoDB".into(),
        ));
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
    Ok(ok.into())
}
