//! `reconcile` Lambda: on a schedule, imports calls whose webhooks never arrived and repairs
//! calls stuck ongoing (see [`reconcile::Reconcile`]).

use lambda_runtime::{run, service_fn, LambdaEvent};
use reconcile::Reconcile;
use serde_json::Value;
use shared::platform::aws::{AwsBudget, AwsClients};
use shared::platform::config::{Env, ReconcileConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::platform::telemetry::init();
    let config = ReconcileConfig::from_env(&Env::from_process())?;
    let aws = AwsClients::from_env(AwsBudget::BACKGROUND).await;
    let job = Reconcile::build(&config, &aws);
    let job = &job;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Leave part of the function's timeout (up to 20 s) to report what was done.
        let remaining = event
            .context
            .deadline()
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        // A runtime that gives no deadline (cargo lambda locally) gets the template's timeout.
        let remaining = if remaining.is_zero() {
            std::time::Duration::from_secs(600)
        } else {
            remaining
        };
        let budget = remaining - (remaining / 5).min(std::time::Duration::from_secs(20));
        let summary = job.run(chrono::Utc::now(), budget).await;
        Ok::<Value, lambda_runtime::Error>(serde_json::to_value(summary)?)
    }))
    .await
}
