//! One daily run, as the `backup` function and `retell-ops backup tables` do it: the agents read
//! from every Retell account of the key ring, the tables exported, the run kept as long as the
//! shortest retention allows, and expired runs deleted.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{keep_days, AgentCopy, BackupError, Backups, Manifest, TableRole};
use crate::booking::directory::CompanyDirectory;
use crate::calls::retention::RetentionPolicy;
use crate::retell::api::RetellClient;

pub struct DailyBackup {
    pub backups: Backups,
    pub tables: Vec<(TableRole, String)>,
    pub companies: CompanyDirectory,
    pub retention: RetentionPolicy,
    /// The stack's default retention (`RETENTION_DAYS`).
    pub default_days: u16,
    /// `BACKUP_RETENTION_DAYS`: no run is kept longer.
    pub cap_days: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct DailyReport {
    pub place: String,
    pub manifest: Manifest,
    /// Runs deleted because they were past their `keep_until`.
    pub expired: Vec<String>,
}

impl DailyBackup {
    pub async fn run(
        &self,
        accounts: &[RetellClient],
        now: DateTime<Utc>,
    ) -> Result<DailyReport, BackupError> {
        let companies = self
            .companies
            .company_ids()
            .await
            .map_err(|e| BackupError::Dynamo(format!("companies: {e}")))?;
        let mut retentions = Vec::new();
        for company in &companies {
            // A company whose settings are unreadable keeps the backup to the shortest choice.
            retentions.push(self.retention.of(company).await.map_or(
                crate::booking::privacy_settings::RETENTION_CHOICES[0],
                |r| r.days,
            ));
        }
        let keep = keep_days(retentions, self.default_days, self.cap_days);
        // The exports of the run before finish after it ends: whether they did is checked here.
        let previous = self.backups.list().await?.pop();
        let previous_failed: Vec<String> = match &previous {
            Some(m) => self
                .backups
                .export_states(m)
                .await
                .into_iter()
                .filter(|(_, state)| state != "COMPLETED" && state != "IN_PROGRESS")
                .map(|(role, state)| format!("{} {state}", role.as_str()))
                .collect(),
            None => Vec::new(),
        };
        let (agents, agent_errors) = agent_copies(accounts).await;
        let manifest = self
            .backups
            .run(&self.tables, &agents, agent_errors, keep, now)
            .await?;
        let expired = self.backups.expire(now, keep).await?;
        if let (Some(previous), false) = (&previous, previous_failed.is_empty()) {
            // This run is taken; the failure of the last one is this invocation's error, so the
            // alarm on the function's errors (BackupErrorsAlarm) says no complete backup exists.
            return Err(BackupError::Bad(format!(
                "the exports of backup {} did not complete: {} (this run, {}, was started)",
                previous.stamp,
                previous_failed.join(", "),
                manifest.stamp
            )));
        }
        tracing::info!(
            stamp = %manifest.stamp, tables = manifest.tables.len(), agents = manifest.agents.len(),
            keep_days = keep, expired = expired.len(), "backup started"
        );
        Ok(DailyReport {
            place: manifest.place(),
            manifest,
            expired,
        })
    }
}

/// Every voice agent of each account with its draft and LLM; what could not be read is named.
pub async fn agent_copies(accounts: &[RetellClient]) -> (Vec<AgentCopy>, Vec<String>) {
    let mut copies = Vec::new();
    let mut errors = Vec::new();
    for retell in accounts {
        let agents = match retell.list_agents().await {
            Ok(a) => a,
            Err(e) => {
                errors.push(format!("list-agents: {e}"));
                continue;
            }
        };
        for summary in agents {
            if copies
                .iter()
                .any(|c: &AgentCopy| c.agent_id == summary.agent_id)
            {
                continue;
            }
            let agent = match retell.get_agent(&summary.agent_id, None).await {
                Ok(a) => a,
                Err(e) => {
                    errors.push(format!("{}: {e}", summary.agent_id));
                    continue;
                }
            };
            let llm = match agent.llm_id() {
                Some(id) => match retell.get_llm(id).await {
                    Ok(l) => serde_json::to_value(l).ok(),
                    Err(e) => {
                        errors.push(format!("{}'s LLM {id}: {e}", summary.agent_id));
                        None
                    }
                },
                None => None,
            };
            copies.push(AgentCopy {
                agent_id: summary.agent_id.clone(),
                agent: serde_json::to_value(&agent).unwrap_or_default(),
                llm,
            });
        }
    }
    (copies, errors)
}
