//! Agents as code: the file (YAML or JSON) that holds a Retell agent and its Retell LLM for git
//! (docs/agents-as-code.md), read and checked without Retell.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::retell::api::{AgentSettings, LlmSettings};
use shared::retell::{EventKind, TransferEvent};
use shared::tools::ToolDefinition;

/// The project's default German appointment receptionist (`agents reset` without a file).
pub const DEFAULT_TEMPLATE: &str = include_str!("../agents/default-de.yaml");
pub const DEFAULT_TEMPLATE_NAME: &str = "infra/ops/agents/default-de.yaml";

/// A Retell agent and its LLM, reviewable in git. Reading one checks everything that can be
/// checked without Retell (names, types, ranges, Retell's rules, the tools this project has) and
/// says where: `file:line: message`. What the file leaves out, `import` leaves as it is in Retell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    /// The Retell agent this file is; without it, `import` finds the agent by `agent_name` or
    /// creates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub agent: AgentSettings,
    pub llm: LlmSettings,
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
}

/// One tool of the LLM. `function: <name>` is one of this project's custom functions: its URL
/// (this stack's), description and JSON schema come from code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// transfer_call: the number (E.164, or a dynamic variable such as `{{transfer_number}}`)
    /// the call is transferred to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// custom: an endpoint outside this project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speak_during_execution: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speak_after_execution: Option<bool>,
}

/// A file that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct FileError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// The project's tools, by name.
pub fn project_tools() -> Vec<ToolDefinition> {
    tool_catalog::definitions()
}

const LANGUAGES: &[&str] = &[
    "en-US", "en-IN", "en-GB", "en-AU", "en-NZ", "de-DE", "es-ES", "es-419", "hi-IN", "fr-FR",
    "fr-CA", "ja-JP", "pt-PT", "pt-BR", "zh-CN", "ru-RU", "it-IT", "ko-KR", "nl-NL", "nl-BE",
    "pl-PL", "tr-TR", "vi-VN", "ro-RO", "bg-BG", "ca-ES", "th-TH", "da-DK", "fi-FI", "el-GR",
    "hu-HU", "id-ID", "no-NO", "sk-SK", "sv-SE", "lt-LT", "lv-LV", "cs-CZ", "ms-MY", "af-ZA",
    "ar-SA", "az-AZ", "bs-BA", "cy-GB", "fa-IR", "fil-PH", "gl-ES", "he-IL", "hr-HR", "hy-AM",
    "is-IS", "kk-KZ", "kn-IN", "mk-MK", "mr-IN", "ne-NP", "sl-SI", "sr-RS", "sw-KE", "ta-IN",
    "ur-IN", "yue-CN", "uk-UA", "multi",
];

const MODELS: &[&str] = &[
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-5.1",
    "gpt-5.2",
    "gpt-5.4",
    "gpt-5.4-mini",
    "gpt-5.4-nano",
    "gpt-5.5",
    "gpt-5.6-terra",
    "gpt-5.6-luna",
    "gpt-6-astra",
    "gpt-6-sol",
    "gpt-6.1-sol",
    "gpt-6-luna",
    "claude-4.6-sonnet",
    "claude-5-opus",
    "claude-5.5-opus",
    "claude-5-sonnet",
    "claude-5.5-sonnet",
    "claude-5.5-haiku",
    "claude-4.5-haiku",
    "gemini-3.0-flash",
    "gemini-3.1-flash-lite",
    "gemini-3.5-flash",
    "gemini-3.5-flash-lite",
    "gemini-3.6-flash",
    "gemini-3.7-flash",
    "gemini-3.8-flash",
    "gemini-4-argon",
];

/// Retell's voice-call webhook events this project does not store (acknowledged and ignored);
/// the others are `EventKind` (calls are stored from them) and `TransferEvent` (logged on the call).
const OTHER_WEBHOOK_EVENTS: &[&str] = &["transcript_updated"];

