use std::sync::Arc;

use call_inbound::InboundCall;
use lambda_http::{run, service_fn, Error, Request};
use shared::auth::RequestAuth;
use shared::aws::AwsClients;
use shared::calendar::NativeCalendar;
use shared::company::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::config::Env;
use shared::keys::{KeyProvider, SecretsManagerSource, DEFAULT_REFRESH_INTERVAL};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let env = Env::from_process();
    let aws = AwsClients::from_env(shared::aws::AwsBudget::CALLER_WAITING).await;
    let inbound = Arc::new(InboundCall {
        auth: RequestAuth::new(
            KeyProvider::new(
                SecretsManagerSource::new(aws.secrets.clone(), env.required("RETELL_SECRET_ID")?),
                env.optional("DEFAULT_COMPANY_ID")
                    .unwrap_or_else(|| "default".into()),
                DEFAULT_REFRESH_INTERVAL,
            ),
            CompanyDirectory::new(
                aws.dynamodb.clone(),
                env.required("COMPANIES_TABLE")?,
                COMPANY_CACHE_TTL,
            ),
        ),
        calendar: NativeCalendar::new(aws.dynamodb.clone(), env.required("APPOINTMENTS_TABLE")?),
    });
    run(service_fn(move |request: Request| {
        let inbound = inbound.clone();
        async move { Ok::<_, Error>(inbound.handle(request).await) }
    }))
    .await
}
