//! `health`: queue and dead-letter depths, the oldest message, the last event stored, alarms and
//! Retell's concurrency; a failed check makes the exit code non-zero.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde_json::json;
use shared::booking::directory::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::platform::processing::Running;
use shared::retell::api::ConcurrencyState;

use crate::context::Context;
use crate::error::{err, CliResult};
use crate::output::{ago, Check, Status};

pub async fn run(ctx: &Context) -> CliResult {
    let out = &ctx.out;
    let mut checks = Vec::new();
    let mut queues_json = Vec::new();
    let mut rows = Vec::new();
    // Metrics and alarms exist only in AWS; the local stack says so instead of guessing.
    let cloudwatch = if ctx.stack.local {
        None
    } else {
        Some(aws_sdk_cloudwatch::Client::new(
            &shared::platform::aws::config_loader().load().await,
        ))
    };
    for pair in &ctx.stack.queues {
        let main = ctx.queue_depth(&pair.url).await;
        let dlq = ctx.queue_depth(&pair.dlq_url).await;
        let age = match &cloudwatch {
            Some(cw) => oldest_age(cw, &pair.url).await,
            None => Err("not available locally (no CloudWatch metrics)".into()),
        };
        let kind = pair.kind.as_str();
        rows.push(vec![
            kind.to_owned(),
            main.as_ref()
                .map(|(v, f)| format!("{v} (+{f} in flight)"))
                .unwrap_or_else(|e| format!("? ({e})")),
            dlq.as_ref()
                .map(|(v, _)| v.to_string())
                .unwrap_or_else(|e| format!("? ({e})")),
            age.as_ref()
                .map(|a| format!("{a} s"))
                .unwrap_or_else(|e| e.clone()),
        ]);
        queues_json.push(json!({
            "event": kind,
            "visible": main.as_ref().ok().map(|m| m.0),
            "in_flight": main.as_ref().ok().map(|m| m.1),
            "dead_letters": dlq.as_ref().ok().map(|d| d.0),
            "oldest_message_age_s": age.as_ref().ok(),
        }));
        match dlq {
            Ok((0, _)) => checks.push(Check::ok(format!("{kind} dead-letter queue empty"), None)),
            Ok((n, _)) => checks.push(Check::failed(
                format!("{kind} dead-letter queue empty"),
                format!("{n} message(s) wait there: events that failed processing"),
            )),
            Err(e) => checks.push(Check::failed(format!("{kind} dead-letter queue"), e)),
        }
        if let Err(e) = &main {
            checks.push(Check::failed(format!("{kind} queue"), e.clone()));
        }
        match age {
            Ok(age) => checks.push(Check::from_bool(
                format!("{kind} queue drains"),
                age < 900,
                format!("oldest message {age} s old"),
            )),
            Err(e) if !ctx.stack.local => {
                checks.push(Check::unknown(format!("{kind} queue drains"), e))
            }
            Err(_) => {}
        }
    }
    let processing = processing_states(ctx).await;
    match &processing {
        Ok(states) => {
            for s in states {
                checks.push(match s.running {
                    Running::Running => Check::ok(format!("{} running", s.part), None),
                    other => Check::failed(
                        format!("{} running", s.part),
                        format!(
                            "{} (`retell-ops resume {}`): {}",
                            crate::switches::running_word(other),
                            s.part,
                            crate::switches::rows(std::slice::from_ref(s))[0][2]
                        ),
                    ),
                });
            }
        }
        Err(e) => checks.push(Check::unknown("processing switches", e.to_string())),
    }
    let last = last_event_stored(ctx).await;
    match &last {
        Ok(Some(at)) => checks.push(Check::ok(
            "last webhook event stored",
            Some(format!(
                "{} ({} ago)",
                at.format("%Y-%m-%d %H:%M:%S UTC"),
                ago(*at)
            )),
        )),
        Ok(None) => checks.push(Check::unknown(
            "last webhook event stored",
            "no event stored yet",
        )),
        Err(e) => checks.push(Check::failed("last webhook event stored", e.clone())),
    }
    let mut alarms_json = Vec::new();
    match &cloudwatch {
        Some(cw) if !ctx.stack.alarms.is_empty() => {
            match alarms_in_alarm(cw, &ctx.stack.alarms).await {
                Ok(firing) => {
                    alarms_json = firing.iter().map(|a| json!(a)).collect();
                    checks.push(Check::from_bool(
                        "no alarm in ALARM state",
                        firing.is_empty(),
                        if firing.is_empty() {
                            format!("{} alarms OK", ctx.stack.alarms.len())
                        } else {
                            firing.join(", ")
                        },
                    ))
                }
                Err(e) => checks.push(Check::failed("alarms", e)),
            }
        }
        Some(_) => checks.push(Check::unknown(
            "alarms",
            "the stack has no CloudWatch alarms",
        )),
        None => checks.push(Check::unknown(
            "alarms",
            "not available locally (the local stack has no CloudWatch alarms)",
        )),
    }
    let concurrency = match ctx.retell() {
        Ok(retell) => retell.get_concurrency().await.map_err(err),
        Err(e) => Err(e),
    };
    match &concurrency {
        Ok(c) => {
            let shown = |n: Option<u64>| n.map(|l| l.to_string()).unwrap_or_else(|| "?".into());
            let used = shown(c.current_concurrency);
            let limit = shown(c.concurrency_limit);
            let burst = match (c.concurrency_burst_enabled, c.concurrency_burst_limit) {
                (Some(true), Some(b)) => format!(", burst mode up to {b}"),
                _ => String::new(),
            };
            let reserved = c
                .reserved_inbound_concurrency
                .filter(|r| *r > 0)
                .map(|r| format!(", {r} held for inbound calls"))
                .unwrap_or_default();
            let detail = format!("{used} of {limit} in use{burst}{reserved}");
            checks.push(match c.state() {
                ConcurrencyState::Within => Check::ok("Retell concurrency", Some(detail)),
                ConcurrencyState::Bursting => Check::ok(
                    "Retell concurrency",
                    Some(format!(
                        "{detail}: above the normal limit, in burst mode (surcharged)"
                    )),
                ),
                ConcurrencyState::AtLimit => Check::failed(
                    "Retell concurrency",
                    format!("{detail}: at the limit, new calls fail"),
                ),
                ConcurrencyState::Unknown => Check::unknown("Retell concurrency", detail),
            });
        }
        Err(e) => checks.push(Check::failed("Retell concurrency", e.clone())),
    }
    out.table(
        &["queue", "messages", "dead letters", "oldest message"],
        &rows,
    );
    out.line("");
    for c in &checks {
        out.check(c);
    }
    let ok = checks.iter().all(|c| c.status != Status::Failed);
    out.json_value(&json!({
        "ok": ok,
        "stack": ctx.stack.label,
        "queues": queues_json,
        "last_event_stored": last.ok().flatten().map(|t| t.to_rfc3339()),
        "alarms_in_alarm": alarms_json,
        "retell_concurrency": concurrency.ok().map(|c| json!({"current": c.current_concurrency, "limit": c.concurrency_limit,
            "burst_enabled": c.concurrency_burst_enabled, "burst_limit": c.concurrency_burst_limit,
            "hard_limit": c.hard_limit(), "reserved_inbound": c.reserved_inbound_concurrency})),
        "processing": processing.ok().map(|s| crate::switches::states_json(&s)),
        "checks": checks,
    }));
    Ok(ok.into())
}

