//! What the `agents` subcommands that change agents from files share: every file read and checked
//! before any is applied, then applied in order, stopping at the first that fails.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::agents::{self, describe, LoadedFile, OpsError};
use crate::context::Context;
use crate::error::{err, CliResult};
use crate::output::Check;

/// Reads and checks every file before anything is applied.
pub async fn load_all(ctx: &Context, files: &[PathBuf]) -> Result<Vec<LoadedFile>, String> {
    let retell = ctx.retell()?;
    let voices = retell.list_voices().await.map_err(err)?;
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match LoadedFile::load(f) {
            Ok(l) => match l.check_with_retell(&voices) {
                Ok(()) => loaded.push(l),
                Err(e) => errors.push(e.to_string()),
            },
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(format!("{}\nnothing was applied", errors.join("\n")));
    }
    Ok(loaded)
}

/// One file, read and checked as [`load_all`] does.
pub async fn load_one(ctx: &Context, file: &Path) -> Result<LoadedFile, String> {
    load_all(ctx, &[file.to_path_buf()])
        .await?
        .pop()
        .ok_or_else(|| format!("{}: not read", file.display()))
}

/// Applies each file (to its agent, or the agent named with it) in order, reporting each; the
/// first that fails stops the rest, and what was and was not applied is said.
pub async fn apply_files(
    ctx: &Context,
    files: Vec<(&LoadedFile, Option<&str>)>,
    publish: bool,
    dry_run: bool,
) -> CliResult {
    let retell = ctx.retell()?;
    let out = &ctx.out;
    let mut applied = Vec::new();
    let mut plans = Vec::new();
    let mut failed: Option<(String, String)> = None;
    for (loaded, explicit) in &files {
        let result: Result<(), OpsError> = async {
            let agent = agents::find_agent(retell, loaded, *explicit).await?;
            let plan = agents::plan(retell, &ctx.stack, loaded, agent.as_ref()).await?;
            let target = plan
                .agent_id
                .clone()
                .unwrap_or_else(|| "(new agent)".into());
            if plan.is_noop() {
                out.check(&Check::ok(
                    format!("{}: {target} is up to date", loaded.path),
                    None,
                ));
            } else {
                out.line(&format!(
                    "{}: {target}: {} change(s){}",
                    loaded.path,
                    plan.changes.len(),
                    if dry_run { " (dry run)" } else { "" }
                ));
                for change in &plan.changes {
                    for l in describe(change) {
                        out.line(&format!("  {l}"));
                    }
                }
            }
            if dry_run {
                plans.push(plan);
                return Ok(());
            }
            if plan.is_noop() && !publish {
                applied
                    .push(json!({"file": loaded.path, "agent_id": plan.agent_id, "changed": []}));
                return Ok(());
            }
            let done = agents::apply(retell, plan, publish).await?;
            let verb = match (done.created, done.changed.is_empty(), done.published) {
                (true, _, _) => Some("created"),
                (false, false, _) => Some("updated"),
                (false, true, true) => Some("published"),
                (false, true, false) => None, // up to date, said above
            };
            if let Some(verb) = verb {
                out.check(&Check::ok(
                    format!("{}: {verb} agent {}", loaded.path, done.agent_id),
                    Some(format!(
                        "LLM {}{}",
                        done.llm_id,
                        if done.published { ", published" } else { "" }
                    )),
                ));
            }
            applied.push(serde_json::to_value(&done).unwrap_or_default());
            Ok(())
        }
        .await;
        if let Err(e) = result {
            failed = Some((loaded.path.clone(), e.to_string()));
            break;
        }
    }
    if let Some((file, reason)) = &failed {
        out.check(&Check::failed(
            format!("{file} was not applied"),
            reason.clone(),
        ));
        let done: Vec<String> = applied
            .iter()
            .filter_map(|a| a["file"].as_str().map(str::to_owned))
            .collect();
        let rest: Vec<String> = files
            .iter()
            .map(|(l, _)| l.path.clone())
            .filter(|p| !done.contains(p) && p != file)
            .collect();
        out.line(&format!(
            "applied: {}",
            if done.is_empty() {
                "none".into()
            } else {
                done.join(", ")
            }
        ));
        out.line(&format!(
            "not applied: {}",
            std::iter::once(file.clone())
                .chain(rest)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let ok = failed.is_none();
    out.json_value(&json!({
        "ok": ok,
        "dry_run": dry_run,
        "applied": applied,
        "plans": plans,
        "failed": failed.map(|(f, r)| json!({"file": f, "reason": r})),
    }));
    Ok(ok.into())
}
