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
    /// transfer_call: `cold` (default) or `warm` (the staff member hears `whisper` first, the
    /// caller `hold_music` meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<String>,
    /// warm transfer: what the staff member hears before the caller is put through (dynamic
    /// variables allowed: "{{customer_name}} fragt nach einem Termin").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whisper: Option<String>,
    /// warm transfer: `none`, `relaxing_sound`, `uplifting_beats` or `ringtone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_music: Option<String>,
    /// agent_swap: the agent that takes the call over, and its version (none: latest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<u64>,
    /// agent_swap: `both_agents` (default) or `only_destination_agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_call_analysis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_current_voice: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_current_language: Option<bool>,
    /// press_digit: how long to wait before pressing (0..=5000 ms; Retell's default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// extract_dynamic_variable: the variables to fill from the conversation, each as
    /// `post_call_analysis_data` writes one (`type`, `name`, `description`, enum `choices`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<Vec<Value>>,
}

impl ToolSpec {
    /// The optional fields this entry sets (besides `function`, `type` and `name`).
    fn fields_set(&self) -> Vec<&'static str> {
        let set = [
            ("description", self.description.is_some()),
            ("number", self.number.is_some()),
            ("url", self.url.is_some()),
            ("parameters", self.parameters.is_some()),
            ("timeout_ms", self.timeout_ms.is_some()),
            (
                "speak_during_execution",
                self.speak_during_execution.is_some(),
            ),
            (
                "speak_after_execution",
                self.speak_after_execution.is_some(),
            ),
            ("transfer", self.transfer.is_some()),
            ("whisper", self.whisper.is_some()),
            ("hold_music", self.hold_music.is_some()),
            ("agent_id", self.agent_id.is_some()),
            ("agent_version", self.agent_version.is_some()),
            ("post_call_analysis", self.post_call_analysis.is_some()),
            ("keep_current_voice", self.keep_current_voice.is_some()),
            (
                "keep_current_language",
                self.keep_current_language.is_some(),
            ),
            ("delay_ms", self.delay_ms.is_some()),
            ("variables", self.variables.is_some()),
        ];
        set.iter().filter(|(_, on)| *on).map(|(n, _)| *n).collect()
    }
}

/// The fields each tool type may set (besides `type` and `name`).
fn allowed_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "end_call" => &["description"],
        "transfer_call" => &["description", "number", "transfer", "whisper", "hold_music"],
        "agent_swap" => &[
            "description",
            "agent_id",
            "agent_version",
            "post_call_analysis",
            "keep_current_voice",
            "keep_current_language",
            "speak_during_execution",
        ],
        "press_digit" => &["description", "delay_ms"],
        "extract_dynamic_variable" => &["description", "variables"],
        "custom" => &[
            "description",
            "url",
            "parameters",
            "timeout_ms",
            "speak_during_execution",
            "speak_after_execution",
        ],
        _ => return None,
    })
}

const HOLD_MUSIC: &[&str] = &["none", "relaxing_sound", "uplifting_beats", "ringtone"];
const ANALYSIS_TYPES: &[&str] = &["string", "enum", "boolean", "number"];
/// `type: system-presets` entries of `post_call_analysis_data`: Retell's own analysis fields.
const PRESETS: &[&str] = &["call_summary", "call_successful", "user_sentiment"];

