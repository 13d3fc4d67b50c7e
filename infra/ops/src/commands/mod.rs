//! The command line: the global flags, one module per subcommand (its clap arguments and its
//! `run`), and the dispatch to them.

pub mod agents;
pub mod backup;
pub mod companies;
pub mod customers;
pub mod dlq;
pub mod export_analytics;
pub mod health;
pub mod import_calls;
pub mod load_test;
pub mod logs;
pub mod metrics;
pub mod outbox;
pub mod pause;
pub mod privacy;
pub mod resume;
pub mod simulate_call;
pub mod sync;
pub mod test_connection;

use clap::{Parser, Subcommand};

use crate::context::Context;
use crate::error::CliResult;

#[derive(Parser)]
#[command(name = "retell-ops", version, about = "Operate the Retell backend: connection, health, agents as code, sync, companies, missed calls.",
    long_about = None, propagate_version = true, arg_required_else_help = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Clone)]
pub struct Global {
    /// Operate the deployed CloudFormation stack NAME (AWS credentials and region as the AWS CLI finds them).
    #[arg(long, global = true, value_name = "NAME", conflicts_with = "local")]
    pub stack: Option<String>,
    /// Operate the local stack `make dev` runs (LOCAL_STATE_DIR / LOCAL_API_PORT pick which).
    #[arg(long, global = true)]
    pub local: bool,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Debug logs of retell-ops itself on stderr (each AWS and Retell request); RETELL_OPS_DEBUG=1 does the same.
    #[arg(long, global = true)]
    pub debug: bool,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check the Retell key, the webhook (with a signed probe) and that every agent, LLM tool and number points at this stack.
    TestConnection,
    /// Queue and dead-letter depths, oldest message, last event stored, alarms, Retell concurrency; non-zero exit when unhealthy.
    Health,
    /// Agents as code: an agent and its LLM as one file (docs/agents-as-code.md).
    #[command(subcommand)]
    Agents(agents::AgentsCommand),
    /// Point every agent's webhook, every number's inbound webhook and the LLMs' tools at this stack.
    Sync(sync::Args),
    /// Company settings (docs/custom-functions.md).
    #[command(subcommand)]
    Companies(companies::CompaniesCommand),
    /// A company's customers.
    #[command(subcommand)]
    Customers(customers::CustomersCommand),
    /// Import calls whose webhooks never arrived (or arrived in part) through the webhook's queue path.
    ImportCalls(import_calls::Args),
    /// Calls (or daily statistics) of a window as CSV or JSON, streamed to stdout or a file.
    ExportAnalytics(export_analytics::Args),
    /// Play one whole call against the stack (signed webhooks, tool calls), then read back what it stored.
    SimulateCall(simulate_call::Args),
    /// Many whole calls over a time span; latency per endpoint, errors, and an exactly-once check.
    LoadTest(load_test::Args),
    /// The seed's four key metrics against their targets, and calls, bookings and tool outcomes; non-zero exit past an alert threshold.
    Metrics(metrics::Args),
    /// Events the consumers gave up on: list, show, move back to their queue, purge.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Every SMS and e-mail the local stack sent (`--local`): channel, recipient, text or subject, attachments, time.
    Outbox(outbox::Args),
    /// A caller's data: export it, erase it (DSGVO Art. 15/17), and the audit trail.
    #[command(subcommand)]
    Privacy(privacy::PrivacyCommand),
    /// Copies of what the stack cannot make again.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Stop processing without losing anything: the webhook keeps queueing; `resume` drains.
    Pause(pause::Args),
    /// Run again what `pause` stopped, draining what queued meanwhile.
    Resume(resume::Args),
    /// The functions' log lines, newest first or followed live (numbers masked).
    Logs(logs::Args),
}

impl Command {
    pub async fn run(self, ctx: &Context) -> CliResult {
        match self {
            Self::TestConnection => test_connection::run(ctx).await,
            Self::Health => health::run(ctx).await,
            Self::Agents(command) => command.run(ctx).await,
            Self::Sync(args) => sync::run(ctx, args).await,
            Self::Companies(command) => command.run(ctx).await,
            Self::Customers(command) => command.run(ctx).await,
            Self::ImportCalls(args) => import_calls::run(ctx, args).await,
            Self::ExportAnalytics(args) => export_analytics::run(ctx, args).await,
            Self::SimulateCall(args) => simulate_call::run(ctx, args).await,
            Self::LoadTest(args) => load_test::run(ctx, args).await,
            Self::Metrics(args) => metrics::run(ctx, args).await,
            Self::Dlq(command) => command.run(ctx).await,
            Self::Backup(command) => command.run(ctx).await,
            Self::Outbox(args) => outbox::run(ctx, args).await,
            Self::Privacy(command) => command.run(ctx).await,
            Self::Pause(args) => pause::run(ctx, args).await,
            Self::Resume(args) => resume::run(ctx, args).await,
            Self::Logs(args) => logs::run(ctx, args).await,
        }
    }
}
