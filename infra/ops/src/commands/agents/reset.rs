//! `agents reset`: returns an agent to a file, or to the built-in default German appointment
//! receptionist (keeping the agent's name); asks first.

use std::path::PathBuf;

use super::apply::{apply_files, load_one};
use crate::agents::LoadedFile;
use crate::context::Context;
use crate::error::{err, CliResult, Outcome};

#[derive(clap::Args)]
pub struct Args {
    agent_id: String,
    /// The file to return to (default: the built-in template, keeping the agent's name).
    #[arg(long)]
    file: Option<PathBuf>,
    #[arg(long)]
    publish: bool,
    /// Do not ask.
    #[arg(long)]
    yes: bool,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let Args {
        agent_id,
        file,
        publish,
        yes,
    } = args;
    let retell = ctx.retell()?;
    let mut loaded = match &file {
        Some(f) => load_one(ctx, f).await?,
        None => {
            let mut t = LoadedFile::template();
            // The template keeps the agent's own name.
            let current = retell.get_agent(&agent_id, None).await.map_err(err)?;
            if let Some(name) = current.agent_name {
                t.file.agent.agent_name = Some(name);
            }
            let voices = retell.list_voices().await.map_err(err)?;
            t.check_with_retell(&voices).map_err(err)?;
            t
        }
    };
    loaded.file.agent_id = Some(agent_id.clone());
    let question = format!("Reset agent {agent_id} to {}?", loaded.path);
    if !ctx.out.confirm(yes, &question, &agent_id)? {
        return Ok(Outcome::Failure);
    }
    apply_files(
        ctx,
        vec![(&loaded, Some(agent_id.as_str()))],
        publish,
        false,
    )
    .await
}
