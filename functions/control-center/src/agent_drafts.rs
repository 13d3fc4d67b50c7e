//! An agent's versions as the control center edits them, for the agents page and the admin API.
//!
//! Retell versions an agent together with its Retell LLM: edits (`update-agent`,
//! `update-retell-llm`) go into the latest version, the draft; `publish-agent-version` publishes
//! the draft in place (and its LLM version with it), after which Retell starts a new draft from
//! it; each agent version names the LLM version it goes with (`response_engine.version`).
//!
//! Here: a version read whole ([`VersionSnapshot`]); edits saved into the draft, only the fields
//! that differ; the draft published once it was reviewed, refused when it changed after the
//! page showed it (its [`VersionSnapshot::stamp`]); an older version copied into the draft, to
//! be reviewed and published like any edit (a rollback); and what the draft changes against the
//! published version.

use serde::Serialize;
use serde_json::{json, Value};
use shared::retell::api::{
    Agent, AgentSettings, AgentVersion, LlmSettings, RetellApiError, RetellClient, RetellLlm, Voice,
};
use shared::retell::custom_function::ToolDefinition;
use shared::retell::wiring::{self, Wiring};

use crate::agent_rules::{
    checked_language, checked_name, checked_text, checked_tools, checked_voice, MAX_GREETING_CHARS,
    MAX_PROMPT_CHARS,
};
use crate::line_diff::{self, LineDiff};

#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    #[error("not found")]
    NotFound,
    /// The draft is not what the page (or request) saw: someone saved or published meanwhile.
    #[error(
        "the draft was changed meanwhile (it is version {0} now); load it again and review it"
    )]
    Stale(u64),
    #[error("version {0} is published already: there is no draft to publish")]
    NothingToPublish(u64),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Retell(RetellApiError),
    /// The LLM's part (prompt, greeting, tools) was written, the agent's (name, voice,
    /// language) was not.
    #[error("prompt, greeting and tools were saved into the draft, name, voice and language were not ({0}): load the agent again and save those again")]
    PartlySaved(String),
}

impl From<RetellApiError> for DraftError {
    fn from(e: RetellApiError) -> Self {
        if e.is_not_found() {
            Self::NotFound
        } else {
            Self::Retell(e)
        }
    }
}

/// One version of an agent with the LLM version it goes with (None: another response engine,
/// edited in Retell's dashboard).
#[derive(Debug, Clone)]
pub struct VersionSnapshot {
    pub agent: Agent,
    pub llm: Option<RetellLlm>,
}

impl VersionSnapshot {
    /// The agent's `version` (None: its latest, the draft) with its LLM version.
    pub async fn read(
        retell: &RetellClient,
        agent_id: &str,
        version: Option<u64>,
    ) -> Result<Self, DraftError> {
        let agent = retell.get_agent(agent_id, version).await?;
        let llm = match agent.llm_id() {
            Some(id) => Some(
                retell
                    .get_llm_version(id, agent.response_engine.version)
                    .await?,
            ),
            None => None,
        };
        Ok(Self { agent, llm })
    }

    pub fn version(&self) -> u64 {
        self.agent.version
    }

    pub fn name(&self) -> &str {
        self.agent.agent_name.as_deref().unwrap_or_default()
    }

    pub fn voice_id(&self) -> &str {
        text_of(&self.agent.other, "voice_id")
    }

    /// The language code, or the codes of an agent that speaks several, comma-separated.
    pub fn language(&self) -> String {
        match self.agent.other.get("language") {
            Some(Value::String(code)) => code.clone(),
            Some(Value::Array(codes)) => codes
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        }
    }

    pub fn greeting(&self) -> &str {
        self.llm
            .as_ref()
            .map_or("", |l| text_of(&l.other, "begin_message"))
    }

    pub fn prompt(&self) -> &str {
        self.llm
            .as_ref()
            .map_or("", |l| text_of(&l.other, "general_prompt"))
    }

    /// The names of every tool of the LLM, in its order.
    pub fn tool_names(&self) -> Vec<&str> {
        self.llm
            .iter()
            .flat_map(|l| l.general_tools.iter().flatten())
            .filter_map(|t| t.get("name").and_then(Value::as_str))
            .collect()
    }

