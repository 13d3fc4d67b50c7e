//! `agents diff`: what `agents import` would change, field by field (an import's dry run).

use std::path::PathBuf;

use crate::context::Context;
use crate::error::CliResult;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    super::import::import(ctx, &args.files, false, true).await
}
