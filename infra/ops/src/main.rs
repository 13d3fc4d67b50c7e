//! `retell-ops`, the operator's CLI for this backend and its Retell account: parses the flags,
//! builds the [`Context`], runs the command ([`commands`]) and turns how it ended into the exit code.

// It operates a deployed stack (`--stack NAME`) or the running `make dev` (`--local`) and says
// which; the Retell key is `RETELL_API_KEY` or the stack's secret. `--json` prints one JSON
// document for scripts; the exit code is non-zero whenever something failed.

use std::process::ExitCode;

use clap::Parser;

mod account;
mod agent_file;
mod agents;
mod args;
mod calcom_webhooks;
mod commands;
mod context;
mod error;
mod knowledge_base;
mod output;
mod player;
mod privacy_check;
mod simulate;
mod switches;
mod target;
mod when;

use commands::Cli;
use context::Context;
use error::{CliError, CliResult};
use output::Out;
use target::Stack;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out::new(cli.global.json);
    init_tracing(cli.global.debug);
    // The local stack's emulator is this process's AWS: set before any thread starts.
    let local = if cli.global.local {
        match context::enter_local_stack() {
            Ok(stack) => Some(stack),
            Err(e) => return failed(out, &e),
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
        Ok(outcome) => outcome.exit_code(),
        Err(e) => failed(out, &e),
    }
}

/// Warnings (retries) to stderr; `--debug` (or RETELL_OPS_DEBUG=1) for everything.
fn init_tracing(debug: bool) {
    let level = if debug || std::env::var_os("RETELL_OPS_DEBUG").is_some() {
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
}

async fn run(cli: Cli, out: Out, local: Option<Stack>) -> CliResult {
    let stack = context::choose_stack(local, cli.global.stack.as_deref()).await?;
    if !out.json {
        eprintln!("{}", out.dim(&format!("→ {}", stack.label)));
    }
    let ctx = Context::new(stack, out).await;
    cli.command.run(&ctx).await
}

/// A command that could not run: said on stderr (and as JSON with --json), and its exit code.
fn failed(out: Out, e: &CliError) -> ExitCode {
    if out.json {
        out.json_value(&serde_json::json!({"ok": false, "error": e.to_string()}));
    }
    eprintln!("error: {e}");
    e.exit_code()
}
