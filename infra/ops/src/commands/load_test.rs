//! `load-test`: many whole calls over a time span against the stack, then latency per endpoint,
//! errors, and a check that the stack stored and counted each call exactly once.

mod report;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};
use shared::calls::record::CallRecord;
use shared::calls::stats::CallStats;
use shared::calls::store::CallStore;
use shared::retell::CallId;

use crate::context::Context;
use crate::error::{err, CliError, CliResult};
use crate::output::{Check, Status};
use crate::player::{CallKind, PlayedCall};
use crate::simulate::{applied, line_for, names, player, settled};
use report::{ms, Report};

#[derive(clap::Args)]
pub struct Args {
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
    inject: Option<Inject>,
}

/// A fault the load test adds on purpose, to prove its verification catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Inject {
    /// One call is counted as played but never sent: as if the stack lost it.
    Lost,
    /// One call more in the day's statistics: as if a call were counted twice.
    Double,
}

/// A load test as its flags ask for it.
struct LoadTest {
    calls: usize,
    duration: Duration,
    concurrency: usize,
    company: Option<String>,
    /// Every Nth call has each webhook delivered twice (0: none).
    duplicate_every: usize,
    inject: Option<Inject>,
    /// Give up waiting for the queues once no call has settled for this long.
    drain: Duration,
}

/// Records read at once while waiting for the stack to store the calls.
const DRAIN_READS: usize = 8;

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let test = LoadTest {
        calls: args.calls as usize,
        duration: Duration::from_secs(args.duration),
        concurrency: args.concurrency as usize,
        company: args.company,
        duplicate_every: args.duplicate_every as usize,
        inject: args.inject,
        drain: Duration::from_secs(args.drain),
    };
    load_test(ctx, &test).await
}

/// The mix of a load test: mostly bookings, as a salon's phone.
fn kind_for(i: usize) -> CallKind {
    match i % 20 {
        0..=11 => CallKind::Appointment,
        12..=16 => CallKind::Question,
        17..=18 => CallKind::NoAnswer,
        _ => CallKind::Voicemail,
    }
}

