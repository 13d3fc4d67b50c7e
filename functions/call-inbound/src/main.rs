use std::sync::Arc;

use call_inbound::InboundCall;
use lambda_http::{run, service_fn, Error, Request};
use shared::platform::aws::{AwsBudget, AwsClients};
use shared::platform::config::{Env, ToolConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::platform::telemetry::init();
    let config = ToolConfig::from_env(&Env::from_process())?;
    let aws = AwsClients::from_env(AwsBudget::CALLER_WAITING).await;
    let inbound = Arc::new(InboundCall::build(&config, &aws));
    run(service_fn(move |request: Request| {
        let inbound = inbound.clone();
        async move { Ok::<_, Error>(inbound.handle(request).await) }
    }))
    .await
}
