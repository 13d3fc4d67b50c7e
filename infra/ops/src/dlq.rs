//! `dlq list | show | redrive | purge`: the events the consumers gave up on (five failed
//! receives), with what the consumer logged about each, moved back to their queue once the cause
//! is fixed. A redriven event is stored once whatever happened before: the consumers skip an
//! event a call already has.

use std::collections::HashMap;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName,
};
use chrono::Utc;
use serde_json::{json, Value};
use shared::platform::logs::LogsClient;

use crate::commands::{confirm, Context};
use crate::output::Check;
use crate::target::QueuePair;

/// Messages read from one dead-letter queue at most.
const MAX_MESSAGES: usize = 1000;
/// How long a listed message stays hidden from others while it is read (then released).
const PEEK_SECONDS: i32 = 30;
/// How far back the consumer's log is searched: the dead-letter queues keep messages 14 days.
const LOG_LOOKBACK_MS: i64 = 14 * 86_400_000;

/// One dead letter as the operator sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub queue: &'static str,
    pub event: Option<String>,
    pub call_id: Option<String>,
    pub company_id: Option<String>,
    pub age_s: Option<i64>,
    pub receive_count: Option<u64>,
    /// The consumer's last `event failed` line for the message.
    pub last_error: Option<String>,
    pub body_bytes: usize,
    #[serde(skip)]
    receipt: Option<String>,
    #[serde(skip)]
    body: String,
}

fn dead_letter(queue: &'static str, m: &Message, now_ms: i64) -> DeadLetter {
    let body = m.body().unwrap_or_default().to_owned();
    let envelope: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let text = |k: &str| envelope.get(k).and_then(Value::as_str).map(str::to_owned);
    let attr = |a: MessageSystemAttributeName| {
        m.attributes()
            .and_then(|x| x.get(&a))
            .and_then(|v| v.parse::<i64>().ok())
    };
    DeadLetter {
        message_id: m.message_id().unwrap_or_default().to_owned(),
        queue,
        event: text("event"),
        call_id: text("call_id"),
        company_id: text("company_id"),
        age_s: attr(MessageSystemAttributeName::SentTimestamp).map(|t| (now_ms - t) / 1000),
        receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount)
            .map(|n| n.max(0) as u64),
        last_error: None,
        body_bytes: body.len(),
        receipt: m.receipt_handle().map(str::to_owned),
        body,
    }
}

