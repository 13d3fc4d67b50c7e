//! Metrics: written as CloudWatch Embedded Metric Format lines on stdout (Lambda's log; CloudWatch
//! turns them into metrics, no AWS request on the hot path; the local stack does the same with
//! the emulator), and read back with GetMetricData for `retell-ops metrics`.
//!
//! What is published (namespace [`NAMESPACE`]; the README's "Alarms" lists the alarms on them):
//! - every answered request (webhook, inbound webhook, tools): `Requests`, `Failed` (not 2xx) and
//!   `ResponseTime` (ms), by `Api` and by `Api` + `Function`;
//! - every stored call event that changes the statistics: `CallsCounted`, `CallsCompleted`, and
//!   with Retell's latency `AgentResponseTime` (its end-to-end median, ms), by `Pipeline`;
//! - every event for a call stored under another company: `CallCompanyConflicts`, by `Pipeline`;
//! - the reconcile job's run: `Reconcile*` by `Job`.

use serde_json::{json, Map, Value};

use crate::platform::aws_json::{AwsJsonClient, AwsJsonError};

pub const NAMESPACE: &str = "RetellBackend";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF line: `dimensions` are the (name, value) pairs, `sets` which combinations of their
/// names CloudWatch keeps a metric for, `metrics` the values.
pub fn emf_line(
    timestamp_ms: i64,
    dimensions: &[(&str, &str)],
    sets: &[&[&str]],
    metrics: &[(&str, Unit, f64)],
) -> String {
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": [{
            "Namespace": NAMESPACE,
            "Dimensions": sets,
            "Metrics": metrics.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()})).collect::<Vec<_>>(),
        }]}),
    );
    for (name, value) in dimensions {
        line.insert((*name).to_owned(), Value::from(*value));
    }
    for (name, _, value) in metrics {
        line.insert((*name).to_owned(), json!(value));
    }
    Value::Object(line).to_string()
}

/// Writes one EMF line to stdout (Lambda's log), beside the tracing lines.
pub fn emit(dimensions: &[(&str, &str)], sets: &[&[&str]], metrics: &[(&str, Unit, f64)]) {
    let now = chrono::Utc::now().timestamp_millis();
    println!("{}", emf_line(now, dimensions, sets, metrics));
}

/// An answered request: the figures of the seed's API response time and webhook success rate.
pub fn request_answered(api: &str, function: &str, status: u16, latency_ms: f64) {
    let failed = if (200..300).contains(&status) {
        0.0
    } else {
        1.0
    };
    emit(
        &[("Api", api), ("Function", function)],
        &[&["Api"], &["Api", "Function"]],
        &[
            ("Requests", Unit::Count, 1.0),
            ("Failed", Unit::Count, failed),
            ("ResponseTime", Unit::Milliseconds, latency_ms),
        ],
    );
}

/// A stored call event's change to the statistics: calls counted and completed, and Retell's
/// end-to-end median latency of the call when this event brought it.
pub fn call_counted(calls: i64, completed: i64, agent_latency_ms: Option<i64>) {
    if calls == 0 && completed == 0 && agent_latency_ms.is_none() {
        return;
    }
    let mut metrics = vec![
        ("CallsCounted", Unit::Count, calls as f64),
        ("CallsCompleted", Unit::Count, completed as f64),
    ];
    if let Some(ms) = agent_latency_ms {
        metrics.push(("AgentResponseTime", Unit::Milliseconds, ms as f64));
    }
    emit(&[("Pipeline", "calls")], &[&["Pipeline"]], &metrics);
}

/// An event for a call id already stored under another company, left unmerged
/// (`CallCompanyConflicts`, by `Pipeline`): a misrouted agent or a tenant replaying another's
/// call id.
pub fn call_company_conflict() {
    emit(
        &[("Pipeline", "calls")],
        &[&["Pipeline"]],
        &[("CallCompanyConflicts", Unit::Count, 1.0)],
    );
}

/// One metric to read: its name, dimensions and statistic (`Sum`, `Average`, `p95`, …).
#[derive(Debug, Clone)]
pub struct MetricQuery {
    pub id: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
    pub stat: String,
}

/// CloudWatch's GetMetricData on its JSON protocol (the Rust SDK speaks CBOR, which the local
/// emulator does not).
#[derive(Debug, Clone)]
pub struct MetricsReader {
    api: AwsJsonClient,
}

impl MetricsReader {
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Result<Self, AwsJsonError> {
        Ok(Self {
            api: AwsJsonClient::new(config, "monitoring", "GraniteServiceVersion20100801", None)?
                .json_1_0(),
        })
    }

    /// Each query's value over `[start_ms, end_ms)` as one period (None: no data points).
    pub async fn values(
        &self,
        queries: &[MetricQuery],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Option<f64>>, AwsJsonError> {
        let period = ((end_ms - start_ms) / 1000).max(60);
        // CloudWatch wants periods in multiples of 60 s.
        let period = (period + 59) / 60 * 60;
        let mut found: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
        // At most 500 queries per request.
        for chunk in queries.chunks(500) {
            let body = json!({
                "StartTime": start_ms as f64 / 1000.0,
                "EndTime": end_ms as f64 / 1000.0,
                "MetricDataQueries": chunk.iter().map(|q| json!({
                    "Id": q.id,
                    "ReturnData": true,
                    "MetricStat": {
                        "Metric": {"Namespace": NAMESPACE, "MetricName": q.name,
                                   "Dimensions": q.dimensions.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect::<Vec<_>>()},
                        "Period": period,
                        "Stat": q.stat,
                    },
                })).collect::<Vec<_>>(),
            });
            let mut token: Option<String> = None;
            loop {
                let mut request = body.clone();
                if let Some(t) = &token {
                    request["NextToken"] = Value::from(t.as_str());
                }
                let answer: Value = self.api.call("GetMetricData", &request).await?;
                for result in answer
                    .get("MetricDataResults")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let (Some(id), Some(values)) = (
                        result.get("Id").and_then(Value::as_str),
                        result.get("Values").and_then(Value::as_array),
                    ) else {
                        continue;
                    };
                    // One period covers the window; should CloudWatch split it, the first
                    // value is the latest (newest first by default).
                    if let Some(v) = values.iter().find_map(Value::as_f64) {
                        found.entry(id.to_owned()).or_insert(v);
                    }
                }
                match answer.get("NextToken").and_then(Value::as_str) {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => break,
                }
            }
        }
        Ok(queries.iter().map(|q| found.get(&q.id).copied()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_names_its_metrics_and_carries_their_values() {
        let line = emf_line(
            1_700_000_000_000,
            &[("Api", "tools"), ("Function", "book_appointment")],
            &[&["Api"], &["Api", "Function"]],
            &[
                ("Requests", Unit::Count, 1.0),
                ("ResponseTime", Unit::Milliseconds, 12.5),
            ],
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(
            directive["Dimensions"],
            json!([["Api"], ["Api", "Function"]])
        );
        assert_eq!(
            directive["Metrics"][1],
            json!({"Name": "ResponseTime", "Unit": "Milliseconds"})
        );
        assert_eq!(v["Api"], "tools");
        assert_eq!(v["Function"], "book_appointment");
        assert_eq!(v["ResponseTime"], 12.5);
        assert!(!line.contains('\n'));
    }
}
