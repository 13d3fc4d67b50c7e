use std::sync::Arc;

use calcom_webhook::CalComInbox;
use lambda_http::{run, service_fn, Error, Request};
use shared::platform::aws::{AwsBudget, AwsClients};
use shared::platform::config::{CalComWebhookConfig, Env};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::platform::telemetry::init();
    let config = CalComWebhookConfig::from_env(&Env::from_process())?;
    let aws = AwsClients::from_env(AwsBudget::BACKGROUND).await;
    let inbox = Arc::new(CalComInbox::build(&config, &aws));
    run(service_fn(move |request: Request| {
        let inbox = inbox.clone();
        async move { Ok::<_, Error>(inbox.handle(request).await) }
    }))
    .await
}
