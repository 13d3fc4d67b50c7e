//! The commands. Each returns Ok(true) when everything it did or checked was fine, Ok(false)
//! when it ran but something failed (reported on the way), Err when it could not run at all.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shared::booking::company::{CalendarBackend, Company, CompanySettings};
use shared::booking::directory::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::booking::phone::PhoneNumber;
use shared::calls::export::{ExportFormat, ExportWriter};
use shared::calls::queue::SqsEventQueue;
use shared::calls::reconcile::{
    CallOutcome, Checkpoint, ReconcileReport, Reconciler, RetellAccount, Tally,
};
use shared::calls::store::DynamoCallStore;
use shared::calls::views::{CallFilter, CallSummary};
use shared::platform::aws::AwsClients;
use shared::platform::config::DEFAULT_INLINE_LIMIT_BYTES;
use shared::retell::api::{
    mask_number, ConcurrencyState, LlmSettings, PhoneNumberUpdate, RetellClient,
};

use crate::agent_file::AgentFile;
use crate::agents::{self, describe, LoadedFile, OpsError};
use crate::output::{Check, Out, Status};
use crate::target::Stack;
use shared::retell::wiring;

pub struct Context {
    pub stack: Stack,
    pub out: Out,
    pub aws: AwsClients,
    retell: Result<(RetellClient, &'static str), String>,
    retell_key: Option<String>,
}

impl Context {
    pub async fn new(stack: Stack, out: Out) -> Result<Self, String> {
        let aws = stack.aws().await;
        let (retell, retell_key) = match stack.retell_key(&aws).await {
            Ok((key, source)) => (
                stack
                    .retell(&key)
                    .map(|c| (c, source))
                    .map_err(|e| e.to_string()),
                Some(key),
            ),
            Err(e) => (Err(e.to_string()), None),
        };
        Ok(Self {
            stack,
            out,
            aws,
            retell,
            retell_key,
        })
    }

    /// The Retell API key the commands use (never printed).
    pub fn retell_key(&self) -> Option<&str> {
        self.retell_key.as_deref()
    }

    pub fn retell(&self) -> Result<&RetellClient, String> {
        self.retell.as_ref().map(|(c, _)| c).map_err(Clone::clone)
    }

    /// The stack's calls and statistics tables.
    pub fn call_store(&self) -> DynamoCallStore {
        DynamoCallStore::new(
            self.aws.dynamodb.clone(),
            self.stack.calls_table.clone(),
            self.stack.stats_table.clone(),
        )
    }