/// What Retell can scrub (`PiiConfig.categories` in the SDK).
const PII_CATEGORIES: &[&str] = &[
    "person_name",
    "address",
    "email",
    "phone_number",
    "ssn",
    "passport",
    "driver_license",
    "credit_card",
    "bank_account",
    "password",
    "pin",
    "medical_id",
    "date_of_birth",
    "customer_account_number",
];

/// `pii_config` as Retell takes it: `mode` `post_call` and known, distinct `categories`.
fn check_pii_config(pii: &Value) -> Result<(), String> {
    let Some(object) = pii.as_object() else {
        return Err("pii_config must be an object with mode and categories".into());
    };
    if let Some(extra) = object
        .keys()
        .find(|k| !["mode", "categories"].contains(&k.as_str()))
    {
        return Err(format!(
            "pii_config has no field {extra:?} (mode, categories)"
        ));
    }
    if object.get("mode").and_then(Value::as_str) != Some("post_call") {
        return Err("pii_config.mode must be \"post_call\" (Retell scrubs after the call)".into());
    }
    let Some(categories) = object.get("categories").and_then(Value::as_array) else {
        return Err("pii_config.categories must be a list".into());
    };
    let mut seen = BTreeSet::new();
    for c in categories {
        match c.as_str() {
            Some(name) if PII_CATEGORIES.contains(&name) => {
                if !seen.insert(name) {
                    return Err(format!("pii_config.categories lists {name} twice"));
                }
            }
            _ => {
                return Err(format!(
                    "pii_config.categories: {c} is not one of {}",
                    PII_CATEGORIES.join(", ")
                ))
            }
        }
    }
    Ok(())
}

fn known_webhook_event(name: &str) -> bool {
    EventKind::parse(name).is_some()
        || TransferEvent::parse(name).is_some()
        || OTHER_WEBHOOK_EVENTS.contains(&name)
}

const AMBIENT_SOUNDS: &[&str] = &[
    "coffee-shop",
    "convention-hall",
    "summer-outdoor",
    "mountain-outdoor",
    "static-noise",
    "call-center",
];

const DATA_STORAGE: &[&str] = &[
    "everything",
    "everything_except_pii",
    "basic_attributes_only",
];

impl AgentFile {
    /// Reads and checks a file's text (`json`: JSON, else YAML).
    pub fn parse(text: &str, file: &str, json: bool) -> Result<Self, FileError> {
        let at = |line: usize, message: String| FileError {
            file: file.to_owned(),
            line,
            message,
        };
        let parsed: AgentFile = if json {
            serde_json::from_str(text).map_err(|e| at(e.line(), e.to_string()))?
        } else {
            serde_yaml::from_str(text).map_err(|e| {
                let line = e.location().map(|l| l.line()).unwrap_or(0);
                at(line, e.to_string())
            })?
        };
        parsed
            .check()
            .map_err(|(path, message)| at(locate(text, &path), message))?;
        Ok(parsed)
    }

