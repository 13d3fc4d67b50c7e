//! The scheduled reconcile job (EventBridge, every 15 minutes in template.yaml): for every Retell
//! account in the key secret, the calls of the last hours Retell has and we lack (or lack part
//! of) are queued through the webhook's queue path, and calls stuck `ongoing` here for hours
//! are asked about and completed. The work is [`shared::calls::reconcile`], as `retell-ops
//! import-calls` runs it.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde::Serialize;
use shared::booking::directory::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::calls::queue::SqsEventQueue;
use shared::calls::reconcile::{
    CallOutcome, ReconcileReport, Reconciler, RetellAccount, StuckPolicy, Tally,
};
use shared::calls::store::DynamoCallStore;
use shared::platform::aws::AwsClients;
use shared::platform::config::ReconcileConfig;
use shared::retell::api::RetellClient;
use shared::retell::keys::{KeyProvider, KeyRing, SecretsManagerSource, DEFAULT_REFRESH_INTERVAL};
use tracing::Instrument;

pub mod callbacks;

pub struct Reconcile {
    pub reconciler: Reconciler<SqsEventQueue, DynamoCallStore>,
    pub keys: KeyProvider<SecretsManagerSource>,
    pub retell_base_url: String,
    pub lookback: chrono::Duration,
    pub stuck_after: chrono::Duration,
    pub give_up_after: chrono::Duration,
    /// Where callbacks are kept: each run counts the overdue ones ([`callbacks`]).
    pub callbacks: Option<shared::callbacks::CallbackStore>,
}

/// What a run did, logged and returned.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub accounts: usize,
    pub window: ReconcileReport,
    pub stuck: ReconcileReport,
    pub errors: Vec<String>,
    pub timed_out: bool,
    pub callbacks: Option<callbacks::CallbackTally>,
}

