//! A new agent for a company, from the default template (`agent_template`): its Retell LLM, the
//! agent (webhook at this stack, the chosen catalog tools calling this stack), and its id added
//! to the company's `agent_ids` (a settings change like any other: versioned, logged, audited).
//! Admins only. Three writes in two systems cannot be one transaction: when the company cannot
//! list the agent, the agent and LLM just made are deleted again, and if even that fails the
//! error names them, so nothing is left half made without anyone being told.

use shared::retell::api::{
    AgentSettings, LlmSettings, ResponseEngine, RetellApiError, RetellClient, Voice,
};
use shared::retell::wiring::Wiring;

use crate::agent_rules::{
    checked_language, checked_name, checked_text, checked_tools, checked_voice, MAX_GREETING_CHARS,
    MAX_PROMPT_CHARS,
};
use crate::agent_template::{AgentTemplate, TemplateError, TemplateLanguage};
use crate::auth::Viewer;
use crate::settings::{self, SettingsError};
use crate::ControlCenter;

/// How often adding the id is tried again when another edit of the settings came first.
const LIST_ATTEMPTS: usize = 3;

/// A new agent as a form or request sends it.
#[derive(Debug, Clone, Default)]
pub struct NewAgentRequest {
    pub company_id: String,
    pub agent_name: String,
    pub language: String,
    pub voice_id: String,
    pub tools: Vec<String>,
    /// The template's prompt and greeting unless given.
    pub general_prompt: Option<String>,
    pub begin_message: Option<String>,
}

/// A checked [`NewAgentRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewAgent {
    pub company_id: String,
    pub agent_name: String,
    pub language: String,
    pub voice_id: String,
    pub tools: Vec<String>,
    pub general_prompt: Option<String>,
    pub begin_message: Option<String>,
}

impl NewAgentRequest {
    /// Every field checked: the voice one of Retell's, the tools the catalog's.
    pub fn check(&self, voices: &[Voice], wiring: &Wiring) -> Result<NewAgent, String> {
        let company_id = self.company_id.trim();
        if company_id.is_empty() || company_id.len() > 128 {
            return Err("company: choose the company the agent answers for".into());
        }
        Ok(NewAgent {
            company_id: company_id.to_owned(),
            agent_name: checked_name(&self.agent_name)?,
            language: checked_language(&self.language, None)?,
            voice_id: checked_voice(&self.voice_id, voices, None)?,
            tools: checked_tools(&self.tools, &wiring.tools)?,
            general_prompt: self
                .general_prompt
                .as_deref()
                .map(|p| checked_text(p, MAX_PROMPT_CHARS, "general_prompt", true))
                .transpose()?,
            begin_message: self
                .begin_message
                .as_deref()
                .map(|g| checked_text(g, MAX_GREETING_CHARS, "begin_message", false))
                .transpose()?,
        })
    }
}

/// What was made.
#[derive(Debug, Clone)]
pub struct CreatedAgent {
    pub agent_id: String,
    pub llm_id: String,
    /// The company's settings version with the agent listed.
    pub settings_version: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("admins only")]
    Forbidden,
    #[error("company {0} has no settings to list the agent in (load its file first)")]
    NoSettings(String),
    #[error("{0}")]
    Template(#[from] TemplateError),
    /// The company's settings could not be read: nothing was made.
    #[error("{0}")]
    Settings(SettingsError),
    #[error("{0}")]
    Retell(RetellApiError),
    /// The company could not list the agent; the agent and its LLM were deleted again.
    #[error("the company's agent_ids could not be updated ({0}); the new agent was deleted again")]
    NotListed(SettingsError),
    /// … and deleting them failed too: they are named, for an operator to remove.
    #[error("the company's agent_ids could not be updated ({reason}), and agent {agent_id} with LLM {llm_id} could not be deleted again ({cleanup}): add the agent to agent_ids or delete both (retell-ops agents delete)")]
    LeftBehind {
        agent_id: String,
        llm_id: String,
        reason: SettingsError,
        cleanup: String,
    },
}