/// One analysis variable as Retell takes it (`post_call_analysis_data`, and the variables of
/// `extract_dynamic_variable`): a known type, a name usable as a variable, a description, and
/// for an enum its choices.
pub fn check_analysis_variable(v: &Value) -> Result<String, String> {
    let Some(o) = v.as_object() else {
        return Err("each variable is an object with type, name and description".into());
    };
    let text = |k: &str| o.get(k).and_then(Value::as_str);
    let name = text("name").unwrap_or_default();
    // Retell's own fields (summary, success, sentiment) with a prompt of the agent's.
    if text("type") == Some("system-presets") {
        if !PRESETS.contains(&name) {
            return Err(format!(
                "a system-presets entry names one of {}",
                PRESETS.join(", ")
            ));
        }
        let allowed = [
            "type",
            "name",
            "description",
            "required",
            "conditional_prompt",
        ];
        if let Some(extra) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!(
                "{name}: a system preset has no field {:?}",
                extra.chars().take(40).collect::<String>()
            ));
        }
        return Ok(name.to_owned());
    }
    if !is_variable_name(name) {
        return Err(format!(
            "variable name {:?} must be 1-64 of a-z, 0-9 and _",
            name.chars().take(64).collect::<String>()
        ));
    }
    let kind = text("type").unwrap_or_default();
    if !ANALYSIS_TYPES.contains(&kind) {
        return Err(format!(
            "{name}: type must be one of {}",
            ANALYSIS_TYPES.join(", ")
        ));
    }
    match text("description") {
        Some(d) if !d.trim().is_empty() && d.chars().count() <= 2000 => {}
        _ => {
            return Err(format!(
                "{name}: a description (1-2000 characters) is required"
            ))
        }
    }
    let allowed: &[&str] = match kind {
        "enum" => &[
            "type",
            "name",
            "description",
            "choices",
            "required",
            "conditional_prompt",
        ],
        "string" => &[
            "type",
            "name",
            "description",
            "examples",
            "required",
            "conditional_prompt",
        ],
        _ => &[
            "type",
            "name",
            "description",
            "required",
            "conditional_prompt",
        ],
    };
    if let Some(extra) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "{name}: a {kind} variable has no field {:?}",
            extra.chars().take(40).collect::<String>()
        ));
    }
    if kind == "enum" {
        let choices = o.get("choices").and_then(Value::as_array);
        let ok = choices.is_some_and(|c| {
            !c.is_empty()
                && c.len() <= 50
                && c.iter()
                    .all(|x| x.as_str().is_some_and(|s| !s.is_empty() && s.len() <= 200))
        });
        if !ok {
            return Err(format!("{name}: an enum needs 1-50 choices, each text"));
        }
    }
    Ok(name.to_owned())
}

