//! Reconciliation: calls Retell has that we lack, or lack part of, are fetched from Retell's API
//! and queued exactly as the webhook queues a delivery, so the consumers store them and their
//! statistics once, through the one write path (a repeated event is a duplicate there).
//!
//! `retell-ops import-calls` and the scheduled `reconcile` Lambda both run [`Reconciler`]:
//! - [`Reconciler::import_window`] pages through Retell's calls that started in a window (oldest
//!   first, one page in memory at a time), checks each against the calls table, and fetches and
//!   queues only what is missing, several calls at a time;
//! - [`Reconciler::repair_stuck`] asks Retell about calls our table still shows as ongoing long
//!   after they began (their `call_ended` never arrived) and queues what Retell has.

use std::collections::BTreeSet;
use std::sync::Mutex;

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::json;

use crate::booking::company::{CompanyDirectory, CompanyKey};
use crate::calls::queue::{AcceptedEvent, EventQueue};
use crate::calls::store::{CallStore, DynamoCallStore};
use crate::retell::api::{Call, RetellApiError, RetellClient};
use crate::retell::{CallId, EventKind};

/// Calls per `list-calls` page: Retell's maximum, so a busy day is few listing requests.
pub const LIST_PAGE_SIZE: u32 = 1000;
/// `get-call` requests in flight at once (the client backs off when Retell answers 429).
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Failures kept with their reason in a report (all are counted).
const MAX_FAILURES_KEPT: usize = 50;

/// What became of one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CallOutcome {
    /// Every event Retell has for it is stored here already.
    Present {
        call_id: String,
    },
    /// Events queued for the consumers (the ones the table lacked).
    Imported {
        call_id: String,
        company_id: String,
        events: Vec<String>,
    },
    Failed {
        call_id: String,
        reason: String,
    },
}

