//! `retell-ops`: the operator's CLI for this backend and its Retell account.
//!
//! It operates a deployed stack (`--stack NAME`) or the running `make dev` (`--local`) and says
//! which; the Retell key is `RETELL_API_KEY` or the stack's secret. `--json` prints one JSON
//! document for scripts; the exit code is non-zero whenever something failed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod agent_file;
mod agents;
mod backup;
mod commands;
mod dlq;
mod metrics;
mod output;
mod player;
mod simulate;
mod target;
mod when;

use output::Out;
use shared::calls::export::ExportFormat;
use target::Stack;

#[derive(Parser)]
#[command(name = "retell-ops", version, about = "Operate the Retell backend: connection, health, agents as code, sync, companies, missed calls.",
    long_about = None, propagate_version = true, arg_required_else_help = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Global {
    /// Operate the deployed CloudFormation stack NAME (AWS credentials and region as the AWS CLI finds them).
    #[arg(long, global = true, value_name = "NAME", conflicts_with = "local")]
    stack: Option<String>,
    /// Operate the local stack `make dev` runs (LOCAL_STATE_DIR / LOCAL_API_PORT pick which).
    #[arg(long, global = true)]
    local: bool,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Check the Retell key, the webhook (with a signed probe) and that every agent, LLM tool and number points at this stack.
    TestConnection,
    /// Queue and dead-letter depths, oldest message, last event stored, alarms, Retell concurrency; non-zero exit when unhealthy.
    Health,
    /// Agents as code: an agent and its LLM as one file (docs/agents-as-code.md).
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Point every agent's webhook, every number's inbound webhook and the LLMs' tools at this stack.
    Sync {
        /// Print the plan, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Publish every agent changed (or whose pinned version does not point here) as a new
        /// version, and move numbers pinned to an older version onto it.
        #[arg(long)]
        publish: bool,
    },
    /// Company settings (docs/custom-functions.md).
    #[command(subcommand)]
    Companies(CompaniesCommand),
    /// A company's customers.
    #[command(subcommand)]
    Customers(CustomersCommand),
    /// Import calls whose webhooks never arrived (or arrived in part) through the webhook's queue path.
    ImportCalls(ImportArgs),
    /// Calls (or daily statistics) of a window as CSV or JSON, streamed to stdout or a file.
    ExportAnalytics(ExportArgs),
    /// Play one whole call against the stack (signed webhooks, tool calls), then read back what it stored.
    SimulateCall {
        #[arg(long = "type", value_enum, default_value_t = player::CallKind::Appointment)]
        kind: player::CallKind,
        /// The customer's number (E.164; a national number is read as German).
        #[arg(long, default_value = "+4915112345678")]
        customer: String,
        /// The company called (default: the first with an agent, a number and a service).
        #[arg(long)]
        company: Option<String>,
        /// How long to wait for the stack to store the call (seconds, at most a day).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
        wait: u64,
    },
    /// Many whole calls over a time span; latency per endpoint, errors, and an exactly-once check.
    LoadTest(LoadTestArgs),
    /// The seed's four key metrics against their targets, and calls, bookings and tool outcomes; non-zero exit past an alert threshold.
    Metrics {
        #[arg(long, value_enum, default_value_t = Period::Hour)]
        period: Period,
        /// One company's calls (default: every company's; the operational figures are the stack's).
        #[arg(long)]
        company: Option<String>,
    },
    /// Events the consumers gave up on: list, show, move back to their queue, purge.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Copies of what the stack cannot make again.
    #[command(subcommand)]
    Backup(BackupCommand),
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Every dead letter: its event, call, company, age, receive count and the consumer's last error.
    List {
        /// Only this event's queue: call_started, call_ended or call_analyzed.
        #[arg(long)]
        event: Option<String>,
    },
    /// One dead letter, with a summary of its envelope (never its transcript).
    Show { message_id: String },
    /// Send dead letters back to their queue (stored once, whatever happened before).
    Redrive {
        /// The messages (ids from `dlq list`).
        message_ids: Vec<String>,
        /// Every dead letter (of --event).
        #[arg(long, conflicts_with = "message_ids")]
        all: bool,
        #[arg(long)]
        event: Option<String>,
    },
    /// Delete every dead letter (of --event) for good; asks first.
    Purge {
        #[arg(long)]
        event: Option<String>,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Every agent of the account as an agent file (as `agents export` writes it), to a folder or S3.
    Agents {
        /// A folder (default backups/agents-<UTC time>) or s3://bucket/prefix (a folder per run below it).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Yaml)]
        format: Format,
    },
    /// Recordings of a day's calls from Retell into the events bucket (recordings/<company>/<day>/),
    /// as each call's data_storage_setting allows; what is there already is not fetched again.
    Recordings {
        /// The day, in the stack's DefaultTimeZone: "yesterday", "today", "2026-11-29".
        #[arg(long, default_value = "yesterday", conflicts_with_all = ["from", "to"])]
        date: String,
        /// Instead of --date: calls that started from this time ("7d", "2026-11-01", RFC 3339) …
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// … until this one (exclusive).
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// One company (default: every company).
        #[arg(long)]
        company: Option<String>,
    },
    /// The calls and statistics tables through DynamoDB's own export to S3 (default) or an
    /// on-demand DynamoDB backup; waits until they are complete. Restoring: README, "Backing up calls".
    Calls {
        /// Take on-demand DynamoDB backups instead of exports to S3.
        #[arg(long)]
        on_demand: bool,
        /// Where exports go: s3://bucket/prefix (default: the events bucket, backups/calls/).
        #[arg(long)]
        to: Option<String>,
        /// Seconds to wait for DynamoDB to finish (at most a day).
        #[arg(long, default_value_t = 1800, value_parser = clap::value_parser!(u64).range(0..=86_400))]
        wait: u64,
    },
}

#[derive(Subcommand)]
enum AgentsCommand {
    /// The account's agents.
    List,
    /// An agent and its LLM, as an agent file (or Retell's objects with --json).
    Get { agent_id: String },
    /// Create a new agent (and LLM) from a file.
    Create {
        file: PathBuf,
        #[arg(long)]
        publish: bool,
    },
    /// Make an agent match a file.
    Update {
        agent_id: String,
        file: PathBuf,
        #[arg(long)]
        publish: bool,
    },
    /// Delete an agent.
    Delete {
        agent_id: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Write an agent and its LLM to a file for git.
    Export {
        agent_id: String,
        /// Where (default agents/<agent_id>.yaml; `-` for stdout).
        #[arg(long, short)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Yaml)]
        format: Format,
    },
    /// Create or update agents to match files (idempotent). All files are checked before any is applied.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Publish each agent's new version after applying.
        #[arg(long)]
        publish: bool,
        /// Show what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// What `import` would change, field by field.
    Diff {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Publish an agent's draft as a new version.
    Publish { agent_id: String },
    /// Return an agent to a file, or to the default German appointment receptionist.
    Reset {
        agent_id: String,
        /// The file to return to (default: the built-in template, keeping the agent's name).
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long)]
        publish: bool,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args)]
struct ExportArgs {
    /// What to export: the calls (one row each) or the daily statistics (one row per company and day).
    #[arg(value_enum, default_value_t = ExportTable::Calls)]
    table: ExportTable,
    #[arg(long, value_enum, default_value_t = ExportFormatArg::Csv)]
    format: ExportFormatArg,
    /// Start of the window: "7d", "yesterday", "2026-11-01", RFC 3339, …; dates and times without
    /// an offset are read in the statistics' time zone, so a window of dates is those days.
    #[arg(long, default_value = "30d")]
    from: String,
    /// End of the window, exclusive (default: now).
    #[arg(long, default_value = "now")]
    to: String,
    /// One company (default: every company in the companies table and the default company).
    #[arg(long)]
    company: Option<String>,
    /// The zone the statistics' days are counted in, which plain dates are read in (default: the
    /// stack's DefaultTimeZone; the days themselves are as the stack counted them).
    #[arg(long)]
    time_zone: Option<String>,
    /// Write here instead of stdout (a summary then goes to stdout, as JSON with --json).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Period {
    #[value(name = "1h")]
    Hour,
    #[value(name = "24h")]
    Day,
    #[value(name = "7d")]
    Week,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportTable {
    Calls,
    Days,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormatArg {
    Csv,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

#[derive(Args)]
struct LoadTestArgs {
    /// Whole calls to play (every event, tool calls, duplicate deliveries).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    calls: u64,
    /// Seconds to spread their starts over.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    duration: u64,
    /// Calls in progress at most at once.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    concurrency: u64,
    /// The company called (default: the first with an agent, a number and a service). Its
    /// statistics must see no other calls during the test, or the exactly-once check fails.
    #[arg(long)]
    company: Option<String>,
    /// One call in N has every webhook delivered twice, as Retell redelivers (0: none).
    #[arg(long, default_value_t = 5)]
    duplicate_every: u64,
    /// After the last call, give up waiting for the stack to store everything once no call has
    /// settled for this many seconds.
    #[arg(long, default_value_t = 120)]
    drain: u64,
    /// Add a fault on purpose, to prove the verification catches it.
    #[arg(long, value_enum)]
    inject: Option<simulate::Inject>,
}

#[derive(Subcommand)]
enum CustomersCommand {
    /// Mark a caller as a VIP of a company (the VIP agent and `is_vip` on their next call).
    Vip {
        /// The customer's number (E.164; a national number is read as German).
        phone: String,
        #[arg(long)]
        company: String,
        /// Not a VIP any more.
        #[arg(long)]
        off: bool,
    },
}

#[derive(Subcommand)]
enum CompaniesCommand {
    /// Validate company files and write them to the companies table.
    Load {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The table (default: the stack's).
        #[arg(long)]
        table: Option<String>,
    },
}

#[derive(Args)]
struct ImportArgs {
    /// Start of the window: "24 hours ago", "7d", "yesterday", "2026-11-24", "2026-11-24T08:00:00Z".
    #[arg(long, default_value = "24 hours ago")]
    from: String,
    /// End of the window (default: now).
    #[arg(long, default_value = "now")]
    to: String,
    /// Calls fetched from Retell at once.
    #[arg(long, default_value_t = shared::calls::reconcile::DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Calls per page of Retell's list (a checkpoint is written after each page).
    #[arg(long, default_value_t = shared::calls::reconcile::LIST_PAGE_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    page_size: u32,
    /// Continue an interrupted (or partly failed) run from its checkpoint: its window, from
    /// the last page finished without a failure.
    #[arg(long)]
    resume: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out::new(cli.global.json);
    // Warnings (retries) to stderr; RETELL_OPS_DEBUG=1 for everything.
    let level = if std::env::var_os("RETELL_OPS_DEBUG").is_some() {
        tracing::Level::DEBUG
    } else {
        tracing::Level::WARN
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .without_time()
        .with_target(false)
        .try_init();
    // The local stack's emulator is this process's AWS: set before any thread starts.
    let local = if cli.global.local {
        let path = Stack::local_state_file();
        match Stack::local(&path) {
            Ok((stack, endpoint)) => {
                std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
                for (k, v) in [
                    ("AWS_REGION", "eu-central-1"),
                    ("AWS_ACCESS_KEY_ID", "test"),
                    ("AWS_SECRET_ACCESS_KEY", "test"),
                ] {
                    if std::env::var_os(k).is_none() {
                        std::env::set_var(k, v);
                    }
                }
                Some(stack)
            }
            Err(e) => {
                if out.json {
                    out.json_value(&serde_json::json!({"ok": false, "error": e.to_string()}));
                }
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, out, local)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            if out.json {
                out.json_value(&serde_json::json!({"ok": false, "error": e}));
            }
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ok(false): ran, but something failed (already reported).
async fn run(cli: Cli, out: Out, local: Option<Stack>) -> Result<bool, String> {
    let stack = match (local, &cli.global.stack) {
        (Some(s), _) => s,
        (None, Some(name)) => Stack::deployed(name).await.map_err(|e| e.to_string())?,
        (None, None) => {
            return Err("say which system: --stack NAME (deployed) or --local (make dev)".into())
        }
    };
    if !out.json {
        eprintln!("{}", out.dim(&format!("→ {}", stack.label)));
    }
    let ctx = commands::Context::new(stack, out).await?;
    match cli.command {
        Command::TestConnection => commands::test_connection(&ctx).await,
        Command::Health => commands::health(&ctx).await,
        Command::Sync { dry_run, publish } => commands::sync(&ctx, dry_run, publish).await,
        Command::Companies(CompaniesCommand::Load { files, table }) => {
            commands::companies_load(&ctx, &files, table).await
        }
        Command::ImportCalls(args) => {
            let now = chrono::Utc::now();
            let from = when::parse(&args.from, now).map_err(|e| format!("--from: {e}"))?;
            let to = when::parse(&args.to, now).map_err(|e| format!("--to: {e}"))?;
            if from >= to {
                return Err(format!("--from ({from}) must be before --to ({to})"));
            }
            commands::import_calls(
                &ctx,
                from,
                to,
                args.concurrency.max(1),
                args.page_size,
                args.resume,
            )
            .await
        }
        Command::Customers(CustomersCommand::Vip {
            phone,
            company,
            off,
        }) => commands::customers_vip(&ctx, &company, &phone, !off).await,
        Command::Dlq(command) => match command {
            DlqCommand::List { event } => dlq::list(&ctx, event.as_deref()).await,
            DlqCommand::Show { message_id } => dlq::show(&ctx, &message_id).await,
            DlqCommand::Redrive {
                message_ids,
                all,
                event,
            } => dlq::redrive(&ctx, &message_ids, all, event.as_deref()).await,
            DlqCommand::Purge { event, yes } => dlq::purge(&ctx, event.as_deref(), yes).await,
        },
        Command::SimulateCall {
            kind,
            customer,
            company,
            wait,
        } => {
            simulate::simulate_call(
                &ctx,
                kind,
                &customer,
                company.as_deref(),
                std::time::Duration::from_secs(wait),
            )
            .await
        }
        Command::Metrics { period, company } => {
            let (seconds, label) = match period {
                Period::Hour => (3_600, "hour"),
                Period::Day => (86_400, "24 hours"),
                Period::Week => (7 * 86_400, "7 days"),
            };
            metrics::metrics(
                &ctx,
                std::time::Duration::from_secs(seconds),
                label,
                company.as_deref(),
            )
            .await
        }
        Command::LoadTest(args) => {
            let test = simulate::LoadTest {
                calls: args.calls as usize,
                duration: std::time::Duration::from_secs(args.duration),
                concurrency: args.concurrency as usize,
                company: args.company,
                duplicate_every: args.duplicate_every as usize,
                inject: args.inject,
                drain: std::time::Duration::from_secs(args.drain),
            };
            simulate::load_test(&ctx, &test).await
        }
        Command::Backup(BackupCommand::Recordings {
            date,
            from,
            to,
            company,
        }) => {
            let zone = &ctx.stack.default_time_zone;
            let tz: chrono_tz::Tz = zone
                .parse()
                .map_err(|_| format!("the stack's time zone {zone} is unknown"))?;
            let now = chrono::Utc::now();
            let (from, to) = match (from, to) {
                (Some(f), Some(t)) => (
                    when::parse_in(&f, now, tz).map_err(|e| format!("--from: {e}"))?,
                    when::parse_in(&t, now, tz).map_err(|e| format!("--to: {e}"))?,
                ),
                _ => when::day_in(&date, now, tz).map_err(|e| format!("--date: {e}"))?,
            };
            if from >= to {
                return Err(format!("--from ({from}) must be before --to ({to})"));
            }
            backup::backup_recordings(&ctx, from, to, company.as_deref()).await
        }
        Command::Backup(BackupCommand::Calls {
            on_demand,
            to,
            wait,
        }) => {
            let how = if on_demand {
                backup::CallsBackup::OnDemand
            } else {
                backup::CallsBackup::Export
            };
            backup::backup_calls(
                &ctx,
                how,
                to.as_deref(),
                std::time::Duration::from_secs(wait),
            )
            .await
        }
        Command::Backup(BackupCommand::Agents { to, format }) => {
            commands::backup_agents(&ctx, to.as_deref(), matches!(format, Format::Json)).await
        }
        Command::ExportAnalytics(args) => {
            let zone = args
                .time_zone
                .unwrap_or_else(|| ctx.stack.default_time_zone.clone());
            let time_zone: chrono_tz::Tz = zone
                .parse()
                .map_err(|_| format!("--time-zone: unknown time zone {zone}"))?;
            let now = chrono::Utc::now();
            let from =
                when::parse_in(&args.from, now, time_zone).map_err(|e| format!("--from: {e}"))?;
            let to = when::parse_in(&args.to, now, time_zone).map_err(|e| format!("--to: {e}"))?;
            if from >= to {
                return Err(format!("--from ({from}) must be before --to ({to})"));
            }
            let format = match args.format {
                ExportFormatArg::Csv => ExportFormat::Csv,
                ExportFormatArg::Json => ExportFormat::Json,
            };
            let export = commands::Export {
                days: matches!(args.table, ExportTable::Days),
                format,
                from,
                to,
                company: args.company,
                time_zone,
            };
            commands::export_analytics(&ctx, &export, args.out.as_deref()).await
        }
        Command::Agents(command) => match command {
            AgentsCommand::List => commands::agents_list(&ctx).await,
            AgentsCommand::Get { agent_id } => commands::agents_get(&ctx, &agent_id).await,
            AgentsCommand::Create { file, publish } => {
                commands::agents_create(&ctx, &file, publish).await
            }
            AgentsCommand::Update {
                agent_id,
                file,
                publish,
            } => commands::agents_update(&ctx, &agent_id, &file, publish).await,
            AgentsCommand::Delete { agent_id, yes } => {
                commands::agents_delete(&ctx, &agent_id, yes).await
            }
            AgentsCommand::Export {
                agent_id,
                out: path,
                format,
            } => {
                commands::agents_export(&ctx, &agent_id, path, matches!(format, Format::Json)).await
            }
            AgentsCommand::Import {
                files,
                publish,
                dry_run,
            } => commands::agents_import(&ctx, &files, publish, dry_run).await,
            AgentsCommand::Diff { files } => {
                commands::agents_import(&ctx, &files, false, true).await
            }
            AgentsCommand::Publish { agent_id } => commands::agents_publish(&ctx, &agent_id).await,
            AgentsCommand::Reset {
                agent_id,
                file,
                publish,
                yes,
            } => commands::agents_reset(&ctx, &agent_id, file, publish, yes).await,
        },
    }
}
