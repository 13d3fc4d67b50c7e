//! Retell's API objects, as the official SDK (`retell/types/`) and docs.retellai.com describe
//! them. Reads keep what this project does not name in `other`; writes send only what is set.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Settings whose every field is optional and named once: the struct (refusing unknown names,
/// for agent files) and its list of field names (to pick them out of what Retell returns).
macro_rules! settings {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }

        impl $name {
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// The named settings out of an object Retell returned (other fields and nulls
            /// left out).
            pub fn from_retell(object: &Map<String, Value>) -> Result<Self, serde_json::Error> {
                let known: Map<String, Value> = object
                    .iter()
                    .filter(|(k, v)| Self::FIELDS.contains(&k.as_str()) && !v.is_null())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                serde_json::from_value(Value::Object(known))
            }
        }
    };
}

settings! {
    /// An agent's settings this project manages (agent files, create and update). The LLM is
    /// set through `response_engine`; `webhook_url` through `retell-ops sync`.
    AgentSettings {
        agent_name: String,
        voice_id: String,
        voice_model: String,
        voice_temperature: f64,
        voice_speed: f64,
        volume: f64,
        language: String,
        responsiveness: f64,
        interruption_sensitivity: f64,
        enable_backchannel: bool,
        backchannel_frequency: f64,
        backchannel_words: Vec<String>,
        reminder_trigger_ms: u64,
        reminder_max_count: u64,
        ambient_sound: String,
        ambient_sound_volume: f64,
        boosted_keywords: Vec<String>,
        end_call_after_silence_ms: u64,
        max_call_duration_ms: u64,
        begin_message_delay_ms: u64,
        data_storage_setting: String,
        opt_in_signed_url: bool,
        post_call_analysis_model: String,
        post_call_analysis_data: Vec<Value>,
        pronunciation_dictionary: Vec<Value>,
        allow_user_dtmf: bool,
        denoising_mode: String,
        stt_mode: String,
        webhook_url: String,
        response_engine: ResponseEngine,
    }
}

settings! {
    /// A Retell LLM's settings this project manages. `general_tools` is written whole.
    LlmSettings {
        model: String,
        model_temperature: f64,
        model_high_priority: bool,
        tool_call_strict_mode: bool,
        start_speaker: String,
        begin_message: String,
        general_prompt: String,
        begin_after_user_silence_ms: u64,
        default_dynamic_variables: std::collections::BTreeMap<String, String>,
        general_tools: Vec<Value>,
    }
}

/// What answers for the agent: a Retell LLM here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEngine {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

impl ResponseEngine {
    pub fn retell_llm(llm_id: &str) -> Self {
        Self {
            kind: "retell-llm".to_owned(),
            llm_id: Some(llm_id.to_owned()),
            version: None,
        }
    }
}

/// An agent version as `get-agent` returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Agent {
    pub agent_id: String,
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub is_published: bool,
    #[serde(default)]
    pub agent_name: Option<String>,
    pub response_engine: ResponseEngine,
    #[serde(default)]
    pub webhook_url: Option<String>,
    #[serde(default)]
    pub last_modification_timestamp: Option<i64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Agent {
    pub fn llm_id(&self) -> Option<&str> {
        (self.response_engine.kind == "retell-llm")
            .then_some(self.response_engine.llm_id.as_deref())
            .flatten()
    }

    /// The settings an agent file describes (everything but the engine and the webhook URL).
    pub fn settings(&self) -> Result<AgentSettings, serde_json::Error> {
        let mut all = self.other.clone();
        if let Some(name) = &self.agent_name {
            all.insert("agent_name".into(), Value::String(name.clone()));
        }
        AgentSettings::from_retell(&all)
    }
}

