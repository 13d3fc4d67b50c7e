//! A caller's data for admins (export, erasure; `shared::privacy`) and the audit trail the
//! control center writes (a call's page viewed, settings changed, an export or erasure) and
//! shows. Shared by the privacy page and the API. Admins only: checked here, where it is done.

use chrono::Utc;
use serde_json::{json, Value};
use shared::booking::phone::PhoneNumber;
use shared::privacy::erase::{Erasure, Receipt};
use shared::privacy::holdings::Holdings;
use shared::privacy::{AuditEntry, AuditLog, PrivacyStores, Subject};

use crate::auth::Viewer;
use crate::retell_access::retell_for;
use crate::ControlCenter;

/// The privacy stores and the audit trail, if this stack has them.
pub struct Privacy {
    pub stores: PrivacyStores,
    pub audit: AuditLog,
}

#[derive(Debug, thiserror::Error)]
pub enum PrivacyFailure {
    #[error("admins only")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("this stack has no audit table (deploy the current template.yaml)")]
    NotConfigured,
    #[error("{0}")]
    Backend(String),
}

impl ControlCenter {
    /// Appends to the audit trail; a failure is logged (the action it records has happened).
    pub async fn audit(
        &self,
        company_id: &str,
        viewer: &Viewer,
        action: &str,
        subject: &str,
        detail: Value,
    ) {
        let Some(privacy) = &self.privacy else {
            return;
        };
        let entry = AuditEntry {
            company_id: company_id.to_owned(),
            at_ms: Utc::now().timestamp_millis(),
            by: format!("desk:{}", viewer.user()),
            action: action.to_owned(),
            subject: subject.to_owned(),
            detail,
        };
        if let Err(e) = privacy.audit.record(&entry).await {
            tracing::error!(error = %e, action, "audit entry not written");
        }
    }

    /// The privacy stores and the company, for an admin only (and a company that exists).
    async fn admin_company(
        &self,
        viewer: &Viewer,
        company_id: &str,
    ) -> Result<(&Privacy, crate::data::CompanyView), PrivacyFailure> {
        if !viewer.is_admin() {
            return Err(PrivacyFailure::Forbidden);
        }
        let privacy = self.privacy.as_ref().ok_or(PrivacyFailure::NotConfigured)?;
        let company = self
            .data
            .company(viewer, Some(company_id))
            .await
            .map_err(|_| PrivacyFailure::NotFound)?;
        Ok((privacy, company))
    }

    /// The admin's company and caller, checked: the company must exist, the number parse.
    async fn subject(
        &self,
        viewer: &Viewer,
        company_id: &str,
        phone: &str,
    ) -> Result<(&Privacy, Subject), PrivacyFailure> {
        let (privacy, company) = self.admin_company(viewer, company_id).await?;
        let phone = PhoneNumber::parse(phone.trim()).map_err(|e| {
            PrivacyFailure::Invalid(format!(
                "phone: {e} (an E.164 number such as +4915112345678)"
            ))
        })?;
        if let Some(settings) = &company.settings {
            shared::privacy::subject::refuse_business_number(&settings.settings, &phone)
                .map_err(|e| PrivacyFailure::Invalid(format!("phone: {e}")))?;
        }
        Ok((privacy, Subject::new(company.id, phone)))
    }

    /// Everything held about the caller (`shared::privacy::export`), recorded in the trail.
    pub async fn export_caller(
        &self,
        viewer: &Viewer,
        company_id: &str,
        phone: &str,
    ) -> Result<Value, PrivacyFailure> {
        let (privacy, subject) = self.subject(viewer, company_id, phone).await?;
        let now_ms = Utc::now().timestamp_millis();
        let holdings = Holdings::find(&privacy.stores, &subject)
            .await
            .map_err(|e| PrivacyFailure::Backend(e.to_string()))?;
        let document =
            shared::privacy::export::export(&privacy.stores, &subject, &holdings, now_ms)
                .await
                .map_err(|e| PrivacyFailure::Backend(e.to_string()))?;
        self.audit(
            &subject.company_id,
            viewer,
            "exported",
            "caller",
            json!({"call_ids": holdings.call_ids(), "appointments": holdings.appointments.len()}),
        )
        .await;
        tracing::info!(company = %subject.company_id, phone = %subject.phone.masked(), "caller exported");
        Ok(document)
    }

    /// Erases the caller (`shared::privacy::erase`, the quick proof: a request has seconds,
    /// `retell-ops privacy erase` reads the whole archive); the receipt goes to the trail.
    pub async fn erase_caller(
        &self,
        viewer: &Viewer,
        company_id: &str,
        phone: &str,
    ) -> Result<Receipt, PrivacyFailure> {
        let (privacy, subject) = self.subject(viewer, company_id, phone).await?;
        let retell = match retell_for(self, &subject.company_id).await {
            Ok(client) => Some(client),
            Err(e) => {
                tracing::warn!(reason = %e, "erasure without Retell: its copies stay");
                None
            }
        };
        let erasure = Erasure {
            stores: &privacy.stores,
            retell: retell.as_ref(),
            audit: Some(&privacy.audit),
            by: format!("desk:{}", viewer.user()),
            // A request has seconds: the caller's own items; the CLI searches the company.
            proof: shared::privacy::proof::Scope::Caller,
        };
        erasure
            .run(&subject, Utc::now().timestamp_millis())
            .await
            .map_err(|e| PrivacyFailure::Backend(e.to_string()))
    }

    /// The company's trail of the last `days` days, newest first.
    pub async fn audit_entries(
        &self,
        viewer: &Viewer,
        company_id: &str,
        days: u32,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, PrivacyFailure> {
        let (privacy, company) = self.admin_company(viewer, company_id).await?;
        let from_ms = Utc::now().timestamp_millis() - i64::from(days.clamp(1, 3650)) * 86_400_000;
        privacy
            .audit
            .list(&company.id, from_ms, limit)
            .await
            .map_err(|e| PrivacyFailure::Backend(e.to_string()))
    }
}
