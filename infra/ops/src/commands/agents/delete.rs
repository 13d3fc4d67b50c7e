//! `agents delete`: deletes an agent, after the operator confirms.

use serde_json::json;

use crate::context::Context;
use crate::error::{err, CliResult, Outcome};
use crate::output::Check;

#[derive(clap::Args)]
pub struct Args {
    agent_id: String,
    /// Do not ask.
    #[arg(long)]
    yes: bool,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let Args { agent_id, yes } = args;
    let retell = ctx.retell()?;
    let agent = retell.get_agent(&agent_id, None).await.map_err(err)?;
    let name = agent.agent_name.unwrap_or_default();
    let question = format!("Delete agent {agent_id} ({name})? Calls to its numbers will fail.");
    if !ctx.out.confirm(yes, &question, &agent_id)? {
        return Ok(Outcome::Failure);
    }
    retell.delete_agent(&agent_id).await.map_err(err)?;
    ctx.out.check(&Check::ok(
        format!("deleted agent {agent_id} ({name})"),
        None,
    ));
    ctx.out
        .json_value(&json!({"ok": true, "deleted": agent_id}));
    Ok(Outcome::Success)
}
