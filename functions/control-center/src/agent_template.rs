//! The project's default agents (`infra/ops/agents/default-de.yaml` and `default-en.yaml`, the
//! files `retell-ops agents reset` and `agents create` use), which the control center creates new
//! agents from: their agent and LLM settings, and their tools, this project's catalog tools
//! (the ones the admin ticks) pointing at this stack. `build.rs` turns the YAML into JSON at
//! compile time, so the Lambda neither parses YAML nor links the ops crate.

use serde::Deserialize;
use serde_json::{json, Value};
use shared::retell::api::{AgentSettings, LlmSettings};
use shared::retell::wiring::Wiring;

const DEFAULT_DE: &str = include_str!(concat!(env!("OUT_DIR"), "/default-de.json"));
const DEFAULT_EN: &str = include_str!(concat!(env!("OUT_DIR"), "/default-en.json"));

/// Which default file an agent starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateLanguage {
    German,
    English,
}

impl TemplateLanguage {
    /// The template for an agent speaking `language` (`de-DE`, `en-GB`, …); one that speaks
    /// several (`multi`) starts from its company's language.
    pub fn for_agent(language: &str, company_language: &str) -> Self {
        let lead = if language == "multi" {
            company_language
        } else {
            language
        };
        if lead.starts_with("en") {
            Self::English
        } else {
            Self::German
        }
    }
}

/// A default agent file: the settings an agent and its LLM are created with, and its tools.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentTemplate {
    pub agent: AgentSettings,
    pub llm: LlmSettings,
    #[serde(default)]
    tools: Vec<TemplateTool>,
}

/// One tool of the file, as `infra/ops/src/agent_file.rs` reads it: `function: <name>` is a
/// catalog tool (URL, description and schema from code), the others are Retell's own kinds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateTool {
    #[serde(default)]
    function: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    number: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    speak_during_execution: Option<bool>,
    #[serde(default)]
    speak_after_execution: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the default agent template cannot be read: {0}")]
