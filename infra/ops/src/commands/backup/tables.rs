//! `backup tables`: the daily backup now, as the `backup` function runs it on its schedule:
//! every table and every Retell agent to `backups/tables/<stamp>/`, then waits for DynamoDB to
//! finish the exports.

use std::time::{Duration, Instant};

use serde_json::json;
use shared::backups::daily::DailyBackup;
use shared::backups::{Backups, TableRole};
use shared::booking::directory::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::calls::retention::RetentionPolicy;

use crate::context::Context;
use crate::error::{err, CliError, CliResult};

#[derive(clap::Args)]
pub struct Args {
    /// Seconds to wait for DynamoDB to finish the exports (0: do not wait).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    wait: u64,
    /// No run is kept longer than this many days (default: the stack's BackupRetentionDays).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=730))]
    keep_at_most: Option<u16>,
}

/// The stack's tables by what they hold.
pub fn stack_tables(ctx: &Context) -> Vec<(TableRole, String)> {
    let s = &ctx.stack;
    let mut tables = vec![
        (TableRole::Calls, s.calls_table.clone()),
        (TableRole::Statistics, s.stats_table.clone()),
    ];
    if let Some(t) = &s.appointments_table {
        tables.push((TableRole::Appointments, t.clone()));
    }
    tables.push((TableRole::Companies, s.companies_table.clone()));
    if let Some(t) = &s.audit_table {
        tables.push((TableRole::Audit, t.clone()));
    }
    tables
}

pub fn backups(ctx: &Context, bucket: &str) -> Backups {
    Backups {
        db: ctx.aws.dynamodb.clone(),
        s3: ctx.aws.s3.client(),
        bucket: bucket.to_owned(),
    }
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let companies = &ctx.stack.companies_table;
    let job = DailyBackup {
        backups: backups(ctx, &ctx.stack.bucket),
        tables: stack_tables(ctx),
        companies: CompanyDirectory::new(ctx.aws.dynamodb.clone(), companies, COMPANY_CACHE_TTL),
        retention: RetentionPolicy::from_table(
            ctx.aws.dynamodb.clone(),
            companies,
            ctx.stack.retention_days,
        ),
        default_days: ctx.stack.retention_days,
        cap_days: args.keep_at_most.unwrap_or(ctx.stack.backup_retention_days),
    };
    let ring = ctx.stack.key_ring(&ctx.aws).await.map_err(err)?;
    let accounts = ring
        .tenants()
        .iter()
        .map(|t| ctx.stack.retell(t.api_key()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let report = job.run(&accounts, chrono::Utc::now()).await.map_err(err)?;
    let out = &ctx.out;
    out.line(&format!("backup {}", report.place));
    let started = Instant::now();
    let mut states = job.backups.export_states(&report.manifest).await;
    while states.values().any(|s| s == "IN_PROGRESS")
        && started.elapsed() < Duration::from_secs(args.wait)
    {
        tokio::time::sleep(Duration::from_secs(5)).await;
        states = job.backups.export_states(&report.manifest).await;
    }
    let rows: Vec<Vec<String>> = report
        .manifest
        .tables
        .iter()
        .map(|(role, e)| {
            vec![
                role.as_str().to_owned(),
                e.table.clone(),
                states.get(role).cloned().unwrap_or_default(),
            ]
        })
        .collect();
    out.table(&["table", "name", "export"], &rows);
    out.line(&format!(
        "{} agent(s) kept{}; kept until {} ({} days); {} expired run(s) deleted",
        report.manifest.agents.len(),
        if report.manifest.agent_errors.is_empty() {
            String::new()
        } else {
            format!(", {} unreadable", report.manifest.agent_errors.len())
        },
        report.manifest.keep_until.format("%Y-%m-%d"),
        report.manifest.keep_days,
        report.expired.len()
    ));
    for e in &report.manifest.agent_errors {
        eprintln!("agent not backed up: {e}");
    }
    let failed: Vec<_> = states
        .iter()
        .filter(|(_, s)| *s != "COMPLETED" && *s != "IN_PROGRESS")
        .collect();
    let ok = failed.is_empty() && report.manifest.agent_errors.is_empty();
    out.json_value(&json!({
        "ok": ok,
        "place": report.place,
        "stamp": report.manifest.stamp,
        "exports": states,
        "agents": report.manifest.agents.len(),
        "agent_errors": report.manifest.agent_errors,
        "keep_until": report.manifest.keep_until,
        "expired": report.expired,
    }));
    if !failed.is_empty() {
        return Err(CliError::Failed(format!(
            "export failed: {}",
            failed
                .iter()
                .map(|(r, _)| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(ok.into())
}
