//! `agents export`: an agent and its LLM written to a file for git (or stdout).

use std::path::{Path, PathBuf};

use serde_json::json;

use super::Format;
use crate::agents;
use crate::context::Context;
use crate::error::{CliResult, Outcome};
use crate::output::Check;

#[derive(clap::Args)]
pub struct Args {
    agent_id: String,
    /// Where (default agents/<agent_id>.yaml; `-` for stdout).
    #[arg(long, short)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    format: Format,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let Args {
        agent_id,
        out: path,
        format,
    } = args;
    let json_format = format.is_json();
    let (_, file) = agents::fetch(ctx.retell()?, &agent_id).await?;
    let text = if json_format {
        file.to_json()
    } else {
        file.to_yaml()
    };
    let path = path.unwrap_or_else(|| agents::default_export_path(&agent_id, json_format));
    if path == Path::new("-") {
        print!("{text}");
        return Ok(Outcome::Success);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    ctx.out.check(&Check::ok(
        format!("exported {agent_id}"),
        Some(path.display().to_string()),
    ));
    ctx.out
        .json_value(&json!({"ok": true, "agent_id": agent_id, "file": path}));
    Ok(Outcome::Success)
}
