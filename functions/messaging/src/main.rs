//! `messaging` Lambda: sends what the messaging queue carries and sweeps the due index on its
//! schedule (see [`messaging::Messaging`]).

use lambda_runtime::{run, service_fn, LambdaEvent};
use messaging::Messaging;
use serde_json::Value;
use shared::platform::aws::{AwsBudget, AwsClients};
use shared::platform::config::Env;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::platform::telemetry::init();
    let aws = AwsClients::from_env(AwsBudget::BACKGROUND).await;
    let job = Messaging::build(&Env::from_process(), &aws)?;
    let job = &job;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<Value, lambda_runtime::Error>(job.handle(event.payload).await)
    }))
    .await
}
