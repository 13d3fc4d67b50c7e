//! `simulate-call` and `load-test`: whole calls played against the stack ([`crate::player`]),
//! then read back from what the stack stored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};
use shared::booking::directory::{CompanyDirectory, CompanyKey, COMPANY_CACHE_TTL};
use shared::booking::phone::PhoneNumber;
use shared::calls::record::CallRecord;
use shared::calls::stats::CallStats;
use shared::calls::store::{CallStore, DynamoCallStore};
use shared::retell::{CallId, EventKind};

use crate::commands::{err, Context};
use crate::output::{Check, Status};
use crate::player::{CallKind, Line, PlayedCall, Player};

/// The company a simulated call reaches: `company`, or the first company (by id) that has an
/// agent and a number.
async fn line_for(
    ctx: &Context,
    company: Option<&str>,
    customer: &str,
) -> Result<(String, Line), String> {
    let directory = CompanyDirectory::new(
        ctx.aws.dynamodb.clone(),
        ctx.stack.companies_table.clone(),
        COMPANY_CACHE_TTL,
    );
    let ids = match company {
        // A megabyte of text is not a company id, and never a DynamoDB key.
        Some(id) if !CompanyKey::Id(id.to_owned()).is_well_formed() => {
            return Err(format!(
                "--company: {:?}… is not a company id",
                id.chars().take(32).collect::<String>()
            ))
        }
        Some(id) => vec![id.to_owned()],
        None => directory.company_ids().await.map_err(err)?,
    };
    for id in &ids {
        let Some(found) = directory
            .lookup(&CompanyKey::Id(id.clone()))
            .await
            .map_err(err)?
        else {
            continue;
        };
        let s = &found.settings;
        let (Some(agent), Some(number), Some(service)) = (
            s.agent_ids.first(),
            s.phone_numbers.first(),
            s.services.first(),
        ) else {
            if company.is_some() {
                return Err(format!(
                    "company {id} needs an agent, a phone number and a service to take a call"
                ));
            }
            continue;
        };
        return Ok((
            id.clone(),
            Line {
                agent_id: agent.clone(),
                company_number: number.clone(),
                customer: customer.to_owned(),
                customer_name: "Max Mustermann".into(),
                service: service.display_name().to_owned(),
                time_zone: found.time_zone,
            },
        ));
    }
    Err(match company {
        Some(id) => format!(
            "--company: no company {:?} in {}",
            id.chars().take(64).collect::<String>(),
            ctx.stack.companies_table
        ),
        None => format!(
            "no company in {} has an agent, a number and a service: `retell-ops companies load`",
            ctx.stack.companies_table
        ),
    })
}

fn player(ctx: &Context) -> Result<Player, String> {
    let key = ctx.retell_key().ok_or(
        "no Retell API key to sign with: set RETELL_API_KEY or store it in the stack's secret",
    )?;
    Player::new(&ctx.stack, key)
}

/// Every event the stack accepted for the call is applied (None: no record yet).
async fn settled(
    store: &DynamoCallStore,
    played: &PlayedCall,
) -> Result<Option<CallRecord>, String> {
    let id = CallId::parse(&played.call_id).map_err(err)?;
    let record = store.load(&id).await.map_err(err)?;
    Ok(record.filter(|r| {
        played
            .delivered
            .iter()
            .all(|e| r.events_applied.contains(e))
    }))
}

// ------------------------------------------------------------------ simulate-call

