//! A company's settings edited by its people (the settings page, the desk's absences, the admin
//! API's `PUT …/settings`): checked by the same validation as `companies load`, written with the
//! version they were made on (`CompanyDirectory::update`: an edit on an older version is refused,
//! never merged), logged with who and what. Staff change how the business runs (hours, breaks,
//! closures, services, staff, notice, promise); what routes calls and money (agents, numbers,
//! calendar backend, transfer, test numbers) stays with admins.

use chrono::Utc;
use serde_json::Value;
use shared::booking::company::{CompanyError, CompanySettings};
use shared::booking::directory::{CompanyDirectory, StoredSettings};

use crate::auth::Viewer;

/// Settings only admins change.
pub const ADMIN_ONLY: [&str; 9] = [
    "company_id",
    // Retention, recording and the disclosure: the business's data-protection decision.
    "privacy",
    "agent_ids",
    "phone_numbers",
    "calendar",
    "inbound_agent_id",
    "vip_agent_id",
    "transfer",
    "test_numbers",
];

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("not found")]
    NotFound,
    #[error("the settings were changed meanwhile; load them again")]
    Stale,
    #[error("{0}")]
    Invalid(String),
    /// A setting the viewer may not change.
    #[error("{0}: only admins change this")]
    Forbidden(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("settings unavailable: {0}")]
    Backend(String),
}

impl From<CompanyError> for SettingsError {
    fn from(e: CompanyError) -> Self {
        match e {
            CompanyError::Invalid(reason) => Self::Invalid(reason),
            CompanyError::NotFound(_) => Self::NotFound,
            CompanyError::Stale => Self::Stale,
            CompanyError::Conflict(reason) => Self::Conflict(reason),
            CompanyError::Backend(reason) => Self::Backend(reason),
        }
    }
}

/// The company's settings as stored now (the caller has checked the viewer may see it).
pub async fn read(
    directory: &CompanyDirectory,
    company_id: &str,
) -> Result<StoredSettings, SettingsError> {
    directory
        .stored(company_id)
        .await?
        .ok_or(SettingsError::NotFound)
}

/// The first admin-only setting `after` changes, for a viewer who is not an admin.
pub fn forbidden_change(
    viewer: &Viewer,
    before: &CompanySettings,
    after: &CompanySettings,
) -> Option<&'static str> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return Some("settings");
    };
    if a.get("company_id") != b.get("company_id") {
        return Some("company_id");
    }
    if viewer.is_admin() {
        return None;
    }
    ADMIN_ONLY.into_iter().find(|k| a.get(*k) != b.get(*k))
}

/// Writes `after` over the settings at `version`, as `by`: the new version and what changed.
pub async fn save(
    directory: &CompanyDirectory,
    viewer: &Viewer,
    before: &CompanySettings,
    after: &CompanySettings,
    version: u64,
    by: &str,
    audit: Option<&shared::privacy::AuditLog>,
) -> Result<(u64, Vec<String>), SettingsError> {
    if let Some(field) = forbidden_change(viewer, before, after) {
        return Err(SettingsError::Forbidden(field));
    }
    let now_ms = Utc::now().timestamp_millis();
    let (version, what) = directory.update(after, version, by, now_ms).await?;
    if !what.is_empty() {
        tracing::info!(version, changed = %what.join(", "), "settings changed");
        if let Some(audit) = audit {
            let entry = shared::privacy::AuditEntry {
                company_id: after.company_id.clone(),
                at_ms: now_ms,
                by: by.to_owned(),
                action: "settings_changed".to_owned(),
                subject: "settings".to_owned(),
                detail: serde_json::json!({"version": version, "changed": what}),
            };
            // Written after the change (it cannot be undone); a failure is logged loudly.
            if let Err(e) = audit.record(&entry).await {
                tracing::error!(error = %e, "audit entry of a settings change not written");
            }
        }
    }
    Ok((version, what))
}

/// Reads the company's settings, makes `change` of them and saves on the version read; an edit
/// someone saved first (stale) is read again, up to `attempts` times. The new version.
pub async fn edit(
    app: &crate::ControlCenter,
    viewer: &Viewer,
    company_id: &str,
    by: &str,
    attempts: usize,
    change: impl Fn(&CompanySettings) -> Result<CompanySettings, SettingsError>,
) -> Result<u64, SettingsError> {
    let mut last = SettingsError::Stale;
    for _ in 0..attempts {
        let stored = read(&app.data.companies, company_id).await?;
        let after = change(&stored.settings)?;
        match save(
            &app.data.companies,
            viewer,
            &stored.settings,
            &after,
            stored.version,
            by,
            app.privacy.as_ref().map(|p| &p.audit),
        )
        .await
        {
            Ok((version, _)) => return Ok(version),
            Err(SettingsError::Stale) => last = SettingsError::Stale,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_change_how_the_business_runs_admins_also_what_routes_calls() {
        let before: CompanySettings =
            serde_json::from_str(include_str!("../../../infra/local/companies/demo.json"))
                .expect("demo");
        let staff = Viewer::Staff {
            user: "s".into(),
            company_id: before.company_id.clone(),
        };
        let admin = Viewer::Admin { user: "a".into() };
        let mut hours = before.clone();
        hours.hours.insert("sun".into(), vec!["10:00-14:00".into()]);
        assert_eq!(forbidden_change(&staff, &before, &hours), None);
        let mut routed = before.clone();
        routed.agent_ids.push("agent_elsewhere".into());
        assert_eq!(
            forbidden_change(&staff, &before, &routed),
            Some("agent_ids")
        );
        assert_eq!(forbidden_change(&admin, &before, &routed), None);
        let mut renamed = before.clone();
        renamed.company_id = "other".into();
        assert_eq!(
            forbidden_change(&admin, &before, &renamed),
            Some("company_id")
        );
    }
}