    /// Retell's rules and ours; the error names the field path (for its line).
    fn check(&self) -> Result<(), (Vec<String>, String)> {
        let err = |path: &[&str], message: String| {
            Err((path.iter().map(|s| s.to_string()).collect(), message))
        };
        if let Some(id) = &self.agent_id {
            if !is_plain_id(id) {
                return err(
                    &["agent_id"],
                    format!("agent_id {id:?} is not a Retell agent id"),
                );
            }
        }
        let a = &self.agent;
        if a.webhook_url.is_some() {
            return err(
                &["agent", "webhook_url"],
                "webhook_url is set to the stack by `retell-ops sync`/`import`; leave it out"
                    .into(),
            );
        }
        if a.response_engine.is_some() {
            return err(
                &["agent", "response_engine"],
                "response_engine is the file's `llm`; leave it out".into(),
            );
        }
        match a.agent_name.as_deref() {
            None => return err(&["agent"], "agent.agent_name is required".into()),
            Some(n) if n.trim().is_empty() || n.chars().count() > 200 => {
                return err(
                    &["agent", "agent_name"],
                    "agent_name must be 1 to 200 characters".into(),
                )
            }
            _ => {}
        }
        match a.voice_id.as_deref() {
            None => return err(&["agent"], "agent.voice_id is required".into()),
            Some(v) if !is_plain_id(v) => {
                return err(
                    &["agent", "voice_id"],
                    format!("voice_id {v:?} is not a voice id"),
                )
            }
            _ => {}
        }
        if let Some(lang) = &a.language {
            let codes = lang.codes();
            if codes.is_empty() {
                return err(&["agent", "language"], "language lists no language".into());
            }
            if let Some(bad) = codes.iter().find(|c| !LANGUAGES.contains(c)) {
                return err(
                    &["agent", "language"],
                    format!(
                        "language {bad:?} is not one Retell supports (e.g. de-DE, en-US, multi)"
                    ),
                );
            }
        }
        let ranges: [(&str, Option<f64>, f64, f64); 7] = [
            ("voice_temperature", a.voice_temperature, 0.0, 2.0),
            ("voice_speed", a.voice_speed, 0.5, 2.0),
            ("volume", a.volume, 0.0, 2.0),
            ("responsiveness", a.responsiveness, 0.0, 1.0),
            (
                "interruption_sensitivity",
                a.interruption_sensitivity,
                0.0,
                1.0,
            ),
            ("backchannel_frequency", a.backchannel_frequency, 0.0, 1.0),
            ("ambient_sound_volume", a.ambient_sound_volume, 0.0, 2.0),
        ];
        for (field, value, lo, hi) in ranges {
            if let Some(v) = value {
                if !(lo..=hi).contains(&v) {
                    return err(
                        &["agent", field],
                        format!("{field} must be between {lo} and {hi}, not {v}"),
                    );
                }
            }
        }
        let int_ranges: [(&str, Option<u64>, u64, u64); 4] = [
            (
                "end_call_after_silence_ms",
                a.end_call_after_silence_ms,
                10_000,
                u64::MAX,
            ),
            (
                "max_call_duration_ms",
                a.max_call_duration_ms,
                60_000,
                7_200_000,
            ),
            ("begin_message_delay_ms", a.begin_message_delay_ms, 0, 5_000),
            (
                "data_storage_retention_days",
                a.data_storage_retention_days,
                1,
                730,
            ),
        ];
        for (field, value, lo, hi) in int_ranges {
            if let Some(v) = value {
                if !(lo..=hi).contains(&v) {
                    let upper = if hi == u64::MAX {
                        "".into()
                    } else {
                        format!(" and at most {hi}")
                    };
                    return err(
                        &["agent", field],
                        format!("{field} must be at least {lo}{upper}, not {v}"),
                    );
                }
            }
        }
        if let Some(s) = &a.ambient_sound {
            if !AMBIENT_SOUNDS.contains(&s.as_str()) {
                return err(
                    &["agent", "ambient_sound"],
                    format!("ambient_sound must be one of {}", AMBIENT_SOUNDS.join(", ")),
                );
            }
        }
        if let Some(pii) = &a.pii_config {
            if let Err(why) = check_pii_config(pii) {
                return err(&["agent", "pii_config"], why);
            }
        }
        if let Some(s) = &a.data_storage_setting {
            if !DATA_STORAGE.contains(&s.as_str()) {
                return err(
                    &["agent", "data_storage_setting"],
                    format!(
                        "data_storage_setting must be one of {}",
                        DATA_STORAGE.join(", ")
                    ),
                );
            }
        }
        if let Some(events) = &a.webhook_events {
            if let Some(bad) = events.iter().find(|e| !known_webhook_event(e)) {
                let known: Vec<&str> = EventKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .chain(TransferEvent::ALL.iter().map(|t| t.as_str()))
                    .chain(OTHER_WEBHOOK_EVENTS.iter().copied())
                    .collect();
                return err(
                    &["agent", "webhook_events"],
                    format!(
                        "webhook event {:?} is not one of {}",
                        bad.chars().take(64).collect::<String>(),
                        known.join(", ")
                    ),
                );
            }
            // Without these the stack never hears of the call at all.
            if let Some(missing) = EventKind::ALL
                .iter()
                .find(|k| !events.iter().any(|e| e == k.as_str()))
            {
                return err(
                    &["agent", "webhook_events"],
                    format!(
                        "webhook_events must include {}: the stack stores calls from it",
                        missing.as_str()
                    ),
                );
            }
        }

        let l = &self.llm;
        if l.general_tools.is_some() {
            return err(
                &["llm", "general_tools"],
                "list the LLM's tools under the top-level `tools:`".into(),
            );
        }
        match l.general_prompt.as_deref() {
            None => return err(&["llm"], "llm.general_prompt is required".into()),
            Some(p) if p.trim().is_empty() => {
                return err(&["llm", "general_prompt"], "general_prompt is empty".into())
            }
            _ => {}
        }
        if let Some(m) = &l.model {
            if !MODELS.contains(&m.as_str()) {
                return err(
                    &["llm", "model"],
                    format!("model {m:?} is not one Retell offers (e.g. gpt-4.1, gpt-5, claude-4.5-haiku)"),
                );
            }
        }
        if let Some(t) = l.model_temperature {
            if !(0.0..=1.0).contains(&t) {
                return err(
                    &["llm", "model_temperature"],
                    format!("model_temperature must be between 0 and 1, not {t}"),
                );
            }
        }
        if let Some(s) = &l.start_speaker {
            if s != "agent" && s != "user" {
                return err(
                    &["llm", "start_speaker"],
                    "start_speaker must be agent or user".into(),
                );
            }
        }

        let defs = project_tools();
        let known: BTreeSet<&str> = defs.iter().map(|d| d.name).collect();
        let known_list = defs.iter().map(|d| d.name).collect::<Vec<_>>().join(", ");
        let mut names = BTreeSet::new();
        for (i, tool) in self.tools.iter().enumerate() {
            let index = i.to_string();
            let at = |msg: String| err(&["tools", &index], msg);
            let name = match (&tool.function, &tool.kind) {
                (Some(f), None) => {
                    if !known.contains(f.as_str()) {
                        return at(format!(
                            "unknown tool {f:?}: this project's tools are {}",
                            known_list
                        ));
                    }
                    if tool.name.is_some()
                        || tool.url.is_some()
                        || tool.parameters.is_some()
                        || tool.number.is_some()
                        || tool.description.is_some()
                    {
                        return at(format!("`function: {f}` takes its name, description, url and parameters from code (`sync` keeps them so); only timeout_ms and speak_* may be set"));
                    }
                    f.clone()
                }
                (None, Some(kind)) => {
                    let Some(name) = tool.name.clone() else {
                        return at(format!("a {kind} tool needs a name"));
                    };
                    match kind.as_str() {
                        "end_call" | "transfer_call" => {
                            let extra = tool.url.is_some()
                                || tool.parameters.is_some()
                                || tool.timeout_ms.is_some()
                                || tool.speak_during_execution.is_some()
                                || tool.speak_after_execution.is_some()
                                || (kind == "end_call" && tool.number.is_some());
                            if extra {
                                let number = if kind == "transfer_call" { " and number" } else { "" };
                                return at(format!("{kind} takes only name, description{number}"));
                            }
                            let e164 = |n: &str| {
                                shared::booking::phone::PhoneNumber::parse(n).is_ok_and(|p| p.as_str() == n)
                            };
                            // A dynamic variable is filled per call (the inbound webhook's
                            // `transfer_number`, only while the company's line is staffed).
                            let variable = |n: &str| {
                                n.strip_prefix("{{").and_then(|v| v.strip_suffix("}}")).is_some_and(|v| {
                                    !v.is_empty()
                                        && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                                })
                            };
                            if kind == "transfer_call"
                                && !tool.number.as_deref().is_some_and(|n| e164(n) || variable(n))
                            {
                                return at("transfer_call needs `number` in E.164 (+49…) or a dynamic variable ({{transfer_number}})".into());
                            }
                        }
                        "custom" => {
                            match tool.url.as_deref() {
                                Some(u) if u.starts_with("https://") || u.starts_with("http://") => {}
                                _ => return at("a custom tool needs an http(s) `url`".into()),
                            }
                            if known.contains(name.as_str()) {
                                return at(format!("{name} is this project's tool: write `- function: {name}`"));
                            }
                            if tool.parameters.as_ref().is_some_and(|p| !p.is_object()) {
                                return at("parameters must be a JSON schema object".into());
                            }
                        }
                        other => {
                            return at(format!(
                                "tool type {other:?} is not supported in agent files (end_call, transfer_call, custom; or `function:`)"
                            ))
                        }
                    }
                    name
                }
                (Some(_), Some(_)) => {
                    return at("a tool has either `function:` or `type:`, not both".into())
                }
                (None, None) => {
                    return at(
                        "a tool needs `function: <name>` or `type: end_call|transfer_call|custom`"
                            .into(),
                    )
                }
            };
            if !is_tool_name(&name) {
                return at(format!(
                    "tool name {name:?} must be 1-64 of a-z, A-Z, 0-9, _ and -"
                ));
            }
            if !names.insert(name.clone()) {
                return at(format!("tool {name:?} is listed twice"));
            }
        }
        Ok(())
    }

