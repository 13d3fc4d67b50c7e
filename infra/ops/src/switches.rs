//! The stack's processing switches as `pause`, `resume` and `health` use them: which parts run,
//! turning them, waiting until Lambda has (a mapping passes through Disabling/Enabling).

use std::time::{Duration, Instant};

use serde_json::json;
use shared::platform::processing::{Part, PartState, ProcessingClient, Running, Switches};

use crate::context::Context;
use crate::error::{err, CliError};

/// What `pause` and `resume` take.
#[derive(clap::Args)]
pub struct SwitchArgs {
    /// Which parts.
    #[arg(value_enum, required = true, num_args = 1..)]
    pub parts: Vec<PartArg>,
    /// Seconds to wait until Lambda reports each mapping turned.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(0..=900))]
    pub wait: u64,
}

/// What a pause or resume names: one part or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PartArg {
    /// The call-started, call-ended and call-analyzed consumers: calls stay queued, unstored.
    Consumers,
    /// The messaging consumer and its sweep: confirmations, reminders and notices wait.
    Messaging,
    /// The 15-minute reconcile job.
    Reconcile,
    /// All three.
    All,
}

impl PartArg {
    pub fn parts(args: &[PartArg]) -> Vec<Part> {
        let mut parts: Vec<Part> = args
            .iter()
            .flat_map(|a| match a {
                Self::Consumers => vec![Part::Consumers],
                Self::Messaging => vec![Part::Messaging],
                Self::Reconcile => vec![Part::Reconcile],
                Self::All => Part::ALL.to_vec(),
            })
            .collect();
        parts.sort();
        parts.dedup();
        parts
    }
}

/// The stack's switches and a client for them, or why there are none.
pub fn client(ctx: &Context) -> Result<(&Switches, ProcessingClient), CliError> {
    let switches = ctx.stack.processing_switches.as_ref().ok_or_else(|| {
        CliError::Failed(
            "this stack names no processing switches (deploy the current template.yaml; locally restart `make dev`)"
                .into(),
        )
    })?;
    let client = ProcessingClient::from_sdk_config(&ctx.aws.sdk).map_err(err)?;
    Ok((switches, client))
}

/// Turns `parts` on or off and waits (up to `wait`) until each reports the state asked for.
pub async fn switch(
    ctx: &Context,
    parts: &[Part],
    run: bool,
    wait: Duration,
) -> Result<Vec<PartState>, CliError> {
    let (switches, client) = client(ctx)?;
    let want = if run {
        Running::Running
    } else {
        Running::Paused
    };
    let mut states = Vec::new();
    for part in parts {
        let mut state = client.switch(switches, *part, run).await.map_err(err)?;
        let started = Instant::now();
        while state.running != want && started.elapsed() < wait {
            tokio::time::sleep(Duration::from_secs(2)).await;
            state = client.state(switches, *part).await.map_err(err)?;
        }
        tracing::info!(part = %part, running = ?state.running, "switched");
        states.push(state);
    }
    Ok(states)
}

/// One line per part: "consumers  paused  call-started Disabled, …".
pub fn rows(states: &[PartState]) -> Vec<Vec<String>> {
    states
        .iter()
        .map(|s| {
            let switches = s
                .mappings
                .iter()
                .map(|m| format!("{} {}", m.function, m.state))
                .chain(
                    s.rules
                        .iter()
                        .map(|r| format!("rule {} {}", r.name, r.state)),
                )
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                s.part.to_string(),
                running_word(s.running).to_owned(),
                switches,
            ]
        })
        .collect()
}

pub fn running_word(running: Running) -> &'static str {
    match running {
        Running::Running => "running",
        Running::Paused => "paused",
        Running::Partly => "partly paused",
    }
}

pub fn states_json(states: &[PartState]) -> serde_json::Value {
    json!(states)
}
