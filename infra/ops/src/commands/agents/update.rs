//! `agents update`: makes one agent match a file.

use std::path::PathBuf;

use super::apply::{apply_files, load_one};
use crate::context::Context;
use crate::error::CliResult;

#[derive(clap::Args)]
pub struct Args {
    agent_id: String,
    file: PathBuf,
    #[arg(long)]
    publish: bool,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let Args {
        agent_id,
        file,
        publish,
    } = args;
    let loaded = load_one(ctx, &file).await?;
    if let Some(other) = loaded.file.agent_id.as_deref().filter(|id| *id != agent_id) {
        return Err(format!(
            "{} is the file of agent {other}, not {agent_id}",
            file.display()
        )
        .into());
    }
    apply_files(
        ctx,
        vec![(&loaded, Some(agent_id.as_str()))],
        publish,
        false,
    )
    .await
}
