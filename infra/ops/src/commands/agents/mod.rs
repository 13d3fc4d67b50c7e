//! `agents …`: agents as code (docs/agents-as-code.md), one module per subcommand; `apply` holds
//! what the ones that change agents from files share.

mod apply;
mod create;
mod delete;
mod diff;
mod export;
mod get;
mod import;
mod list;
mod publish;
mod reset;
mod update;

use clap::{Subcommand, ValueEnum};

use crate::context::Context;
use crate::error::CliResult;

#[derive(Subcommand)]
pub enum AgentsCommand {
    /// The account's agents.
    List,
    /// An agent and its LLM, as an agent file (or Retell's objects with --json).
    Get(get::Args),
    /// Create a new agent (and LLM) from a file.
    Create(create::Args),
    /// Make an agent match a file.
    Update(update::Args),
    /// Delete an agent.
    Delete(delete::Args),
    /// Write an agent and its LLM to a file for git.
    Export(export::Args),
    /// Create or update agents to match files (idempotent). All files are checked before any is applied.
    Import(import::Args),
    /// What `import` would change, field by field.
    Diff(diff::Args),
    /// Publish an agent's draft as a new version.
    Publish(publish::Args),
    /// Return an agent to a file, or to the default German appointment receptionist.
    Reset(reset::Args),
}

impl AgentsCommand {
    pub async fn run(self, ctx: &Context) -> CliResult {
        match self {
            Self::List => list::run(ctx).await,
            Self::Get(args) => get::run(ctx, args).await,
            Self::Create(args) => create::run(ctx, args).await,
            Self::Update(args) => update::run(ctx, args).await,
            Self::Delete(args) => delete::run(ctx, args).await,
            Self::Export(args) => export::run(ctx, args).await,
            Self::Import(args) => import::run(ctx, args).await,
            Self::Diff(args) => diff::run(ctx, args).await,
            Self::Publish(args) => publish::run(ctx, args).await,
            Self::Reset(args) => reset::run(ctx, args).await,
        }
    }
}

/// How an agent file is written (`agents export`, `backup agents`).
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    pub fn is_json(self) -> bool {
        matches!(self, Self::Json)
    }
}
