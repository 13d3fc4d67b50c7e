use std::sync::Arc;

use lambda_http::{run, service_fn, Error, Request};
use shared::platform::aws::{AwsBudget, AwsClients};
use shared::platform::config::{Env, WebhookConfig};
use webhook::Webhook;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::platform::telemetry::init();
    let config = WebhookConfig::from_env(&Env::from_process())?;
    let aws = AwsClients::from_env(AwsBudget::CALLER_WAITING).await;
    let webhook = Arc::new(Webhook::build(&config, &aws));
    run(service_fn(move |request: Request| {
        let webhook = webhook.clone();
        async move { Ok::<_, Error>(webhook.handle(request).await) }
    }))
    .await
}
