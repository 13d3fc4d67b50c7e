//! What "points at this stack" means, in one place for `retell-ops test-connection` (which
//! checks it), `retell-ops sync` (which makes it so) and the control center's agents page: an
//! agent's `webhook_url`, this project's tools in its LLM (url, description, parameters and
//! request shape from code), a number's `inbound_webhook_url`, and the agent version a number
//! actually routes its calls to.

use serde_json::Value;

use crate::retell::api::{
    Agent, PhoneNumber, RetellApiError, RetellClient, RetellLlm, VersionRef, WeightedAgent,
};
use crate::retell::custom_function::ToolDefinition;

/// A stack's addresses and the project's tools: what agents, LLMs and numbers should point at.
#[derive(Debug, Clone)]
pub struct Wiring {
    pub webhook_url: String,
    pub inbound_url: String,
    /// A tool's URL, with `{name}` (`book_appointment`) and `{binary}` (`book-appointment`).
    pub tool_url_template: String,
    pub tools: Vec<ToolDefinition>,
}

impl Wiring {
    pub fn tool_url(&self, tool: &str) -> String {
        self.tool_url_template
            .replace("{binary}", &tool.replace('_', "-"))
            .replace("{name}", tool)
    }

    fn project_tool(&self, tool: &Value) -> Option<&ToolDefinition> {
        if tool.get("type").and_then(Value::as_str) != Some("custom") {
            return None;
        }
        let name = tool.get("name").and_then(Value::as_str)?;
        self.tools.iter().find(|d| d.name == name)
    }
}

/// The fields of a project tool that code decides (and `sync` sets).
const TOOL_FIELDS: [&str; 4] = ["url", "description", "parameters", "args_at_root"];

/// One of this project's tools as an LLM has it.
pub struct ToolState {
    pub name: String,
    pub url: String,
    /// Fields that differ from code (empty: as code says, calling this stack).
    pub drifted: Vec<&'static str>,
}

/// This project's tools in `llm`, each compared with code at this stack; and the LLM's
/// `general_tools` with every drifted field set from code (None: nothing to change).
pub fn project_tools_of(wiring: &Wiring, llm: &RetellLlm) -> (Vec<ToolState>, Option<Vec<Value>>) {
    let mut tools = llm.general_tools.clone().unwrap_or_default();
    let mut states = Vec::new();
    for tool in tools.iter_mut() {
        let Some(def) = wiring.project_tool(tool) else {
            continue;
        };
        let want = def.retell_tool(&wiring.tool_url(def.name));
        let mut drifted = Vec::new();
        for key in TOOL_FIELDS {
            if !tool
                .get(key)
                .is_some_and(|have| same_json(have, &want[key]))
            {
                drifted.push(key);
                tool[key] = want[key].clone();
            }
        }
        states.push(ToolState {
            name: def.name.to_owned(),
            url: llm_tool_url(llm, def.name),
            drifted,
        });
    }
    let changed = states.iter().any(|s| !s.drifted.is_empty());
    (states, changed.then_some(tools))
}

/// The custom tools of `llm` that are not this project's: (name, url).
pub fn foreign_tools(wiring: &Wiring, llm: &RetellLlm) -> Vec<(String, String)> {
    llm.custom_tools()
        .into_iter()
        .filter(|t| !wiring.tools.iter().any(|d| d.name == t.name))
        .map(|t| (t.name, t.url))
        .collect()
}

fn llm_tool_url(llm: &RetellLlm, name: &str) -> String {
    llm.custom_tools()
        .into_iter()
        .find(|t| t.name == name)
        .map(|t| t.url)
        .unwrap_or_default()
}

/// Equal JSON, numbers by value (Retell may answer `1.0` for `1`).
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_json(v, w))
        }
        (x, y) => x == y,
    }
}

/// Whether an agent version sends its webhooks to this stack.
pub fn webhook_points_here(wiring: &Wiring, agent: &Agent) -> bool {
    agent.webhook_url.as_deref() == Some(wiring.webhook_url.as_str())
}

/// One agent a number routes inbound calls to, at a version other than its latest (a pinned
/// version does not change when `sync` updates the agent's draft).
pub struct PinnedRoute {
    pub number: String,
    pub route: WeightedAgent,
    /// The version the number's calls get today, None when Retell cannot say (a tag, or no
    /// published version yet).
    pub version: Option<Agent>,
    pub llm: Option<RetellLlm>,
    pub problem: Option<String>,
}

impl PinnedRoute {
    /// Whether the pinned version points at this stack (webhook and every project tool).
    pub fn points_here(&self, wiring: &Wiring) -> bool {
        match (&self.version, &self.llm) {
            (Some(agent), Some(llm)) => {
                webhook_points_here(wiring, agent)
                    && project_tools_of(wiring, llm)
                        .0
                        .iter()
                        .all(|t| t.drifted.is_empty())
            }
            (Some(agent), None) => webhook_points_here(wiring, agent),
            _ => false,
        }
    }

    pub fn label(&self) -> String {
        format!(
            "number {} → agent {} {}",
            crate::retell::api::mask_number(&self.number),
            self.route.agent_id,
            match self.route.version_ref() {
                VersionRef::Latest => "latest".to_owned(),
                VersionRef::LatestPublished => "latest published".to_owned(),
                VersionRef::Number(n) => format!("version {n}"),
                VersionRef::Tag(t) => format!("tag {t}"),
            }
        )
    }
}

/// The number's inbound routes that pin a version, resolved to what Retell has for them.
pub async fn pinned_routes(
    retell: &RetellClient,
    number: &PhoneNumber,
) -> Result<Vec<PinnedRoute>, RetellApiError> {
    let mut pinned = Vec::new();
    for route in number.inbound_routes() {
        let version = match route.version_ref() {
            VersionRef::Latest => continue,
            VersionRef::Number(n) => Some(n),
            VersionRef::LatestPublished => retell
                .list_agent_versions(&route.agent_id)
                .await?
                .iter()
                .filter(|v| v.is_published)
                .map(|v| v.version)
                .max(),
            VersionRef::Tag(_) => None,
        };
        let (agent, llm, problem) = match version {
            Some(v) => {
                let agent = retell.get_agent(&route.agent_id, Some(v)).await?;
                let llm = match agent.llm_id() {
                    Some(id) => Some(
                        retell
                            .get_llm_version(id, agent.response_engine.version)
                            .await?,
                    ),
                    None => None,
                };
                (Some(agent), llm, None)
            }
            None => (
                None,
                None,
                Some(match route.version_ref() {
                    VersionRef::Tag(t) => format!(
                        "tag {t}: retell-ops cannot resolve tags; pin a version number or latest_published"
                    ),
                    _ => "the agent has no published version".to_owned(),
                }),
            ),
        };
        pinned.push(PinnedRoute {
            number: number.phone_number.clone(),
            route,
            version: agent,
            llm,
            problem,
        });
    }
    Ok(pinned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_json_is_exact_but_for_number_forms() {
        assert!(same_json(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!same_json(&json!({"a": 1, "b": 2}), &json!({"a": 1})));
        assert!(!same_json(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!same_json(&json!([1]), &json!([1, 1])));
        assert!(!same_json(&json!(null), &json!(false)));
    }
}
