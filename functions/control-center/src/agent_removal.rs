//! An agent deleted by an admin: first checked against what the company's settings still need
//! it for (the inbound or VIP agent, a reminder caller), then deleted at Retell, then taken out of
//! the company's `agent_ids` (versioned, logged, audited) so no call or tool request is routed to
//! an agent that is gone.

use shared::booking::company::{Company, CompanySettings};
use shared::retell::api::{RetellApiError, RetellClient};

use crate::auth::Viewer;
use crate::settings::{self, SettingsError};
use crate::ControlCenter;

/// Reads of the settings repeated when another edit came first.
const SAVE_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("admins only")]
    Forbidden,
    /// The settings need the agent (nothing was deleted).
    #[error("{0}")]
    StillNeeded(String),
    #[error("{0}")]
    Settings(SettingsError),
    #[error("{0}")]
    Retell(RetellApiError),
    /// Deleted at Retell, still listed: an operator removes it from the company file.
    #[error("agent {agent_id} was deleted at Retell but is still in the company's agent_ids ({reason}): remove it there")]
    StillListed {
        agent_id: String,
        reason: SettingsError,
    },
}

/// The settings without `agent_id`, or why the company cannot do without it.
pub fn without_agent(
    settings: &CompanySettings,
    agent_id: &str,
) -> Result<CompanySettings, String> {
    for (field, agent) in [
        ("inbound_agent_id", &settings.inbound_agent_id),
        ("vip_agent_id", &settings.vip_agent_id),
    ] {
        if agent.as_deref() == Some(agent_id) {
            return Err(format!(
                "the company's {field} is this agent: choose another one in its settings first"
            ));
        }
    }
    let mut after = settings.clone();
    after.agent_ids.retain(|a| a != agent_id);
    Company::from_settings(after.clone())
        .map_err(|e| format!("the company needs this agent: {e}"))?;
    Ok(after)
}

/// Deletes the agent at Retell and from the company's `agent_ids` (when listed there).
pub async fn remove(
    app: &ControlCenter,
    viewer: &Viewer,
    retell: &RetellClient,
    company_id: &str,
    agent_id: &str,
    by: &str,
) -> Result<(), RemoveError> {
    if !viewer.is_admin() {
        return Err(RemoveError::Forbidden);
    }
    // The company that lists the agent, whichever page it was deleted from (an admin on the
    // default company sees every agent of the account).
    let owner = app
        .data
        .companies
        .lookup(&shared::booking::directory::CompanyKey::Agent(
            agent_id.to_owned(),
        ))
        .await
        .map_err(|e| RemoveError::Settings(SettingsError::Backend(e.to_string())))?
        .map(|c| c.id().to_owned());
    let company_id = owner.as_deref().unwrap_or(company_id);
    let stored = match settings::read(&app.data.companies, company_id).await {
        Ok(s) => Some(s),
        // The default company without settings: nothing lists the agent.
        Err(SettingsError::NotFound) => None,
        Err(e) => return Err(RemoveError::Settings(e)),
    };
    let listed = stored
        .as_ref()
        .is_some_and(|s| s.settings.agent_ids.iter().any(|a| a == agent_id));
    if let Some(s) = stored.as_ref().filter(|_| listed) {
        without_agent(&s.settings, agent_id).map_err(RemoveError::StillNeeded)?;
    }
    let llm_id = retell
        .get_agent(agent_id, None)
        .await
        .map_err(RemoveError::Retell)?
        .llm_id()
        .map(str::to_owned);
    retell
        .delete_agent(agent_id)
        .await
        .map_err(RemoveError::Retell)?;
    // Its LLM (prompt, tools, knowledge bases) goes with it, unless another agent answers with
    // it (Retell refuses to delete an LLM in use).
    if let Some(llm_id) = llm_id {
        match retell.delete_llm(&llm_id).await {
            Ok(()) => tracing::info!(llm = %llm_id, "the deleted agent's LLM deleted"),
            Err(e) => tracing::info!(llm = %llm_id, reason = %e, "the deleted agent's LLM kept"),
        }
    }
    if !listed {
        return Ok(());
    }
    let unlisted = settings::edit(app, viewer, company_id, by, SAVE_ATTEMPTS, |before| {
        without_agent(before, agent_id).map_err(SettingsError::Invalid)
    })
    .await;
    let last = match unlisted {
        Ok(_) => {
            app.audit(
                company_id,
                viewer,
                "agent_deleted",
                agent_id,
                serde_json::json!({"unlisted": true}),
            )
            .await;
            return Ok(());
        }
        Err(e) => e,
    };
    tracing::error!(agent = %agent_id, company = %company_id, reason = %last, "deleted agent still listed");
    Err(RemoveError::StillListed {
        agent_id: agent_id.to_owned(),
        reason: last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> CompanySettings {
        let mut s: CompanySettings =
            serde_json::from_str(include_str!("../../../infra/local/companies/demo.json"))
                .expect("demo");
        s.agent_ids = vec!["agent_a".into(), "agent_b".into()];
        s
    }

    #[test]
    fn an_agent_the_company_still_routes_to_is_not_removed() {
        let s = demo();
        let after = without_agent(&s, "agent_b").expect("removable");
        assert_eq!(after.agent_ids, ["agent_a"]);
        let inbound = CompanySettings {
            inbound_agent_id: Some("agent_b".into()),
            ..s.clone()
        };
        assert!(without_agent(&inbound, "agent_b")
            .expect_err("inbound")
            .contains("inbound_agent_id"));
        let vip = CompanySettings {
            vip_agent_id: Some("agent_a".into()),
            ..s.clone()
        };
        assert!(without_agent(&vip, "agent_a")
            .expect_err("vip")
            .contains("vip_agent_id"));
        // Not listed: the settings stay as they are.
        assert_eq!(
            without_agent(&s, "agent_x").expect("fine").agent_ids,
            s.agent_ids
        );
    }
}
