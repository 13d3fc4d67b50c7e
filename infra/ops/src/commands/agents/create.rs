//! `agents create`: a new agent (and LLM) from a file.

use std::path::PathBuf;

use serde_json::json;

use super::apply::load_one;
use crate::agents;
use crate::context::Context;
use crate::error::{err, CliResult, Outcome};
use crate::output::Check;

#[derive(clap::Args)]
pub struct Args {
    file: PathBuf,
    #[arg(long)]
    publish: bool,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let loaded = load_one(ctx, &args.file).await?;
    let retell = ctx.retell()?;
    let plan = agents::plan(retell, &ctx.stack, &loaded, None)
        .await
        .map_err(err)?;
    let applied = agents::apply(retell, plan, args.publish)
        .await
        .map_err(err)?;
    ctx.out.check(&Check::ok(
        format!("created agent {}", applied.agent_id),
        Some(format!("LLM {}", applied.llm_id)),
    ));
    ctx.out
        .json_value(&json!({"ok": true, "applied": [applied]}));
    Ok(Outcome::Success)
}