    /// The ids of `companies`' calls that started in `[from_ms, to_ms)`, newest first, 200 a
    /// page through each company's index (never a scan).
    pub async fn call_ids(
        &self,
        companies: &[String],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<String>, String> {
        let filter = CallFilter {
            from_ms,
            to_ms,
            ..Default::default()
        };
        let mut ids = Vec::new();
        each_call(&self.call_store(), companies, &filter, |_, call| {
            ids.push(call.call_id.clone());
            Ok(())
        })
        .await?;
        Ok(ids)
    }

    /// `company`, or every company in the companies table and the default company. A company
    /// the stack does not know is refused: reading nothing would look like a quiet day.
    pub async fn companies(&self, company: Option<&str>) -> Result<Vec<String>, String> {
        let directory = CompanyDirectory::new(
            self.aws.dynamodb.clone(),
            self.stack.companies_table.clone(),
            COMPANY_CACHE_TTL,
        );
        let mut known: BTreeSet<String> = directory
            .company_ids()
            .await
            .map_err(err)?
            .into_iter()
            .collect();
        known.insert(self.stack.default_company_id.clone());
        match company {
            Some(id) if !known.contains(id) => {
                let shown: String = id.chars().take(64).collect();
                Err(format!(
                    "--company: no company {shown:?} in {} (known: {})",
                    self.stack.companies_table,
                    known.into_iter().collect::<Vec<_>>().join(", ")
                ))
            }
            Some(id) => Ok(vec![id.to_owned()]),
            None => Ok(known.into_iter().collect()),
        }
    }
}

pub(crate) fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

// ------------------------------------------------------------------ test-connection

pub async fn test_connection(ctx: &Context) -> Result<bool, String> {
    let out = &ctx.out;
    let stack = &ctx.stack;
    let wired = stack.wiring();
    let mut checks = Vec::new();
    let report = |checks: &mut Vec<Check>, c: Check| {
        out.check(&c);
        checks.push(c);
    };
    let retell = match &ctx.retell {
        Ok((client, source)) => {
            match client.list_agents_page(None, 1).await {
                Ok(_) => report(
                    &mut checks,
                    Check::ok(
                        "Retell API key valid",
                        Some(format!("from {source}, {}", client.base_url())),
                    ),
                ),
                Err(e) => report(
                    &mut checks,
                    Check::failed("Retell API key valid", e.to_string()),
                ),
            }
            Some(client)
        }
        Err(e) => {
            report(&mut checks, Check::failed("Retell API key", e.clone()));
            None
        }
    };
    report(&mut checks, probe_webhook(ctx).await);

    if let Some(retell) = retell.filter(|_| checks[0].status == Status::Ok) {
        match retell.list_agents().await {
            Ok(list) => {
                let mut llms_seen = BTreeSet::new();
                for summary in list {
                    let name = summary.agent_name.clone().unwrap_or_default();
                    let agent = match retell.get_agent(&summary.agent_id, None).await {
                        Ok(a) => a,
                        Err(e) => {
                            report(
                                &mut checks,
                                Check::failed(
                                    format!("agent {} ({name})", summary.agent_id),
                                    e.to_string(),
                                ),
                            );
                            continue;
                        }
                    };
                    let url = agent.webhook_url.clone().unwrap_or_default();
                    report(
                        &mut checks,
                        Check::from_bool(
                            format!("agent {} ({name}) webhook_url", agent.agent_id),
                            wiring::webhook_points_here(&wired, &agent),
                            if url.is_empty() {
                                "not set".into()
                            } else {
                                url
                            },
                        ),
                    );
                    let Some(llm_id) = agent.llm_id().map(str::to_owned) else {
                        continue;
                    };
                    if !llms_seen.insert(llm_id.clone()) {
                        continue;
                    }
                    match retell.get_llm(&llm_id).await {
                        Ok(llm) => {
                            for tool in wiring::project_tools_of(&wired, &llm).0 {
                                let detail = if tool.drifted.is_empty() {
                                    tool.url.clone()
                                } else {
                                    format!(
                                        "{} (differs from code: {})",
                                        tool.url,
                                        tool.drifted.join(", ")
                                    )
                                };
                                report(
                                    &mut checks,
                                    Check::from_bool(
                                        format!("LLM {llm_id} tool {}", tool.name),
                                        tool.drifted.is_empty(),
                                        detail,
                                    ),
                                );
                            }
                            for (name, url) in wiring::foreign_tools(&wired, &llm) {
                                report(
                                    &mut checks,
                                    Check::unknown(
                                        format!("LLM {llm_id} tool {name}"),
                                        format!("not a tool of this project ({url})"),
                                    ),
                                );
                            }
                        }
                        Err(e) => report(
                            &mut checks,
                            Check::failed(format!("LLM {llm_id}"), e.to_string()),
                        ),
                    }
                }
            }
            Err(e) => report(&mut checks, Check::failed("listing agents", e.to_string())),
        }
        match retell.list_phone_numbers().await {
            Ok(numbers) => {
                for n in numbers {
                    let url = n.inbound_webhook_url.clone().unwrap_or_default();
                    report(
                        &mut checks,
                        Check::from_bool(
                            format!(
                                "number {} inbound_webhook_url",
                                mask_number(&n.phone_number)
                            ),
                            url == stack.inbound_url,
                            if url.is_empty() {
                                "not set".into()
                            } else {
                                url
                            },
                        ),
                    );
                    match wiring::pinned_routes(retell, &n).await {
                        Ok(routes) => {
                            for r in routes {
                                let c = match &r.problem {
                                    Some(p) => Check::failed(r.label(), p.clone()),
                                    None => Check::from_bool(
                                        r.label(),
                                        r.points_here(&wired),
                                        if r.points_here(&wired) {
                                            "the version its calls get points at this stack".into()
                                        } else {
                                            "the version its calls get does not point at this stack: `retell-ops sync --publish`".to_owned()
                                        },
                                    ),
                                };
                                report(&mut checks, c);
                            }
                        }
                        Err(e) => report(
                            &mut checks,
                            Check::failed(
                                format!("number {} agent versions", mask_number(&n.phone_number)),
                                e.to_string(),
                            ),
                        ),
                    }
                }
            }
            Err(e) => report(
                &mut checks,
                Check::failed("listing phone numbers", e.to_string()),
            ),
        }
    }
    let ok = checks.iter().all(|c| c.status != Status::Failed);
    out.json_value(&json!({"ok": ok, "stack": stack.label, "checks": checks}));
    if !ok && !out.json {
        out.line("\nSome checks failed: `retell-ops sync` points agents, tools and numbers at this stack.");
    }
    Ok(ok)
}

/// A signed request the webhook must accept and ignore (an event kind it does not store).
async fn probe_webhook(ctx: &Context) -> Check {
    let what = format!("webhook answers a signed probe ({})", ctx.stack.webhook_url);
    let key = match (&ctx.retell, ctx.retell_key()) {
        (_, Some(k)) => k.to_owned(),
        (Err(e), None) => return Check::failed(what, e.clone()),
        (Ok(_), None) => return Check::failed(what, "no Retell API key".to_owned()),
    };
    let now = Utc::now().timestamp_millis();
    let body = json!({"event": "retell_ops_probe", "call": {"call_id": format!("probe_{now}")}})
        .to_string();
    let signature = wire::signature::sign(body.as_bytes(), &key, now);
    let client = match shared::platform::http::client_builder()
        .timeout(Duration::from_secs(15))
        .build()
    {
        Ok(c) => c,
        Err(e) => return Check::failed(what, e.to_string()),
    };
    let answer = client
        .post(&ctx.stack.webhook_url)
        .header("content-type", "application/json")
        .header(shared::retell::auth::SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => {
            Check::ok(what, Some(format!("HTTP {}", r.status().as_u16())))
        }
        Ok(r) => {
            let status = r.status().as_u16();
            let text: String = r
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            let hint = if status == 401 {
                " (the stack's key is not the one this probe signed with)"
            } else {
                ""
            };
            Check::failed(what, format!("HTTP {status}{hint}: {text}"))
        }
        Err(e) => Check::failed(what, format!("no answer: {e}")),
    }
}

// ------------------------------------------------------------------ health

pub async fn health(ctx: &Context) -> Result<bool, String> {
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
        let main = queue_depth(&ctx.aws, &pair.url).await;
        let dlq = queue_depth(&ctx.aws, &pair.dlq_url).await;
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
        "checks": checks,
    }));
    Ok(ok)
}

fn ago(t: DateTime<Utc>) -> String {
    crate::when::span((Utc::now() - t).num_seconds())
}

