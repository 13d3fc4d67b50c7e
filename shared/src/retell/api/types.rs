//! Retell's API objects, as the official SDK (`retell/types/`) and docs.retellai.com describe
//! them. Reads keep what this project does not name in `other`; writes send only what is set.

use std::collections::BTreeMap;

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
        language: Language,
        responsiveness: f64,
        interruption_sensitivity: f64,
        enable_backchannel: bool,
        backchannel_frequency: f64,
        backchannel_words: Vec<String>,
        reminder_trigger_ms: f64,
        reminder_max_count: u64,
        ambient_sound: String,
        ambient_sound_volume: f64,
        boosted_keywords: Vec<String>,
        end_call_after_silence_ms: u64,
        max_call_duration_ms: u64,
        begin_message_delay_ms: u64,
        data_storage_setting: String,
        /// Days Retell keeps the agent's calls (1..=730); unset: forever.
        data_storage_retention_days: u64,
        /// `{"mode": "post_call", "categories": [...]}`: what Retell scrubs from transcripts and
        /// recordings.
        pii_config: Value,
        opt_in_signed_url: bool,
        post_call_analysis_model: String,
        post_call_analysis_data: Vec<Value>,
        pronunciation_dictionary: Vec<Value>,
        allow_user_dtmf: bool,
        denoising_mode: String,
        stt_mode: String,
        webhook_url: String,
        webhook_events: Vec<String>,
        /// How long Retell waits for the webhook (ms; Retell's default 10000).
        webhook_timeout_ms: u64,
        /// The agent's IANA time zone (Retell's default America/Los_Angeles).
        timezone: String,
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

/// An agent's language: one (`de-DE`, `multi`) or, for agents that switch, several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Language {
    One(String),
    Several(Vec<String>),
}

impl From<&str> for Language {
    fn from(code: &str) -> Self {
        Self::One(code.to_owned())
    }
}

impl Language {
    pub fn codes(&self) -> Vec<&str> {
        match self {
            Self::One(code) => vec![code.as_str()],
            Self::Several(codes) => codes.iter().map(String::as_str).collect(),
        }
    }
}

/// What answers for the agent: a Retell LLM here (other engines, e.g. a conversation flow or a
/// custom LLM websocket, are kept whole in `other`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEngine {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_id: Option<String>,
    /// The LLM version (the SDK types it as a number: `2` and `2.0` both read as 2).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number"
    )]
    pub version: Option<u64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A version number Retell may write as `2` or `2.0`; a fraction or a negative is refused.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Ok(Some(v)),
            (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => {
                Ok(Some(f as u64))
            }
            _ => Err(serde::de::Error::custom(format!(
                "version {n} is not a whole number"
            ))),
        },
    }
}