    /// The knowledge bases the LLM consults (the company's FAQ, attached by `retell-ops sync`).
    pub fn knowledge_bases(&self) -> Vec<&str> {
        self.llm
            .iter()
            .flat_map(|l| l.other.get("knowledge_base_ids").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }

    /// The catalog tools the LLM has (what the form ticks).
    pub fn catalog_tools(&self, catalog: &[ToolDefinition]) -> Vec<String> {
        let names = self.tool_names();
        catalog
            .iter()
            .filter(|d| names.contains(&d.name))
            .map(|d| d.name.to_owned())
            .collect()
    }

    pub fn webhook_url(&self) -> &str {
        self.agent.webhook_url.as_deref().unwrap_or_default()
    }

    /// Changes whenever the version or its LLM is written: a form carries it, and a save,
    /// publish or restore made on another one is refused ([`DraftError::Stale`]).
    pub fn stamp(&self) -> String {
        format!(
            "{}.{}.{}",
            self.agent.version,
            self.agent.last_modification_timestamp.unwrap_or(0),
            self.llm
                .as_ref()
                .and_then(|l| l.last_modification_timestamp)
                .unwrap_or(0)
        )
    }

    /// The fields the control center edits, as the admin API answers them.
    pub fn to_json(&self) -> Value {
        json!({
            "version": self.version(),
            "is_published": self.agent.is_published,
            "agent_name": self.name(),
            "voice_id": self.voice_id(),
            "language": self.language(),
            "webhook_url": self.webhook_url(),
            "llm_id": self.agent.llm_id(),
            "llm_version": self.agent.response_engine.version,
            "begin_message": self.greeting(),
            "general_prompt": self.prompt(),
            "tools": self.tool_names(),
            "stamp": self.stamp(),
        })
    }

    fn check_stamp(&self, expected: Option<&str>) -> Result<(), DraftError> {
        match expected {
            Some(stamp) if stamp != self.stamp() => Err(DraftError::Stale(self.version())),
            _ => Ok(()),
        }
    }
}

fn text_of<'a>(object: &'a serde_json::Map<String, Value>, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The draft, the newest published version (None: nothing published yet) and every version,
/// newest first: what the agent's page shows.
pub struct AgentVersions {
    pub draft: VersionSnapshot,
    pub published: Option<VersionSnapshot>,
    pub versions: Vec<AgentVersion>,
}

impl AgentVersions {
    pub async fn read(retell: &RetellClient, agent_id: &str) -> Result<Self, DraftError> {
        let (draft, versions) =
            futures::try_join!(VersionSnapshot::read(retell, agent_id, None), async {
                Ok::<_, DraftError>(retell.list_agent_versions(agent_id).await?)
            },)?;
        let published = match latest_published(&versions) {
            Some(v) if v == draft.version() => Some(draft.clone()),
            Some(v) => Some(VersionSnapshot::read(retell, agent_id, Some(v)).await?),
            None => None,
        };
        Ok(Self {
            draft,
            published,
            versions,
        })
    }

    /// The draft against the published version.
    pub fn diff(&self) -> AgentDiff<'_> {
        AgentDiff::between(self.published.as_ref(), &self.draft)
    }
}

/// The newest published version, calls' `latest_published`.
pub fn latest_published(versions: &[AgentVersion]) -> Option<u64> {
    versions
        .iter()
        .filter(|v| v.is_published)
        .map(|v| v.version)
        .max()
}

/// One field the draft changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub published: String,
    pub draft: String,
}

/// What publishing the draft would change: its fields and its prompt, line by line.
#[derive(Debug)]
pub struct AgentDiff<'a> {
    pub fields: Vec<FieldChange>,
    pub prompt: LineDiff<'a>,
}