pub async fn simulate_call(
    ctx: &Context,
    kind: CallKind,
    customer: &str,
    company: Option<&str>,
    wait: Duration,
) -> Result<bool, String> {
    let customer = PhoneNumber::parse(customer)
        .map_err(|e| format!("--customer: {e} (an E.164 number such as +4915112345678)"))?;
    let (company_id, line) = line_for(ctx, company, customer.as_str()).await?;
    let player = player(ctx)?;
    let out = &ctx.out;
    out.line(&format!(
        "Playing a{} {} call: {} {} company {company_id} ({})",
        if kind.inbound() {
            "n inbound"
        } else {
            "n outbound"
        },
        clap::ValueEnum::to_possible_value(&kind)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default(),
        customer.masked(),
        if kind.inbound() {
            "calls"
        } else {
            "is called by"
        },
        line.agent_id
    ));
    let played = player.play(kind, &line, false, 2).await;
    let mut checks = Vec::new();
    checks.push(Check::from_bool(
        "webhooks accepted",
        played.undelivered.is_empty(),
        if played.undelivered.is_empty() {
            names(&played.delivered)
        } else {
            format!(
                "not accepted after Retell's retries: {} ({})",
                names(&played.undelivered),
                failures(&played)
            )
        },
    ));
    for t in &played.tools {
        let message = t
            .reply
            .as_ref()
            .and_then(|r| r.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("(no answer)");
        checks.push(Check::from_bool(
            format!("tool {}", t.name),
            t.status == Some(200),
            format!(
                "HTTP {}: {message}",
                t.status.map_or("none".to_owned(), |s| s.to_string())
            ),
        ));
    }

    // The consumers work from queues: wait for every accepted event to be applied.
    let store = ctx.call_store();
    let deadline = Instant::now() + wait;
    let record = loop {
        match settled(&store, &played).await? {
            Some(r) => break Some(r),
            None if Instant::now() >= deadline => break None,
            None => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    let record = match (
        record,
        store
            .load(&CallId::parse(&played.call_id).map_err(err)?)
            .await,
    ) {
        (Some(r), _) => {
            checks.push(Check::from_bool(
                "call stored",
                r.company_id == company_id,
                format!(
                    "{} in company {}, events {}",
                    played.call_id,
                    r.company_id,
                    applied(&r)
                ),
            ));
            Some(r)
        }
        (None, Ok(Some(partial))) => {
            checks.push(Check::failed(
                "call stored",
                format!(
                    "after {} s only events {} of {} are applied",
                    wait.as_secs(),
                    applied(&partial),
                    names(&played.delivered)
                ),
            ));
            Some(partial)
        }
        (None, Ok(None)) => {
            checks.push(Check::failed(
                "call stored",
                format!("no record of {} after {} s", played.call_id, wait.as_secs()),
            ));
            None
        }
        (None, Err(e)) => {
            checks.push(Check::failed("call stored", e.to_string()));
            None
        }
    };
    let expected_status = if kind.connected() {
        "ended"
    } else {
        "not_connected"
    };
    if let Some(r) = &record {
        checks.push(Check::from_bool(
            "call status",
            r.call_status() == Some(expected_status),
            format!(
                "{} ({})",
                r.call_status().unwrap_or("none"),
                r.str("disconnection_reason").unwrap_or("no reason")
            ),
        ));
    }

    let mut booking = Value::Null;
    if kind == CallKind::Appointment {
        match &played.booked {
            None => checks.push(Check::failed(
                "appointment booked",
                "book_appointment booked nothing",
            )),
            Some(id) => {
                checks.push(Check::ok("appointment booked", Some(id.clone())));
                let on_record = record
                    .as_ref()
                    .is_some_and(|r| r.booked_appointments().contains(id));
                checks.push(Check::from_bool(
                    "booking on the call record",
                    on_record,
                    if on_record {
                        id.clone()
                    } else {
                        "the stored call names no such booking".into()
                    },
                ));
                // Read back through the stack's own calendar, as the agent would.
                let readback = player.customer_info(&played, &line).await;
                let upcoming = readback
                    .as_ref()
                    .and_then(|r| r.get("upcoming"))
                    .and_then(Value::as_array)
                    .and_then(|a| {
                        a.iter()
                            .find(|u| u.get("appointment_id").and_then(Value::as_str) == Some(id))
                    })
                    .cloned();
                checks.push(Check::from_bool(
                    "booking in the calendar",
                    upcoming.is_some(),
                    match &upcoming {
                        Some(u) => format!(
                            "{} {} {}",
                            u["date"].as_str().unwrap_or(""),
                            u["time"].as_str().unwrap_or(""),
                            u["service_id"].as_str().unwrap_or("")
                        ),
                        None => "get_customer_info does not list it".into(),
                    },
                ));
                booking = json!({"appointment_id": id, "calendar": upcoming});
            }
        }
    }

    let ok = checks.iter().all(|c| c.status != Status::Failed);
    if let Some(r) = &record {
        out.line(&format!("\n{}", out.bold("Stored call")));
        // The record keeps Retell's call_analysis fields at its top level.
        let field = |k: &str| {
            r.fields
                .get(k)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        };
        let rows = [
            ("call_id", played.call_id.clone()),
            ("company", r.company_id.clone()),
            ("status", r.call_status().unwrap_or("").to_owned()),
            (
                "disconnection",
                r.str("disconnection_reason").unwrap_or("").to_owned(),
            ),
            (
                "duration",
                format!("{} ms", r.int("duration_ms").unwrap_or(0)),
            ),
            ("sentiment", field("user_sentiment").unwrap_or_default()),
            ("successful", field("call_successful").unwrap_or_default()),
            ("summary", field("call_summary").unwrap_or_default()),
            ("day", r.stats_day.clone()),
        ];
        out.table(
            &["field", "value"],
            &rows
                .iter()
                .map(|(k, v)| vec![k.to_string(), v.clone()])
                .collect::<Vec<_>>(),
        );
    }
    if !played.tools.is_empty() {
        out.line(&format!("\n{}", out.bold("Tool answers")));
    }
    for t in &played.tools {
        out.line(&format!(
            "{} {} → {}",
            t.name,
            t.args,
            t.reply
                .as_ref()
                .and_then(|r| r.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("(no answer)")
        ));
    }
    out.line("");
    for c in &checks {
        out.check(c);
    }
    out.json_value(&json!({
        "ok": ok, "call_id": played.call_id, "type": kind, "company_id": company_id,
        "customer": customer.masked(),
        "record": record.as_ref().map(|r| json!({
            "company_id": r.company_id, "call_status": r.call_status(),
            "disconnection_reason": r.str("disconnection_reason"), "duration_ms": r.int("duration_ms"),
            "events_applied": r.events_applied.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            "stats_day": r.stats_day,
            "call_analysis": (["call_summary", "user_sentiment", "call_successful", "in_voicemail"]
                .iter().map(|k| (k.to_string(), r.fields.get(*k).cloned().unwrap_or(Value::Null)))
                .collect::<serde_json::Map<_, _>>()),
            "booked_appointments": r.booked_appointments(),
        })),
        "tools": played.tools, "booking": booking, "checks": checks,
    }));
    Ok(ok)
}

fn applied(r: &CallRecord) -> String {
    let names: Vec<&str> = r.events_applied.iter().map(|e| e.as_str()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The failed attempts of a call, counted by endpoint and status.
fn failures(played: &PlayedCall) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for a in played.attempts.iter().filter(|a| !a.ok()) {
        let status = match &a.status {
            Ok(s) => format!("HTTP {s}"),
            Err(e) => e.clone(),
        };
        *counts
            .entry(format!("{} {status}", a.endpoint))
            .or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ------------------------------------------------------------------ load-test

/// A fault the load test adds on purpose, to prove its verification catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Inject {
    /// One call is counted as played but never sent: as if the stack lost it.
    Lost,
    /// One call more in the day's statistics: as if a call were counted twice.
    Double,
}

pub struct LoadTest {
    pub calls: usize,
    pub duration: Duration,
    pub concurrency: usize,
    pub company: Option<String>,
    /// Every Nth call has each webhook delivered twice (0: none).
    pub duplicate_every: usize,
    pub inject: Option<Inject>,
    /// Give up waiting for the queues once no call has settled for this long.
    pub drain: Duration,
}

/// The mix of a load test: mostly bookings, as a salon's phone.
/// Records read at once while waiting for the stack to store the calls.
const DRAIN_READS: usize = 8;

fn kind_for(i: usize) -> CallKind {
    match i % 20 {
        0..=11 => CallKind::Appointment,
        12..=16 => CallKind::Question,
        17..=18 => CallKind::NoAnswer,
        _ => CallKind::Voicemail,
    }
}

pub async fn load_test(ctx: &Context, test: &LoadTest) -> Result<bool, String> {
    if test.calls == 0 {
        return Err("--calls must be at least 1".into());
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
    Ok(ok)
}

fn ms(v: f64) -> String {
    format!("{v:.1}")
}

fn preview(items: &[String]) -> String {
    let mut shown: Vec<String> = items.iter().take(5).cloned().collect();
    if items.len() > 5 {
        shown.push(format!("… {} more", items.len() - 5));
    }
    shown.join("; ")
}

fn preview_with(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(" ({})", preview(items))
    }
}

#[derive(Default)]
struct EndpointFigures {
    count: usize,
    errors: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

struct Report {
    requests: usize,
    endpoints: BTreeMap<String, EndpointFigures>,
    errors: BTreeMap<(String, String), usize>,
}

impl Report {
    fn of(played: &[PlayedCall]) -> Self {
        let mut latencies: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut errors = BTreeMap::new();
        let mut failed: BTreeMap<String, usize> = BTreeMap::new();
        let mut requests = 0;
        for a in played.iter().flat_map(|p| &p.attempts) {
            requests += 1;
            latencies
                .entry(a.endpoint.clone())
                .or_default()
                .push(a.latency.as_secs_f64() * 1000.0);
            if !a.ok() {
                let status = match &a.status {
                    Ok(s) => s.to_string(),
                    Err(e) => e.clone(),
                };
                *errors.entry((a.endpoint.clone(), status)).or_default() += 1;
                *failed.entry(a.endpoint.clone()).or_default() += 1;
            }
        }
        let endpoints = latencies
            .into_iter()
            .map(|(name, mut v)| {
                v.sort_by(f64::total_cmp);
                let figures = EndpointFigures {
                    count: v.len(),
                    errors: failed.get(&name).copied().unwrap_or(0),
                    p50: percentile(&v, 50.0),
                    p90: percentile(&v, 90.0),
                    p99: percentile(&v, 99.0),
                    max: v.last().copied().unwrap_or(0.0),
                };
                (name, figures)
            })
            .collect();
        Self {
            requests,
            endpoints,
            errors,
        }
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Event names, as a report lists them.
fn names(events: &[EventKind]) -> String {
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 90.0), 90.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 50.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

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
