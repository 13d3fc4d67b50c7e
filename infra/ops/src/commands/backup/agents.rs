//! `backup agents`: every agent of the account as an agent file, into a folder of this run or
//! below an S3 prefix, with a manifest written last.

use std::path::PathBuf;

use chrono::Utc;
use serde_json::json;

use crate::args::s3_place;
use crate::commands::agents::Format;
use crate::context::Context;
use crate::error::{err, CliError, CliResult};
use crate::output::{shown, Check};

#[derive(clap::Args)]
pub struct Args {
    /// A folder (default backups/agents-<UTC time>) or s3://bucket/prefix (a folder per run below it).
    #[arg(long)]
    to: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    format: Format,
}

/// The `manifest.json` written last lists the files, the failures and `complete`. A folder is
/// written under a `.partial` name and renamed when all is written. An agent that cannot be a
/// file (not on a Retell LLM, or an id that is not a plain id) is reported and makes the run
/// fail; the others are still written.
pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let to = args.to.as_deref();
    let json_format = args.format.is_json();
    let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let run = format!("agents-{stamp}");
    let retell = ctx.retell()?;
    let agents = retell.list_agents().await.map_err(err)?;
    let ext = if json_format { "json" } else { "yaml" };
    let mut files = Vec::new();
    let mut failed = Vec::new();
    let bar = ctx.out.progress(Some(agents.len() as u64), "agents");
    for agent in &agents {
        let id = &agent.agent_id;
        let file = if !is_file_name_safe(id) {
            Err("not a plain agent id: not used as a file name".to_owned())
        } else {
            crate::agents::fetch(retell, id).await.map(|(_, file)| file)
        };
        match file {
            Ok(file) => {
                let text = if json_format {
                    file.to_json()
                } else {
                    file.to_yaml()
                };
                files.push((format!("{id}.{ext}"), text));
            }
            Err(e) => {
                ctx.out
                    .check(&Check::failed(format!("agent {id}"), e.clone()));
                failed.push(json!({"agent_id": id, "error": e}));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let ok = failed.is_empty();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let manifest = serde_json::to_string_pretty(&json!({
        "complete": ok, "taken_at": stamp, "files": names, "failed": failed,
    }))
    .unwrap_or_default()
        + "\n";

    let place = match to.and_then(s3_place).transpose()? {
        Some((bucket, prefix)) => {
            let prefix = prefix.as_str();
            let base = if prefix.is_empty() {
                run.clone()
            } else {
                format!("{prefix}/{run}")
            };
            let manifest_file = ("manifest.json".to_owned(), manifest);
            for (name, text) in files.iter().chain(std::iter::once(&manifest_file)) {
                ctx.aws
                    .s3
                    .put_object()
                    .bucket(&bucket)
                    .key(format!("{base}/{name}"))
                    .content_type(if name.ends_with(".yaml") {
                        "application/yaml"
                    } else {
                        "application/json"
                    })
                    .body(text.clone().into_bytes().into())
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "s3://{bucket}/{base}/{name}: {}",
                            aws_sdk_dynamodb::error::DisplayErrorContext(e)
                        )
                    })?;
            }
            format!("s3://{bucket}/{base}")
        }
        None => {
            if let Some(t) = to.filter(|t| t.contains("://")) {
                return Err(CliError::Usage(format!(
                    "--to {}: a folder or s3://bucket/prefix",
                    shown(t)
                )));
            }
            let parent = PathBuf::from(to.unwrap_or("backups"));
            std::fs::create_dir_all(&parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            let dir = parent.join(&run);
            let partial = parent.join(format!(".{run}.partial"));
            // `create_dir`, not `_all`: a run of the same millisecond is a clash, not a merge.
            std::fs::create_dir(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
            let written = files
                .iter()
                .chain(std::iter::once(&("manifest.json".to_owned(), manifest)))
                .try_for_each(|(name, text)| {
                    let path = partial.join(name);
                    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
                })
                .and_then(|()| {
                    std::fs::rename(&partial, &dir).map_err(|e| format!("{}: {e}", dir.display()))
                });
            if let Err(e) = written {
                let _ = std::fs::remove_dir_all(&partial);
                return Err(e.into());
            }
            dir.display().to_string()
        }
    };
    ctx.out.check(&Check::from_bool(
        format!("{} of {} agents backed up", files.len(), agents.len()),
        ok,
        place.clone(),
    ));
    ctx.out.json_value(&json!({
        "ok": ok, "to": place, "files": names, "failed": failed,
    }));
    Ok(ok.into())
}

/// An id that is safe as a file name and an S3 key segment: Retell's `agent_…` ids are.
fn is_file_name_safe(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}
