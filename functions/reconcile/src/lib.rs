//! The scheduled reconcile job (EventBridge, every 15 minutes in template.yaml): for every Retell
//! account in the key secret, the calls of the last hours Retell has and we lack (or lack part
//! of) are queued through the webhook's queue path, and calls stuck `ongoing` here for hours
//! are asked about and completed. The work is [`shared::calls::reconcile`], as `retell-ops
//! import-calls` runs it.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde::Serialize;
use shared::booking::company::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::calls::queue::SqsEventQueue;
use shared::calls::reconcile::{CallOutcome, ReconcileReport, Reconciler, RetellAccount};
use shared::calls::store::DynamoCallStore;
use shared::platform::aws::AwsClients;
use shared::platform::config::ReconcileConfig;
use shared::retell::api::RetellClient;
use shared::retell::keys::{KeyProvider, KeyRing, SecretsManagerSource, DEFAULT_REFRESH_INTERVAL};

pub struct Reconcile {
    pub reconciler: Reconciler<SqsEventQueue, DynamoCallStore>,
    pub keys: KeyProvider<SecretsManagerSource>,
    pub retell_base_url: String,
    pub lookback: chrono::Duration,
    pub stuck_after: chrono::Duration,
}

/// What a run did, logged and returned.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub accounts: usize,
    pub window: ReconcileReport,
    pub stuck: ReconcileReport,
    pub errors: Vec<String>,
    pub timed_out: bool,
}

impl Reconcile {
    pub fn build(config: &ReconcileConfig, aws: &AwsClients) -> Self {
        let w = &config.webhook;
        let queue_urls: HashMap<_, _> = w.queue_urls.clone();
        Self {
            reconciler: Reconciler {
                queue: SqsEventQueue::new(
                    aws.sqs.clone(),
                    aws.s3.clone(),
                    w.bucket.clone(),
                    queue_urls,
                    w.inline_limit_bytes,
                ),
                store: DynamoCallStore::new(
                    aws.dynamodb.clone(),
                    &config.calls_table,
                    &config.stats_table,
                ),
                companies: CompanyDirectory::new(
                    aws.dynamodb.clone(),
                    &w.auth.companies_table,
                    COMPANY_CACHE_TTL,
                ),
                concurrency: config.concurrency,
            },
            keys: KeyProvider::new(
                SecretsManagerSource::new(aws.secrets.clone(), &w.auth.secret_id),
                &w.auth.default_company_id,
                DEFAULT_REFRESH_INTERVAL,
            ),
            retell_base_url: config.retell_base_url.clone(),
            lookback: chrono::Duration::minutes(config.lookback_minutes.max(1)),
            stuck_after: chrono::Duration::minutes(config.stuck_after_minutes.max(1)),
        }
    }

    /// One run at `now`, within `budget` (what is unfinished then is left for the next run).
    pub async fn run(&self, now: chrono::DateTime<chrono::Utc>, budget: Duration) -> Summary {
        let span = shared::event_span!("reconcile");
        let _entered = span.enter();
        let mut summary = Summary::default();
        let outcome = tokio::time::timeout(budget, self.run_all(now, &mut summary)).await;
        summary.timed_out = outcome.is_err();
        let repaired = summary.stuck.imported;
        tracing::info!(
            accounts = summary.accounts,
            listed = summary.window.listed,
            imported = summary.window.imported,
            present = summary.window.present,
            failed = summary.window.failed + summary.stuck.failed,
            stuck_checked = summary.stuck.listed,
            stuck_repaired = repaired,
            timed_out = summary.timed_out,
            errors = summary.errors.len(),
            "reconcile finished"
        );
        // Embedded Metric Format: CloudWatch turns this line into metrics (alarm on Failed).
        println!(
            "{}",
            serde_json::json!({
                "_aws": {"Timestamp": now.timestamp_millis(), "CloudWatchMetrics": [{
                    "Namespace": "RetellBackend",
                    "Dimensions": [["Job"]],
                    "Metrics": [
                        {"Name": "ReconcileImported", "Unit": "Count"},
                        {"Name": "ReconcileRepaired", "Unit": "Count"},
                        {"Name": "ReconcileFailed", "Unit": "Count"}
                    ]
                }]},
                "Job": "reconcile",
                "ReconcileImported": summary.window.imported,
                "ReconcileRepaired": repaired,
                "ReconcileFailed": summary.window.failed + summary.stuck.failed + summary.errors.len() as u64,
            })
        );
        summary
    }

    async fn run_all(&self, now: chrono::DateTime<chrono::Utc>, summary: &mut Summary) {
        let ring = match self.keys.current().await {
            Ok(r) => r,
            Err(e) => {
                summary.errors.push(format!("keys: {e}"));
                return;
            }
        };
        let companies = match self.reconciler.companies.company_ids().await {
            Ok(c) => c,
            Err(e) => {
                summary.errors.push(format!("companies: {e}"));
                Vec::new()
            }
        };
        let log = |o: &CallOutcome| match o {
            CallOutcome::Imported {
                call_id,
                company_id,
                events,
            } => {
                tracing::info!(call_id = %call_id, company = %company_id, events = ?events, "reconcile imported a call")
            }
            CallOutcome::Failed { call_id, reason } => {
                tracing::warn!(call_id = %call_id, reason = %reason, "reconcile could not import a call")
            }
            CallOutcome::Present { .. } => {}
        };
        let from = (now - self.lookback).timestamp_millis();
        let to = now.timestamp_millis() + 1;
        for tenant in ring.tenants() {
            summary.accounts += 1;
            let account = match self.account(tenant.api_key(), &tenant.company_id) {
                Ok(a) => a,
                Err(e) => {
                    summary.errors.push(e);
                    continue;
                }
            };
            match self
                .reconciler
                .import_window(&account, from, to, &log, &mut |_| {})
                .await
            {
                Ok(report) => summary.window.merge(report),
                Err(e) => summary
                    .errors
                    .push(format!("listing calls of {}: {e}", tenant.company_id)),
            }
            // Stuck calls of the companies whose key this is.
            let mut mine: BTreeSet<String> = companies
                .iter()
                .filter(|c| same_key(&ring, c, tenant.api_key()))
                .cloned()
                .collect();
            mine.insert(tenant.company_id.clone());
            let mine: Vec<String> = mine.into_iter().collect();
            let before = (now - self.stuck_after).timestamp_millis();
            match self
                .reconciler
                .repair_stuck(&account, &mine, before, &log)
                .await
            {
                Ok(report) => summary.stuck.merge(report),
                Err(e) => summary.errors.push(e.to_string()),
            }
        }
    }

    fn account(&self, key: &str, company_id: &str) -> Result<RetellAccount, String> {
        let client = RetellClient::new(&self.retell_base_url, key, Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        Ok(RetellAccount {
            client,
            company_id: company_id.to_owned(),
        })
    }
}

fn same_key(ring: &KeyRing, company: &str, key: &str) -> bool {
    ring.key_for(Some(company)) == key
}