    /// The LLM's `general_tools` as Retell takes them, this project's tools calling `tool_url`.
    pub fn general_tools(&self, tool_url: &dyn Fn(&str) -> String) -> Vec<Value> {
        let defs = project_tools();
        self.tools
            .iter()
            .filter_map(|t| {
                if let Some(f) = &t.function {
                    let def = defs.iter().find(|d| d.name == f)?;
                    let mut tool = def.retell_tool(&tool_url(f));
                    if let Some(ms) = t.timeout_ms {
                        tool["timeout_ms"] = json!(ms);
                    }
                    if let Some(b) = t.speak_during_execution {
                        tool["speak_during_execution"] = json!(b);
                    }
                    if let Some(b) = t.speak_after_execution {
                        tool["speak_after_execution"] = json!(b);
                    }
                    return Some(tool);
                }
                let kind = t.kind.as_deref()?;
                let mut tool = json!({"type": kind, "name": t.name});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                match kind {
                    "transfer_call" => {
                        tool["transfer_destination"] =
                            json!({"type": "predefined", "number": t.number});
                        tool["transfer_option"] = json!({"type": "cold_transfer"});
                    }
                    "custom" => {
                        tool["url"] = json!(t.url);
                        tool["parameters"] = t
                            .parameters
                            .clone()
                            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                        tool["speak_during_execution"] =
                            json!(t.speak_during_execution.unwrap_or(false));
                        tool["speak_after_execution"] =
                            json!(t.speak_after_execution.unwrap_or(true));
                        if let Some(ms) = t.timeout_ms {
                            tool["timeout_ms"] = json!(ms);
                        }
                    }
                    _ => {}
                }
                Some(tool)
            })
            .collect()
    }

