//! `backup` Lambda: daily, on its EventBridge schedule, exports every table the stack keeps and
//! every Retell agent to `s3://<bucket>/backups/tables/<stamp>/` and deletes runs past their
//! retention (see [`shared::backups`]). `retell-ops backup tables` runs the same.

use std::time::Duration;

use lambda_runtime::{run, service_fn, LambdaEvent};
use serde_json::Value;
use shared::backups::daily::DailyBackup;
use shared::backups::{Backups, TableRole};
use shared::booking::directory::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::calls::retention::{default_days, RetentionPolicy};
use shared::platform::aws::{AwsBudget, AwsClients};
use shared::platform::config::{Env, DEFAULT_RETELL_BASE_URL};
use shared::retell::api::RetellClient;
use shared::retell::keys::{KeyProvider, SecretsManagerSource, DEFAULT_REFRESH_INTERVAL};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::platform::telemetry::init();
    let env = Env::from_process();
    let aws = AwsClients::from_env(AwsBudget::BACKGROUND).await;
    let companies_table = env.required("COMPANIES_TABLE")?;
    let mut tables = vec![
        (TableRole::Calls, env.required("CALLS_TABLE")?),
        (TableRole::Statistics, env.required("CALL_STATS_TABLE")?),
        (TableRole::Appointments, env.required("APPOINTMENTS_TABLE")?),
        (TableRole::Companies, companies_table.clone()),
    ];
    if let Some(audit) = env.optional("AUDIT_TABLE") {
        tables.push((TableRole::Audit, audit));
    }
    let default_days = default_days(&env)?;
    let job = DailyBackup {
        backups: Backups {
            db: aws.dynamodb.clone(),
            s3: aws.s3.client(),
            bucket: env.required("EVENTS_BUCKET")?,
        },
        tables,
        companies: CompanyDirectory::new(aws.dynamodb.clone(), &companies_table, COMPANY_CACHE_TTL),
        retention: RetentionPolicy::from_table(
            aws.dynamodb.clone(),
            &companies_table,
            default_days,
        ),
        default_days,
        cap_days: env.parsed("BACKUP_RETENTION_DAYS", 35)?,
    };
    let keys = KeyProvider::new(
        SecretsManagerSource::new(aws.secrets.clone(), &env.required("RETELL_SECRET_ID")?),
        env.required("DEFAULT_COMPANY_ID")?,
        DEFAULT_REFRESH_INTERVAL,
    );
    let base = env
        .optional("RETELL_BASE_URL")
        .unwrap_or_else(|| DEFAULT_RETELL_BASE_URL.to_owned());
    let (job, keys, base) = (&job, &keys, &base);
    run(service_fn(move |_event: LambdaEvent<Value>| async move {
        // Without the keys the tables are still backed up; the agents' absence is reported.
        let accounts: Vec<RetellClient> = match keys.current().await {
            Ok(ring) => ring
                .tenants()
                .iter()
                .filter_map(|t| RetellClient::new(base, t.api_key(), Duration::from_secs(15)).ok())
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "Retell keys unreadable: agents not backed up");
                Vec::new()
            }
        };
        let report = job.run(&accounts, chrono::Utc::now()).await.map_err(|e| {
            tracing::error!(error = %e, "backup failed");
            e
        })?;
        Ok::<Value, lambda_runtime::Error>(serde_json::to_value(report)?)
    }))
    .await
}
