//! `dlq list | show | redrive | purge`: the events the consumers gave up on, with what the
//! consumer logged about each, moved back to their queue once the cause is fixed.

use std::collections::HashMap;

use aws_sdk_sqs::error::DisplayErrorContext;
use serde_json::{json, Value};
use shared::calls::dead_letters::{DeadLetter, DeadLetterQueues, QueuePair};
use shared::platform::aws_json::AwsJsonClient;
use shared::platform::logs::LogsClient;

use crate::context::Context;
use crate::error::{CliError, CliResult, Outcome};
use crate::output::Check;

#[derive(clap::Subcommand)]
pub enum DlqCommand {
    /// Every dead letter: its event, call, company, age, receive count and the consumer's last error.
    List(ListArgs),
    /// One dead letter, with a summary of its envelope (never its transcript).
    Show(ShowArgs),
    /// Send dead letters back to their queue (stored once, whatever happened before).
    Redrive(RedriveArgs),
    /// Delete every dead letter (of --event) for good; asks first.
    Purge(PurgeArgs),
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// Only this event's queue: call_started, call_ended or call_analyzed.
    #[arg(long)]
    event: Option<String>,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    message_id: String,
}

#[derive(clap::Args)]
pub struct RedriveArgs {
    /// The messages (ids from `dlq list`).
    message_ids: Vec<String>,
    /// Every dead letter (of --event).
    #[arg(long, conflicts_with = "message_ids")]
    all: bool,
    #[arg(long)]
    event: Option<String>,
}

#[derive(clap::Args)]
pub struct PurgeArgs {
    #[arg(long)]
    event: Option<String>,
    /// Do not ask.
    #[arg(long)]
    yes: bool,
}

impl DlqCommand {
    pub async fn run(self, ctx: &Context) -> CliResult {
        match self {
            Self::List(args) => list(ctx, args).await,
            Self::Show(args) => show(ctx, args).await,
            Self::Redrive(args) => redrive(ctx, args).await,
            Self::Purge(args) => purge(ctx, args).await,
        }
    }
}

/// The dead-letter queues of the stack, with the consumers' logs for their last errors.
async fn queues() -> Result<DeadLetterQueues, String> {
    let config = shared::platform::aws::config_loader().load().await;
    let sqs = AwsJsonClient::new(&config, "sqs", "AmazonSQS", None)
        .map_err(|e| e.to_string())?
        .json_1_0();
    Ok(DeadLetterQueues::new(
        sqs,
        LogsClient::from_sdk_config(&config).ok(),
    ))
}

