//! `backup restore --from s3://BUCKET/backups/tables/STAMP | --latest [--table T] [--dry-run]
//! [--merge]`: every item of the backup is put back into the stack's empty tables (a fresh
//! stack; `--merge`: the missing items of calls, statistics or audit into a live one); items
//! present are left as they are, items past their retention are not brought back. Agents are
//! compared, not recreated.

use std::collections::HashSet;

use chrono::Utc;
use serde_json::json;
use shared::backups::restore::{restore, RestoreMode};
use shared::backups::{parse_place, TableRole};

use super::tables::{backups, stack_tables};
use crate::context::Context;
use crate::error::{err, CliError, CliResult};
use crate::output::shown;

#[derive(clap::Args)]
pub struct Args {
    /// The backup: s3://BUCKET/backups/tables/STAMP (as `backup tables` and `backup list` say).
    #[arg(long, conflicts_with = "latest", required_unless_present = "latest")]
    from: Option<String>,
    /// The newest backup in this stack's bucket.
    #[arg(long)]
    latest: bool,
    /// Only these tables (repeatable): calls, statistics, appointments, companies, audit.
    #[arg(long)]
    table: Vec<String>,
    /// Say what would be brought back; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Add the missing items to tables that hold items (calls, statistics, audit only; without
    /// it a restore writes only into empty tables: a fresh stack).
    #[arg(long)]
    merge: bool,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let (bucket, stamp) = match &args.from {
        Some(place) => parse_place(place).map_err(|e| CliError::Usage(e.to_string()))?,
        None => {
            let newest = backups(ctx, &ctx.stack.bucket)
                .list()
                .await
                .map_err(err)?
                .pop()
                .ok_or_else(|| CliError::Failed("no backup in this stack's bucket".into()))?;
            (newest.bucket, newest.stamp)
        }
    };
    let mut wanted = HashSet::new();
    for t in &args.table {
        wanted.insert(TableRole::parse(t).ok_or_else(|| {
            CliError::Usage(format!(
                "--table {}: one of calls, statistics, appointments, companies, audit",
                shown(t)
            ))
        })?);
    }
    let source = backups(ctx, &bucket);
    let manifest = source.manifest(&stamp).await.map_err(err)?;
    let targets: Vec<(TableRole, String)> = stack_tables(ctx)
        .into_iter()
        .filter(|(role, _)| wanted.is_empty() || wanted.contains(role))
        .filter(|(role, _)| manifest.tables.contains_key(role))
        .collect();
    if targets.is_empty() {
        return Err(CliError::Usage(format!(
            "backup {stamp} holds none of the tables asked for"
        )));
    }
    let reports = restore(
        &source,
        &manifest,
        &targets,
        &ctx.aws.dynamodb,
        args.dry_run,
        if args.merge {
            RestoreMode::Merge
        } else {
            RestoreMode::Fresh
        },
        Utc::now(),
    )
    .await
    .map_err(err)?;
    let out = &ctx.out;
    out.line(&format!(
        "{} {} (taken {})",
        if args.dry_run {
            "would restore from"
        } else {
            "restored from"
        },
        manifest.place(),
        manifest.created_at.format("%Y-%m-%d %H:%M UTC")
    ));
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.role.map(|x| x.as_str()).unwrap_or("").to_owned(),
                r.in_backup.to_string(),
                r.already_there.to_string(),
                r.brought_back.to_string(),
                r.expired.to_string(),
                r.unreadable.to_string(),
            ]
        })
        .collect();
    let back = if args.dry_run {
        "would come back"
    } else {
        "brought back"
    };
    out.table(
        &[
            "table",
            "in backup",
            "already there",
            back,
            "expired",
            "unreadable",
        ],
        &rows,
    );
    for r in &reports {
        if let Some(note) = &r.note {
            eprintln!("{}: {note}", r.table);
        }
        for reason in &r.refusals {
            eprintln!("{}: an unreadable item: {reason}", r.table);
        }
    }
    // Agents are Retell's: a missing one is named (recreate it from its file with `agents apply`).
    let mut missing_agents = Vec::new();
    if let Ok(retell) = ctx.retell() {
        if let Ok(present) = retell.list_agents().await {
            let present: HashSet<_> = present.into_iter().map(|a| a.agent_id).collect();
            for key in &manifest.agents {
                let id = key
                    .trim_start_matches("agents/")
                    .trim_end_matches(".json")
                    .to_owned();
                if !present.contains(&id) {
                    missing_agents.push(id);
                }
            }
        }
    }
    if !missing_agents.is_empty() {
        out.line(&format!(
            "agents in the backup that Retell no longer has: {} (their files: {}/agents/)",
            missing_agents.join(", "),
            manifest.place()
        ));
    }
    let ok = reports.iter().all(|r| r.unreadable == 0);
    out.json_value(&json!({
        "ok": ok,
        "dry_run": args.dry_run,
        "backup": manifest.place(),
        "tables": reports,
        "missing_agents": missing_agents,
    }));
    Ok(ok.into())
}
