//! `backup …`: copies of what the stack cannot make again: the agents, the calls' recordings, the
//! calls and statistics tables, and the daily backup of every table (`tables`, `list`, `restore`).

mod agents;
mod calls;
mod list;
mod recordings;
mod restore;
mod tables;

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
    /// The daily backup now (as the `backup` function runs it): every table and every agent to
    /// backups/tables/<stamp>/, kept as long as the shortest company retention allows.
    Tables(tables::Args),
    /// The daily backups kept, their state and when each expires.
    List,
    /// Put back every item of a backup that the stack's tables lack (--dry-run: say what).
    Restore(restore::Args),
}

impl BackupCommand {
    pub async fn run(self, ctx: &Context) -> CliResult {
        match self {
            Self::Agents(args) => agents::run(ctx, args).await,
            Self::Recordings(args) => recordings::run(ctx, args).await,
            Self::Calls(args) => calls::run(ctx, args).await,
            Self::Tables(args) => tables::run(ctx, args).await,
            Self::List => list::run(ctx).await,
            Self::Restore(args) => restore::run(ctx, args).await,
        }
    }
}