/// Creates the agent and lists it in its company. `by` is who, as the settings log writes it
/// (`desk:<user>`, `api:<user>`).
pub async fn create(
    app: &ControlCenter,
    viewer: &Viewer,
    retell: &RetellClient,
    new: &NewAgent,
    by: &str,
) -> Result<CreatedAgent, CreateError> {
    if !viewer.is_admin() {
        return Err(CreateError::Forbidden);
    }
    let stored = match settings::read(&app.data.companies, &new.company_id).await {
        Ok(s) => s,
        Err(SettingsError::NotFound) => {
            return Err(CreateError::NoSettings(new.company_id.clone()))
        }
        Err(e) => return Err(CreateError::Settings(e)),
    };
    let template = AgentTemplate::load(TemplateLanguage::for_agent(
        &new.language,
        &stored.settings.language,
    ))?;
    let llm = retell
        .create_llm(&LlmSettings {
            general_prompt: new
                .general_prompt
                .clone()
                .or(template.llm.general_prompt.clone()),
            begin_message: new
                .begin_message
                .clone()
                .or(template.llm.begin_message.clone()),
            general_tools: Some(template.general_tools(&new.tools, &app.wiring)),
            ..template.llm.clone()
        })
        .await
        .map_err(CreateError::Retell)?;
    // Retell keeps the agent's calls no longer than the company keeps its own, and no
    // recording for a company that records nothing (docs/privacy.md).
    let retention = shared::calls::retention::CallRetention::of_settings(
        stored.settings.privacy.as_ref(),
        app.retention_days,
    );
    let template_days = template.agent.data_storage_retention_days;
    let agent = retell
        .create_agent(&AgentSettings {
            agent_name: Some(new.agent_name.clone()),
            voice_id: Some(new.voice_id.clone()),
            language: Some(new.language.as_str().into()),
            webhook_url: Some(app.wiring.webhook_url.clone()),
            response_engine: Some(ResponseEngine::retell_llm(&llm.llm_id)),
            data_storage_retention_days: Some(
                template_days.map_or(u64::from(retention.days), |d| {
                    d.min(u64::from(retention.days))
                }),
            ),
            data_storage_setting: if retention.record_calls {
                template.agent.data_storage_setting.clone()
            } else {
                Some("basic_attributes_only".to_owned())
            },
            ..template.agent.clone()
        })
        .await;
    let agent = match agent {
        Ok(a) => a,
        Err(e) => {
            // No LLM left behind that nothing uses.
            if let Err(cleanup) = retell.delete_llm(&llm.llm_id).await {
                tracing::error!(llm = %llm.llm_id, error = %cleanup, "unused LLM not deleted");
            }
            return Err(CreateError::Retell(e));
        }
    };
    match list_in_company(app, viewer, &new.company_id, &agent.agent_id, by).await {
        Ok(settings_version) => {
            tracing::info!(agent = %agent.agent_id, company = %new.company_id, "agent created");
            app.audit(
                &new.company_id,
                viewer,
                "agent_created",
                &agent.agent_id,
                serde_json::json!({
                    "llm_id": llm.llm_id, "agent_name": new.agent_name, "voice_id": new.voice_id,
                    "language": new.language, "tools": new.tools,
                }),
            )
            .await;
            Ok(CreatedAgent {
                agent_id: agent.agent_id,
                llm_id: llm.llm_id,
                settings_version,
            })
        }
        Err(reason) => {
            let cleanup = async {
                retell.delete_agent(&agent.agent_id).await?;
                retell.delete_llm(&llm.llm_id).await
            }
            .await;
            match cleanup {
                Ok(()) => Err(CreateError::NotListed(reason)),
                Err(e) => {
                    tracing::error!(agent = %agent.agent_id, llm = %llm.llm_id, error = %e,
                        "agent not listed in its company and not deleted");
                    Err(CreateError::LeftBehind {
                        agent_id: agent.agent_id,
                        llm_id: llm.llm_id,
                        reason,
                        cleanup: e.to_string(),
                    })
                }
            }
        }
    }
}

/// Adds `agent_id` to the company's `agent_ids` (read again when someone saved first).
async fn list_in_company(
    app: &ControlCenter,
    viewer: &Viewer,
    company_id: &str,
    agent_id: &str,
    by: &str,
) -> Result<u64, SettingsError> {
    settings::edit(app, viewer, company_id, by, LIST_ATTEMPTS, |before| {
        let mut after = before.clone();
        after.agent_ids.push(agent_id.to_owned());
        Ok(after)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wiring() -> Wiring {
        crate::agent_template::tests::wiring()
    }

    #[test]
    fn a_new_agent_is_checked_field_by_field() {
        let voices: Vec<Voice> =
            serde_json::from_value(serde_json::json!([{"voice_id": "11labs-Anna"}]))
                .expect("voices");
        let ok = NewAgentRequest {
            company_id: "demo".into(),
            agent_name: "Rezeption".into(),
            language: "de-DE".into(),
            voice_id: "11labs-Anna".into(),
            tools: vec!["book_appointment".into(), "check_availability".into()],
            general_prompt: None,
            begin_message: Some("Hallo\r\n".into()),
        };
        let checked = ok.check(&voices, &wiring()).expect("valid");
        assert_eq!(checked.tools, ["check_availability", "book_appointment"]);
        assert_eq!(checked.begin_message.as_deref(), Some("Hallo\n"));
        for (bad, field) in [
            (
                NewAgentRequest {
                    company_id: " ".into(),
                    ..ok.clone()
                },
                "company",
            ),
            (
                NewAgentRequest {
                    agent_name: "".into(),
                    ..ok.clone()
                },
                "agent_name",
            ),
            (
                NewAgentRequest {
                    language: "klingon".into(),
                    ..ok.clone()
                },
                "language",
            ),
            (
                NewAgentRequest {
                    voice_id: "cartesia-Nobody".into(),
                    ..ok.clone()
                },
                "voice_id",
            ),
            (
                NewAgentRequest {
                    tools: vec!["transfer_call".into()],
                    ..ok.clone()
                },
                "tools",
            ),
            (
                NewAgentRequest {
                    general_prompt: Some(" ".into()),
                    ..ok.clone()
                },
                "general_prompt",
            ),
        ] {
            let reason = bad.check(&voices, &wiring()).expect_err(field);
            assert!(reason.starts_with(field), "{reason}");
        }
    }
}
