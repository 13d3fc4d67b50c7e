//! What every Lambda stands on: AWS clients with time budgets, settings from the environment,
//! secrets, TLS trust, structured logs (and reading them back from CloudWatch Logs), HTTP replies, and
//! JSON ⇄ DynamoDB attribute values.

pub mod aws;
pub mod aws_json;
pub mod config;
pub mod dynamo;
pub mod http;
pub mod log_line;
pub mod logs;
pub mod metrics;
pub mod outbound;
pub mod processing;
pub mod s3_objects;
pub mod secrets;
pub mod telemetry;
pub mod tls;