/// (visible, in flight) messages of a queue.
pub(crate) async fn queue_depth(aws: &AwsClients, url: &str) -> Result<(u64, u64), String> {
    let out = aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
    let attrs = out.attributes().cloned().unwrap_or_default();
    let get = |k: QueueAttributeName| attrs.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok((
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}

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

// ------------------------------------------------------------------ sync

pub async fn sync(ctx: &Context, dry_run: bool, publish: bool) -> Result<bool, String> {
    let retell = ctx.retell()?;
    let stack = &ctx.stack;
    let wired = stack.wiring();
    let out = &ctx.out;
    let mut plan: Vec<(String, String, String, String)> = Vec::new(); // (what, id, field, change)
    let mut agent_updates: Vec<String> = Vec::new();
    let mut llm_updates: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut number_updates: Vec<String> = Vec::new();
    // Agents to publish (`--publish`), and the numbers pinned to an old version of each.
    let mut to_publish: BTreeSet<String> = BTreeSet::new();
    let mut pinned: Vec<wiring::PinnedRoute> = Vec::new();
    let mut unresolved: Vec<String> = Vec::new();
    let mut llms_seen = BTreeSet::new();
    let bar = out.progress(None, "reading agents");
    for summary in retell.list_agents().await.map_err(err)? {
        bar.inc(1);
        let agent = retell
            .get_agent(&summary.agent_id, None)
            .await
            .map_err(err)?;
        if !wiring::webhook_points_here(&wired, &agent) {
            plan.push((
                "agent".into(),
                agent.agent_id.clone(),
                "webhook_url".into(),
                format!(
                    "{} → {}",
                    agent.webhook_url.as_deref().unwrap_or("(not set)"),
                    stack.webhook_url
                ),
            ));
            agent_updates.push(agent.agent_id.clone());
            to_publish.insert(agent.agent_id.clone());
        }
        let Some(llm_id) = agent.llm_id().map(str::to_owned) else {
            continue;
        };
        if !llms_seen.insert(llm_id.clone()) {
            if llm_updates.contains_key(&llm_id) {
                to_publish.insert(agent.agent_id.clone());
            }
            continue;
        }
        let llm = retell.get_llm(&llm_id).await.map_err(err)?;
        let (states, fixed) = wiring::project_tools_of(&wired, &llm);
        for tool in states.iter().filter(|t| !t.drifted.is_empty()) {
            plan.push((
                "LLM tool".into(),
                format!("{llm_id}/{}", tool.name),
                tool.drifted.join(", "),
                if tool.drifted.contains(&"url") {
                    format!("url → {}", stack.tool_url(&tool.name))
                } else {
                    "from code".into()
                },
            ));
        }
        if let Some(tools) = fixed {
            llm_updates.insert(llm_id, tools);
            to_publish.insert(agent.agent_id.clone());
        }
    }
    for number in retell.list_phone_numbers().await.map_err(err)? {
        if number.inbound_webhook_url.as_deref() != Some(stack.inbound_url.as_str()) {
            plan.push((
                "number".into(),
                mask_number(&number.phone_number),
                "inbound_webhook_url".into(),
                format!(
                    "{} → {}",
                    number.inbound_webhook_url.as_deref().unwrap_or("(not set)"),
                    stack.inbound_url
                ),
            ));
            number_updates.push(number.phone_number.clone());
        }
        for route in wiring::pinned_routes(retell, &number).await.map_err(err)? {
            if route.problem.is_none() && route.points_here(&wired) {
                continue;
            }
            let label = route.label();
            if let Some(problem) = &route.problem {
                unresolved.push(format!("{label}: {problem}"));
                plan.push((
                    "number".into(),
                    label,
                    "agent version".into(),
                    problem.clone(),
                ));
                continue;
            }
            if publish {
                plan.push((
                    "number".into(),
                    label,
                    "agent version".into(),
                    "→ a newly published version that points at this stack".into(),
                ));
                to_publish.insert(route.route.agent_id.clone());
                pinned.push(route);
            } else {
                plan.push((
                    "number".into(),
                    label.clone(),
                    "agent version".into(),
                    "the published version its calls get does not point at this stack: run `sync --publish`".into(),
                ));
                unresolved.push(format!("{label}: needs `sync --publish`"));
            }
        }
    }
    if !publish {
        to_publish.clear();
    }
    bar.finish_and_clear();
    let rows: Vec<Vec<String>> = plan
        .iter()
        .map(|(a, b, c, d)| vec![a.clone(), b.clone(), c.clone(), d.clone()])
        .collect();
    if plan.is_empty() {
        out.line("Everything already points at this stack: nothing to change.");
    } else {
        out.line(&format!(
            "{} change(s){}:",
            plan.len(),
            if dry_run {
                " (dry run, nothing changed)"
            } else {
                ""
            }
        ));
        out.table(&["what", "id", "field", "change"], &rows);
    }
    let mut failures = Vec::new();
    let mut published: BTreeMap<String, u64> = BTreeMap::new();
    if !dry_run {
        let total =
            (agent_updates.len() + llm_updates.len() + number_updates.len() + to_publish.len())
                as u64;
        let bar = out.progress(Some(total), "applying");
        for agent_id in &agent_updates {
            let update = shared::retell::api::AgentSettings {
                webhook_url: Some(stack.webhook_url.clone()),
                ..Default::default()
            };
            if let Err(e) = retell.update_agent(agent_id, &update).await {
                failures.push(format!("agent {agent_id}: {e}"));
            }
            bar.inc(1);
        }
        for (llm_id, tools) in &llm_updates {
            let update = LlmSettings {
                general_tools: Some(tools.clone()),
                ..Default::default()
            };
            if let Err(e) = retell.update_llm(llm_id, &update).await {
                failures.push(format!("LLM {llm_id}: {e}"));
            }
            bar.inc(1);
        }
        for number in &number_updates {
            let update = PhoneNumberUpdate {
                inbound_webhook_url: Some(stack.inbound_url.clone()),
                ..Default::default()
            };
            if let Err(e) = retell.update_phone_number(number, &update).await {
                failures.push(format!("number {}: {e}", mask_number(number)));
            }
            bar.inc(1);
        }
        // Only once the drafts point here: publishing makes them what pinned numbers get.
        if failures.is_empty() {
            for agent_id in &to_publish {
                match publish_draft(retell, agent_id).await {
                    Ok(version) => {
                        published.insert(agent_id.clone(), version);
                    }
                    Err(e) => failures.push(format!("publishing agent {agent_id}: {e}")),
                }
                bar.inc(1);
            }
            if let Err(e) = repin(retell, &pinned, &published).await {
                failures.push(e);
            }
        }
        bar.finish_and_clear();
        for f in &failures {
            out.check(&Check::failed("sync", f.clone()));
        }
        for (agent_id, version) in &published {
            out.check(&Check::ok(
                format!("published agent {agent_id}"),
                Some(format!("version {version}")),
            ));
        }
        if failures.is_empty() && !plan.is_empty() {
            out.check(&Check::ok(
                format!("{} change(s) applied", plan.len() - unresolved.len()),
                None,
            ));
        }
    }
    for u in &unresolved {
        out.check(&Check::failed("not pointed at this stack", u.clone()));
    }
    let ok = failures.is_empty() && unresolved.is_empty();
    out.json_value(&json!({
        "ok": ok,
        "dry_run": dry_run,
        "stack": stack.label,
        "changes": plan.iter().map(|(a, b, c, d)| json!({"what": a, "id": b, "field": c, "change": d})).collect::<Vec<_>>(),
        "published": published,
        "unresolved": unresolved,
        "failures": failures,
    }));
    Ok(ok)
}

/// Publishes an agent's draft; the version now published (the draft's, or the latest
/// published one when the draft is published already).
async fn publish_draft(retell: &RetellClient, agent_id: &str) -> Result<u64, String> {
    let draft = retell.get_agent(agent_id, None).await.map_err(err)?;
    if !draft.is_published {
        retell
            .publish_agent(agent_id, draft.version)
            .await
            .map_err(err)?;
    }
    Ok(draft.version)
}

/// Moves numbers pinned to a version number onto the version just published
/// (`latest_published` follows by itself).
async fn repin(
    retell: &RetellClient,
    pinned: &[wiring::PinnedRoute],
    published: &BTreeMap<String, u64>,
) -> Result<(), String> {
    let mut numbers: BTreeSet<&str> = BTreeSet::new();
    for p in pinned {
        if matches!(
            p.route.version_ref(),
            shared::retell::api::VersionRef::Number(_)
        ) {
            numbers.insert(&p.number);
        }
    }
    if numbers.is_empty() {
        return Ok(());
    }
    let all = retell.list_phone_numbers().await.map_err(err)?;
    for number in all
        .iter()
        .filter(|n| numbers.contains(n.phone_number.as_str()))
    {
        let mut routes = number.inbound_agents.clone().unwrap_or_default();
        for r in routes.iter_mut() {
            let pinned_here = pinned.iter().any(|p| {
                p.number == number.phone_number
                    && p.route.agent_id == r.agent_id
                    && p.route.agent_version == r.agent_version
            });
            if let (true, Some(v)) = (pinned_here, published.get(&r.agent_id)) {
                r.agent_version = Some(json!(v));
            }
        }
        let update = PhoneNumberUpdate {
            inbound_agents: Some(routes),
            ..Default::default()
        };
        retell
            .update_phone_number(&number.phone_number, &update)
            .await
            .map_err(|e| format!("number {}: {e}", mask_number(&number.phone_number)))?;
    }
    Ok(())
}

// ------------------------------------------------------------------ companies

/// Marks (or unmarks) a customer of `company` as a VIP.
pub async fn customers_vip(
    ctx: &Context,
    company: &str,
    phone: &str,
    vip: bool,
) -> Result<bool, String> {
    // The number is not echoed: it is a customer's, or not a number at all.
    let phone = shared::booking::phone::PhoneNumber::parse(phone).map_err(|e| {
        format!("the customer's number: {e} (an E.164 number such as +4915112345678)")
    })?;
    let companies = ctx.companies(Some(company)).await?;
    let table = ctx.stack.appointments_table.clone().ok_or(
        "the stack has no output AppointmentsTableName (deploy the current template.yaml)",
    )?;
    let ledger = shared::calendar::AppointmentLedger::new(ctx.aws.dynamodb.clone(), table);
    ledger
        .set_vip(&companies[0], &phone, vip, Utc::now().timestamp_millis())
        .await
        .map_err(err)?;
    let what = if vip {
        "is a VIP"
    } else {
        "is no VIP any more"
    };
    ctx.out.check(&Check::ok(
        format!("{} of {company} {what}", phone.masked()),
        None,
    ));
    ctx.out.json_value(
        &json!({"ok": true, "company_id": company, "customer": phone.masked(), "vip": vip}),
    );
    Ok(true)
}

pub async fn companies_load(
    ctx: &Context,
    files: &[PathBuf],
    table: Option<String>,
) -> Result<bool, String> {
    let table = table.unwrap_or_else(|| ctx.stack.companies_table.clone());
    // Every file is checked before any is written.
    let mut settings: Vec<CompanySettings> = Vec::new();
    let mut claimed: HashMap<String, String> = HashMap::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let s: CompanySettings = serde_json::from_str(&text)
            .map_err(|e| format!("{}:{}: {e}", file.display(), e.line()))?;
        Company::from_settings(s.clone()).map_err(|e| format!("{}: {e}", file.display()))?;
        for_this_stack(&s, &ctx.stack).map_err(|e| format!("{}: {e}", file.display()))?;
        let keys =
            s.agent_ids
                .iter()
                .map(|a| format!("agent {a}"))
                .chain(s.phone_numbers.iter().map(|n| {
                    let e164 = PhoneNumber::parse(n).map(|p| p.as_str().to_owned());
                    format!("number {}", e164.unwrap_or_else(|_| n.clone()))
                }));
        for key in keys {
            if let Some(other) = claimed.insert(key.clone(), s.company_id.clone()) {
                if other != s.company_id {
                    return Err(format!(
                        "{}: {key} is listed by company {other} and by company {} (remove it from one of the two files)",
                        file.display(),
                        s.company_id
                    ));
                }
            }
        }
        settings.push(s);
    }
    let directory = CompanyDirectory::new(ctx.aws.dynamodb.clone(), table, COMPANY_CACHE_TTL);
    let mut loaded = Vec::new();
    let mut removed = Vec::new();
    for s in &settings {
        let done = directory
            .put(s)
            .await
            .map_err(|e| format!("{}: {e} (loaded before it: {:?})", s.company_id, loaded))?;
        ctx.out.check(&Check::ok(
            format!("loaded {} ({})", s.company_id, s.name),
            Some(format!(
                "agents {:?}, {} number(s)",
                s.agent_ids,
                s.phone_numbers.len()
            )),
        ));
        for entry in &done.removed {
            ctx.out.check(&Check::ok(
                format!("{}: removed {entry}", s.company_id),
                Some("no longer listed".into()),
            ));
        }
        removed.extend(
            done.removed
                .into_iter()
                .map(|e| json!({"company_id": s.company_id, "removed": e})),
        );
        loaded.push(s.company_id.clone());
    }
    ctx.out
        .json_value(&json!({"ok": true, "loaded": loaded, "removed": removed}));
    Ok(true)
}

/// What a deployed stack requires of a company beyond the file's own checks: its Cal.com key is
/// this stack's secret (`<stack>/calcom/<company_id>`), and its Cal.com is on the internet
/// (https; a stand-in on 127.0.0.1 only for the local stack).
fn for_this_stack(settings: &CompanySettings, stack: &Stack) -> Result<(), String> {
    let CalendarBackend::CalCom(cal) = &settings.calendar else {
        return Ok(());
    };
    let secret_stack = cal.secret_stack(&settings.company_id)?;
    if secret_stack != stack.name {
        return Err(format!(
            "calendar.api_key_secret must be {}/calcom/{} for {}",
            stack.name, settings.company_id, stack.label
        ));
    }
    if cal.is_loopback() && !stack.local {
        return Err(format!(
            "calendar.base_url is on this machine (127.0.0.1); {} calls Cal.com over https only",
            stack.label
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------ import-calls

pub async fn import_calls(
    ctx: &Context,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    concurrency: usize,
    page_size: u32,
    resume: bool,
) -> Result<bool, String> {
    let retell = ctx.retell()?.clone();
    let stack = &ctx.stack;
    let out = &ctx.out;
    let checkpoint_file = checkpoint_path(stack);
    let mut run = ImportRun {
        from_ms: from.timestamp_millis(),
        to_ms: to.timestamp_millis(),
        checkpoint: None,
        done: ReconcileReport::default(),
    };
    if resume {
        match ImportRun::load(&checkpoint_file) {
            Some(saved) => {
                let at = saved
                    .checkpoint
                    .as_ref()
                    .map_or(saved.from_ms, |c| c.start_ms);
                out.line(&format!(
                    "Resuming the interrupted run of {} – {} at {} ({} calls done before)",
                    show_ms(saved.from_ms),
                    show_ms(saved.to_ms),
                    show_ms(at),
                    saved.done.listed
                ));
                run = saved;
            }
            None => out.line("No interrupted run to resume: the window starts from its beginning."),
        }
    }
    // Calls of agents no company lists belong to the company of the key they were made with,
    // as the webhook decides: the tenant whose key this is, else the secret's default company.
    let key = ctx.retell_key().unwrap_or_default();
    let default_company = match stack.key_ring(&ctx.aws).await {
        Ok(ring) => ring
            .tenants()
            .into_iter()
            .find(|t| t.api_key() == key)
            .map(|t| t.company_id.clone())
            .unwrap_or_else(|| ring.default_company_id().to_owned()),
        Err(_) => stack.default_company_id.clone(),
    };
    let queue_urls: HashMap<_, _> = stack
        .queues
        .iter()
        .map(|q| (q.kind, q.url.clone()))
        .collect();
    let reconciler = Reconciler {
        queue: SqsEventQueue::new(
            ctx.aws.sqs.clone(),
            ctx.aws.s3.clone(),
            &stack.bucket,
            queue_urls,
            DEFAULT_INLINE_LIMIT_BYTES,
        ),
        store: DynamoCallStore::new(
            ctx.aws.dynamodb.clone(),
            &stack.calls_table,
            &stack.stats_table,
        ),
        companies: CompanyDirectory::new(
            ctx.aws.dynamodb.clone(),
            &stack.companies_table,
            COMPANY_CACHE_TTL,
        ),
        concurrency,
        page_size,
    };
    let account = RetellAccount {
        client: retell,
        company_id: default_company,
    };
    // Written before the first page, so even a run cut off at once can be resumed.
    run.save(&checkpoint_file)?;
    let bar = out.progress(None, "calls checked");
    let tally = Tally::default();
    let on_call = |o: &CallOutcome| {
        tally.add(o);
        bar.inc(1);
        if let CallOutcome::Failed { call_id, reason } = o {
            bar.suspend(|| eprintln!("❌ {call_id}: {reason}"));
        }
    };
    let mut save_error = None;
    let mut on_page = |r: &ReconcileReport| {
        // Only what the checkpoint covers is saved as done: a resumed run redoes the rest.
        if r.checkpoint.is_some() && r.checkpoint != run.checkpoint {
            let mut saved = run.clone();
            saved.done.merge(ReconcileReport {
                checkpoint: None,
                failures: Vec::new(),
                ..r.clone()
            });
            saved.checkpoint = r.checkpoint.clone();
            if let Err(e) = saved.save(&checkpoint_file) {
                save_error.get_or_insert(e);
            }
        }
    };
    let started = std::time::Instant::now();
    let report = reconciler
        .import_window(
            &account,
            run.from_ms,
            run.to_ms,
            run.checkpoint.as_ref(),
            &on_call,
            &mut on_page,
        )
        .await;
    bar.finish_and_clear();
    if let Some(e) = save_error {
        out.check(&Check::failed("checkpoint", e));
    }
    let report = report.map_err(|e| {
        let t = tally.snapshot();
        format!(
            "{e} (before it: {} imported, {} already present, {} failed; rerun with --resume)",
            t.imported, t.present, t.failed
        )
    })?;
    let mut total = run.done.clone();
    total.merge(ReconcileReport {
        checkpoint: None,
        ..report.clone()
    });
    let ok = report.failed == 0;
    if ok {
        let _ = std::fs::remove_file(&checkpoint_file);
    } else {
        out.line(&format!(
            "{} call(s) failed: `import-calls --resume` tries them again (checkpoint {})",
            report.failed,
            checkpoint_file.display()
        ));
    }
    let seconds = started.elapsed().as_secs_f64();
    out.table(
        &[
            "listed",
            "imported",
            "already present",
            "failed",
            "events queued",
            "seconds",
        ],
        &[vec![
            total.listed.to_string(),
            total.imported.to_string(),
            total.present.to_string(),
            total.failed.to_string(),
            total.events_queued.to_string(),
            format!("{seconds:.1}"),
        ]],
    );
    for (call_id, reason) in &report.failures {
        out.check(&Check::failed(call_id.clone(), reason.clone()));
    }
    out.json_value(&json!({
        "ok": ok,
        "from": show_ms(run.from_ms),
        "to": show_ms(run.to_ms),
        "resumed": resume && run.checkpoint.is_some(),
        "listed": total.listed,
        "imported": total.imported,
        "present": total.present,
        "failed": total.failed,
        "events_queued": total.events_queued,
        "failures": report.failures,
        "seconds": seconds,
    }));
    Ok(ok)
}

// ------------------------------------------------------------------ export-analytics

/// What `export-analytics` writes.
pub struct Export {
    /// The daily statistics instead of the calls.
    pub days: bool,
    pub format: ExportFormat,
    pub from: DateTime<Utc>,
    /// Exclusive.
    pub to: DateTime<Utc>,
    pub company: Option<String>,
    /// The stack's DEFAULT_TIME_ZONE, which the statistics' days are kept in.
    pub time_zone: chrono_tz::Tz,
}

/// Calls page by page through each company's index (200 at a time, never a scan of the calls
/// table), or the statistics' days, written as they are read.
pub async fn export_analytics(
    ctx: &Context,
    export: &Export,
    path: Option<&Path>,
) -> Result<bool, String> {
    let companies = ctx.companies(export.company.as_deref()).await?;
    let store = ctx.call_store();
    let what = if export.days { "days" } else { "calls" };
    let bar = ctx.out.progress(None, what);
    let rows = match path {
        None => {
            let sink = std::io::BufWriter::new(std::io::stdout().lock());
            write_export(export, &companies, &store, sink, &bar, "stdout").await?
        }
        // Written beside its name and renamed when complete: a failed export leaves no file
        // and never cuts an earlier one short.
        Some(p) => {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let partial = p.with_file_name(format!(".{name}.partial"));
            let file = std::fs::File::create(&partial)
                .map_err(|e| format!("{}: {e}", partial.display()))?;
            let label = p.display().to_string();
            let sink = std::io::BufWriter::new(file);
            match write_export(export, &companies, &store, sink, &bar, &label).await {
                Ok(rows) => {
                    if let Err(e) = std::fs::rename(&partial, p) {
                        let _ = std::fs::remove_file(&partial);
                        return Err(format!("{label}: {e}"));
                    }
                    rows
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(e);
                }
            }
        }
    };
    bar.finish_and_clear();
    let summary = format!(
        "exported {rows} {what} of {} compan{} from {} to {}",
        companies.len(),
        if companies.len() == 1 { "y" } else { "ies" },
        export.from.to_rfc3339(),
        export.to.to_rfc3339()
    );
    match path {
        // stdout carries the export: the summary goes to stderr.
        None => eprintln!("{summary}"),
        Some(p) => {
            ctx.out.line(&format!("{summary} into {}", p.display()));
            ctx.out.json_value(&json!({
                "ok": true, "table": what, "rows": rows, "companies": companies,
                "file": p.display().to_string(),
                "from": export.from.to_rfc3339(), "to": export.to.to_rfc3339(),
            }));
        }
    }
    Ok(true)
}

/// The rows of `export` into `sink`, flushed; how many.
async fn write_export<W: Write>(
    export: &Export,
    companies: &[String],
    store: &DynamoCallStore,
    sink: W,
    bar: &indicatif::ProgressBar,
    label: &str,
) -> Result<u64, String> {
    let write_err = |e: std::io::Error| format!("{label}: {e}");
    if export.days {
        let first = export.from.with_timezone(&export.time_zone).date_naive();
        let last = (export.to - chrono::Duration::milliseconds(1))
            .with_timezone(&export.time_zone)
            .date_naive();
        let mut writer = ExportWriter::days(sink, export.format).map_err(write_err)?;
        for company in companies {
            let days = store
                .stats_range(company, &first.to_string(), &last.to_string())
                .await
                .map_err(|e| format!("{company}: {e}"))?;
            for (day, stats) in &days {
                writer.day(company, day, stats).map_err(write_err)?;
                bar.inc(1);
            }
        }
        return writer.finish().map_err(write_err);
    }
    let filter = CallFilter {
        from_ms: export.from.timestamp_millis(),
        to_ms: export.to.timestamp_millis(),
        ..Default::default()
    };
    let mut writer = ExportWriter::calls(sink, export.format).map_err(write_err)?;
    each_call(store, companies, &filter, |company, call| {
        writer.call(company, call).map_err(write_err)?;
        bar.inc(1);
        Ok(())
    })
    .await?;
    writer.finish().map_err(write_err)
}

/// Each call of `companies` that `filter` selects, newest first, 200 a page through each
/// company's index (never a scan), handed to `f` without holding more than a page.
pub async fn each_call(
    store: &DynamoCallStore,
    companies: &[String],
    filter: &CallFilter,
    mut f: impl FnMut(&str, &CallSummary) -> Result<(), String>,
) -> Result<(), String> {
    for company in companies {
        let mut cursor: Option<String> = None;
        loop {
            let page = store
                .company_calls(company, filter, 200, cursor.as_deref())
                .await
                .map_err(|e| format!("{company}: {e}"))?;
            for call in &page.calls {
                f(company, call)?;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(())
}

fn show_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| ms.to_string())
}

/// An import-calls run as its checkpoint file keeps it: the window, how far it got without a
/// failure, and what it counted up to there.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ImportRun {
    from_ms: i64,
    to_ms: i64,
    checkpoint: Option<Checkpoint>,
    done: ReconcileReport,
}

impl ImportRun {
    fn load(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Written whole or not at all (a new file renamed over the old one).
    fn save(&self, path: &Path) -> Result<(), String> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string(self).map_err(err)?;
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// One checkpoint per stack: the window of the interrupted run and how far it got.
fn checkpoint_path(stack: &Stack) -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    let id: String = stack
        .calls_table
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    base.join("retell-ops").join(format!("import-{id}.json"))
}

// ------------------------------------------------------------------ agents

pub async fn agents_list(ctx: &Context) -> Result<bool, String> {
    let agents = ctx.retell()?.list_agents().await.map_err(err)?;
    let rows: Vec<Vec<String>> = agents
        .iter()
        .map(|a| {
            vec![
                a.agent_id.clone(),
                a.agent_name.clone().unwrap_or_default(),
                a.user_modified_timestamp
                    .and_then(DateTime::from_timestamp_millis)
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    ctx.out
        .table(&["agent_id", "name", "modified (UTC)"], &rows);
    ctx.out.json_value(&json!({"ok": true, "agents": agents}));
    Ok(true)
}

async fn agent_and_file(ctx: &Context, agent_id: &str) -> Result<(Value, AgentFile), String> {
    let retell = ctx.retell()?;
    let agent = retell.get_agent(agent_id, None).await.map_err(err)?;
    let llm_id = agent
        .llm_id()
        .ok_or_else(|| format!("agent {agent_id} does not answer with a Retell LLM"))?;
    let llm = retell.get_llm(llm_id).await.map_err(err)?;
    let file = AgentFile::from_retell(&agent, &llm)?;
    Ok((json!({"agent": agent, "llm": llm}), file))
}

pub async fn agents_get(ctx: &Context, agent_id: &str) -> Result<bool, String> {
    let (raw, file) = agent_and_file(ctx, agent_id).await?;
    if ctx.out.json {
        ctx.out.json_value(&raw);
    } else {
        print!("{}", file.to_yaml());
    }
    Ok(true)
}

pub async fn agents_export(
    ctx: &Context,
    agent_id: &str,
    path: Option<PathBuf>,
    json_format: bool,
) -> Result<bool, String> {
    let (_, file) = agent_and_file(ctx, agent_id).await?;
    let text = if json_format {
        file.to_json()
    } else {
        file.to_yaml()
    };
    let path = path.unwrap_or_else(|| agents::default_export_path(agent_id, json_format));
    if path == Path::new("-") {
        print!("{text}");
        return Ok(true);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    ctx.out.check(&Check::ok(
        format!("exported {agent_id}"),
        Some(path.display().to_string()),
    ));
    ctx.out
        .json_value(&json!({"ok": true, "agent_id": agent_id, "file": path}));
    Ok(true)
}

// ------------------------------------------------------------------ backup agents

/// Every agent as an agent file, into a folder of this run or below an S3 prefix, with a
/// `manifest.json` written last (the files, the failures, `complete`). A folder is written under
/// a `.partial` name and renamed when all is written. An agent that cannot be a file (not on a
/// Retell LLM, or an id that is not a plain id) is reported and makes the run fail; the others
/// are still written.
pub async fn backup_agents(
    ctx: &Context,
    to: Option<&str>,
    json_format: bool,
) -> Result<bool, String> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let run = format!("agents-{stamp}");
    let agents = ctx.retell()?.list_agents().await.map_err(err)?;
    let ext = if json_format { "json" } else { "yaml" };
    let mut files = Vec::new();
    let mut failed = Vec::new();
    let bar = ctx.out.progress(Some(agents.len() as u64), "agents");
    for agent in &agents {
        let id = &agent.agent_id;
        let file = if !is_file_name_safe(id) {
            Err("not a plain agent id: not used as a file name".to_owned())
        } else {
            agent_and_file(ctx, id).await.map(|(_, file)| file)
        };
        match file {
            Ok(file) => {
                let text = if json_format {
                    file.to_json()
                } else {
                    file.to_yaml()
                };
                files.push((format!("{id}.{ext}"), text));
            }
            Err(e) => {
                ctx.out
                    .check(&Check::failed(format!("agent {id}"), e.clone()));
                failed.push(json!({"agent_id": id, "error": e}));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let ok = failed.is_empty();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let manifest = serde_json::to_string_pretty(&json!({
        "complete": ok, "taken_at": stamp, "files": names, "failed": failed,
    }))
    .unwrap_or_default()
        + "\n";

    let place = match to.and_then(s3_place).transpose()? {
        Some((bucket, prefix)) => {
            let prefix = prefix.as_str();
            let base = if prefix.is_empty() {
                run.clone()
            } else {
                format!("{prefix}/{run}")
            };
            let manifest_file = ("manifest.json".to_owned(), manifest);
            for (name, text) in files.iter().chain(std::iter::once(&manifest_file)) {
                ctx.aws
                    .s3
                    .put_object()
                    .bucket(&bucket)
                    .key(format!("{base}/{name}"))
                    .content_type(if name.ends_with(".yaml") {
                        "application/yaml"
                    } else {
                        "application/json"
                    })
                    .body(text.clone().into_bytes().into())
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "s3://{bucket}/{base}/{name}: {}",
                            aws_sdk_dynamodb::error::DisplayErrorContext(e)
                        )
                    })?;
            }
            format!("s3://{bucket}/{base}")
        }
        None => {
            if let Some(t) = to.filter(|t| t.contains("://")) {
                return Err(format!("--to {}: a folder or s3://bucket/prefix", shown(t)));
            }
            let parent = PathBuf::from(to.unwrap_or("backups"));
            std::fs::create_dir_all(&parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            let dir = parent.join(&run);
            let partial = parent.join(format!(".{run}.partial"));
            // `create_dir`, not `_all`: a run of the same millisecond is a clash, not a merge.
            std::fs::create_dir(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
            let written = files
                .iter()
                .chain(std::iter::once(&("manifest.json".to_owned(), manifest)))
                .try_for_each(|(name, text)| {
                    let path = partial.join(name);
                    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
                })
                .and_then(|()| {
                    std::fs::rename(&partial, &dir).map_err(|e| format!("{}: {e}", dir.display()))
                });
            if let Err(e) = written {
                let _ = std::fs::remove_dir_all(&partial);
                return Err(e);
            }
            dir.display().to_string()
        }
    };
    ctx.out.check(&Check::from_bool(
        format!("{} of {} agents backed up", files.len(), agents.len()),
        ok,
        place.clone(),
    ));
    ctx.out.json_value(&json!({
        "ok": ok, "to": place, "files": names, "failed": failed,
    }));
    Ok(ok)
}

/// An id that is safe as a file name and an S3 key segment: Retell's `agent_…` ids are.
fn is_file_name_safe(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// Reads and checks every file before anything is applied.
async fn load_all(ctx: &Context, files: &[PathBuf]) -> Result<Vec<LoadedFile>, String> {
    let retell = ctx.retell()?;
    let voices = retell.list_voices().await.map_err(err)?;
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match LoadedFile::load(f) {
            Ok(l) => match l.check_with_retell(&voices) {
                Ok(()) => loaded.push(l),
                Err(e) => errors.push(e.to_string()),
            },
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(format!("{}\nnothing was applied", errors.join("\n")));
    }
    Ok(loaded)
}

pub async fn agents_import(
    ctx: &Context,
    files: &[PathBuf],
    publish: bool,
    dry_run: bool,
) -> Result<bool, String> {
    let loaded = load_all(ctx, files).await?;
    apply_files(
        ctx,
        loaded.iter().map(|l| (l, None)).collect(),
        publish,
        dry_run,
    )
    .await
}

pub async fn agents_create(ctx: &Context, file: &Path, publish: bool) -> Result<bool, String> {
    let loaded = load_all(ctx, &[file.to_path_buf()]).await?;
    let retell = ctx.retell()?;
    let plan = agents::plan(retell, &ctx.stack, &loaded[0], None)
        .await
        .map_err(err)?;
    let applied = agents::apply(retell, plan, publish).await.map_err(err)?;
    ctx.out.check(&Check::ok(
        format!("created agent {}", applied.agent_id),
        Some(format!("LLM {}", applied.llm_id)),
    ));
    ctx.out
        .json_value(&json!({"ok": true, "applied": [applied]}));
    Ok(true)
}

pub async fn agents_update(
    ctx: &Context,
    agent_id: &str,
    file: &Path,
    publish: bool,
) -> Result<bool, String> {
    let loaded = load_all(ctx, &[file.to_path_buf()]).await?;
    if let Some(other) = loaded[0]
        .file
        .agent_id
        .as_deref()
        .filter(|id| *id != agent_id)
    {
        return Err(format!(
            "{} is the file of agent {other}, not {agent_id}",
            file.display()
        ));
    }
    apply_files(ctx, vec![(&loaded[0], Some(agent_id))], publish, false).await
}

pub async fn agents_reset(
    ctx: &Context,
    agent_id: &str,
    file: Option<PathBuf>,
    publish: bool,
    yes: bool,
) -> Result<bool, String> {
    let retell = ctx.retell()?;
    let mut loaded = match &file {
        Some(f) => load_all(ctx, std::slice::from_ref(f)).await?.remove(0),
        None => {
            let mut t = LoadedFile::template();
            // The template keeps the agent's own name.
            let current = retell.get_agent(agent_id, None).await.map_err(err)?;
            if let Some(name) = current.agent_name {
                t.file.agent.agent_name = Some(name);
            }
            let voices = retell.list_voices().await.map_err(err)?;
            t.check_with_retell(&voices).map_err(err)?;
            t
        }
    };
    loaded.file.agent_id = Some(agent_id.to_owned());
    if !confirm(
        ctx,
        yes,
        &format!("Reset agent {agent_id} to {}?", loaded.path),
        agent_id,
    )? {
        return Ok(false);
    }
    apply_files(ctx, vec![(&loaded, Some(agent_id))], publish, false).await
}

async fn apply_files(
    ctx: &Context,
    files: Vec<(&LoadedFile, Option<&str>)>,
    publish: bool,
    dry_run: bool,
) -> Result<bool, String> {
    let retell = ctx.retell()?;
    let out = &ctx.out;
    let mut applied = Vec::new();
    let mut plans = Vec::new();
    let mut failed: Option<(String, String)> = None;
    for (loaded, explicit) in &files {
        let result: Result<(), OpsError> = async {
            let agent = agents::find_agent(retell, loaded, *explicit).await?;
            let plan = agents::plan(retell, &ctx.stack, loaded, agent.as_ref()).await?;
            let target = plan
                .agent_id
                .clone()
                .unwrap_or_else(|| "(new agent)".into());
            if plan.is_noop() {
                out.check(&Check::ok(
                    format!("{}: {target} is up to date", loaded.path),
                    None,
                ));
            } else {
                out.line(&format!(
                    "{}: {target}: {} change(s){}",
                    loaded.path,
                    plan.changes.len(),
                    if dry_run { " (dry run)" } else { "" }
                ));
                for change in &plan.changes {
                    for l in describe(change) {
                        out.line(&format!("  {l}"));
                    }
                }
            }
            if dry_run {
                plans.push(plan);
                return Ok(());
            }
            if plan.is_noop() && !publish {
                applied
                    .push(json!({"file": loaded.path, "agent_id": plan.agent_id, "changed": []}));
                return Ok(());
            }
            let done = agents::apply(retell, plan, publish).await?;
            let verb = match (done.created, done.changed.is_empty(), done.published) {
                (true, _, _) => Some("created"),
                (false, false, _) => Some("updated"),
                (false, true, true) => Some("published"),
                (false, true, false) => None, // up to date, said above
            };
            if let Some(verb) = verb {
                out.check(&Check::ok(
                    format!("{}: {verb} agent {}", loaded.path, done.agent_id),
                    Some(format!(
                        "LLM {}{}",
                        done.llm_id,
                        if done.published { ", published" } else { "" }
                    )),
                ));
            }
            applied.push(serde_json::to_value(&done).unwrap_or_default());
            Ok(())
        }
        .await;
        if let Err(e) = result {
            failed = Some((loaded.path.clone(), e.to_string()));
            break;
        }
    }
    if let Some((file, reason)) = &failed {
        out.check(&Check::failed(
            format!("{file} was not applied"),
            reason.clone(),
        ));
        let done: Vec<String> = applied
            .iter()
            .filter_map(|a| a["file"].as_str().map(str::to_owned))
            .collect();
        let rest: Vec<String> = files
            .iter()
            .map(|(l, _)| l.path.clone())
            .filter(|p| !done.contains(p) && p != file)
            .collect();
        out.line(&format!(
            "applied: {}",
            if done.is_empty() {
                "none".into()
            } else {
                done.join(", ")
            }
        ));
        out.line(&format!(
            "not applied: {}",
            std::iter::once(file.clone())
                .chain(rest)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let ok = failed.is_none();
    out.json_value(&json!({
        "ok": ok,
        "dry_run": dry_run,
        "applied": applied,
        "plans": plans,
        "failed": failed.map(|(f, r)| json!({"file": f, "reason": r})),
    }));
    Ok(ok)
}

pub async fn agents_delete(ctx: &Context, agent_id: &str, yes: bool) -> Result<bool, String> {
    let retell = ctx.retell()?;
    let agent = retell.get_agent(agent_id, None).await.map_err(err)?;
    let name = agent.agent_name.unwrap_or_default();
    if !confirm(
        ctx,
        yes,
        &format!("Delete agent {agent_id} ({name})? Calls to its numbers will fail."),
        agent_id,
    )? {
        return Ok(false);
    }
    retell.delete_agent(agent_id).await.map_err(err)?;
    ctx.out.check(&Check::ok(
        format!("deleted agent {agent_id} ({name})"),
        None,
    ));
    ctx.out
        .json_value(&json!({"ok": true, "deleted": agent_id}));
    Ok(true)
}

pub async fn agents_publish(ctx: &Context, agent_id: &str) -> Result<bool, String> {
    let retell = ctx.retell()?;
    let draft = retell.get_agent(agent_id, None).await.map_err(err)?;
    if draft.is_published {
        ctx.out.check(&Check::ok(
            format!(
                "agent {agent_id} version {} is published already",
                draft.version
            ),
            None,
        ));
        ctx.out.json_value(
            &json!({"ok": true, "agent_id": agent_id, "published_version": draft.version}),
        );
        return Ok(true);
    }
    retell
        .publish_agent(agent_id, draft.version)
        .await
        .map_err(err)?;
    ctx.out.check(&Check::ok(
        format!("published agent {agent_id}"),
        Some(format!("version {}", draft.version)),
    ));
    ctx.out
        .json_value(&json!({"ok": true, "agent_id": agent_id, "published_version": draft.version}));
    Ok(true)
}

/// `--yes`, or the operator types the id at a terminal; never a silent yes.
pub(crate) fn confirm(ctx: &Context, yes: bool, question: &str, id: &str) -> Result<bool, String> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() || ctx.out.json {
        return Err(format!(
            "{question} Pass --yes to confirm (no terminal to ask on)"
        ));
    }
    eprint!("{question}\nType {id} to confirm: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(err)?;
    if answer.trim() == id {
        Ok(true)
    } else {
        eprintln!("Not confirmed; nothing changed.");
        Ok(false)
    }
}

/// `s3://bucket/prefix` as (bucket, prefix without slashes at its ends); `None` for anything
/// not starting `s3://`, an error for a bucket S3 could not have.
pub fn s3_place(to: &str) -> Option<Result<(String, String), String>> {
    let rest = to.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    Some(if valid {
        Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
    } else {
        Err(format!(
            "--to {}: not an s3://bucket/prefix (a bucket is 3 to 63 of a-z 0-9 . -)",
            shown(to)
        ))
    })
}

/// What a user typed, as an error quotes it: at most 64 characters.
pub fn shown(text: &str) -> String {
    format!("{:?}", text.chars().take(64).collect::<String>())
}
