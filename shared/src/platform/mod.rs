//! What every Lambda stands on: AWS clients with time budgets, settings from the environment,
//! secrets, structured logs, HTTP replies, and JSON ⇄ DynamoDB attribute values.

pub mod aws;
pub mod config;
pub mod dynamo;
pub mod http;
pub mod secrets;
pub mod telemetry;
