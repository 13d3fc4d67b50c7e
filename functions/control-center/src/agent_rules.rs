//! The rules for a company's agents that the agents page and the admin API share: which agents
//! a viewer sees and may edit, and what a prompt or greeting may be.

use shared::retell::api::{RetellApiError, RetellClient};

use crate::data::CompanyView;
use crate::ControlCenter;

/// Longest prompt and greeting accepted (Retell's own limits are higher; a prompt this long is a
/// mistake).
pub const MAX_PROMPT_CHARS: usize = 50_000;
pub const MAX_GREETING_CHARS: usize = 2_000;

/// The agent ids of a company: its settings' `agent_ids`; an admin looking at a company without
/// settings (the default company) sees every agent of the account.
pub async fn agent_ids(
    app: &ControlCenter,
    ctx_company: &CompanyView,
    admin: bool,
    retell: &RetellClient,
) -> Result<Vec<String>, RetellApiError> {
    match &ctx_company.settings {
        Some(c) => Ok(c.settings.agent_ids.clone()),
        None if admin => Ok(retell
            .list_agents()
            .await?
            .into_iter()
            .map(|a| a.agent_id)
            .collect()),
        None => {
            let _ = app;
            Ok(Vec::new())
        }
    }
}

/// Whether the viewer may see and edit `agent_id` (an agent of a company they may see).
pub fn may_edit(company: &CompanyView, admin: bool, agent_id: &str) -> bool {
    match &company.settings {
        Some(c) => c.settings.agent_ids.iter().any(|a| a == agent_id),
        None => admin,
    }
}

/// A prompt or greeting as Retell gets it, or why it is refused.
pub fn checked_text(text: &str, max: usize, what: &str, required: bool) -> Result<String, String> {
    let text = text.replace("\r\n", "\n");
    if required && text.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if text.chars().count() > max {
        return Err(format!("{what} is longer than {max} characters"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(format!("{what} contains control characters"));
    }
    Ok(text)
}