/// Which parts of processing run (`pause`/`resume`).
async fn processing_states(
    ctx: &Context,
) -> Result<Vec<shared::platform::processing::PartState>, crate::error::CliError> {
    let (switches, client) = crate::switches::client(ctx)?;
    client
        .states(switches)
        .await
        .map_err(|e| e.to_string().into())
}

/// The age of the queue's oldest message in the last 15 minutes (CloudWatch), in seconds.
async fn oldest_age(cw: &aws_sdk_cloudwatch::Client, queue_url: &str) -> Result<u64, String> {
    use aws_sdk_cloudwatch::types::{Dimension, Statistic};
    let name = queue_url.rsplit('/').next().unwrap_or(queue_url);
    let now = std::time::SystemTime::now();
    let out = cw
        .get_metric_statistics()
        .namespace("AWS/SQS")
        .metric_name("ApproximateAgeOfOldestMessage")
        .dimensions(Dimension::builder().name("QueueName").value(name).build())
        .start_time(aws_sdk_cloudwatch::primitives::DateTime::from(
            now - Duration::from_secs(900),
        ))
        .end_time(aws_sdk_cloudwatch::primitives::DateTime::from(now))
        .period(300)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .map_err(|e| aws_sdk_cloudwatch::error::DisplayErrorContext(e).to_string())?;
    let latest = out
        .datapoints()
        .iter()
        .max_by_key(|d| d.timestamp().map(|t| t.secs()))
        .and_then(|d| d.maximum());
    Ok(latest.unwrap_or(0.0) as u64)
}

/// Which of the alarms `names` are in ALARM state.
async fn alarms_in_alarm(
    cw: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<Vec<String>, String> {
    let mut firing = Vec::new();
    for chunk in names.chunks(100) {
        let out = cw
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
            .send()
            .await
            .map_err(|e| aws_sdk_cloudwatch::error::DisplayErrorContext(e).to_string())?;
        firing.extend(
            out.metric_alarms()
                .iter()
                .filter_map(|a| a.alarm_name().map(str::to_owned)),
        );
    }
    Ok(firing)
}

/// The newest `updated_at_ms` of any company's latest statistics item: when the consumers last
/// stored an event.
async fn last_event_stored(ctx: &Context) -> Result<Option<DateTime<Utc>>, String> {
    let directory = CompanyDirectory::new(
        ctx.aws.dynamodb.clone(),
        &ctx.stack.companies_table,
        COMPANY_CACHE_TTL,
    );
    let mut companies = directory.company_ids().await.map_err(err)?;
    companies.push(ctx.stack.default_company_id.clone());
    let mut newest: Option<i64> = None;
    for company in companies {
        let out = ctx
            .aws
            .dynamodb
            .query()
            .table_name(&ctx.stack.stats_table)
            .key_condition_expression("company_id = :c")
            .expression_attribute_values(":c", AttributeValue::S(company))
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        for item in out.items() {
            if let Some(AttributeValue::N(n)) = item.get("updated_at_ms") {
                if let Ok(ms) = n.parse::<i64>() {
                    newest = Some(newest.map_or(ms, |m| m.max(ms)));
                }
            }
        }
    }
    Ok(newest.and_then(DateTime::from_timestamp_millis))
}
