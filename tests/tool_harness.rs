//! Fixtures for the tool tests: fresh tenants, the real `ToolService`, signed calls.

use std::time::Duration;

use chrono::{Datelike, Duration as Days, NaiveDate, Utc, Weekday};
use lambda_http::{Body, Request};
use serde_json::{json, Value};
use shared::aws::AwsClients;
use shared::calendar::{Calendars, NativeCalendar};
use shared::company::{CompanyDirectory, CompanySettings};
use shared::config::Env;
use shared::keys::{KeyProvider, SecretsManagerSource};
use shared::signature::sign;
use shared::tool::{Tool, ToolService};

use crate::{call_id, now_ms, stack, DEFAULT_KEY};

pub fn env() -> Env {
    stack().env("check-availability")
}

/// The demo salon's settings (infra/local/companies/demo.json) under a unique id and agent.
pub fn demo_settings() -> CompanySettings {
    let tag = call_id("co");
    let mut settings: CompanySettings =
        serde_json::from_str(include_str!("../infra/local/companies/demo.json"))
            .expect("demo.json");
    settings.company_id = tag.replace('_', "-");
    settings.agent_ids = vec![format!("agent_{tag}")];
    settings.phone_numbers = vec![];
    settings
}

/// Stores a tenant; its company id and agent id.
pub async fn put_company(aws: &AwsClients, settings: &CompanySettings) -> (String, String) {
    directory(aws).put(settings).await.expect("put company");
    (settings.company_id.clone(), settings.agent_ids[0].clone())
}

/// A fresh tenant with the demo salon's settings.
pub async fn company(aws: &AwsClients) -> (String, String) {
    company_with_numbers(aws, vec![]).await
}

pub async fn company_with_numbers(aws: &AwsClients, numbers: Vec<String>) -> (String, String) {
    let mut settings = demo_settings();
    settings.phone_numbers = numbers;
    put_company(aws, &settings).await
}

pub fn directory(aws: &AwsClients) -> CompanyDirectory {
    let table = env().required("COMPANIES_TABLE").expect("env");
    CompanyDirectory::new(aws.dynamodb.clone(), table, Duration::from_secs(60))
}

pub fn keys(aws: &AwsClients) -> KeyProvider<SecretsManagerSource> {
    let secret = env().required("RETELL_SECRET_ID").expect("env");
    let source = SecretsManagerSource::new(aws.secrets.clone(), secret);
    KeyProvider::new(source, "default", Duration::from_secs(60))
}

pub fn calendar(aws: &AwsClients) -> NativeCalendar {
    let table = env().required("APPOINTMENTS_TABLE").expect("env");
    NativeCalendar::new(aws.dynamodb.clone(), table)
}

/// A tool behind the real service, as its Lambda builds it.
pub fn service<T: Tool>(tool: T, aws: &AwsClients) -> ToolService<T, SecretsManagerSource> {
    ToolService {
        tool,
        keys: keys(aws),
        companies: directory(aws),
        calendars: Calendars::new(calendar(aws), aws.secrets.clone()),
    }
}

pub fn request(body: &Value, key: Option<&str>) -> Request {
    let text = body.to_string();
    let mut b = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/api/retell/functions/x");
    if let Some(key) = key {
        b = b.header("x-retell-signature", sign(text.as_bytes(), key, now_ms()));
    }
    b.body(Body::from(text)).expect("request")
}

/// A signed tool call from `caller` to `agent`; the JSON reply (always HTTP 200).
pub async fn call<T: Tool>(
    svc: &ToolService<T, SecretsManagerSource>,
    agent: &str,
    caller: &str,
    args: Value,
) -> Value {
    let body = json!({"name": svc.tool.definition().name, "args": args,
        "call": {"call_id": "call_tools", "agent_id": agent, "from_number": caller}});
    let response = svc.handle(request(&body, Some(DEFAULT_KEY))).await;
    assert_eq!(response.status().as_u16(), 200);
    serde_json::from_slice(response.body().as_ref()).expect("json reply")
}

/// A Tuesday at least two days ahead, in the salon's time zone.
pub fn next_tuesday() -> NaiveDate {
    let mut d = Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive()
        + Days::days(2);
    while d.weekday() != Weekday::Tue {
        d += Days::days(1);
    }
    d
}

pub fn slots(reply: &Value) -> Vec<String> {
    reply["slots"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
