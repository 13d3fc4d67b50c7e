//! `metrics`: the seed's four key metrics against their targets and alert thresholds, and the
//! calls, bookings and tool outcomes of a period; an alert makes the exit code non-zero.

use std::collections::BTreeMap;

use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};
use shared::calls::stats::CallStats;
use shared::calls::store::CallStore;
use shared::calls::tool_calls::ToolCall;
use shared::platform::metrics::{MetricQuery, MetricsReader};
use shared::retell::CallId;

use crate::context::Context;
use crate::error::{err, CliResult};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = Period::Hour)]
    period: Period,
    /// One company's calls (default: every company's; the operational figures are the stack's).
    #[arg(long)]
    company: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Period {
    #[value(name = "1h")]
    Hour,
    #[value(name = "24h")]
    Day,
    #[value(name = "7d")]
    Week,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let (seconds, label) = match args.period {
        Period::Hour => (3_600, "hour"),
        Period::Day => (86_400, "24 hours"),
        Period::Week => (7 * 86_400, "7 days"),
    };
    metrics(
        ctx,
        std::time::Duration::from_secs(seconds),
        label,
        args.company.as_deref(),
    )
    .await
}

/// The seed's targets and alert thresholds (template.yaml's alarms use the same).
pub const API_RESPONSE_TARGET_MS: f64 = 200.0;
pub const API_RESPONSE_ALERT_MS: f64 = 500.0;
pub const WEBHOOK_SUCCESS_TARGET: f64 = 99.0;
pub const WEBHOOK_SUCCESS_ALERT: f64 = 95.0;
pub const COMPLETION_TARGET: f64 = 90.0;
pub const COMPLETION_ALERT: f64 = 80.0;
pub const AGENT_RESPONSE_TARGET_MS: f64 = 2000.0;
pub const AGENT_RESPONSE_ALERT_MS: f64 = 5000.0;

/// Where a figure stands against its target and its alert threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    OnTarget,
    OffTarget,
    Alert,
    NotAvailable,
}

/// `higher_is_better`: a rate; otherwise a time.
pub fn standing(value: Option<f64>, target: f64, alert: f64, higher_is_better: bool) -> Standing {
    match value {
        None => Standing::NotAvailable,
        Some(v) if higher_is_better && v < alert || !higher_is_better && v > alert => {
            Standing::Alert
        }
        Some(v) if higher_is_better && v > target || !higher_is_better && v < target => {
            Standing::OnTarget
        }
        Some(_) => Standing::OffTarget,
    }
}

/// The APIs whose answers are measured (the `Api` dimension).
const APIS: [&str; 3] = ["webhook", "inbound", "tools"];

