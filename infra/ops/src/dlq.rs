//! `dlq list | show | redrive | purge`: the events the consumers gave up on (five failed
//! receives), with what the consumer logged about each, moved back to their queue once the cause
//! is fixed. A redriven event is stored once whatever happened before: the consumers skip an
//! event a call already has.

use std::collections::HashMap;

use aws_sdk_sqs::error::DisplayErrorContext;
use serde_json::{json, Value};
use shared::calls::dead_letters::{DeadLetter, DeadLetterQueues, QueuePair};
use shared::platform::aws_json::AwsJsonClient;
use shared::platform::logs::LogsClient;

use crate::commands::{confirm, Context};
use crate::output::Check;

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

fn pairs<'a>(ctx: &'a Context, event: Option<&str>) -> Result<Vec<&'a QueuePair>, String> {
    let pairs: Vec<&QueuePair> = ctx
        .stack
        .queues
        .iter()
        .filter(|q| event.is_none_or(|e| q.kind.as_str() == e))
        .collect();
    if pairs.is_empty() {
        return Err(format!(
            "--event: one of {}",
            ctx.stack
                .queues
                .iter()
                .map(|q| q.kind.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(pairs)
}

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

pub async fn list(ctx: &Context, event: Option<&str>) -> Result<bool, String> {
    let (all, notes) = queues().await?.list(&pairs(ctx, event)?).await?;
    ctx.out
        .table(&HEADERS, &all.iter().map(row).collect::<Vec<_>>());
    for n in &notes {
        ctx.out.line(n);
    }
    ctx.out
        .json_value(&json!({"ok": true, "dead_letters": all, "notes": notes}));
    Ok(true)
}

pub async fn show(ctx: &Context, message_id: &str) -> Result<bool, String> {
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
        return Ok(true);
    }
    Err(format!(
        "no message {:?} in the dead-letter queues",
        message_id.chars().take(64).collect::<String>()
    ))
}

/// Moves dead letters back to their queue: `ids` (none: all, with `all`), sent again with the
/// same body, then deleted from the dead-letter queue.
pub async fn redrive(
    ctx: &Context,
    ids: &[String],
    all: bool,
    event: Option<&str>,
) -> Result<bool, String> {
    if ids.is_empty() && !all {
        return Err("name the messages to redrive, or pass --all".into());
    }
    let report = queues()
        .await?
        .redrive(&pairs(ctx, event)?, ids, all)
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
    Ok(ok)
}

/// Deletes every message of the dead-letter queues (of `event`), after confirmation.
pub async fn purge(ctx: &Context, event: Option<&str>, yes: bool) -> Result<bool, String> {
    let chosen = pairs(ctx, event)?;
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for pair in &chosen {
        let (visible, in_flight) = crate::commands::queue_depth(&ctx.aws, &pair.dlq_url).await?;
        let n = visible + in_flight;
        counts.insert(pair.kind.as_str(), n);
    }
    let total: u64 = counts.values().sum();
    let names: Vec<&str> = chosen.iter().map(|p| p.kind.as_str()).collect();
    let question = format!(
        "Delete {total} dead letter(s) of {} for good? The events in them are then only in the events bucket.",
        names.join(", ")
    );
    if !confirm(ctx, yes, &question, "purge")? {
        return Ok(false);
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
    Ok(true)
}