/// An agent in `list-agents`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentSummary {
    pub agent_id: String,
    #[serde(default)]
    pub agent_name: Option<String>,
    #[serde(default)]
    pub is_suspended: bool,
    #[serde(default)]
    pub user_modified_timestamp: Option<i64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentVersion {
    pub version: u64,
    #[serde(default)]
    pub is_published: bool,
    #[serde(default)]
    pub last_modification_timestamp: Option<i64>,
    #[serde(default)]
    pub version_title: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Voice {
    pub voice_id: String,
    #[serde(default)]
    pub voice_name: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub accent: Option<String>,
    #[serde(default)]
    pub gender: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A Retell LLM (the prompt and the tools of an agent).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetellLlm {
    pub llm_id: String,
    #[serde(default)]
    pub version: Option<u64>,
    #[serde(default)]
    pub general_tools: Option<Vec<Value>>,
    #[serde(default)]
    pub last_modification_timestamp: Option<i64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl RetellLlm {
    pub fn settings(&self) -> Result<LlmSettings, serde_json::Error> {
        let mut all = self.other.clone();
        if let Some(tools) = &self.general_tools {
            all.insert("general_tools".into(), Value::Array(tools.clone()));
        }
        LlmSettings::from_retell(&all)
    }

    /// The LLM's tools of `type: custom` (those that call a URL).
    pub fn custom_tools(&self) -> Vec<CustomTool> {
        self.general_tools
            .iter()
            .flatten()
            .filter(|t| t.get("type").and_then(Value::as_str) == Some("custom"))
            .filter_map(|t| serde_json::from_value(t.clone()).ok())
            .collect()
    }
}

/// A `type: custom` LLM tool: Retell POSTs `{name, args, call}` to `url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomTool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_at_root: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speak_during_execution: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speak_after_execution: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_message_description: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An agent a number routes to, with its share of the calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightedAgent {
    pub agent_id: String,
    pub weight: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhoneNumber {
    pub phone_number: String,
    #[serde(default)]
    pub nickname: Option<String>,
    #[serde(default)]
    pub inbound_agents: Option<Vec<WeightedAgent>>,
    #[serde(default)]
    pub outbound_agents: Option<Vec<WeightedAgent>>,
    /// Older single-agent fields some accounts still return.
    #[serde(default)]
    pub inbound_agent_id: Option<String>,
    #[serde(default)]
    pub outbound_agent_id: Option<String>,
    #[serde(default)]
    pub inbound_webhook_url: Option<String>,
    #[serde(default)]
    pub last_modification_timestamp: Option<i64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl PhoneNumber {
    /// Every agent the number answers inbound calls with.
    pub fn inbound_agent_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .inbound_agents
            .iter()
            .flatten()
            .map(|a| a.agent_id.as_str())
            .collect();
        if let Some(id) = &self.inbound_agent_id {
            if !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
        ids
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PhoneNumberUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_agents: Option<Vec<WeightedAgent>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_agents: Option<Vec<WeightedAgent>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_webhook_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
}

/// A call. `list-calls` items leave out the transcript fields; `get-call` has them all. The
/// whole object is what a webhook's `call` carries, so it serializes back unchanged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Call {
    pub call_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_analysis: Option<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Call {
    /// Retell is done with the call (no more events will come for it).
    pub fn has_ended(&self) -> bool {
        matches!(self.call_status.as_deref(), Some("ended" | "error"))
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PhoneCallRequest {
    pub from_number: String,
    pub to_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retell_llm_dynamic_variables: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Concurrency {
    #[serde(default)]
    pub current_concurrency: Option<u64>,
    #[serde(default)]
    pub concurrency_limit: Option<u64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_kept_on_read() {
        let agent: Agent = serde_json::from_value(json!({
            "agent_id": "agent_1", "version": 3, "is_published": false,
            "agent_name": "Rezeption", "voice_id": "11labs-Anna", "language": "de-DE",
            "response_engine": {"type": "retell-llm", "llm_id": "llm_1", "version": 3},
            "brand_new_field": {"x": 1}
        }))
        .expect("agent");
        assert_eq!(agent.llm_id(), Some("llm_1"));
        assert_eq!(agent.other["brand_new_field"], json!({"x": 1}));
        let settings = agent.settings().expect("settings");
        assert_eq!(settings.voice_id.as_deref(), Some("11labs-Anna"));
        assert_eq!(settings.agent_name.as_deref(), Some("Rezeption"));
    }

    #[test]
    fn settings_refuse_unknown_names_and_send_only_what_is_set() {
        let err = serde_json::from_value::<AgentSettings>(json!({"voice_idd": "x"}))
            .expect_err("unknown");
        assert!(err.to_string().contains("voice_idd"), "{err}");
        let set = AgentSettings {
            voice_speed: Some(1.1),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&set).expect("json"),
            json!({"voice_speed": 1.1})
        );
    }

    #[test]
    fn a_call_serializes_back_unchanged() {
        let raw = json!({"call_id": "c1", "call_status": "ended", "start_timestamp": 1,
                         "transcript": "hi", "call_cost": {"combined_cost": 12}});
        let call: Call = serde_json::from_value(raw.clone()).expect("call");
        assert_eq!(serde_json::to_value(&call).expect("json"), raw);
        assert!(call.has_ended());
    }
}