impl<'a> AgentDiff<'a> {
    /// `draft` against `published` (nothing published: every field is new).
    pub fn between(published: Option<&'a VersionSnapshot>, draft: &'a VersionSnapshot) -> Self {
        let side = |s: Option<&VersionSnapshot>| -> [(&'static str, String); 7] {
            [
                ("agent_name", s.map(|s| s.name().to_owned())),
                ("voice_id", s.map(|s| s.voice_id().to_owned())),
                ("language", s.map(VersionSnapshot::language)),
                ("begin_message", s.map(|s| s.greeting().to_owned())),
                ("tools", s.map(|s| s.tool_names().join(", "))),
                ("webhook_url", s.map(|s| s.webhook_url().to_owned())),
                ("knowledge_bases", s.map(|s| s.knowledge_bases().join(", "))),
            ]
            .map(|(field, value)| (field, value.unwrap_or_default()))
        };
        let mut fields: Vec<FieldChange> = side(published)
            .into_iter()
            .zip(side(Some(draft)))
            .filter(|((_, before), (_, after))| before != after)
            .map(|((field, before), (_, after))| FieldChange {
                field,
                published: before,
                draft: after,
            })
            .collect();
        if let Some(published) = published {
            let tools_listed = fields.iter().any(|f| f.field == "tools");
            let others = other_changes(published, draft, tools_listed);
            if !others.is_empty() {
                fields.push(FieldChange {
                    field: "other_settings",
                    published: String::new(),
                    draft: others.join(", "),
                });
            }
        }
        Self {
            fields,
            prompt: line_diff::diff(
                published.map_or("", VersionSnapshot::prompt),
                draft.prompt(),
            ),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && !self.prompt.is_change()
    }

    /// As the admin API answers it: the changed fields and the prompt's changed lines.
    pub fn to_json(&self) -> Value {
        let prompt = match &self.prompt {
            LineDiff::Lines(lines) => {
                let changed: Vec<Value> = lines
                    .iter()
                    .filter_map(|l| match l {
                        line_diff::LineChange::Same(_) => None,
                        line_diff::LineChange::Removed(t) => Some(json!({"removed": t})),
                        line_diff::LineChange::Added(t) => Some(json!({"added": t})),
                    })
                    .collect();
                json!({"changed": !changed.is_empty(), "lines": changed})
            }
            LineDiff::TooLarge {
                common,
                removed,
                added,
            } => {
                json!({"changed": true, "too_large": {"common": common, "removed": removed, "added": added}})
            }
        };
        json!({"fields": self.fields, "general_prompt": prompt})
    }
}

/// The settings the page does not show one by one (voice speed, model, …, and the tools' own
/// fields when their names are the same) that differ between the two versions: a draft changed
/// elsewhere (`retell-ops agents update`, Retell's dashboard) shows as changed, not as equal.
fn other_changes(
    published: &VersionSnapshot,
    draft: &VersionSnapshot,
    tools_listed: bool,
) -> Vec<&'static str> {
    const SHOWN: [&str; 8] = [
        "agent_name",
        "voice_id",
        "language",
        "webhook_url",
        "response_engine",
        "begin_message",
        "general_prompt",
        "general_tools",
    ];
    let differs = |a: Option<&Value>, b: Option<&Value>| match (a, b) {
        (Some(a), Some(b)) => !wiring::same_json(a, b),
        (None | Some(Value::Null), None | Some(Value::Null)) => false,
        _ => true,
    };
    let mut changed: Vec<&'static str> = AgentSettings::FIELDS
        .iter()
        .copied()
        .filter(|f| !SHOWN.contains(f))
        .filter(|f| differs(published.agent.other.get(*f), draft.agent.other.get(*f)))
        .collect();
    if let (Some(before), Some(after)) = (&published.llm, &draft.llm) {
        changed.extend(
            LlmSettings::FIELDS
                .iter()
                .copied()
                .filter(|f| !SHOWN.contains(f))
                .filter(|f| differs(before.other.get(*f), after.other.get(*f))),
        );
        let tools = |l: &RetellLlm| Value::Array(l.general_tools.clone().unwrap_or_default());
        if !tools_listed && !wiring::same_json(&tools(before), &tools(after)) {
            changed.push("general_tools");
        }
    }
    changed
}

/// Edits to the draft as a form or request sends them (None: not sent, left as it is).
#[derive(Debug, Clone, Default)]
pub struct EditRequest {
    pub agent_name: Option<String>,
    pub voice_id: Option<String>,
    pub language: Option<String>,
    pub general_prompt: Option<String>,
    pub begin_message: Option<String>,
    /// The catalog tools the agent should have (the others of its LLM stay).
    pub tools: Option<Vec<String>>,
}

/// Checked edits: only what differs from the draft.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftEdit {
    pub agent: AgentSettings,
    pub llm: LlmSettings,
    /// The names of what changes, for the notice and the audit trail.
    pub changed: Vec<&'static str>,
}

