use std::sync::Arc;

use lambda_http::{run, service_fn, Error, Request};
use shared::auth::RequestAuth;
use shared::aws::AwsClients;
use shared::company::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::config::{Env, WebhookConfig};
use shared::keys::{KeyProvider, SecretsManagerSource, DEFAULT_REFRESH_INTERVAL};
use shared::queue::SqsEventQueue;
use webhook::{Webhook, WEBHOOK_DEADLINE};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = WebhookConfig::from_env(&Env::from_process())?;
    let aws = AwsClients::from_env(shared::aws::AwsBudget::CALLER_WAITING).await;
    let webhook = Arc::new(Webhook {
        auth: RequestAuth::new(
            KeyProvider::new(
                SecretsManagerSource::new(aws.secrets.clone(), config.secret_id.clone()),
                config.default_company_id.clone(),
                DEFAULT_REFRESH_INTERVAL,
            ),
            CompanyDirectory::new(
                aws.dynamodb.clone(),
                config.companies_table.clone(),
                COMPANY_CACHE_TTL,
            ),
        ),
        queue: SqsEventQueue::new(
            aws.sqs.clone(),
            aws.s3.clone(),
            config.bucket.clone(),
            config.queue_urls.clone(),
            config.inline_limit_bytes,
        ),
        max_body_bytes: config.max_body_bytes,
        deadline: WEBHOOK_DEADLINE,
    });
    run(service_fn(move |request: Request| {
        let webhook = webhook.clone();
        async move { Ok::<_, Error>(webhook.handle(request).await) }
    }))
    .await
}
