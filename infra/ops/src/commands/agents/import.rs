//! `agents import`: creates or updates agents to match files (idempotent), every file checked
//! before any is applied.

use std::path::PathBuf;

use super::apply::{apply_files, load_all};
use crate::context::Context;
use crate::error::CliResult;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Publish each agent's new version after applying.
    #[arg(long)]
    publish: bool,
    /// Show what would change, change nothing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    import(ctx, &args.files, args.publish, args.dry_run).await
}

/// The files applied to the agents they name (or find by name, or create).
pub async fn import(ctx: &Context, files: &[PathBuf], publish: bool, dry_run: bool) -> CliResult {
    let loaded = load_all(ctx, files).await?;
    apply_files(
        ctx,
        loaded.iter().map(|l| (l, None)).collect(),
        publish,
        dry_run,
    )
    .await
}
