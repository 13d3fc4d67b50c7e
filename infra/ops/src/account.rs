//! One walk over the Retell account's wiring, shared by `test-connection` (which checks what it
//! finds) and `sync` (which plans from it): every agent, each LLM once, every number.

use std::collections::BTreeSet;

use shared::retell::api::{Agent, AgentSummary, PhoneNumber, RetellClient, RetellLlm};
use shared::retell::wiring::{self, PinnedRoute};

/// What the walk finds, in the order it reads it: each agent followed by its LLM, then the
/// numbers. A read that failed is handed on as its error, and what depends on it is skipped.
pub enum Found {
    /// The agents (or the numbers) could not be listed: none of them follow.
    Unlisted { what: Listing, error: String },
    /// An agent's draft (`Err`: it could not be read, and its LLM is not read either).
    Agent {
        summary: AgentSummary,
        agent: Result<Agent, String>,
    },
    /// The LLM an agent answers with, read the first time an agent on it is found.
    Llm {
        agent_id: String,
        llm_id: String,
        llm: Result<RetellLlm, String>,
    },
    /// An agent on an LLM an earlier agent answers with (not read again).
    SharedLlm { agent_id: String, llm_id: String },
    /// A number, and the agent versions it pins as Retell resolves them.
    Number {
        number: PhoneNumber,
        routes: Result<Vec<PinnedRoute>, String>,
    },
}

/// What could not be listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Agents,
    Numbers,
}

/// Reads the account once, handing each thing to `on` as it is read. `on` returning an error
/// stops the walk with it (`sync` stops at the first read that failed; `test-connection` reports
/// it and goes on).
pub async fn walk<E>(
    retell: &RetellClient,
    mut on: impl FnMut(Found) -> Result<(), E>,
) -> Result<(), E> {
    match retell.list_agents().await {
        Err(e) => on(Found::Unlisted {
            what: Listing::Agents,
            error: e.to_string(),
        })?,
        Ok(agents) => {
            let mut llms_seen = BTreeSet::new();
            for summary in agents {
                let agent = retell
                    .get_agent(&summary.agent_id, None)
                    .await
                    .map_err(|e| e.to_string());
                let on_llm = agent.as_ref().ok().and_then(|a| {
                    a.llm_id()
                        .map(|llm_id| (a.agent_id.clone(), llm_id.to_owned()))
                });
                on(Found::Agent { summary, agent })?;
                let Some((agent_id, llm_id)) = on_llm else {
                    continue;
                };
                if !llms_seen.insert(llm_id.clone()) {
                    on(Found::SharedLlm { agent_id, llm_id })?;
                    continue;
                }
                let llm = retell.get_llm(&llm_id).await.map_err(|e| e.to_string());
                on(Found::Llm {
                    agent_id,
                    llm_id,
                    llm,
                })?;
            }
        }
    }
    match retell.list_phone_numbers().await {
        Err(e) => on(Found::Unlisted {
            what: Listing::Numbers,
            error: e.to_string(),
        })?,
        Ok(numbers) => {
            for number in numbers {
                let routes = wiring::pinned_routes(retell, &number)
                    .await
                    .map_err(|e| e.to_string());
                on(Found::Number { number, routes })?;
            }
        }
    }
    Ok(())
}
