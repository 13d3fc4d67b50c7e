//! Reconciliation: calls Retell has that we lack, or lack part of, are fetched from Retell's API
//! and queued exactly as the webhook queues a delivery, so the consumers store them and their
//! statistics once, through the one write path (a repeated event is a duplicate there).
//!
//! `retell-ops import-calls` and the scheduled `reconcile` Lambda both run [`Reconciler`]:
//! - [`Reconciler::import_window`] pages through Retell's calls that started in a window (oldest
//!   first, one page in memory at a time), checks each against the calls table, and fetches and
//!   queues only what is missing, several calls at a time;
//! - [`Reconciler::repair_stuck`] asks Retell about calls our table still shows as ongoing long
//!   after they began (their `call_ended` never arrived) and queues what Retell has; a call
//!   Retell does not know at all (404) is closed as `error` once it is older than the give-up
//!   age, by a `call_ended` through the same queue, so the active-calls list stays true.

use std::collections::BTreeSet;
use std::sync::Mutex;

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::json;

use crate::booking::directory::{CompanyDirectory, CompanyKey};
use crate::calls::queue::{AcceptedEvent, EventQueue};
use crate::calls::store::{ActiveCalls, CallStore, DynamoCallStore};
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
    /// Live here, unknown to Retell long past any call's end: closed as `error`.
    Closed {
        call_id: String,
        company_id: String,
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
            | Self::Closed { call_id, .. }
            | Self::Failed { call_id, .. } => call_id,
        }
    }
}

/// Where an interrupted import resumes: the start time of the newest call of the last page
/// that was finished without a failure, and the calls of that start time already handled
/// (a page may end in the middle of calls that started in the same millisecond).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub start_ms: i64,
    pub done_at_start: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReconcileReport {
    pub listed: u64,
    pub imported: u64,
    pub present: u64,
    /// Calls closed as `error` (live here, unknown to Retell).
    pub closed: u64,
    pub failed: u64,
    pub events_queued: u64,
    /// Where a resumed run may begin: set while no page has had a failure (a failed call must
    /// be tried again by the resumed run, so the checkpoint never passes it).
    pub checkpoint: Option<Checkpoint>,
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
            CallOutcome::Closed { .. } => {
                self.closed += 1;
                self.events_queued += 1;
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
        self.closed += other.closed;
        self.failed += other.failed;
        self.events_queued += other.events_queued;
        self.checkpoint = other.checkpoint.or(self.checkpoint.take());
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
    /// Calls per `list-calls` page (at most [`LIST_PAGE_SIZE`]).
    pub page_size: u32,
}

/// Which stuck calls [`Reconciler::repair_stuck`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct StuckPolicy {
    /// Live here and started before this: Retell is asked about it.
    pub started_before_ms: i64,
    /// Started before this and unknown to Retell: closed as `error`.
    pub give_up_before_ms: i64,
}

/// Why a stuck call is closed without Retell's word.
pub const CLOSED_REASON: &str = "unknown_to_retell";

impl<Q: EventQueue + Sync, S: CallStore + Sync> Reconciler<Q, S> {
    /// Every call of `account` that started in `[from_ms, to_ms)` (from the checkpoint of an
    /// interrupted run, when given), checked and completed. `on_call` sees each outcome
    /// (progress bars, logs); `on_page` each finished page's report so far (checkpoints). Only
    /// listing errors end the run; a call that fails is counted.
    pub async fn import_window(
        &self,
        account: &RetellAccount,
        from_ms: i64,
        to_ms: i64,
        resume: Option<&Checkpoint>,
        on_call: &(dyn Fn(&CallOutcome) + Sync),
        on_page: &mut (dyn FnMut(&ReconcileReport) + Send),
    ) -> Result<ReconcileReport, RetellApiError> {
        let mut report = ReconcileReport {
            checkpoint: resume.cloned(),
            ..Default::default()
        };
        let from_ms = resume.map_or(from_ms, |c| c.start_ms);
        let done_at_start: BTreeSet<String> = resume
            .map(|c| c.done_at_start.iter().cloned().collect())
            .unwrap_or_default();
        let mut key: Option<String> = None;
        loop {
            let page = account
                .client
                .list_calls_page(
                    from_ms,
                    to_ms,
                    key.as_deref(),
                    self.page_size.clamp(1, LIST_PAGE_SIZE),
                )
                .await?;
            // The calls a resumed run's checkpoint already covers.
            let items: Vec<Call> = page
                .items
                .into_iter()
                .filter(|c| {
                    !(c.start_timestamp == Some(from_ms) && done_at_start.contains(&c.call_id))
                })
                .collect();
            report.listed += items.len() as u64;
            let next = advance_checkpoint(report.checkpoint.as_ref(), &items);
            let work = items
                .into_iter()
                .map(|call| self.reconcile_listed(account, call));
            self.settle(work, on_call, &mut report).await;
            if report.failed == 0 {
                report.checkpoint = next.or(report.checkpoint.take());
            }
            on_page(&report);
            match page.pagination_key {
                Some(next) if page.has_more => {
                    if key.as_deref() == Some(next.as_str()) {
                        return Err(RetellApiError::Decode {
                            path: "/v3/list-calls".into(),
                            reason: format!("Retell repeated the pagination key {next:?}"),
                        });
                    }
                    key = Some(next)
                }
                _ => return Ok(report),
            }
        }
    }