    /// The file describing an agent and LLM as Retell has them (`export`).
    pub fn from_retell(
        agent: &shared::retell::api::Agent,
        llm: &shared::retell::api::RetellLlm,
    ) -> Result<Self, String> {
        let mut settings = agent
            .settings()
            .map_err(|e| format!("agent {}: {e}", agent.agent_id))?;
        settings.webhook_url = None;
        settings.response_engine = None;
        let mut llm_settings = llm
            .settings()
            .map_err(|e| format!("LLM {}: {e}", llm.llm_id))?;
        llm_settings.general_tools = None;
        let defs = project_tools();
        let mut tools = Vec::new();
        for tool in llm.general_tools.iter().flatten() {
            let kind = tool.get("type").and_then(Value::as_str).unwrap_or("");
            let text = |k: &str| tool.get(k).and_then(Value::as_str).map(str::to_owned);
            let name = text("name");
            let spec = match kind {
                "custom" if defs.iter().any(|d| Some(d.name) == name.as_deref()) => {
                    // Only what differs from the code's definition is written.
                    let differs = |k: &str, default: Value| {
                        tool.get(k)
                            .filter(|v| **v != default && !v.is_null())
                            .cloned()
                    };
                    ToolSpec {
                        function: name,
                        timeout_ms: differs("timeout_ms", json!(shared::tools::TOOL_TIMEOUT_MS))
                            .and_then(|v| v.as_u64()),
                        speak_during_execution: differs("speak_during_execution", json!(false))
                            .and_then(|v| v.as_bool()),
                        speak_after_execution: differs("speak_after_execution", json!(true))
                            .and_then(|v| v.as_bool()),
                        ..Default::default()
                    }
                }
                "custom" => ToolSpec {
                    kind: Some("custom".into()),
                    name,
                    description: text("description"),
                    url: text("url"),
                    parameters: tool.get("parameters").cloned(),
                    timeout_ms: tool.get("timeout_ms").and_then(Value::as_u64),
                    speak_during_execution: tool
                        .get("speak_during_execution")
                        .and_then(Value::as_bool),
                    speak_after_execution: tool
                        .get("speak_after_execution")
                        .and_then(Value::as_bool),
                    ..Default::default()
                },
                "end_call" => ToolSpec {
                    kind: Some("end_call".into()),
                    name,
                    description: text("description"),
                    ..Default::default()
                },
                "transfer_call" => ToolSpec {
                    kind: Some("transfer_call".into()),
                    name,
                    description: text("description"),
                    number: tool
                        .pointer("/transfer_destination/number")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    ..Default::default()
                },
                other => {
                    return Err(format!(
                    "LLM {} has a tool of type {other:?} ({}), which agent files do not describe",
                    llm.llm_id,
                    name.unwrap_or_default()
                ))
                }
            };
            tools.push(spec);
        }
        Ok(AgentFile {
            agent_id: Some(agent.agent_id.clone()),
            agent: settings,
            llm: llm_settings,
            tools,
        })
    }

