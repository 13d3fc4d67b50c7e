//! `outbox`: every SMS and e-mail the local stack "sent" (the emulator keeps what SNS and SES
//! were asked to send), oldest first: channel, recipient, text or subject, attachments, time.
//! A deployed stack's messages are in the messaging function's log and its metrics
//! (`MessagesSent`, `MessagesSkipped`, `MessagesFailed`); SNS and SES keep no readable outbox.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::context::Context;
use crate::error::{CliError, CliResult, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// Only messages to this number or address.
    #[arg(long)]
    to: Option<String>,
    /// Only the last N messages.
    #[arg(long, value_name = "N")]
    last: Option<usize>,
}

/// One message as the emulator keeps it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Sent {
    pub channel: String,
    #[serde(default)]
    pub id: Option<String>,
    /// A phone number (SMS) or a list of addresses (e-mail).
    pub to: Value,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Value>,
    pub at: String,
}

impl Sent {
    fn recipients(&self) -> Vec<String> {
        match &self.to {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Deserialize)]
struct Outbox {
    messages: Vec<Sent>,
}

/// What the local emulator at `endpoint` sent.
pub async fn read(endpoint: &str) -> Result<Vec<Sent>, String> {
    let client = shared::platform::http::client_builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/_outbox", endpoint.trim_end_matches('/'));
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    let outbox: Outbox = response.json().await.map_err(|e| format!("{url}: {e}"))?;
    Ok(outbox.messages)
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    if !ctx.stack.local {
        return Err(CliError::Usage(
            "outbox lists what the local emulator sent (--local); a deployed stack's messages are in the messaging function's log and its MessagesSent/MessagesSkipped/MessagesFailed metrics".into(),
        ));
    }
    let endpoint = ctx
        .aws
        .sdk
        .endpoint_url()
        .ok_or("the local stack has no emulator endpoint (restart `make dev`)")?
        .to_owned();
    let mut messages = read(&endpoint).await?;
    if let Some(to) = &args.to {
        messages.retain(|m| m.recipients().iter().any(|r| r == to));
    }
    if let Some(last) = args.last {
        let skip = messages.len().saturating_sub(last);
        messages.drain(..skip);
    }
    let rows: Vec<Vec<String>> = messages
        .iter()
        .map(|m| {
            let what = match m.channel.as_str() {
                "email" => {
                    let files: Vec<&str> = m
                        .attachments
                        .iter()
                        .filter_map(|a| a["filename"].as_str())
                        .collect();
                    let subject = m.subject.clone().unwrap_or_default();
                    if files.is_empty() {
                        subject
                    } else {
                        format!("{subject} [{}]", files.join(", "))
                    }
                }
                _ => m.text.clone().unwrap_or_default(),
            };
            vec![
                m.at.clone(),
                m.channel.clone(),
                m.recipients().join(", "),
                m.from.clone().unwrap_or_default(),
                what,
            ]
        })
        .collect();
    if rows.is_empty() {
        ctx.out.line("nothing sent");
    } else {
        ctx.out.table(
            &["sent at", "channel", "to", "from", "text or subject"],
            &rows,
        );
    }
    ctx.out
        .json_value(&json!({"ok": true, "messages": messages}));
    Ok(Outcome::Success)
}
