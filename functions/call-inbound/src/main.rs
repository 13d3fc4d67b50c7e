use std::sync::Arc;

use call_inbound::InboundCall;
use lambda_http::{run, service_fn, Error, Request};
use shared::calendar::NativeCalendar;
use shared::platform::aws::{AwsBudget, AwsClients};
use shared::platform::config::Env;
use shared::retell::auth::RequestAuth;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::platform::telemetry::init();
    let env = Env::from_process();
    let aws = AwsClients::from_env(AwsBudget::CALLER_WAITING).await;
    let inbound = Arc::new(InboundCall {
        auth: RequestAuth::from_env(&env, &aws)?,
        calendar: NativeCalendar::new(aws.dynamodb.clone(), env.required("APPOINTMENTS_TABLE")?),
    });
    run(service_fn(move |request: Request| {
        let inbound = inbound.clone();
        async move { Ok::<_, Error>(inbound.handle(request).await) }
    }))
    .await
}