    pub fn to_yaml(&self) -> String {
        let body = serde_yaml::to_string(self).unwrap_or_default();
        format!("# Retell agent and its LLM, as code (docs/agents-as-code.md).\n# Apply: retell-ops agents import <this file>\n{body}")
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

fn is_plain_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

fn is_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The line (1-based) where a field path is written: each key found after the previous one
/// (YAML `key:` or JSON `"key":`), a number as the n-th list entry. 0 when not found.
pub fn locate(text: &str, path: &[String]) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0usize;
    let mut found = 0usize;
    let mut indent_of_list: Option<usize> = None;
    for component in path {
        if let Ok(index) = component.parse::<usize>() {
            // The index-th "- " entry at the first list indentation after the key.
            let mut seen = 0usize;
            let mut hit = None;
            for (i, line) in lines.iter().enumerate().skip(from) {
                let trimmed = line.trim_start();
                let indent = line.len() - trimmed.len();
                if trimmed.starts_with("- ") || trimmed == "-" || trimmed.starts_with('{') {
                    let list_indent = *indent_of_list.get_or_insert(indent);
                    if indent == list_indent {
                        if seen == index {
                            hit = Some(i);
                            break;
                        }
                        seen += 1;
                    }
                }
            }
            match hit {
                Some(i) => {
                    found = i + 1;
                    from = i + 1;
                }
                None => return found,
            }
            continue;
        }
        let yaml = format!("{component}:");
        let json = format!("\"{component}\"");
        let hit = lines
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, l)| {
                let t = l.trim_start().trim_start_matches("- ");
                t.starts_with(&yaml) || t.starts_with(&json)
            })
            .map(|(i, _)| i);
        match hit {
            Some(i) => {
                found = i + 1;
                from = i + 1;
                indent_of_list = None;
            }
            None => return found,
        }
    }
    found
}

#[cfg(test)]
mod tests;