impl Reconcile {
    pub fn build(config: &ReconcileConfig, aws: &AwsClients) -> Self {
        let w = &config.webhook;
        let queue_urls: HashMap<_, _> = w.queue_urls.clone();
        Self {
            reconciler: Reconciler {
                queue: SqsEventQueue::new(
                    aws.sqs.client(),
                    aws.s3.client(),
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
                page_size: shared::calls::reconcile::LIST_PAGE_SIZE,
            },
            keys: KeyProvider::new(
                SecretsManagerSource::new(aws.secrets.clone(), &w.auth.secret_id),
                &w.auth.default_company_id,
                DEFAULT_REFRESH_INTERVAL,
            ),
            retell_base_url: config.retell_base_url.clone(),
            lookback: chrono::Duration::minutes(config.lookback_minutes.max(1)),
            stuck_after: chrono::Duration::minutes(config.stuck_after_minutes.max(1)),
            give_up_after: chrono::Duration::minutes(
                config
                    .give_up_minutes
                    .max(config.stuck_after_minutes)
                    .max(1),
            ),
            callbacks: config
                .appointments_table
                .as_ref()
                .map(|table| shared::callbacks::CallbackStore::new(aws.dynamodb.clone(), table)),
        }
    }

    /// One run at `now`, within `budget` (what is unfinished then is left for the next run;
    /// what was done is counted either way).
    pub async fn run(&self, now: chrono::DateTime<chrono::Utc>, budget: Duration) -> Summary {
        let span = shared::event_span!("reconcile");
        self.run_within(now, budget).instrument(span).await
    }

    async fn run_within(&self, now: chrono::DateTime<chrono::Utc>, budget: Duration) -> Summary {
        let window = Tally::default();
        let stuck = Tally::default();
        let mut summary = Summary::default();
        // Boxed: the nested futures of a run are too deep for the compiler's layout otherwise.
        let outcome = tokio::time::timeout(
            budget,
            Box::pin(self.run_all(now, &window, &stuck, &mut summary)),
        )
        .await;
        summary.timed_out = outcome.is_err();
        if let Some(store) = &self.callbacks {
            // A few Queries per company, after the import: short, and counted even when the
            // import ran out of time.
            let tally = callbacks::count_overdue(store, &self.reconciler.companies, now).await;
            summary.callbacks = Some(tally);
        }
        summary.window = window.snapshot();
        summary.stuck = stuck.snapshot();
        let repaired = summary.stuck.imported;
        let failed = summary.window.failed + summary.stuck.failed + summary.errors.len() as u64;
        if summary.timed_out {
            tracing::warn!(
                budget_s = budget.as_secs(),
                "reconcile ran out of time; the next run goes on"
            );
        }
        tracing::info!(
            accounts = summary.accounts,
            listed = summary.window.listed,
            imported = summary.window.imported,
            present = summary.window.present,
            failed,
            stuck_checked = summary.stuck.listed,
            stuck_repaired = repaired,
            stuck_closed = summary.stuck.closed,
            timed_out = summary.timed_out,
            errors = ?summary.errors,
            "reconcile finished"
        );
        // Embedded Metric Format: CloudWatch turns this line into metrics (ReconcileFailedAlarm).
        use shared::platform::metrics::{emit, Unit};
        emit(
            &[("Job", "reconcile")],
            &[&["Job"]],
            &[
                (
                    "ReconcileImported",
                    Unit::Count,
                    summary.window.imported as f64,
                ),
                ("ReconcileRepaired", Unit::Count, repaired as f64),
                ("ReconcileClosed", Unit::Count, summary.stuck.closed as f64),
                ("ReconcileFailed", Unit::Count, failed as f64),
                (
                    "ReconcileTimedOut",
                    Unit::Count,
                    f64::from(u8::from(summary.timed_out)),
                ),
            ],
        );
        summary
    }

    /// Stuck calls first (few, and otherwise never looked at again once they leave the
    /// window), then every account's window.
    async fn run_all(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        window: &Tally,
        stuck: &Tally,
        summary: &mut Summary,
    ) {
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
        let mut accounts = Vec::new();
        for tenant in ring.tenants() {
            summary.accounts += 1;
            match self.account(tenant.api_key(), &tenant.company_id) {
                Ok(a) => {
                    // Stuck calls of the companies whose key this is.
                    let mut mine: BTreeSet<String> = companies
                        .iter()
                        .filter(|c| same_key(&ring, c, tenant.api_key()))
                        .cloned()
                        .collect();
                    mine.insert(tenant.company_id.clone());
                    accounts.push((a, mine.into_iter().collect::<Vec<_>>()));
                }
                Err(e) => summary.errors.push(e),
            }
        }
        let policy = StuckPolicy {
            started_before_ms: (now - self.stuck_after).timestamp_millis(),
            give_up_before_ms: (now - self.give_up_after).timestamp_millis(),
        };
        for (account, mine) in &accounts {
            let on_call = |o: &CallOutcome| {
                log(o);
                stuck.add(o);
            };
            if let Err(e) = self
                .reconciler
                .repair_stuck(account, mine, policy, &on_call)
                .await
            {
                summary.errors.push(e.to_string());
            }
        }
        let from = (now - self.lookback).timestamp_millis();
        let to = now.timestamp_millis() + 1;
        for (account, _) in &accounts {
            let on_call = |o: &CallOutcome| {
                log(o);
                window.add(o);
            };
            if let Err(e) = self
                .reconciler
                .import_window(account, from, to, None, &on_call, &mut |_| {})
                .await
            {
                summary
                    .errors
                    .push(format!("listing calls of {}: {e}", account.company_id));
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

fn log(outcome: &CallOutcome) {
    match outcome {
        CallOutcome::Imported {
            call_id,
            company_id,
            events,
        } => {
            tracing::info!(call_id = %call_id, company = %company_id, events = ?events, "reconcile imported a call")
        }
        CallOutcome::Closed {
            call_id,
            company_id,
        } => {
            tracing::warn!(call_id = %call_id, company = %company_id, "reconcile closed a call Retell does not know")
        }
        CallOutcome::Failed { call_id, reason } => {
            tracing::warn!(call_id = %call_id, reason = %reason, "reconcile could not import a call")
        }
        CallOutcome::Present { .. } => {}
    }
}

fn same_key(ring: &KeyRing, company: &str, key: &str) -> bool {
    ring.key_for(Some(company)) == key
}