/// The queues of `event` (every queue without it).
fn pairs<'a>(ctx: &'a Context, event: Option<&str>) -> Result<Vec<&'a QueuePair>, CliError> {
    let pairs: Vec<&QueuePair> = ctx
        .stack
        .queues
        .iter()
        .filter(|q| event.is_none_or(|e| q.kind.as_str() == e))
        .collect();
    if pairs.is_empty() {
        return Err(CliError::Usage(format!(
            "--event: one of {}",
            ctx.stack
                .queues
                .iter()
                .map(|q| q.kind.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(pairs)
}

/// A dead letter as a row of [`HEADERS`].
fn row(l: &DeadLetter) -> Vec<String> {
    let dash = || "-".to_owned();
    vec![
        l.queue.to_owned(),
        l.message_id.clone(),
        l.call_id.clone().unwrap_or_else(dash),
        l.company_id.clone().unwrap_or_else(dash),
        l.age_s.map(crate::when::span).unwrap_or_else(dash),
        l.receive_count.map(|n| n.to_string()).unwrap_or_else(dash),
        l.last_error
            .clone()
            .map(|e| e.chars().take(80).collect())
            .unwrap_or_else(dash),
    ]
}

const HEADERS: [&str; 7] = [
    "queue",
    "message",
    "call",
    "company",
    "age",
    "receives",
    "last error",
];

async fn list(ctx: &Context, args: ListArgs) -> CliResult {
    let (all, notes) = queues()
        .await?
        .list(&pairs(ctx, args.event.as_deref())?)
        .await?;
    ctx.out
        .table(&HEADERS, &all.iter().map(row).collect::<Vec<_>>());
    for n in &notes {
        ctx.out.line(n);
    }
    ctx.out
        .json_value(&json!({"ok": true, "dead_letters": all, "notes": notes}));
    Ok(Outcome::Success)
}

async fn show(ctx: &Context, args: ShowArgs) -> CliResult {
    let message_id = args.message_id.as_str();
    let queues = queues().await?;
    for pair in pairs(ctx, None)? {
        let mut letters = queues.read(pair, true).await?;
        let Some(i) = letters.iter().position(|l| l.message_id == message_id) else {
            continue;
        };
        let mut one = [letters.swap_remove(i)];
        let note = queues.last_errors(pair, &mut one).await;
        let [letter] = one;
        let envelope: Value = serde_json::from_str(letter.body()).unwrap_or(Value::Null);
        // What the event is, never its transcript: the payload is summarised, not printed.
        let payload = envelope.get("payload");
        let summary = json!({
            "received_at_ms": envelope.get("received_at_ms"),
            "payload_ref": envelope.get("payload_ref"),
            "payload_bytes": payload.map(|p| p.to_string().len()),
            "call_status": payload.and_then(|p| p.pointer("/call/call_status")),
            "body_is_an_envelope": envelope.get("event").is_some(),
        });
        let out = &ctx.out;
        out.table(&HEADERS, &[row(&letter)]);
        out.line(&format!(
            "\nevent {}",
            letter.event.as_deref().unwrap_or("(not an event envelope)")
        ));
        out.line(&format!("envelope {summary}"));
        if let Some(n) = &note {
            out.line(&format!("the consumer's log could not be read: {n}"));
        }
        out.json_value(
            &json!({"ok": true, "dead_letter": letter, "envelope": summary, "note": note}),
        );
        return Ok(Outcome::Success);
    }
    Err(format!(
        "no message {:?} in the dead-letter queues",
        message_id.chars().take(64).collect::<String>()
    )
    .into())
}

/// Moves dead letters back to their queue: `ids` (none: all, with `all`), sent again with the
/// same body, then deleted from the dead-letter queue. A redriven event is stored once whatever
/// happened before: the consumers skip an event a call already has.
async fn redrive(ctx: &Context, args: RedriveArgs) -> CliResult {
    let RedriveArgs {
        message_ids: ids,
        all,
        event,
    } = args;
    if ids.is_empty() && !all {
        return Err(CliError::Usage(
            "name the messages to redrive, or pass --all".into(),
        ));
    }
    let report = queues()
        .await?
        .redrive(&pairs(ctx, event.as_deref())?, &ids, all)
        .await?;
    let ok = report.ok();
    ctx.out.check(&Check::from_bool(
        "redriven to their queues",
        ok,
        format!(
            "{} moved, {} failed, {} not found",
            report.moved.len(),
            report.failed.len(),
            report.not_found.len()
        ),
    ));
    ctx.out.json_value(&report.report());
    Ok(ok.into())
}

/// Deletes every message of the dead-letter queues (of `event`), after confirmation.
async fn purge(ctx: &Context, args: PurgeArgs) -> CliResult {
    let chosen = pairs(ctx, args.event.as_deref())?;
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for pair in &chosen {
        let (visible, in_flight) = ctx.queue_depth(&pair.dlq_url).await?;
        let n = visible + in_flight;
        counts.insert(pair.kind.as_str(), n);
    }
    let total: u64 = counts.values().sum();
    let names: Vec<&str> = chosen.iter().map(|p| p.kind.as_str()).collect();
    let question = format!(
        "Delete {total} dead letter(s) of {} for good? The events in them are then only in the events bucket.",
        names.join(", ")
    );
    if !ctx.out.confirm(args.yes, &question, "purge")? {
        return Ok(Outcome::Failure);
    }
    for pair in &chosen {
        ctx.aws
            .sqs
            .purge_queue()
            .queue_url(&pair.dlq_url)
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
    }
    ctx.out.check(&Check::ok(
        "purged",
        Some(format!("{total} dead letter(s) of {}", names.join(", "))),
    ));
    ctx.out.json_value(&json!({"ok": true, "purged": counts}));
    Ok(Outcome::Success)
}
