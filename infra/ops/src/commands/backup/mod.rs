//! `backup …`: copies of what the stack cannot make again: the agents, the calls' recordings, and
//! the calls and statistics tables.

mod agents;
mod calls;
mod recordings;

use crate::context::Context;
use crate::error::CliResult;

#[derive(clap::Subcommand)]
pub enum BackupCommand {
    /// Every agent of the account as an agent file (as `agents export` writes it), to a folder or S3.
    Agents(agents::Args),
    /// Recordings of a day's calls from Retell into the events bucket (recordings/<company>/<day>/),
    /// as each call's data_storage_setting allows; what is there already is not fetched again.
    Recordings(recordings::Args),
    /// The calls and statistics tables through DynamoDB's own export to S3 (default) or an
    /// on-demand DynamoDB backup; waits until they are complete. Restoring: README, "Backing up calls".
    Calls(calls::Args),
}

impl BackupCommand {
    pub async fn run(self, ctx: &Context) -> CliResult {
        match self {
            Self::Agents(args) => agents::run(ctx, args).await,
            Self::Recordings(args) => recordings::run(ctx, args).await,
            Self::Calls(args) => calls::run(ctx, args).await,
        }
    }
}