    /// Calls of `company_ids` our table shows as registered/ongoing that began before
    /// `policy.started_before_ms`: Retell is asked for each, and whatever it has finished is
    /// queued; one Retell does not know is closed once it began before `give_up_before_ms`.
    pub async fn repair_stuck(
        &self,
        account: &RetellAccount,
        company_ids: &[String],
        policy: StuckPolicy,
        on_call: &(dyn Fn(&CallOutcome) + Sync),
    ) -> Result<ReconcileReport, StuckError>
    where
        S: ActiveCalls,
    {
        let mut report = ReconcileReport::default();
        for company in company_ids {
            let stuck = self
                .store
                .active_call_ids(company, policy.started_before_ms)
                .await
                .map_err(StuckError::Store)?;
            report.listed += stuck.len() as u64;
            let work = stuck.into_iter().map(|(call_id, started_ms)| async move {
                match account.client.get_call(call_id.as_str()).await {
                    Ok(call) => self.complete(account, call, None).await,
                    Err(e) if e.is_not_found() && started_ms < policy.give_up_before_ms => {
                        self.close(&call_id, company, started_ms).await
                    }
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

    /// Ends a call Retell does not know: a `call_ended` with status `error`, queued like any
    /// other, so the consumer ends the record and counts it once.
    async fn close(&self, call_id: &CallId, company_id: &str, started_ms: i64) -> CallOutcome {
        let body = json!({"event": EventKind::CallEnded.as_str(), "call": {
            "call_id": call_id.as_str(),
            "call_status": "error",
            "start_timestamp": started_ms,
            "disconnection_reason": CLOSED_REASON,
        }});
        let event = AcceptedEvent {
            kind: EventKind::CallEnded,
            transfer: None,
            call_id: call_id.clone(),
            company_id: company_id.to_owned(),
            received_at_ms: chrono::Utc::now().timestamp_millis(),
            body: Bytes::from(body.to_string()),
        };
        match self.queue.enqueue(&event).await {
            Ok(_) => {
                tracing::warn!(call_id = %call_id.as_str(), event = "call_ended", company = %company_id,
                    reason = CLOSED_REASON, "reconcile closed a call Retell does not know");
                CallOutcome::Closed {
                    call_id: call_id.as_str().to_owned(),
                    company_id: company_id.to_owned(),
                }
            }
            Err(e) => CallOutcome::Failed {
                call_id: call_id.as_str().to_owned(),
                reason: format!("queueing call_ended: {e}"),
            },
        }
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

    /// A listed call (no transcript, but its status and analysis): fetched in full only when
    /// the table lacks an event Retell has for it.
    async fn reconcile_listed(&self, account: &RetellAccount, listed: Call) -> CallOutcome {
        let call_id = listed.call_id.clone();
        let applied = match self.applied_events(&call_id).await {
            Ok(applied) => applied,
            Err(reason) => return CallOutcome::Failed { call_id, reason },
        };
        if missing_events(&listed, &applied).is_empty() {
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
        let applied = self
            .store
            .events_applied(&id)
            .await
            .map_err(|e| e.to_string())?;
        Ok(applied.unwrap_or_default())
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
                transfer: None,
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
        if call.is_analyzed() {
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

/// The checkpoint after a page of `items` (oldest first) is done: the newest start time, and
/// the calls of that start time (with those of the previous checkpoint, if it is the same).
fn advance_checkpoint(previous: Option<&Checkpoint>, items: &[Call]) -> Option<Checkpoint> {
    let newest = items.iter().filter_map(|c| c.start_timestamp).max()?;
    let mut done: BTreeSet<String> = previous
        .filter(|p| p.start_ms == newest)
        .map(|p| p.done_at_start.iter().cloned().collect())
        .unwrap_or_default();
    done.extend(
        items
            .iter()
            .filter(|c| c.start_timestamp == Some(newest))
            .map(|c| c.call_id.clone()),
    );
    Some(Checkpoint {
        start_ms: newest,
        done_at_start: done.into_iter().collect(),
    })
}

/// A shared counter for progress shown while calls finish out of order (and for what a run
/// cut off by its deadline did).
#[derive(Debug, Default)]
pub struct Tally(Mutex<ReconcileReport>);

impl Tally {
    pub fn add(&self, outcome: &CallOutcome) {
        if let Ok(mut report) = self.0.lock() {
            report.listed += 1;
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
    fn a_call_retell_never_connected_needs_only_its_end() {
        let none = BTreeSet::new();
        assert_eq!(
            missing_events(&call("not_connected", None), &none),
            vec![EventKind::CallEnded]
        );
        let ended: BTreeSet<_> = [EventKind::CallEnded].into();
        assert!(missing_events(&call("not_connected", None), &ended).is_empty());
        // An analysis Retell has not written yet (null or empty) is no event to fetch.
        assert!(missing_events(&call("ended", Some(json!({}))), &ended).is_empty());
    }

    fn listed(id: &str, start: i64) -> Call {
        serde_json::from_value(json!({"call_id": id, "start_timestamp": start})).expect("call")
    }

    #[test]
    fn the_checkpoint_keeps_the_calls_of_its_millisecond() {
        let first = advance_checkpoint(None, &[listed("a", 1), listed("b", 5), listed("c", 5)])
            .expect("checkpoint");
        assert_eq!(first.start_ms, 5);
        assert_eq!(first.done_at_start, vec!["b", "c"]);
        // The next page starts in the same millisecond: its calls join the list.
        let second = advance_checkpoint(Some(&first), &[listed("d", 5)]).expect("checkpoint");
        assert_eq!(second.done_at_start, vec!["b", "c", "d"]);
        let third = advance_checkpoint(Some(&second), &[listed("e", 9)]).expect("checkpoint");
        assert_eq!(third.start_ms, 9);
        assert_eq!(third.done_at_start, vec!["e"]);
        assert_eq!(advance_checkpoint(Some(&third), &[]), None);
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