impl ResponseEngine {
    pub fn retell_llm(llm_id: &str) -> Self {
        Self {
            kind: "retell-llm".to_owned(),
            llm_id: Some(llm_id.to_owned()),
            version: None,
            other: Map::new(),
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
    /// `voice` or `chat` (chat agents have no webhook, numbers or calls of this kind).
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl AgentSummary {
    pub fn is_voice(&self) -> bool {
        self.channel.as_deref().is_none_or(|c| c == "voice")
    }
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
    /// A short sample of the voice (Retell's public storage; locally the simulator's).
    #[serde(default)]
    pub preview_audio_url: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A text source of a knowledge base, as created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnowledgeBaseText {
    pub title: String,
    pub text: String,
}

/// A knowledge base as Retell answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KnowledgeBase {
    pub knowledge_base_id: String,
    pub knowledge_base_name: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub knowledge_base_sources: Option<Vec<KnowledgeBaseSource>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One source of a knowledge base (a text's `title`; URLs and documents have none).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KnowledgeBaseSource {
    pub source_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub title: Option<String>,
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
    /// A version number or a reference (`latest`, `latest_published`, a tag); none: latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Which version of an agent a number's calls get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRef {
    /// The newest version, draft or not (what a number without `agent_version` gets).
    Latest,
    LatestPublished,
    Number(u64),
    /// A tag (environment name) Retell resolves.
    Tag(String),
}

/// As Retell takes a version (the SDK's `Union[str, int]`): a number, or its name.
impl Serialize for VersionRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            VersionRef::Latest => serializer.serialize_str("latest"),
            VersionRef::LatestPublished => serializer.serialize_str("latest_published"),
            VersionRef::Number(n) => serializer.serialize_u64(*n),
            VersionRef::Tag(tag) => serializer.serialize_str(tag),
        }
    }
}

impl WeightedAgent {
    pub fn version_ref(&self) -> VersionRef {
        match &self.agent_version {
            None | Some(Value::Null) => VersionRef::Latest,
            Some(Value::Number(n)) => n
                .as_u64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                        .map(|f| f as u64)
                })
                .map(VersionRef::Number)
                .unwrap_or_else(|| VersionRef::Tag(n.to_string())),
            Some(Value::String(s)) => match s.as_str() {
                "latest" => VersionRef::Latest,
                "latest_published" => VersionRef::LatestPublished,
                digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    digits
                        .parse()
                        .map(VersionRef::Number)
                        .unwrap_or_else(|_| VersionRef::Tag(s.clone()))
                }
                _ => VersionRef::Tag(s.clone()),
            },
            Some(other) => VersionRef::Tag(other.to_string()),
        }
    }
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
    /// The agents (and versions) the number answers inbound calls with, the older single-agent
    /// field read as one agent of weight 1.
    pub fn inbound_routes(&self) -> Vec<WeightedAgent> {
        let mut routes: Vec<WeightedAgent> = self.inbound_agents.clone().unwrap_or_default();
        if let Some(id) = &self.inbound_agent_id {
            if !routes.iter().any(|r| &r.agent_id == id) {
                routes.push(WeightedAgent {
                    agent_id: id.clone(),
                    weight: 1.0,
                    agent_version: self.other.get("inbound_agent_version").cloned(),
                    other: Map::new(),
                });
            }
        }
        routes
    }

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
        matches!(
            self.call_status.as_deref(),
            Some("ended" | "error" | "not_connected")
        )
    }

    /// Whether Retell has analysed the call (a `call_analyzed` exists for it).
    pub fn is_analyzed(&self) -> bool {
        self.call_analysis
            .as_ref()
            .is_some_and(|a| a.as_object().is_some_and(|o| !o.is_empty()))
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PhoneCallRequest {
    pub from_number: String,
    pub to_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_agent_version: Option<VersionRef>,
    /// Retell starts one call per key (for an hour), however often the request is repeated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The prompt's variables: strings only, as Retell takes them (`Dict[str, str]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retell_llm_dynamic_variables: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// `get-concurrency`: calls running now against the account's limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Concurrency {
    #[serde(default)]
    pub current_concurrency: Option<u64>,
    /// The normal limit (base plus purchased).
    #[serde(default)]
    pub concurrency_limit: Option<u64>,
    /// Burst mode: calls above the normal limit are placed (at a surcharge) up to
    /// `concurrency_burst_limit`.
    #[serde(default)]
    pub concurrency_burst_enabled: Option<bool>,
    #[serde(default)]
    pub concurrency_burst_limit: Option<u64>,
    /// Held for inbound calls: outbound calls have that much less room.
    #[serde(default)]
    pub reserved_inbound_concurrency: Option<u64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Where the account's calls stand against its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcurrencyState {
    /// Below the normal limit.
    Within,
    /// Above the normal limit, below the burst limit: calls still go through (at a surcharge).
    Bursting,
    /// At the hard limit (the burst limit with burst on, else the normal one): new calls fail.
    AtLimit,
    /// Retell did not say.
    Unknown,
}

impl Concurrency {
    /// The limit beyond which no call is placed: the burst limit when burst mode is on.
    pub fn hard_limit(&self) -> Option<u64> {
        match (self.concurrency_burst_enabled, self.concurrency_burst_limit) {
            (Some(true), Some(burst)) if burst > 0 => Some(burst),
            _ => self.concurrency_limit,
        }
    }

    pub fn state(&self) -> ConcurrencyState {
        let (Some(used), Some(limit)) = (self.current_concurrency, self.concurrency_limit) else {
            return ConcurrencyState::Unknown;
        };
        match self.hard_limit() {
            Some(hard) if used >= hard => ConcurrencyState::AtLimit,
            _ if used >= limit => ConcurrencyState::Bursting,
            _ => ConcurrencyState::Within,
        }
    }
}

#[cfg(test)]
mod response_engine_tests {
    use super::*;

    #[test]
    fn an_llm_version_reads_as_a_whole_number() {
        for (json, version) in [
            (r#"{"type":"retell-llm","llm_id":"l","version":2}"#, Some(2)),
            (
                r#"{"type":"retell-llm","llm_id":"l","version":2.0}"#,
                Some(2),
            ),
            (r#"{"type":"retell-llm","llm_id":"l","version":null}"#, None),
            (r#"{"type":"retell-llm","llm_id":"l"}"#, None),
        ] {
            let engine: ResponseEngine = serde_json::from_str(json).expect(json);
            assert_eq!(engine.version, version, "{json}");
        }
        for bad in [
            r#"{"type":"x","version":2.5}"#,
            r#"{"type":"x","version":-1}"#,
            r#"{"type":"x","version":"2"}"#,
        ] {
            assert!(
                serde_json::from_str::<ResponseEngine>(bad).is_err(),
                "{bad}"
            );
        }
    }
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
    fn engines_languages_and_routes_keep_what_retell_sent() {
        let agent: Agent = serde_json::from_value(json!({
            "agent_id": "agent_1", "language": ["de-DE", "en-US"],
            "response_engine": {"type": "conversation-flow", "conversation_flow_id": "cf_1", "version": 2}
        }))
        .expect("agent");
        assert_eq!(agent.llm_id(), None);
        assert_eq!(
            serde_json::to_value(&agent.response_engine).expect("json"),
            json!({"type": "conversation-flow", "conversation_flow_id": "cf_1", "version": 2})
        );
        let settings = agent.settings().expect("a multi-language agent reads");
        assert_eq!(
            settings.language.expect("language").codes(),
            vec!["de-DE", "en-US"]
        );
        let number: PhoneNumber = serde_json::from_value(json!({
            "phone_number": "+4930123",
            "inbound_agents": [
                {"agent_id": "a", "weight": 0.5, "agent_version": 3, "new_field": true},
                {"agent_id": "b", "weight": 0.25, "agent_version": "latest_published"},
                {"agent_id": "c", "weight": 0.25, "agent_version": "prod"}
            ],
            "inbound_agent_id": "d"
        }))
        .expect("number");
        let routes = number.inbound_routes();
        let refs: Vec<_> = routes.iter().map(WeightedAgent::version_ref).collect();
        assert_eq!(
            refs,
            vec![
                VersionRef::Number(3),
                VersionRef::LatestPublished,
                VersionRef::Tag("prod".into()),
                VersionRef::Latest
            ]
        );
        assert_eq!(
            serde_json::to_value(&routes[0]).expect("json")["new_field"],
            json!(true)
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

    #[test]
    fn burst_mode_raises_the_limit_calls_fail_at() {
        let c = |used: u64, burst: Option<(bool, u64)>| Concurrency {
            current_concurrency: Some(used),
            concurrency_limit: Some(20),
            concurrency_burst_enabled: burst.map(|b| b.0),
            concurrency_burst_limit: burst.map(|b| b.1),
            reserved_inbound_concurrency: None,
            other: Map::new(),
        };
        assert_eq!(c(5, None).state(), ConcurrencyState::Within);
        assert_eq!(c(20, None).state(), ConcurrencyState::AtLimit);
        assert_eq!(c(20, Some((false, 60))).state(), ConcurrencyState::AtLimit);
        assert_eq!(c(25, Some((true, 60))).state(), ConcurrencyState::Bursting);
        assert_eq!(c(60, Some((true, 60))).state(), ConcurrencyState::AtLimit);
        assert_eq!(c(25, Some((true, 0))).state(), ConcurrencyState::AtLimit);
        let unknown: Concurrency = serde_json::from_value(json!({})).expect("parses");
        assert_eq!(unknown.state(), ConcurrencyState::Unknown);
    }

    #[test]
    fn a_phone_call_request_sends_the_sdks_types() {
        let request = PhoneCallRequest {
            from_number: "+493012345678".into(),
            to_number: "+4917611112222".into(),
            override_agent_version: Some(VersionRef::Number(3)),
            retell_llm_dynamic_variables: Some(BTreeMap::from([
                ("is_vip".to_owned(), "true".to_owned()),
                ("visits".to_owned(), "3".to_owned()),
            ])),
            ..Default::default()
        };
        let sent = serde_json::to_value(&request).expect("json");
        assert_eq!(sent["override_agent_version"], json!(3));
        assert_eq!(
            sent["retell_llm_dynamic_variables"],
            json!({"is_vip": "true", "visits": "3"})
        );
        assert!(sent.get("override_agent_id").is_none());
        for (version, wire) in [
            (VersionRef::LatestPublished, json!("latest_published")),
            (VersionRef::Latest, json!("latest")),
            (VersionRef::Tag("production".into()), json!("production")),
        ] {
            assert_eq!(serde_json::to_value(&version).expect("json"), wire);
        }
    }
}