impl EditRequest {
    /// Whether a voice is sent that the draft does not have (so Retell's voices must be read to
    /// check it).
    pub fn changes_voice(&self, draft: &VersionSnapshot) -> bool {
        self.voice_id
            .as_deref()
            .is_some_and(|v| v.trim() != draft.voice_id())
    }

    /// Every field checked; the edit holds what differs from `draft`. `voices` is Retell's list
    /// when [`Self::changes_voice`].
    pub fn check(
        &self,
        draft: &VersionSnapshot,
        voices: &[Voice],
        wiring: &Wiring,
    ) -> Result<DraftEdit, String> {
        let mut edit = DraftEdit::default();
        if let Some(raw) = &self.agent_name {
            let name = checked_name(raw)?;
            if name != draft.name() {
                edit.agent.agent_name = Some(name);
                edit.changed.push("agent_name");
            }
        }
        if let Some(raw) = &self.voice_id {
            let voice = checked_voice(raw, voices, Some(draft.voice_id()))?;
            if voice != draft.voice_id() {
                edit.agent.voice_id = Some(voice);
                edit.changed.push("voice_id");
            }
        }
        if let Some(raw) = &self.language {
            let current = draft.language();
            let language = checked_language(raw, Some(&current))?;
            if language != current {
                edit.agent.language = Some(language.as_str().into());
                edit.changed.push("language");
            }
        }
        let llm_fields =
            self.general_prompt.is_some() || self.begin_message.is_some() || self.tools.is_some();
        let Some(llm) = &draft.llm else {
            return if llm_fields {
                Err("the agent does not answer with a Retell LLM: its prompt, greeting and tools are edited in Retell's dashboard".into())
            } else {
                Ok(edit)
            };
        };
        if let Some(raw) = &self.general_prompt {
            let prompt = checked_text(raw, MAX_PROMPT_CHARS, "general_prompt", true)?;
            if prompt != draft.prompt() {
                edit.llm.general_prompt = Some(prompt);
                edit.changed.push("general_prompt");
            }
        }
        if let Some(raw) = &self.begin_message {
            let greeting = checked_text(raw, MAX_GREETING_CHARS, "begin_message", false)?;
            if greeting != draft.greeting() {
                edit.llm.begin_message = Some(greeting);
                edit.changed.push("begin_message");
            }
        }
        if let Some(raw) = &self.tools {
            let chosen = checked_tools(raw, &wiring.tools)?;
            let current = llm.general_tools.clone().unwrap_or_default();
            let tools = with_catalog_tools(&current, &chosen, wiring);
            if !wiring::same_json(&Value::Array(tools.clone()), &Value::Array(current)) {
                edit.llm.general_tools = Some(tools);
                edit.changed.push("tools");
            }
        }
        Ok(edit)
    }
}

/// The fields of a catalog tool that code decides (those `wiring` compares, `sync` repairs).
const CODE_FIELDS: [&str; 4] = ["url", "description", "parameters", "args_at_root"];

/// An LLM's tools with exactly the `chosen` catalog tools: those it has stay where they are
/// (what code decides set from code, so a save also repairs drift; how they are spoken kept),
/// the others are dropped, new ones are appended; tools that are not the catalog's stay.
pub fn with_catalog_tools(current: &[Value], chosen: &[String], wiring: &Wiring) -> Vec<Value> {
    let catalog_def = |tool: &Value| {
        (tool.get("type").and_then(Value::as_str) == Some("custom"))
            .then(|| tool.get("name").and_then(Value::as_str))
            .flatten()
            .and_then(|name| wiring.tools.iter().find(|d| d.name == name))
    };
    let mut out = Vec::with_capacity(current.len() + chosen.len());
    let mut present = Vec::new();
    for tool in current {
        match catalog_def(tool) {
            None => out.push(tool.clone()),
            Some(def) if chosen.iter().any(|c| c == def.name) => {
                let want = def.retell_tool(&wiring.tool_url(def.name));
                let mut kept = tool.clone();
                for key in CODE_FIELDS {
                    kept[key] = want[key].clone();
                }
                present.push(def.name);
                out.push(kept);
            }
            Some(_) => {}
        }
    }
    for def in wiring
        .tools
        .iter()
        .filter(|d| chosen.iter().any(|c| c == d.name) && !present.contains(&d.name))
    {
        out.push(def.retell_tool(&wiring.tool_url(def.name)));
    }
    out
}

