//! `logs [--follow] [--call-id ID] [--function NAME] [--level warn] [--since 1h]`: the
//! functions' JSON log lines from CloudWatch Logs (locally the emulator's, where the stack ships
//! them), newest first, or followed live. Numbers are shown masked, as the functions log them.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shared::platform::log_line::{mask_fields, mask_numbers, Level, LogLine};
use shared::platform::logs::{LogsClient, Visit};

use crate::context::Context;
use crate::error::{err, CliError, CliResult};
use crate::output::shown;

#[derive(clap::Args)]
pub struct Args {
    /// Keep printing new lines as they are written (Ctrl-C stops).
    #[arg(long, short)]
    follow: bool,
    /// Only the lines of this call.
    #[arg(long, value_name = "ID")]
    call_id: Option<String>,
    /// Only this function's lines (repeatable): webhook, call-ended, check-availability, …
    #[arg(long, value_name = "NAME")]
    function: Vec<String>,
    /// The least severe level shown: error, warn, info, debug, trace.
    #[arg(long, default_value = "info")]
    level: String,
    /// How far back: "1h", "30 min", "2026-12-06 08:00".
    #[arg(long, default_value = "1h")]
    since: String,
    /// At most this many lines (newest first; with --follow, the lines printed before following).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
}

/// How long one search of all groups may take before it prints what it found.
const SEARCH_BUDGET: Duration = Duration::from_secs(20);
/// How often `--follow` asks CloudWatch for new lines.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

struct Filter {
    call_id: Option<String>,
    level: Level,
}