impl CallOutcome {
    pub fn call_id(&self) -> &str {
        match self {
            Self::Present { call_id }
            | Self::Imported { call_id, .. }
            | Self::Failed { call_id, .. } => call_id,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    pub listed: u64,
    pub imported: u64,
    pub present: u64,
    pub failed: u64,
    pub events_queued: u64,
    /// Start time of the newest call of the last complete page: where a resumed run may begin.
    pub checkpoint_ms: Option<i64>,
    pub failures: Vec<(String, String)>,
}

impl ReconcileReport {
    fn count(&mut self, outcome: &CallOutcome) {
        match outcome {
            CallOutcome::Present { .. } => self.present += 1,
            CallOutcome::Imported { events, .. } => {
                self.imported += 1;
                self.events_queued += events.len() as u64;
            }
            CallOutcome::Failed { call_id, reason } => {
                self.failed += 1;
                if self.failures.len() < MAX_FAILURES_KEPT {
                    self.failures.push((call_id.clone(), reason.clone()));
                }
            }
        }
    }

    pub fn merge(&mut self, other: ReconcileReport) {
        self.listed += other.listed;
        self.imported += other.imported;
        self.present += other.present;
        self.failed += other.failed;
        self.events_queued += other.events_queued;
        self.checkpoint_ms = other.checkpoint_ms.or(self.checkpoint_ms);
        for f in other.failures {
            if self.failures.len() < MAX_FAILURES_KEPT {
                self.failures.push(f);
            }
        }
    }
}

/// One Retell account: its client and the company its calls belong to when the directory does
/// not know the call's agent (as the webhook falls back to the key's company).
pub struct RetellAccount {
    pub client: RetellClient,
    pub company_id: String,
}

pub struct Reconciler<Q, S = DynamoCallStore> {
    pub queue: Q,
    pub store: S,
    pub companies: CompanyDirectory,
    pub concurrency: usize,
}

impl<Q: EventQueue + Sync, S: CallStore + Sync> Reconciler<Q, S> {
    /// Every call of `account` that started in `[from_ms, to_ms)`, checked and completed.
    /// `on_call` sees each outcome (progress bars, logs); `on_page` each finished page's report
    /// so far (checkpoints). Only listing errors end the run; a call that fails is counted.
    pub async fn import_window(
        &self,
        account: &RetellAccount,
        from_ms: i64,
        to_ms: i64,
        on_call: &(dyn Fn(&CallOutcome) + Sync),
        on_page: &mut (dyn FnMut(&ReconcileReport) + Send),
    ) -> Result<ReconcileReport, RetellApiError> {
        let mut report = ReconcileReport::default();
        let mut key: Option<String> = None;
        loop {
            let page = account
                .client
                .list_calls_page(from_ms, to_ms, key.as_deref(), LIST_PAGE_SIZE)
                .await?;
            report.listed += page.items.len() as u64;
            let newest = page.items.iter().filter_map(|c| c.start_timestamp).max();
            let work = page
                .items
                .into_iter()
                .map(|call| self.reconcile_listed(account, call));
            self.settle(work, on_call, &mut report).await;
            report.checkpoint_ms = newest.or(report.checkpoint_ms);
            on_page(&report);
            match page.pagination_key {
                Some(next) if page.has_more => key = Some(next),
                _ => return Ok(report),
            }
        }
    }

    /// Calls of `company_ids` our table shows as registered/ongoing that began before
    /// `started_before_ms`: Retell is asked for each, and whatever it has finished is queued.
    pub async fn repair_stuck(
        &self,
        account: &RetellAccount,
        company_ids: &[String],
        started_before_ms: i64,
        on_call: &(dyn Fn(&CallOutcome) + Sync),
    ) -> Result<ReconcileReport, StuckError>
    where
        S: ActiveCalls,
    {
        let mut report = ReconcileReport::default();
        for company in company_ids {
            let stuck = self
                .store
                .active_call_ids(company, started_before_ms)
                .await
                .map_err(StuckError::Store)?;
            report.listed += stuck.len() as u64;
            let work = stuck.into_iter().map(|call_id| async move {
                match account.client.get_call(call_id.as_str()).await {
                    Ok(call) => self.complete(account, call, None).await,
                    Err(e) => CallOutcome::Failed {
                        call_id: call_id.as_str().to_owned(),
                        reason: e.to_string(),
                    },
                }
            });
            self.settle(work, on_call, &mut report).await;
        }
        Ok(report)
    }

    /// Runs `work` at most `concurrency` at a time, telling `on_call` and `report` each outcome.
    async fn settle<F: std::future::Future<Output = CallOutcome>>(
        &self,
        work: impl Iterator<Item = F>,
        on_call: &(dyn Fn(&CallOutcome) + Sync),
        report: &mut ReconcileReport,
    ) {
        let outcomes: Vec<CallOutcome> = stream::iter(work)
            .buffer_unordered(self.concurrency.max(1))
            .inspect(|outcome| on_call(outcome))
            .collect()
            .await;
        for outcome in &outcomes {
            report.count(outcome);
        }
    }

    /// A listed call (no transcript): fetched in full only when something is missing.
    async fn reconcile_listed(&self, account: &RetellAccount, listed: Call) -> CallOutcome {
        let call_id = listed.call_id.clone();
        let applied = match self.applied_events(&call_id).await {
            Ok(applied) => applied,
            Err(reason) => return CallOutcome::Failed { call_id, reason },
        };
        let complete = if listed.has_ended() {
            applied.contains(&EventKind::CallEnded) && applied.contains(&EventKind::CallAnalyzed)
        } else {
            !applied.is_empty()
        };
        if complete {
            return CallOutcome::Present { call_id };
        }
        match account.client.get_call(&call_id).await {
            Ok(call) => self.complete(account, call, Some(applied)).await,
            Err(e) => CallOutcome::Failed {
                call_id,
                reason: e.to_string(),
            },
        }
    }

    async fn applied_events(&self, call_id: &str) -> Result<BTreeSet<EventKind>, String> {
        let id = CallId::parse(call_id).map_err(|e| format!("call id: {e}"))?;
        let record = self.store.load(&id).await.map_err(|e| e.to_string())?;
        Ok(record.map(|r| r.events_applied).unwrap_or_default())
    }

    /// Queues the events of a full call that the table lacks.
    async fn complete(
        &self,
        account: &RetellAccount,
        call: Call,
        applied: Option<BTreeSet<EventKind>>,
    ) -> CallOutcome {
        let call_id = call.call_id.clone();
        let applied = match applied {
            Some(a) => a,
            None => match self.applied_events(&call_id).await {
                Ok(a) => a,
                Err(reason) => return CallOutcome::Failed { call_id, reason },
            },
        };
        let events = missing_events(&call, &applied);
        if events.is_empty() {
            return CallOutcome::Present { call_id };
        }
        let company_id = match self.company_of(account, &call).await {
            Ok(c) => c,
            Err(reason) => return CallOutcome::Failed { call_id, reason },
        };
        let id = match CallId::parse(&call_id) {
            Ok(id) => id,
            Err(e) => {
                return CallOutcome::Failed {
                    call_id,
                    reason: format!("call id: {e}"),
                }
            }
        };
        let mut queued = Vec::new();
        for kind in events {
            let body = match serde_json::to_vec(&json!({"event": kind.as_str(), "call": &call})) {
                Ok(b) => Bytes::from(b),
                Err(e) => {
                    return CallOutcome::Failed {
                        call_id,
                        reason: e.to_string(),
                    }
                }
            };
            let event = AcceptedEvent {
                kind,
                call_id: id.clone(),
                company_id: company_id.clone(),
                received_at_ms: chrono::Utc::now().timestamp_millis(),
                body,
            };
            if let Err(e) = self.queue.enqueue(&event).await {
                return CallOutcome::Failed {
                    call_id,
                    reason: format!("queueing {}: {e}", kind.as_str()),
                };
            }
            tracing::info!(call_id = %call_id, event = kind.as_str(), company = %company_id, "reconcile queued a missed event");
            queued.push(kind.as_str().to_owned());
        }
        CallOutcome::Imported {
            call_id,
            company_id,
            events: queued,
        }
    }

    /// The company the webhook would have named: the directory's for the agent, else the
    /// account's.
    async fn company_of(&self, account: &RetellAccount, call: &Call) -> Result<String, String> {
        let Some(agent) = call.agent_id.as_deref() else {
            return Ok(account.company_id.clone());
        };
        let key = CompanyKey::Agent(agent.to_owned());
        if !key.is_well_formed() {
            return Ok(account.company_id.clone());
        }
        match self.companies.lookup(&key).await {
            Ok(Some(company)) => Ok(company.id().to_owned()),
            Ok(None) => Ok(account.company_id.clone()),
            Err(e) => Err(format!("companies: {e}")),
        }
    }
}

/// The events Retell has for `call` that `applied` lacks. An ended call needs `call_ended` (which
/// carries everything `call_started` would) and, once Retell analysed it, `call_analyzed`.
pub fn missing_events(call: &Call, applied: &BTreeSet<EventKind>) -> Vec<EventKind> {
    let mut wanted = Vec::new();
    if call.has_ended() {
        wanted.push(EventKind::CallEnded);
        if call.call_analysis.as_ref().is_some_and(|a| !a.is_null()) {
            wanted.push(EventKind::CallAnalyzed);
        }
    } else if matches!(call.call_status.as_deref(), Some("ongoing")) {
        wanted.push(EventKind::CallStarted);
    }
    wanted.retain(|k| !applied.contains(k));
    if !call.has_ended() && !applied.is_empty() {
        wanted.clear();
    }
    wanted
}

#[derive(Debug, thiserror::Error)]
pub enum StuckError {
    #[error("reading active calls: {0}")]
    Store(String),
}

/// The calls a store shows as still active for a company.
pub trait ActiveCalls {
    fn active_call_ids(
        &self,
        company_id: &str,
        started_before_ms: i64,
    ) -> impl std::future::Future<Output = Result<Vec<CallId>, String>> + Send;
}

/// A shared counter for progress shown while calls finish out of order.
#[derive(Debug, Default)]
pub struct Tally(Mutex<ReconcileReport>);

impl Tally {
    pub fn add(&self, outcome: &CallOutcome) {
        if let Ok(mut report) = self.0.lock() {
            report.count(outcome);
        }
    }

    pub fn snapshot(&self) -> ReconcileReport {
        self.0.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn call(status: &str, analysis: Option<Value>) -> Call {
        serde_json::from_value(json!({
            "call_id": "call_1", "call_status": status, "call_analysis": analysis,
        }))
        .expect("call")
    }

    #[test]
    fn an_ended_call_needs_what_the_table_lacks() {
        let none = BTreeSet::new();
        let analysis = Some(json!({"call_summary": "x"}));
        assert_eq!(
            missing_events(&call("ended", analysis.clone()), &none),
            vec![EventKind::CallEnded, EventKind::CallAnalyzed]
        );
        assert_eq!(
            missing_events(&call("ended", None), &none),
            vec![EventKind::CallEnded]
        );
        let ended: BTreeSet<_> = [EventKind::CallStarted, EventKind::CallEnded].into();
        assert_eq!(
            missing_events(&call("ended", analysis.clone()), &ended),
            vec![EventKind::CallAnalyzed]
        );
        let all: BTreeSet<_> = [EventKind::CallEnded, EventKind::CallAnalyzed].into();
        assert!(missing_events(&call("ended", analysis), &all).is_empty());
        assert_eq!(
            missing_events(&call("error", None), &none),
            vec![EventKind::CallEnded]
        );
    }

    #[test]
    fn a_live_call_needs_only_its_start() {
        let none = BTreeSet::new();
        assert_eq!(
            missing_events(&call("ongoing", None), &none),
            vec![EventKind::CallStarted]
        );
        let started: BTreeSet<_> = [EventKind::CallStarted].into();
        assert!(missing_events(&call("ongoing", None), &started).is_empty());
        assert!(missing_events(&call("registered", None), &none).is_empty());
    }
}