/// Writes `edit` into the agent's draft, if the draft is still the one with `expected` stamp
/// (None: whatever it is, as the API's PUT without a stamp). Returns the draft's version.
pub async fn save(
    retell: &RetellClient,
    agent_id: &str,
    draft: &VersionSnapshot,
    expected: Option<&str>,
    edit: &DraftEdit,
) -> Result<u64, DraftError> {
    draft.check_stamp(expected)?;
    let mut version = draft.version();
    let llm_written = edit.llm != LlmSettings::default();
    if llm_written {
        let llm_id = draft
            .agent
            .llm_id()
            .ok_or_else(|| DraftError::Invalid("the agent has no Retell LLM".into()))?;
        retell.update_llm(llm_id, &edit.llm).await?;
    }
    if edit.agent != AgentSettings::default() {
        version = match retell.update_agent(agent_id, &edit.agent).await {
            Ok(agent) => agent.version,
            // Two writes, no transaction at Retell: say which half is in the draft.
            Err(e) if llm_written => return Err(DraftError::PartlySaved(e.to_string())),
            Err(e) => return Err(e.into()),
        };
    }
    Ok(version)
}

/// Publishes the draft the admin reviewed (the one with `expected` stamp): its version.
pub async fn publish(
    retell: &RetellClient,
    agent_id: &str,
    expected: Option<&str>,
) -> Result<u64, DraftError> {
    let versions = AgentVersions::read(retell, agent_id).await?;
    let draft = &versions.draft;
    draft.check_stamp(expected)?;
    // Retell starts a new draft equal to what it published: publishing that again would only
    // add an identical version.
    if draft.agent.is_published || (versions.published.is_some() && versions.diff().is_empty()) {
        return Err(DraftError::NothingToPublish(draft.version()));
    }
    retell.publish_agent(agent_id, draft.version()).await?;
    Ok(draft.version())
}

