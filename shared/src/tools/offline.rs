//! A tool run without AWS: a calendar that points nowhere, for the tools that answer from the
//! company's settings alone (`get_service_info`, `get_opening_hours`) and for tests of any
//! tool's argument handling. A tool that does ask the calendar gets its spoken fallback.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Args, CallInfo, Reply, Tool, ToolContext};
use crate::booking::company::Company;
use crate::calendar::unresolved::{JournaledCalendar, WriteJournal};
use crate::calendar::{CompanyCalendar, NativeCalendar};

/// A native calendar whose DynamoDB endpoint refuses every connection.
pub fn unreachable_calendar() -> CompanyCalendar {
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("eu-central-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    );
    CompanyCalendar::native(NativeCalendar::new(client, "unreachable"))
}

/// `tool` answering `args` (a JSON object; anything else is no arguments) for `company` at
/// `now`, with the calendar unreachable.
pub async fn run<T: Tool>(
    tool: &T,
    company: &Company,
    now: DateTime<Utc>,
    args: Value,
) -> Result<Reply, Reply> {
    let calendar = unreachable_calendar();
    let journal = WriteJournal::default();
    let calendar = JournaledCalendar::new(&calendar, &journal);
    let call = CallInfo::default();
    let args = match args {
        Value::Object(map) => Args(map),
        _ => Args::default(),
    };
    let ctx = ToolContext {
        company,
        calendar: &calendar,
        call: &call,
        now,
    };
    tool.run(&ctx, &args).await
}