/// The figures of the `period` until now (`label` names it). Operational figures (response
/// times, webhook success) come from the CloudWatch metrics the functions publish as EMF log
/// lines; call figures from the calls table, through each company's index.
async fn metrics(
    ctx: &Context,
    period: std::time::Duration,
    label: &str,
    company: Option<&str>,
) -> CliResult {
    let end_ms = Utc::now().timestamp_millis();
    let start_ms = end_ms - period.as_millis() as i64;

    // Operational figures from CloudWatch.
    let config = shared::platform::aws::config_loader().load().await;
    let mut queries = Vec::new();
    for api in APIS {
        let dims = vec![("Api".to_owned(), api.to_owned())];
        for (stat, id) in [("p95", "p95"), ("p50", "p50"), ("Sum", "requests")] {
            let name = if id == "requests" {
                "Requests"
            } else {
                "ResponseTime"
            };
            queries.push(MetricQuery {
                id: format!("{api}_{id}"),
                name: name.into(),
                dimensions: dims.clone(),
                stat: stat.into(),
            });
        }
        queries.push(MetricQuery {
            id: format!("{api}_failed"),
            name: "Failed".into(),
            dimensions: dims,
            stat: "Sum".into(),
        });
    }
    let operational = match MetricsReader::from_sdk_config(&config) {
        Ok(reader) => reader
            .values(&queries, start_ms, end_ms)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let figure = |id: &str| -> Option<f64> {
        let values = operational.as_ref().ok()?;
        queries
            .iter()
            .position(|q| q.id == id)
            .and_then(|i| values[i])
    };
    let mut apis = Vec::new();
    for api in APIS {
        apis.push(json!({
            "api": api,
            "requests": figure(&format!("{api}_requests")),
            "failed": figure(&format!("{api}_failed")),
            "p50_ms": figure(&format!("{api}_p50")),
            "p95_ms": figure(&format!("{api}_p95")),
        }));
    }
    let api_p95 = APIS
        .iter()
        .filter_map(|a| figure(&format!("{a}_p95")))
        .fold(None, |worst: Option<f64>, v| {
            Some(worst.map_or(v, |w| w.max(v)))
        });
    let webhook_success = match (figure("webhook_requests"), figure("webhook_failed")) {
        (Some(n), failed) if n > 0.0 => Some(100.0 * (1.0 - failed.unwrap_or(0.0) / n)),
        _ => None,
    };

    // Call figures from the calls table.
    let calls = call_figures(ctx, company, start_ms, end_ms).await?;
    let completion = (calls.stats.calls > 0)
        .then(|| 100.0 * calls.stats.completed as f64 / calls.stats.calls as f64);
    let agent_ms = (calls.stats.latency_calls > 0)
        .then(|| calls.stats.latency_e2e_ms as f64 / calls.stats.latency_calls as f64);

    let no_cloudwatch = match &operational {
        Err(e) => format!("CloudWatch not available: {e}"),
        Ok(_) => "no requests in the period".to_owned(),
    };
    let key = [
        (
            "API response time (p95, worst API)",
            api_p95.map(|v| format!("{v:.0} ms")),
            format!("< {API_RESPONSE_TARGET_MS} ms"),
            format!("> {API_RESPONSE_ALERT_MS} ms"),
            standing(
                api_p95,
                API_RESPONSE_TARGET_MS,
                API_RESPONSE_ALERT_MS,
                false,
            ),
            no_cloudwatch.clone(),
        ),
        (
            "Webhook success rate",
            webhook_success.map(|v| format!("{v:.2} %")),
            format!("> {WEBHOOK_SUCCESS_TARGET} %"),
            format!("< {WEBHOOK_SUCCESS_ALERT} %"),
            standing(
                webhook_success,
                WEBHOOK_SUCCESS_TARGET,
                WEBHOOK_SUCCESS_ALERT,
                true,
            ),
            no_cloudwatch,
        ),
        (
            "Call completion rate",
            completion.map(|v| format!("{v:.1} %")),
            format!("> {COMPLETION_TARGET} %"),
            format!("< {COMPLETION_ALERT} %"),
            standing(completion, COMPLETION_TARGET, COMPLETION_ALERT, true),
            "no calls in the period".to_owned(),
        ),
        (
            "Agent response time (Retell's median)",
            agent_ms.map(|v| format!("{v:.0} ms")),
            format!("< {} s", AGENT_RESPONSE_TARGET_MS / 1000.0),
            format!("> {} s", AGENT_RESPONSE_ALERT_MS / 1000.0),
            standing(
                agent_ms,
                AGENT_RESPONSE_TARGET_MS,
                AGENT_RESPONSE_ALERT_MS,
                false,
            ),
            "no call with Retell's latency in the period".to_owned(),
        ),
    ];
    let alert = key.iter().any(|k| k.4 == Standing::Alert);

    let out = &ctx.out;
    out.line(&format!(
        "{} (the last {label}, until {})",
        out.bold("Key metrics"),
        chrono::DateTime::from_timestamp_millis(end_ms)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default()
    ));
    out.table(
        &["metric", "value", "target", "alert", ""],
        &key.iter()
            .map(|(name, value, target, alert, standing, why)| {
                vec![
                    name.to_string(),
                    value.clone().unwrap_or_else(|| format!("n/a ({why})")),
                    target.clone(),
                    alert.clone(),
                    match standing {
                        Standing::OnTarget => "✅",
                        Standing::OffTarget => "⚠️",
                        Standing::Alert => "❌",
                        Standing::NotAvailable => "",
                    }
                    .to_owned(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    let shown = |v: &Value| match v.as_f64() {
        Some(f) => format!("{f:.0}"),
        None => "n/a".to_owned(),
    };
    out.line(&format!("\n{}", out.bold("Requests (CloudWatch)")));
    out.table(
        &["api", "requests", "failed", "p50 ms", "p95 ms"],
        &apis
            .iter()
            .map(|a| {
                vec![
                    a["api"].as_str().unwrap_or_default().to_owned(),
                    shown(&a["requests"]),
                    shown(&a["failed"]),
                    shown(&a["p50_ms"]),
                    shown(&a["p95_ms"]),
                ]
            })
            .collect::<Vec<_>>(),
    );
    out.line(&format!(
        "\n{} {} calls, {} connected, {} completed, {} with a booking, {} voicemail ({} compan{})",
        out.bold("Calls:"),
        calls.stats.calls,
        calls.stats.connected,
        calls.stats.completed,
        calls.stats.booked,
        calls.stats.voicemail,
        calls.companies.len(),
        if calls.companies.len() == 1 {
            "y"
        } else {
            "ies"
        },
    ));
    out.line(&format!(
        "\n{}",
        out.bold("Tool outcomes (from the calls' transcripts)")
    ));
    out.table(
        &["tool", "calls", "success", "refused", "no answer"],
        &calls
            .tools
            .iter()
            .map(|(name, t)| {
                vec![
                    name.clone(),
                    t.calls.to_string(),
                    t.success.to_string(),
                    t.refused.to_string(),
                    t.no_answer.to_string(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    if calls.tools_not_read > 0 {
        out.line(&format!(
            "not counted: the tool calls of {} call(s) too long for their item (in the events bucket)",
            calls.tools_not_read
        ));
    }
    out.json_value(&json!({
        "ok": !alert,
        "period": label, "from_ms": start_ms, "to_ms": end_ms,
        "key_metrics": key.iter().map(|(name, _, target, alert, standing, why)| json!({
            "metric": name, "target": target, "alert": alert, "standing": standing,
            "why_not_available": (*standing == Standing::NotAvailable).then_some(why),
        })).zip([api_p95, webhook_success, completion, agent_ms]).map(|(mut m, v)| {
            m["value"] = json!(v);
            m
        }).collect::<Vec<_>>(),
        "apis": apis,
        "cloudwatch_error": operational.as_ref().err(),
        "calls": {
            "companies": calls.companies,
            "calls": calls.stats.calls, "connected": calls.stats.connected,
            "completed": calls.stats.completed, "booked": calls.stats.booked,
            "voicemail": calls.stats.voicemail, "successful": calls.stats.successful,
        },
        "tools_not_read": calls.tools_not_read,
        "tools": calls.tools.iter().map(|(name, t)| (name.clone(), json!({
            "calls": t.calls, "success": t.success, "refused": t.refused, "no_answer": t.no_answer,
        }))).collect::<serde_json::Map<_, _>>(),
    }));
    Ok((!alert).into())
}

#[derive(Default)]
struct ToolOutcomes {
    calls: u64,
    success: u64,
    refused: u64,
    no_answer: u64,
}

struct CallFigures {
    companies: Vec<String>,
    stats: CallStats,
    tools: BTreeMap<String, ToolOutcomes>,
    /// Calls whose item left out the tool calls to stay under DynamoDB's item limit (their
    /// raw events have them): not in `tools`.
    tools_not_read: u64,
}

/// Every call that started in the window, each company's through its index (newest first,
/// 200 a page), each record read for its statistics and tool calls.
async fn call_figures(
    ctx: &Context,
    company: Option<&str>,
    start_ms: i64,
    end_ms: i64,
) -> Result<CallFigures, String> {
    let companies = ctx.companies(company).await?;
    let store = ctx.call_store();
    let ids = ctx.call_ids(&companies, start_ms, end_ms).await?;
    let bar = ctx.out.progress(Some(ids.len() as u64), "calls read");
    let mut stats = CallStats::default();
    let mut tools: BTreeMap<String, ToolOutcomes> = BTreeMap::new();
    let mut tools_not_read = 0;
    let mut records = futures::stream::iter(ids.iter().map(|id| {
        let store = &store;
        async move {
            let id = CallId::parse(id).map_err(err)?;
            store.load(&id).await.map_err(err)
        }
    }))
    .buffer_unordered(16);
    while let Some(record) = records.next().await {
        bar.inc(1);
        let Some(record) = record? else { continue };
        stats = stats.plus(record.stats());
        if record.trimmed_fields.contains("transcript_with_tool_calls") {
            tools_not_read += 1;
        }
        let transcript = record
            .fields
            .get("transcript_with_tool_calls")
            .cloned()
            .unwrap_or(Value::Null);
        for call in ToolCall::parse_all(&transcript) {
            let t = tools.entry(call.name.clone()).or_default();
            t.calls += 1;
            match call
                .result
                .as_ref()
                .and_then(|r| r.get("success"))
                .and_then(Value::as_bool)
            {
                _ if call.result.is_none() => t.no_answer += 1,
                Some(false) => t.refused += 1,
                _ => t.success += 1,
            }
        }
    }
    bar.finish_and_clear();
    Ok(CallFigures {
        companies,
        stats,
        tools,
        tools_not_read,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standings_against_target_and_alert() {
        // A time: lower is better.
        assert_eq!(
            standing(Some(120.0), 200.0, 500.0, false),
            Standing::OnTarget
        );
        assert_eq!(
            standing(Some(300.0), 200.0, 500.0, false),
            Standing::OffTarget
        );
        assert_eq!(standing(Some(501.0), 200.0, 500.0, false), Standing::Alert);
        // A rate: higher is better.
        assert_eq!(standing(Some(99.5), 99.0, 95.0, true), Standing::OnTarget);
        assert_eq!(standing(Some(97.0), 99.0, 95.0, true), Standing::OffTarget);
        assert_eq!(standing(Some(94.9), 99.0, 95.0, true), Standing::Alert);
        assert_eq!(standing(None, 99.0, 95.0, true), Standing::NotAvailable);
    }
}
