//! A tool's Lambda: clients built once, then the runtime loop.

use std::sync::Arc;

use lambda_http::Request;

use super::{Tool, ToolService};
use crate::platform::aws::{AwsBudget, AwsClients};
use crate::platform::config::{Env, ToolConfig};

/// A tool Lambda: clients built once, then the runtime loop. `--tool-definition` prints the
/// Retell definition instead (`make tools`).
pub async fn run_lambda<T: Tool>(tool: T) -> Result<(), lambda_http::Error> {
    run_lambda_with(tool.definition(), move |_, _| tool).await
}

/// As [`run_lambda`], for a tool built from the container's configuration and clients (one
/// that keeps its own items, `request_callback`).
pub async fn run_lambda_with<T: Tool>(
    definition: super::ToolDefinition,
    build: impl FnOnce(&ToolConfig, &AwsClients) -> T,
) -> Result<(), lambda_http::Error> {
    if std::env::args().any(|a| a == "--tool-definition") {
        let base = std::env::var("API_BASE_URL").unwrap_or_else(|_| "https://YOUR-API".into());
        println!(
            "{}",
            serde_json::to_string_pretty(&definition.retell_json(&base))?
        );
        return Ok(());
    }
    crate::platform::telemetry::init();
    let config = ToolConfig::from_env(&Env::from_process())?;
    let aws = AwsClients::from_env(AwsBudget::CALLER_WAITING).await;
    let service = Arc::new(ToolService::build(build(&config, &aws), &config, &aws));
    lambda_http::run(lambda_http::service_fn(move |request: Request| {
        let service = service.clone();
        async move { Ok::<_, lambda_http::Error>(service.handle(request).await) }
    }))
    .await
}