/// Every message of a dead-letter queue (up to [`MAX_MESSAGES`]), each received once and
/// hidden meanwhile. `release`: make them visible again at once (a look, not a take).
async fn read_all(
    ctx: &Context,
    pair: &QueuePair,
    release: bool,
) -> Result<Vec<DeadLetter>, String> {
    let sqs = &ctx.aws.sqs;
    let now = Utc::now().timestamp_millis();
    let mut letters: Vec<DeadLetter> = Vec::new();
    while letters.len() < MAX_MESSAGES {
        let got = sqs
            .receive_message()
            .queue_url(&pair.dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(PEEK_SECONDS)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        let messages = got.messages();
        if messages.is_empty() {
            break;
        }
        letters.extend(
            messages
                .iter()
                .map(|m| dead_letter(pair.kind.as_str(), m, now)),
        );
    }
    if release {
        release_all(ctx, pair, &letters).await?;
    }
    Ok(letters)
}

async fn release_all(
    ctx: &Context,
    pair: &QueuePair,
    letters: &[DeadLetter],
) -> Result<(), String> {
    for chunk in letters.chunks(10) {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(l.receipt.clone()?)
                    .visibility_timeout(0)
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        ctx.aws
            .sqs
            .change_message_visibility_batch()
            .queue_url(&pair.dlq_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
    }
    Ok(())
}

/// What the consumer logged about each message: its last `event failed` (or panic) line.
async fn last_errors(pair: &QueuePair, letters: &mut [DeadLetter]) -> Option<String> {
    let group = pair.log_group.as_deref()?;
    let config = shared::platform::aws::config_loader().load().await;
    let logs = match LogsClient::from_sdk_config(&config) {
        Ok(l) => l,
        Err(e) => return Some(e.to_string()),
    };
    let now = Utc::now().timestamp_millis();
    for letter in letters.iter_mut() {
        let pattern = format!("\"{}\"", letter.message_id);
        let mut token: Option<String> = None;
        let mut last: Option<(i64, String)> = None;
        for _ in 0..20 {
            let page = match logs
                .filter_log_events(
                    group,
                    Some(&pattern),
                    now - LOG_LOOKBACK_MS,
                    now,
                    1000,
                    token.as_deref(),
                )
                .await
            {
                Ok(p) => p,
                Err(e) => return Some(e.to_string()),
            };
            for event in &page.events {
                let Ok(line) = serde_json::from_str::<Value>(&event.message) else {
                    continue;
                };
                // The emulator ignores filter patterns: the line must name this message.
                let field = |k: &str| {
                    line.get(k)
                        .or_else(|| line.get("fields").and_then(|f| f.get(k)))
                };
                if field("message_id").and_then(Value::as_str) != Some(letter.message_id.as_str()) {
                    continue;
                }
                let message = field("message").and_then(Value::as_str).unwrap_or_default();
                if !message.contains("failed") && !message.contains("panicked") {
                    continue;
                }
                let error = field("error")
                    .and_then(Value::as_str)
                    .unwrap_or(message)
                    .to_owned();
                if last.as_ref().is_none_or(|(t, _)| event.timestamp_ms >= *t) {
                    last = Some((event.timestamp_ms, error));
                }
            }
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        letter.last_error = last.map(|(_, e)| e);
    }
    None
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
        l.age_s.map(age).unwrap_or_else(dash),
        l.receive_count.map(|n| n.to_string()).unwrap_or_else(dash),
        l.last_error
            .clone()
            .map(|e| e.chars().take(80).collect())
            .unwrap_or_else(dash),
    ]
}

fn age(s: i64) -> String {
    match s {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
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
    let mut all = Vec::new();
    let mut notes = Vec::new();
    for pair in pairs(ctx, event)? {
        let mut letters = read_all(ctx, pair, true).await?;
        if let Some(problem) = last_errors(pair, &mut letters).await {
            notes.push(format!(
                "{}: the consumer's log could not be read: {problem}",
                pair.kind.as_str()
            ));
        }
        all.extend(letters);
    }
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
    for pair in pairs(ctx, None)? {
        let mut letters = read_all(ctx, pair, true).await?;
        let Some(i) = letters.iter().position(|l| l.message_id == message_id) else {
            continue;
        };
        let mut one = [letters.swap_remove(i)];
        let note = last_errors(pair, &mut one).await;
        let [letter] = one;
        let envelope: Value = serde_json::from_str(&letter.body).unwrap_or(Value::Null);
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
    let mut moved = Vec::new();
    let mut failed = Vec::new();
    for pair in pairs(ctx, event)? {
        let letters = read_all(ctx, pair, false).await?;
        let (chosen, others): (Vec<_>, Vec<_>) = letters
            .into_iter()
            .partition(|l| all || ids.contains(&l.message_id));
        release_all(ctx, pair, &others).await?;
        for l in chosen {
            let sent = ctx
                .aws
                .sqs
                .send_message()
                .queue_url(&pair.url)
                .message_body(&l.body)
                .send()
                .await;
            let result = match sent {
                Ok(_) => ctx
                    .aws
                    .sqs
                    .delete_message()
                    .queue_url(&pair.dlq_url)
                    .receipt_handle(l.receipt.clone().unwrap_or_default())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        format!(
                            "sent again, but still in the dead-letter queue: {}",
                            DisplayErrorContext(e)
                        )
                    }),
                Err(e) => Err(DisplayErrorContext(e).to_string()),
            };
            match result {
                Ok(()) => moved.push(
                    json!({"message_id": l.message_id, "queue": l.queue, "call_id": l.call_id}),
                ),
                Err(e) => {
                    release_all(ctx, pair, std::slice::from_ref(&l)).await?;
                    failed.push(json!({"message_id": l.message_id, "error": e}));
                }
            }
        }
    }
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| !moved.iter().any(|m| m["message_id"] == id.as_str()))
        .filter(|id| !failed.iter().any(|f| f["message_id"] == id.as_str()))
        .collect();
    let ok = failed.is_empty() && missing.is_empty();
    ctx.out.check(&Check::from_bool(
        "redriven to their queues",
        ok,
        format!(
            "{} moved, {} failed, {} not found",
            moved.len(),
            failed.len(),
            missing.len()
        ),
    ));
    ctx.out
        .json_value(&json!({"ok": ok, "redriven": moved, "failed": failed, "not_found": missing}));
    Ok(ok)
}

/// Deletes every message of the dead-letter queues (of `event`), after confirmation.
pub async fn purge(ctx: &Context, event: Option<&str>, yes: bool) -> Result<bool, String> {
    let chosen = pairs(ctx, event)?;
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for pair in &chosen {
        let attrs = ctx
            .aws
            .sqs
            .get_queue_attributes()
            .queue_url(&pair.dlq_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        let n = attrs
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
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