impl Filter {
    fn wants(&self, line: &LogLine) -> bool {
        line.level() >= self.level
            && self
                .call_id
                .as_ref()
                .is_none_or(|c| line.call_id.as_deref() == Some(c.as_str()))
    }
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let now = Utc::now();
    let level = Level::parse(&args.level).ok_or_else(|| {
        CliError::Usage(format!(
            "--level {}: one of error, warn, info, debug, trace",
            shown(&args.level)
        ))
    })?;
    let call_id = match args.call_id.as_deref() {
        Some(c) => Some(
            shared::retell::CallId::parse(c.trim())
                .map_err(|_| CliError::Usage(format!("--call-id {}: not a call id", shown(c))))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let since = crate::when::parse(&args.since, now).map_err(CliError::Usage)?;
    if since > now {
        return Err(CliError::Usage(format!(
            "--since {}: in the future",
            shown(&args.since)
        )));
    }
    let groups = groups(ctx, &args.function)?;
    let filter = Filter { call_id, level };
    let logs = LogsClient::from_sdk_config(&ctx.aws.sdk).map_err(err)?;
    let (mut lines, unread) =
        newest(&logs, &groups, &filter, since, now, args.limit as usize).await?;
    if ctx.out.json && !args.follow {
        ctx.out.json_value(&json!({
            "ok": true,
            "lines": lines.iter().map(line_json).collect::<Vec<_>>(),
            "unread_functions": unread,
        }));
        return Ok(true.into());
    }
    for function in &unread {
        eprintln!(
            "(not all of {function}'s lines were read in time: narrow --since or --function)"
        );
    }
    if args.follow {
        // Oldest first from here on, as `tail -f` prints.
        lines.reverse();
    }
    for line in &lines {
        print_line(ctx, line);
    }
    if !args.follow {
        if lines.is_empty() {
            eprintln!("no log lines since {}", since.format("%Y-%m-%d %H:%M UTC"));
        }
        return Ok(true.into());
    }
    follow(ctx, &logs, &groups, &filter, &lines, now).await
}

/// The log groups asked for: every function's, or those `--function` names.
fn groups(ctx: &Context, functions: &[String]) -> Result<Vec<(String, String)>, CliError> {
    let all = &ctx.stack.log_groups;
    if all.is_empty() {
        return Err(CliError::Failed(
            "this stack names no log groups (deploy the current template.yaml)".into(),
        ));
    }
    if functions.is_empty() {
        return Ok(all.clone());
    }
    let mut chosen = Vec::new();
    for f in functions {
        match all.iter().find(|(name, _)| name == f.trim()) {
            Some(pair) => chosen.push(pair.clone()),
            None => {
                return Err(CliError::Usage(format!(
                    "--function {}: not a function of this stack ({})",
                    shown(f),
                    all.iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
    }
    Ok(chosen)
}

/// Up to `limit` lines of `[since, now]`, newest first, and the functions whose search ran out of
/// time.
async fn newest(
    logs: &LogsClient,
    groups: &[(String, String)],
    filter: &Filter,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<(Vec<LogLine>, Vec<String>), CliError> {
    let mut lines = Vec::new();
    let mut unread = Vec::new();
    let budget = SEARCH_BUDGET / groups.len().max(1) as u32;
    for (function, group) in groups {
        let mut found = Vec::new();
        let searched = logs
            .newest_first(
                group,
                None,
                since.timestamp_millis(),
                now.timestamp_millis(),
                budget,
                |event| {
                    if let Some(line) = LogLine::parse(function, event.timestamp_ms, &event.message)
                    {
                        if filter.wants(&line) {
                            found.push(line);
                        }
                    }
                    if found.len() >= limit {
                        Visit::Enough
                    } else {
                        Visit::More
                    }
                },
            )
            .await;
        match searched {
            Ok(s) if s.out_of_time => unread.push(function.clone()),
            Ok(_) => {}
            // A group no line was ever written to does not exist yet: nothing to show.
            Err(e) if e.code() == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(CliError::Failed(format!("{function}'s logs: {e}"))),
        }
        lines.extend(found);
    }
    lines.sort_by_key(|l| std::cmp::Reverse(l.timestamp_ms));
    lines.truncate(limit);
    Ok((lines, unread))
}

/// Prints new lines as they arrive, until interrupted.
async fn follow(
    ctx: &Context,
    logs: &LogsClient,
    groups: &[(String, String)],
    filter: &Filter,
    shown_before: &[LogLine],
    start: DateTime<Utc>,
) -> CliResult {
    // CloudWatch may make a line searchable after later ones: each poll reads back a little,
    // and what was printed is remembered (by time, function and text) for as long as that.
    const OVERLAP_MS: i64 = 10_000;
    // A line is what it says in full: two lines of one millisecond are two lines.
    let key = |l: &LogLine| (l.timestamp_ms, line_json(l).to_string());
    let mut seen: HashSet<(i64, String)> = shown_before.iter().map(key).collect();
    let mut from_ms = start.timestamp_millis() - OVERLAP_MS;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(true.into()),
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
        let now_ms = Utc::now().timestamp_millis();
        let mut batch = Vec::new();
        for (function, group) in groups {
            let mut token: Option<String> = None;
            loop {
                let page = match logs
                    .filter_log_events(group, None, from_ms, now_ms, 1000, token.as_deref())
                    .await
                {
                    Ok(p) => p,
                    Err(e) if e.code() == Some("ResourceNotFoundException") => break,
                    Err(e) => {
                        eprintln!("{function}'s logs: {e} (retrying)");
                        break;
                    }
                };
                batch.extend(
                    page.events
                        .iter()
                        .filter_map(|ev| LogLine::parse(function, ev.timestamp_ms, &ev.message)),
                );
                match page.next_token {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        }
        batch.sort_by_key(|l| l.timestamp_ms);
        for line in batch.iter().filter(|l| filter.wants(l)) {
            if seen.insert(key(line)) {
                print_line(ctx, line);
            }
        }
        from_ms = now_ms - OVERLAP_MS;
        seen.retain(|(t, ..)| *t >= from_ms);
    }
}

fn print_line(ctx: &Context, line: &LogLine) {
    if ctx.out.json {
        // One JSON document per line while following.
        println!("{}", line_json(line));
        return;
    }
    let at = DateTime::from_timestamp_millis(line.timestamp_ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_default();
    let mut text = format!(
        "{at} {:<5} {:<22} {}",
        line.level,
        line.function,
        mask_numbers(&line.message)
    );
    if let Some(e) = &line.event {
        text.push_str(&format!(" · {e}"));
    }
    if let Some(c) = &line.call_id {
        text.push_str(&format!(" call_id={c}"));
    }
    for (k, v) in &mask_fields(&line.fields) {
        let v = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        text.push_str(&format!(" {k}={}", v.chars().take(300).collect::<String>()));
    }
    println!("{text}");
}

fn line_json(line: &LogLine) -> Value {
    let fields = mask_fields(&line.fields);
    json!({
        "timestamp_ms": line.timestamp_ms,
        "function": line.function,
        "level": line.level,
        "message": mask_numbers(&line.message),
        "call_id": line.call_id,
        "event": line.event,
        "company": line.company,
        "fields": fields,
    })
}
