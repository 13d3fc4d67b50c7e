//! Overdue callbacks, counted on the reconcile job's schedule: a callback turns overdue by the
//! clock, with no event to notice it, so each run counts every company's pending callbacks
//! past their promise and publishes `CallbacksPending` / `CallbacksOverdue` (by `Job`), which
//! `CallbacksOverdueAlarm` watches. A company whose count fails is logged and left out.

use chrono::{DateTime, Utc};
use shared::booking::directory::{CompanyDirectory, CompanyKey};
use shared::callbacks::CallbackStore;
use shared::platform::metrics::{emit, Unit};

/// Pending and overdue callbacks over all companies, and the companies that could not be read.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallbackTally {
    pub pending: u64,
    pub overdue: u64,
    pub errors: Vec<String>,
}

pub async fn count_overdue(
    store: &CallbackStore,
    companies: &CompanyDirectory,
    now: DateTime<Utc>,
) -> CallbackTally {
    let mut tally = CallbackTally::default();
    let ids = match companies.company_ids().await {
        Ok(ids) => ids,
        Err(e) => {
            tally.errors.push(format!("companies: {e}"));
            return tally;
        }
    };
    for id in ids {
        let company = match companies.find(&CompanyKey::Id(id.clone())).await {
            Ok(c) => c,
            Err(e) => {
                tally.errors.push(format!("{id}: {e}"));
                continue;
            }
        };
        match store.pending(&id).await {
            Ok(pending) => {
                let overdue = pending
                    .iter()
                    .filter(|c| c.is_overdue(&company, now))
                    .count() as u64;
                if overdue > 0 {
                    tracing::warn!(company = %id, overdue, "callbacks overdue");
                }
                tally.pending += pending.len() as u64;
                tally.overdue += overdue;
            }
            Err(e) => tally.errors.push(format!("{id}: {e}")),
        }
    }
    emit(
        &[("Job", "callbacks")],
        &[&["Job"]],
        &[
            ("CallbacksPending", Unit::Count, tally.pending as f64),
            ("CallbacksOverdue", Unit::Count, tally.overdue as f64),
        ],
    );
    tally
}
