//! `agents get`: an agent and its LLM as an agent file on stdout (Retell's objects with --json).

use crate::agents;
use crate::context::Context;
use crate::error::{CliResult, Outcome};

#[derive(clap::Args)]
pub struct Args {
    agent_id: String,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let (raw, file) = agents::fetch(ctx.retell()?, &args.agent_id).await?;
    if ctx.out.json {
        ctx.out.json_value(&raw);
    } else {
        print!("{}", file.to_yaml());
    }
    Ok(Outcome::Success)
}