async fn load_test(ctx: &Context, test: &LoadTest) -> CliResult {
    if test.calls == 0 {
        return Err(CliError::Usage("--calls must be at least 1".into()));
    }
    let run = fastrand::u32(0..10_000);
    let (company_id, base) = line_for(ctx, test.company.as_deref(), "+4915100000000").await?;
    let player = Arc::new(player(ctx)?);
    let store = ctx.call_store();
    let zone = base.time_zone;
    // The days the calls can be counted on: today and, past midnight, tomorrow.
    let today = Utc::now().with_timezone(&zone).date_naive();
    let days = [
        today.to_string(),
        (today + chrono::Days::new(1)).to_string(),
    ];
    let mut before = BTreeMap::new();
    for day in &days {
        before.insert(
            day.clone(),
            store.daily_stats(&company_id, day).await.map_err(err)?,
        );
    }
    ctx.out.line(&format!(
        "Load test: {} calls over {} s to company {company_id} ({}), at most {} at once; {}",
        test.calls,
        test.duration.as_secs_f64(),
        base.agent_id,
        test.concurrency,
        if test.duplicate_every == 0 {
            "no webhook delivered twice".to_owned()
        } else {
            format!(
                "1 call in {} has each webhook delivered twice",
                test.duplicate_every
            )
        },
    ));

    let bar = ctx.out.progress(Some(test.calls as u64), "calls");
    let started = Instant::now();
    let permits = Arc::new(tokio::sync::Semaphore::new(test.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut played: Vec<PlayedCall> = Vec::with_capacity(test.calls);
    let spacing = test.duration.div_f64(test.calls as f64);
    for i in 0..test.calls {
        let kind = kind_for(i);
        let mut line = base.clone();
        line.customer = format!("+49151{run:04}{i:04}", i = i % 10_000);
        if test.inject == Some(Inject::Lost) && i == 0 {
            // Never sent, yet expected: what a lost call looks like to the verification.
            played.push(PlayedCall {
                call_id: format!("call_simlost{run:04}"),
                kind,
                agent_id: line.agent_id.clone(),
                start_ms: Utc::now().timestamp_millis(),
                attempts: Vec::new(),
                tools: Vec::new(),
                delivered: kind.events().to_vec(),
                undelivered: Vec::new(),
                booked: None,
                call: Value::Null,
            });
            bar.inc(1);
            continue;
        }
        tokio::time::sleep_until((started + spacing.mul_f64(i as f64)).into()).await;
        let permit = permits.clone().acquire_owned().await.map_err(err)?;
        let player = player.clone();
        let duplicate =
            test.duplicate_every > 0 && i % test.duplicate_every == test.duplicate_every - 1;
        let offset = 2 + (i % 60) as u32;
        tasks.spawn(async move {
            let mut call = player.play(kind, &line, duplicate, offset).await;
            drop(permit);
            // Its transcript is not needed any more: 100,000 of them would be gigabytes.
            call.call = serde_json::Value::Null;
            call
        });
        while let Some(done) = tasks.try_join_next() {
            played.push(done.map_err(err)?);
            bar.inc(1);
        }
    }
    while let Some(done) = tasks.join_next().await {
        played.push(done.map_err(err)?);
        bar.inc(1);
    }
    let played_in = started.elapsed();
    bar.finish_and_clear();

    if test.inject == Some(Inject::Double) {
        // A consumer that counted a call twice would leave exactly this behind.
        ctx.aws
            .dynamodb
            .update_item()
            .table_name(&ctx.stack.stats_table)
            .key("company_id", AttributeValue::S(company_id.clone()))
            .key("day", AttributeValue::S(today.to_string()))
            .update_expression("ADD calls :one")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
    }

    // Wait for the queues: every accepted event applied, or no call settling for the drain
    // time. The reads are few at a time: the stack's consumers write to the same tables.
    let drain_bar = ctx.out.progress(Some(played.len() as u64), "stored");
    let mut progress_at = Instant::now();
    let mut records: BTreeMap<String, CallRecord> = BTreeMap::new();
    let mut pending: Vec<&PlayedCall> = played.iter().filter(|p| !p.delivered.is_empty()).collect();
    loop {
        let checked: Vec<_> = futures::stream::iter(pending.iter().map(|p| settled(&store, p)))
            .buffered(DRAIN_READS)
            .collect()
            .await;
        let mut still = Vec::new();
        for (p, r) in pending.iter().zip(checked) {
            match r? {
                Some(record) => {
                    records.insert(p.call_id.clone(), record);
                    drain_bar.inc(1);
                    progress_at = Instant::now();
                }
                None => still.push(*p),
            }
        }
        pending = still;
        if pending.is_empty() || progress_at.elapsed() >= test.drain {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    drain_bar.finish_and_clear();

    // Exactly once: a record per call with all its events, and the days' statistics grew by
    // exactly what those records count (a lost call has no record; a call counted twice makes
    // the statistics grow by more than the records count).
    let mut missing = Vec::new();
    let mut incomplete = Vec::new();
    for p in &pending {
        // One last look: a call may have settled since the last round.
        if let Some(r) = settled(&store, p).await? {
            records.insert(p.call_id.clone(), r);
            continue;
        }
        match store
            .load(&CallId::parse(&p.call_id).map_err(err)?)
            .await
            .map_err(err)?
        {
            None => missing.push(p.call_id.clone()),
            Some(r) => {
                incomplete.push(format!(
                    "{} (has {}; sent {})",
                    p.call_id,
                    applied(&r),
                    names(&p.delivered)
                ));
            }
        }
    }
    let wrong_company: Vec<String> = records
        .values()
        .filter(|r| r.company_id != company_id)
        .map(|r| format!("{} in {}", r.call_id.as_str(), r.company_id))
        .collect();
    let stored_in = started.elapsed();
    let mut expected: BTreeMap<String, CallStats> = BTreeMap::new();
    for r in records.values() {
        let day = expected.entry(r.stats_day.clone()).or_default();
        *day = day.plus(r.stats());
    }
    let mut differences = Vec::new();
    let mut counted_calls = 0;
    for day in days
        .iter()
        .chain(expected.keys().filter(|d| !days.contains(d)))
    {
        let after = store.daily_stats(&company_id, day).await.map_err(err)?;
        let grew = after.minus(before.get(day).copied().unwrap_or_default());
        counted_calls += grew.calls;
        let want = expected.get(day).copied().unwrap_or_default();
        for ((name, got), wanted) in CallStats::FIELDS
            .iter()
            .zip(grew.values())
            .zip(want.values())
        {
            if got != wanted {
                differences.push(format!(
                    "{day} {name}: counted {got}, the stored calls make {wanted}"
                ));
            }
        }
    }
    let sent_calls = played.iter().filter(|p| !p.delivered.is_empty()).count();
    let undelivered: Vec<String> = played
        .iter()
        .filter(|p| !p.undelivered.is_empty())
        .map(|p| format!("{}: {}", p.call_id, names(&p.undelivered)))
        .collect();
    let tool_failures = played
        .iter()
        .flat_map(|p| &p.tools)
        .filter(|t| t.status != Some(200))
        .count();

    let checks = vec![
        Check::from_bool(
            "every webhook accepted (with Retell's retries)",
            undelivered.is_empty(),
            if undelivered.is_empty() {
                format!("{sent_calls} calls")
            } else {
                format!("{} calls not: {}", undelivered.len(), preview(&undelivered))
            },
        ),
        Check::from_bool(
            "every tool call answered",
            tool_failures == 0,
            format!("{tool_failures} failed"),
        ),
        Check::from_bool(
            "every call stored, with all its events",
            missing.is_empty() && incomplete.is_empty(),
            format!(
                "{} stored; {} missing{}; {} incomplete{}",
                records.len(),
                missing.len(),
                preview_with(&missing),
                incomplete.len(),
                preview_with(&incomplete)
            ),
        ),
        Check::from_bool(
            "every call under its company",
            wrong_company.is_empty(),
            if wrong_company.is_empty() {
                format!("all in {company_id}")
            } else {
                preview(&wrong_company)
            },
        ),
        Check::from_bool(
            "statistics count each call exactly once",
            differences.is_empty() && counted_calls == sent_calls as i64,
            if differences.is_empty() {
                format!("{counted_calls} calls counted for {sent_calls} played")
            } else {
                format!(
                    "{counted_calls} calls counted for {sent_calls} played; {}",
                    preview(&differences)
                )
            },
        ),
    ];
    let ok = checks.iter().all(|c| c.status != Status::Failed);

    let report = Report::of(&played);
    let out = &ctx.out;
    out.line(&format!(
        "\n{} calls played in {:.1} s ({:.1} calls/s, {} requests), all stored after {:.1} s",
        played.len(),
        played_in.as_secs_f64(),
        played.len() as f64 / played_in.as_secs_f64().max(0.001),
        report.requests,
        stored_in.as_secs_f64()
    ));
    out.line(&format!("\n{}", out.bold("Latency per endpoint (ms)")));
    out.table(
        &["endpoint", "requests", "p50", "p90", "p99", "max", "errors"],
        &report
            .endpoints
            .iter()
            .map(|(name, e)| {
                vec![
                    name.clone(),
                    e.count.to_string(),
                    ms(e.p50),
                    ms(e.p90),
                    ms(e.p99),
                    ms(e.max),
                    e.errors.to_string(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    if !report.errors.is_empty() {
        out.line(&format!("\n{}", out.bold("Errors by status")));
        out.table(
            &["endpoint", "status", "count"],
            &report
                .errors
                .iter()
                .map(|((e, s), n)| vec![e.clone(), s.clone(), n.to_string()])
                .collect::<Vec<_>>(),
        );
    }
    out.line(&format!("\n{}", out.bold("Verification")));
    for c in &checks {
        out.check(c);
    }
    out.json_value(&json!({
        "ok": ok, "company_id": company_id, "calls": test.calls, "duration_s": test.duration.as_secs_f64(),
        "concurrency": test.concurrency, "played_s": played_in.as_secs_f64(), "stored_s": stored_in.as_secs_f64(),
        "requests": report.requests,
        "endpoints": report.endpoints.iter().map(|(name, e)| (name.clone(), json!({
            "requests": e.count, "p50_ms": e.p50, "p90_ms": e.p90, "p99_ms": e.p99, "max_ms": e.max, "errors": e.errors,
        }))).collect::<serde_json::Map<_, _>>(),
        "errors": report.errors.iter().map(|((e, s), n)| json!({"endpoint": e, "status": s, "count": n})).collect::<Vec<_>>(),
        "verification": {
            "played": sent_calls, "stored": records.len(), "missing": missing, "incomplete": incomplete,
            "counted_calls": counted_calls, "statistics_differences": differences,
        },
        "bookings": played.iter().filter(|p| p.booked.is_some()).count(),
        "checks": checks,
    }));
    Ok(ok.into())
}

/// The first five of `items`, and how many more.
fn preview(items: &[String]) -> String {
    let mut shown: Vec<String> = items.iter().take(5).cloned().collect();
    if items.len() > 5 {
        shown.push(format!("… {} more", items.len() - 5));
    }
    shown.join("; ")
}

/// [`preview`] in parentheses after a count, nothing when there are none.
fn preview_with(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(" ({})", preview(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_mostly_bookings_and_has_every_kind() {
        let kinds: Vec<CallKind> = (0..20).map(kind_for).collect();
        assert_eq!(
            kinds
                .iter()
                .filter(|k| **k == CallKind::Appointment)
                .count(),
            12
        );
        for k in [CallKind::Question, CallKind::NoAnswer, CallKind::Voicemail] {
            assert!(kinds.contains(&k));
        }
    }
}