/// Copies `version` into the draft (if the draft is still the one with `expected` stamp): its
/// agent settings and its LLM's (prompt, greeting, tools, model …), catalog tools pointed at
/// this stack, the draft's own webhook and engine kept. Nothing is published: the admin reviews
/// the draft against the published version and publishes it, as after any edit. Settings the
/// old version did not have at all stay as the draft has them (Retell's update takes what is
/// sent; there is no "unset").
pub async fn restore(
    retell: &RetellClient,
    wiring: &Wiring,
    agent_id: &str,
    version: u64,
    expected: Option<&str>,
) -> Result<u64, DraftError> {
    let versions = retell.list_agent_versions(agent_id).await?;
    if !versions.iter().any(|v| v.version == version) {
        return Err(DraftError::NotFound);
    }
    let draft = VersionSnapshot::read(retell, agent_id, None).await?;
    draft.check_stamp(expected)?;
    if version == draft.version() {
        return Err(DraftError::Invalid(format!(
            "version {version} is the draft itself"
        )));
    }
    let old = VersionSnapshot::read(retell, agent_id, Some(version)).await?;
    if old.agent.llm_id() != draft.agent.llm_id() {
        return Err(DraftError::Invalid(format!(
            "version {version} answers with another response engine than the draft; restore it in Retell's dashboard"
        )));
    }
    let mut agent = old
        .agent
        .settings()
        .map_err(|e| DraftError::Invalid(format!("version {version} cannot be read: {e}")))?;
    agent.webhook_url = None;
    agent.response_engine = None;
    // What Retell keeps and what the stack hears stay as they are now: an old version must not
    // bring back a longer retention, recordings or fewer webhook events (docs/privacy.md).
    let now = draft
        .agent
        .settings()
        .map_err(|e| DraftError::Invalid(format!("the draft cannot be read: {e}")))?;
    agent.data_storage_setting = now.data_storage_setting;
    agent.data_storage_retention_days = now.data_storage_retention_days;
    agent.pii_config = now.pii_config;
    agent.webhook_events = now.webhook_events;
    agent.webhook_timeout_ms = now.webhook_timeout_ms;
    let llm_written = match (draft.agent.llm_id(), &old.llm) {
        (Some(llm_id), Some(old_llm)) => {
            let mut llm = old_llm.settings().map_err(|e| {
                DraftError::Invalid(format!("version {version}'s LLM cannot be read: {e}"))
            })?;
            if let (_, Some(repaired)) = wiring::project_tools_of(wiring, old_llm) {
                llm.general_tools = Some(repaired);
            }
            retell.update_llm(llm_id, &llm).await?;
            true
        }
        _ => false,
    };
    match retell.update_agent(agent_id, &agent).await {
        Ok(written) => Ok(written.version),
        Err(e) if llm_written => Err(DraftError::PartlySaved(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wiring() -> Wiring {
        crate::agent_template::tests::wiring()
    }

    fn snapshot(version: u64, voice: &str, prompt: &str, tools: Value) -> VersionSnapshot {
        VersionSnapshot {
            agent: serde_json::from_value(json!({
                "agent_id": "agent_1", "version": version, "is_published": false,
                "agent_name": "Rezeption", "voice_id": voice, "language": "de-DE",
                "webhook_url": "https://stack.example/api/retell/webhook",
                "last_modification_timestamp": 1000 + version,
                "response_engine": {"type": "retell-llm", "llm_id": "llm_1", "version": version}
            }))
            .expect("agent"),
            llm: Some(
                serde_json::from_value(json!({
                    "llm_id": "llm_1", "version": version, "general_prompt": prompt,
                    "begin_message": "Hallo", "general_tools": tools,
                    "last_modification_timestamp": 2000
                }))
                .expect("llm"),
            ),
        }
    }

    #[test]
    fn the_diff_names_changed_fields_and_prompt_lines() {
        let w = wiring();
        let book = w.tools[1].retell_tool(&w.tool_url(w.tools[1].name));
        let published = snapshot(3, "11labs-Anna", "Eins\nZwei\nDrei", json!([book]));
        let mut draft = snapshot(4, "openai-Nova", "Eins\nzwei\nDrei", json!([book]));
        let diff = AgentDiff::between(Some(&published), &draft);
        assert_eq!(
            diff.fields,
            [FieldChange {
                field: "voice_id",
                published: "11labs-Anna".into(),
                draft: "openai-Nova".into()
            }]
        );
        assert_eq!(
            diff.to_json()["general_prompt"]["lines"],
            json!([{"removed": "Zwei"}, {"added": "zwei"}])
        );
        assert!(!diff.is_empty());
        draft = snapshot(4, "11labs-Anna", "Eins\nZwei\nDrei", json!([book]));
        assert!(AgentDiff::between(Some(&published), &draft).is_empty());
        let mut faster = draft.clone();
        faster.agent.other.insert("voice_speed".into(), json!(1.2));
        let other = AgentDiff::between(Some(&published), &faster);
        assert_eq!(other.fields.len(), 1);
        assert_eq!(other.fields[0].field, "other_settings");
        assert_eq!(other.fields[0].draft, "voice_speed");
        let mut repointed = draft.clone();
        if let Some(llm) = repointed.llm.as_mut() {
            llm.general_tools = Some(vec![w.tools[1].retell_tool("https://old.example/book")]);
        }
        let other = AgentDiff::between(Some(&published), &repointed);
        assert_eq!(
            other.fields[0].draft, "general_tools",
            "same names, other URL"
        );
        let first = AgentDiff::between(None, &draft);
        assert!(first.fields.iter().any(|f| f.field == "agent_name"));
        assert!(first.prompt.is_change());
    }

    #[test]
    fn edits_hold_only_what_differs_and_refuse_hostile_input() {
        let w = wiring();
        let draft = snapshot(2, "11labs-Anna", "Prompt", json!([]));
        let voices: Vec<Voice> = serde_json::from_value(
            json!([{"voice_id": "11labs-Anna"}, {"voice_id": "openai-Nova"}]),
        )
        .expect("voices");
        let same = EditRequest {
            agent_name: Some(" Rezeption ".into()),
            voice_id: Some("11labs-Anna".into()),
            language: Some("de-DE".into()),
            general_prompt: Some("Prompt".into()),
            begin_message: Some("Hallo".into()),
            tools: Some(vec![]),
        };
        assert!(!same.changes_voice(&draft));
        assert_eq!(
            same.check(&draft, &[], &w).expect("unchanged"),
            DraftEdit::default()
        );
        let changed = EditRequest {
            voice_id: Some("openai-Nova".into()),
            general_prompt: Some("Neu\r\n".into()),
            tools: Some(vec!["check_availability".into()]),
            ..same.clone()
        };
        assert!(changed.changes_voice(&draft));
        let edit = changed.check(&draft, &voices, &w).expect("checked");
        assert_eq!(edit.changed, ["voice_id", "general_prompt", "tools"]);
        assert_eq!(edit.agent.voice_id.as_deref(), Some("openai-Nova"));
        assert_eq!(edit.llm.general_prompt.as_deref(), Some("Neu\n"));
        assert_eq!(
            edit.llm.general_tools.expect("tools")[0]["url"],
            "https://stack.example/api/retell/functions/check_availability"
        );
        for hostile in [
            EditRequest {
                voice_id: Some("11labs-Nobody".into()),
                ..Default::default()
            },
            EditRequest {
                language: Some("xx-XX".into()),
                ..Default::default()
            },
            EditRequest {
                tools: Some(vec!["rm_rf".into()]),
                ..Default::default()
            },
            EditRequest {
                agent_name: Some("x".repeat(65)),
                ..Default::default()
            },
            EditRequest {
                general_prompt: Some("x".repeat(MAX_PROMPT_CHARS + 1)),
                ..Default::default()
            },
            EditRequest {
                begin_message: Some("a\u{0000}".into()),
                ..Default::default()
            },
        ] {
            assert!(hostile.check(&draft, &voices, &w).is_err(), "{hostile:?}");
        }
    }

    #[test]
    fn catalog_tools_are_set_from_code_and_other_tools_stay() {
        let w = wiring();
        let mut drifted = w.tools[0].retell_tool("https://old.example/check");
        drifted["timeout_ms"] = json!(4000);
        let end_call = json!({"type": "end_call", "name": "end_call"});
        let cancel = w
            .tools
            .iter()
            .find(|d| d.name == "cancel_appointment")
            .map(|d| d.retell_tool(&w.tool_url(d.name)))
            .expect("a catalog tool");
        let current = vec![drifted, end_call.clone(), cancel];
        let chosen = vec![w.tools[0].name.to_owned(), w.tools[1].name.to_owned()];
        let tools = with_catalog_tools(&current, &chosen, &w);
        let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(names, [w.tools[0].name, "end_call", w.tools[1].name]);
        assert_eq!(tools[0]["url"], w.tool_url(w.tools[0].name));
        assert_eq!(tools[0]["timeout_ms"], 4000, "how it is spoken is kept");
        assert_eq!(tools[1], end_call);
    }

    #[test]
    fn a_form_made_on_another_draft_is_stale() {
        let draft = snapshot(5, "11labs-Anna", "p", json!([]));
        assert!(draft.check_stamp(Some(&draft.stamp())).is_ok());
        assert!(draft.check_stamp(None).is_ok());
        assert!(matches!(
            draft.check_stamp(Some("4.1004.2000")),
            Err(DraftError::Stale(5))
        ));
        let versions: Vec<AgentVersion> = serde_json::from_value(json!([
            {"version": 5, "is_published": false}, {"version": 4, "is_published": true},
            {"version": 2, "is_published": true}
        ]))
        .expect("versions");
        assert_eq!(latest_published(&versions), Some(4));
        assert_eq!(latest_published(&versions[..1]), None);
    }
}