pub struct TemplateError(#[from] serde_json::Error);

impl AgentTemplate {
    pub fn load(language: TemplateLanguage) -> Result<Self, TemplateError> {
        let json = match language {
            TemplateLanguage::German => DEFAULT_DE,
            TemplateLanguage::English => DEFAULT_EN,
        };
        Ok(serde_json::from_str(json)?)
    }

    /// The catalog tools the file lists (what the creation form ticks at first).
    pub fn catalog_tools(&self) -> Vec<&str> {
        self.tools
            .iter()
            .filter_map(|t| t.function.as_deref())
            .collect()
    }

    /// The LLM's `general_tools`: the `chosen` catalog tools in catalog order, calling this
    /// stack exactly as `retell-ops sync` would write them (so `test-connection` finds nothing
    /// to repair), then the file's other tools (transfer, end call) as the file has them.
    /// `chosen` holds catalog names only (checked by [`crate::agent_rules::checked_tools`]).
    pub fn general_tools(&self, chosen: &[String], wiring: &Wiring) -> Vec<Value> {
        let catalog = wiring
            .tools
            .iter()
            .filter(|def| chosen.iter().any(|c| c == def.name))
            .map(|def| {
                let mut tool = def.retell_tool(&wiring.tool_url(def.name));
                // The file may tune how a catalog tool is spoken around; never what it calls.
                if let Some(spec) = self
                    .tools
                    .iter()
                    .find(|t| t.function.as_deref() == Some(def.name))
                {
                    if let Some(ms) = spec.timeout_ms {
                        tool["timeout_ms"] = json!(ms);
                    }
                    if let Some(b) = spec.speak_during_execution {
                        tool["speak_during_execution"] = json!(b);
                    }
                    if let Some(b) = spec.speak_after_execution {
                        tool["speak_after_execution"] = json!(b);
                    }
                }
                tool
            });
        let others = self
            .tools
            .iter()
            .filter(|t| t.function.is_none())
            .filter_map(TemplateTool::retell_tool);
        catalog.chain(others).collect()
    }
}

impl TemplateTool {
    /// A tool of Retell's own kinds as Retell takes it (as `AgentFile::general_tools` writes it).
    fn retell_tool(&self) -> Option<Value> {
        let kind = self.kind.as_deref()?;
        let mut tool = json!({"type": kind, "name": self.name});
        if let Some(d) = &self.description {
            tool["description"] = json!(d);
        }
        match kind {
            "transfer_call" => {
                tool["transfer_destination"] = json!({"type": "predefined", "number": self.number});
                tool["transfer_option"] = json!({"type": "cold_transfer"});
            }
            "custom" => {
                tool["url"] = json!(self.url);
                tool["parameters"] = self
                    .parameters
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                tool["speak_during_execution"] =
                    json!(self.speak_during_execution.unwrap_or(false));
                tool["speak_after_execution"] = json!(self.speak_after_execution.unwrap_or(true));
                if let Some(ms) = self.timeout_ms {
                    tool["timeout_ms"] = json!(ms);
                }
            }
            _ => {}
        }
        Some(tool)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A stack's wiring for the agent modules' tests.
    pub(crate) fn wiring() -> Wiring {
        Wiring {
            webhook_url: "https://stack.example/api/retell/webhook".into(),
            inbound_url: "https://stack.example/api/retell/inbound".into(),
            tool_url_template: "https://stack.example/api/retell/functions/{name}".into(),
            tools: tool_catalog::definitions(),
        }
    }

    #[test]
    fn both_templates_read_and_list_only_catalog_tools() {
        let catalog = tool_catalog::definitions();
        for language in [TemplateLanguage::German, TemplateLanguage::English] {
            let t =
                AgentTemplate::load(language).expect("the file reads as agent and LLM settings");
            assert!(t.agent.voice_id.is_some() && t.agent.language.is_some());
            assert!(t
                .llm
                .general_prompt
                .as_deref()
                .is_some_and(|p| p.len() > 500));
            assert!(t.llm.begin_message.is_some());
            let listed = t.catalog_tools();
            assert!(listed.contains(&"book_appointment"), "{listed:?}");
            for name in listed {
                assert!(catalog.iter().any(|d| d.name == name), "{name}");
            }
        }
        let de = AgentTemplate::load(TemplateLanguage::German).expect("de");
        assert_eq!(de.agent.language, Some("de-DE".into()));
        let en = AgentTemplate::load(TemplateLanguage::English).expect("en");
        assert_eq!(en.agent.language, Some("en-US".into()));
    }

    #[test]
    fn the_language_picks_the_file_multi_the_companys() {
        use TemplateLanguage::{English, German};
        assert_eq!(TemplateLanguage::for_agent("de-DE", "en"), German);
        assert_eq!(TemplateLanguage::for_agent("en-GB", "de"), English);
        assert_eq!(TemplateLanguage::for_agent("multi", "en-US"), English);
        assert_eq!(TemplateLanguage::for_agent("multi", "de"), German);
    }

    #[test]
    fn chosen_tools_call_this_stack_as_sync_writes_them_and_the_files_own_tools_stay() {
        let w = wiring();
        let t = AgentTemplate::load(TemplateLanguage::German).expect("de");
        let chosen = vec![
            "request_callback".to_owned(),
            "check_availability".to_owned(),
            "book_appointment".to_owned(),
        ];
        let tools = t.general_tools(&chosen, &w);
        let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(
            names,
            [
                "check_availability",
                "book_appointment",
                "request_callback",
                "transfer_to_staff",
                "end_call"
            ],
            "catalog order, then the file's own"
        );
        // Exactly what wiring compares against: no drift for test-connection to report.
        let llm: shared::retell::api::RetellLlm = serde_json::from_value(json!({
            "llm_id": "llm_x", "general_tools": tools
        }))
        .expect("llm");
        let (states, repair) = shared::retell::wiring::project_tools_of(&w, &llm);
        assert_eq!(states.len(), 3);
        assert!(states.iter().all(|s| s.drifted.is_empty()));
        assert!(repair.is_none());
        assert_eq!(
            tools[0]["url"],
            "https://stack.example/api/retell/functions/check_availability"
        );
        let transfer = &tools[3];
        assert_eq!(transfer["type"], "transfer_call");
        assert_eq!(
            transfer["transfer_destination"]["number"],
            "{{transfer_number}}"
        );
        assert!(
            t.general_tools(&[], &w).len() == 2,
            "no catalog tool ticked"
        );
    }
}