fn is_variable_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A list of analysis variables, each checked, no name twice.
fn check_analysis_variables(list: &[Value]) -> Result<(), String> {
    let mut names = BTreeSet::new();
    for v in list {
        let name = check_analysis_variable(v)?;
        if !names.insert(name.clone()) {
            return Err(format!("variable {name} is listed twice"));
        }
    }
    Ok(())
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
        if let Some(tz) = &a.timezone {
            if tz.parse::<chrono_tz::Tz>().is_err() {
                return err(
                    &["agent", "timezone"],
                    format!(
                        "timezone {:?} is not an IANA time zone (Europe/Berlin)",
                        tz.chars().take(64).collect::<String>()
                    ),
                );
            }
        }
        if let Some(ms) = a.webhook_timeout_ms {
            if !(1_000..=60_000).contains(&ms) {
                return err(
                    &["agent", "webhook_timeout_ms"],
                    format!("webhook_timeout_ms must be 1000 to 60000, not {ms}"),
                );
            }
        }
        if let Some(data) = &a.post_call_analysis_data {
            if data.len() > 50 {
                return err(
                    &["agent", "post_call_analysis_data"],
                    "post_call_analysis_data: at most 50 variables".into(),
                );
            }
            if let Err(why) = check_analysis_variables(data) {
                return err(&["agent", "post_call_analysis_data"], why);
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
                    let own = ["timeout_ms", "speak_during_execution", "speak_after_execution"];
                    if tool.name.is_some()
                        || tool.fields_set().iter().any(|f| !own.contains(f))
                    {
                        return at(format!("`function: {f}` takes its name, description, url and parameters from code (`sync` keeps them so); only timeout_ms and speak_* may be set"));
                    }
                    f.clone()
                }
                (None, Some(kind)) => {
                    let Some(name) = tool.name.clone() else {
                        return at(format!("a {kind} tool needs a name"));
                    };
                    let Some(allowed) = allowed_fields(kind) else {
                        return at(format!(
                            "tool type {:?} is not supported in agent files (end_call, transfer_call, agent_swap, press_digit, extract_dynamic_variable, custom; or `function:`)",
                            kind.chars().take(40).collect::<String>()
                        ));
                    };
                    if let Some(extra) = tool.fields_set().into_iter().find(|f| !allowed.contains(f)) {
                        return at(format!("a {kind} tool takes only name, {}; not {extra}", allowed.join(", ")));
                    }
                    match kind.as_str() {
                        "transfer_call" => {
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
                            if !tool.number.as_deref().is_some_and(|n| e164(n) || variable(n)) {
                                return at("transfer_call needs `number` in E.164 (+49…) or a dynamic variable ({{transfer_number}})".into());
                            }
                            match tool.transfer.as_deref() {
                                None | Some("cold") => {
                                    if tool.whisper.is_some() || tool.hold_music.is_some() {
                                        return at("whisper and hold_music are for `transfer: warm`".into());
                                    }
                                }
                                Some("warm") => {}
                                Some(other) => {
                                    return at(format!(
                                        "transfer must be cold or warm, not {:?}",
                                        other.chars().take(20).collect::<String>()
                                    ))
                                }
                            }
                            if let Some(w) = &tool.whisper {
                                if w.trim().is_empty() || w.chars().count() > 1000 {
                                    return at("whisper must be 1 to 1000 characters".into());
                                }
                            }
                            if let Some(m) = &tool.hold_music {
                                if !HOLD_MUSIC.contains(&m.as_str()) {
                                    return at(format!("hold_music must be one of {}", HOLD_MUSIC.join(", ")));
                                }
                            }
                        }
                        "agent_swap" => {
                            if !tool.agent_id.as_deref().is_some_and(is_plain_id) {
                                return at("agent_swap needs the `agent_id` of the agent that takes over".into());
                            }
                            if let Some(p) = &tool.post_call_analysis {
                                if p != "both_agents" && p != "only_destination_agent" {
                                    return at("post_call_analysis must be both_agents or only_destination_agent".into());
                                }
                            }
                        }
                        "press_digit" if tool.delay_ms.is_some_and(|d| d > 5000) => {
                            return at("delay_ms must be 0 to 5000".into());
                        }
                        "extract_dynamic_variable" => {
                            if tool.description.as_deref().is_none_or(|d| d.trim().is_empty()) {
                                return at("extract_dynamic_variable needs a description (when to extract)".into());
                            }
                            match &tool.variables {
                                Some(v) if !v.is_empty() && v.len() <= 50 => {
                                    if let Err(why) = check_analysis_variables(v) {
                                        return at(why);
                                    }
                                }
                                _ => return at("extract_dynamic_variable needs 1-50 `variables`".into()),
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
                        _ => {}
                    }
                    name
                }
                (Some(_), Some(_)) => {
                    return at("a tool has either `function:` or `type:`, not both".into())
                }
                (None, None) => {
                    return at(
                        "a tool needs `function: <name>` or `type: end_call|transfer_call|agent_swap|press_digit|extract_dynamic_variable|custom`"
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
                        tool["transfer_option"] = if t.transfer.as_deref() == Some("warm") {
                            let mut warm = json!({"type": "warm_transfer"});
                            if let Some(w) = &t.whisper {
                                warm["private_handoff_option"] =
                                    json!({"type": "static_message", "message": w});
                            }
                            if let Some(m) = &t.hold_music {
                                warm["on_hold_music"] = json!(m);
                            }
                            warm
                        } else {
                            json!({"type": "cold_transfer"})
                        };
                    }
                    "agent_swap" => {
                        tool["agent_id"] = json!(t.agent_id);
                        if let Some(v) = t.agent_version {
                            tool["agent_version"] = json!(v);
                        }
                        tool["post_call_analysis_setting"] =
                            json!(t.post_call_analysis.as_deref().unwrap_or("both_agents"));
                        for (k, v) in [
                            ("keep_current_voice", t.keep_current_voice),
                            ("keep_current_language", t.keep_current_language),
                            ("speak_during_execution", t.speak_during_execution),
                        ] {
                            if let Some(b) = v {
                                tool[k] = json!(b);
                            }
                        }
                    }
                    "press_digit" => {
                        if let Some(d) = t.delay_ms {
                            tool["delay_ms"] = json!(d);
                        }
                    }
                    "extract_dynamic_variable" => {
                        tool["variables"] = json!(t.variables);
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
                "transfer_call" => {
                    if let Some(unsaid) = transfer_beyond_files(tool) {
                        return Err(format!(
                            "LLM {} has a transfer ({}) with {unsaid}, which agent files do not describe",
                            llm.llm_id,
                            name.unwrap_or_default()
                        ));
                    }
                    let warm = tool
                        .pointer("/transfer_option/type")
                        .and_then(Value::as_str)
                        == Some("warm_transfer");
                    let option_text =
                        |p: &str| tool.pointer(p).and_then(Value::as_str).map(str::to_owned);
                    ToolSpec {
                        kind: Some("transfer_call".into()),
                        name,
                        description: text("description"),
                        number: option_text("/transfer_destination/number"),
                        transfer: warm.then(|| "warm".to_owned()),
                        whisper: option_text("/transfer_option/private_handoff_option/message")
                            .filter(|_| warm),
                        hold_music: option_text("/transfer_option/on_hold_music").filter(|_| warm),
                        ..Default::default()
                    }
                }
                "agent_swap" => ToolSpec {
                    kind: Some("agent_swap".into()),
                    name,
                    description: text("description"),
                    agent_id: text("agent_id"),
                    agent_version: tool.get("agent_version").and_then(Value::as_u64),
                    post_call_analysis: text("post_call_analysis_setting")
                        .filter(|p| p != "both_agents"),
                    keep_current_voice: tool.get("keep_current_voice").and_then(Value::as_bool),
                    keep_current_language: tool
                        .get("keep_current_language")
                        .and_then(Value::as_bool),
                    speak_during_execution: tool
                        .get("speak_during_execution")
                        .and_then(Value::as_bool),
                    ..Default::default()
                },
                "press_digit" => ToolSpec {
                    kind: Some("press_digit".into()),
                    name,
                    description: text("description"),
                    delay_ms: tool.get("delay_ms").and_then(Value::as_u64),
                    ..Default::default()
                },
                "extract_dynamic_variable" => ToolSpec {
                    kind: Some("extract_dynamic_variable".into()),
                    name,
                    description: text("description"),
                    variables: tool.get("variables").and_then(Value::as_array).cloned(),
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

/// What a transfer tool sets that an agent file cannot say (exported, it would be lost):
/// another option type, a prompt or public handoff, other warm-transfer settings.
fn transfer_beyond_files(tool: &Value) -> Option<String> {
    let option = tool.get("transfer_option")?;
    match option.get("type").and_then(Value::as_str) {
        Some("cold_transfer") | None => None,
        Some("warm_transfer") => {
            if let Some(o) = option.as_object() {
                let said = ["type", "private_handoff_option", "on_hold_music"];
                if let Some(k) = o.keys().find(|k| !said.contains(&k.as_str())) {
                    return Some(format!("warm transfer setting {k}"));
                }
            }
            match option
                .pointer("/private_handoff_option/type")
                .and_then(Value::as_str)
            {
                None | Some("static_message") => None,
                Some(other) => Some(format!("a {other} handoff")),
            }
        }
        Some(other) => Some(format!("a {other}")),
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
