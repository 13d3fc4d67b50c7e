//! Agents as code against Retell: a file is planned (what would change, field by field) and
//! applied by creating or updating the agent and its LLM; applying it twice changes nothing.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Map, Value};
use shared::retell::api::{
    Agent, AgentSettings, LlmSettings, ResponseEngine, RetellApiError, RetellClient, RetellLlm,
    Voice,
};

use crate::agent_file::{locate, AgentFile, FileError};
use crate::target::Stack;

/// A file as read: its text (for line numbers) and its content.
pub struct LoadedFile {
    pub path: String,
    pub text: String,
    pub file: AgentFile,
}

impl LoadedFile {
    pub fn load(path: &Path) -> Result<Self, FileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| FileError {
            file: shown.clone(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        let json = path.extension().is_some_and(|e| e == "json");
        let file = AgentFile::parse(&text, &shown, json)?;
        Ok(Self {
            path: shown,
            text,
            file,
        })
    }

    pub fn template() -> Self {
        let text = crate::agent_file::DEFAULT_TEMPLATE.to_owned();
        let file = AgentFile::parse(&text, crate::agent_file::DEFAULT_TEMPLATE_NAME, false)
            .unwrap_or_else(|e| panic!("the built-in template is checked by a unit test: {e}"));
        Self {
            path: crate::agent_file::DEFAULT_TEMPLATE_NAME.to_owned(),
            text,
            file,
        }
    }

    fn error_at(&self, path: &[&str], message: String) -> FileError {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        FileError {
            file: self.path.clone(),
            line: locate(&self.text, &path),
            message,
        }
    }

    /// Checks what only Retell knows: the voice exists (`voices`: the account's).
    pub fn check_with_retell(&self, voices: &[Voice]) -> Result<(), OpsError> {
        let voice = self.file.agent.voice_id.clone().unwrap_or_default();
        if !voices.iter().any(|v| v.voice_id == voice) {
            let mut known: Vec<&str> = voices.iter().map(|v| v.voice_id.as_str()).collect();
            known.truncate(12);
            return Err(OpsError::File(self.error_at(
                &["agent", "voice_id"],
                format!(
                    "unknown voice {voice:?} (this account has e.g. {})",
                    known.join(", ")
                ),
            )));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}")]
    File(#[from] FileError),
    #[error("{0}")]
    Retell(#[from] RetellApiError),
    #[error("{0}")]
    Other(String),
    /// Applying stopped part way: what was changed at Retell before the error.
    #[error("{error} (already changed at Retell: {done})")]
    Partial { done: String, error: Box<OpsError> },
}

impl OpsError {
    fn after(self, done: &[String]) -> Self {
        if done.is_empty() {
            self
        } else {
            Self::Partial {
                done: done.join(", "),
                error: Box::new(self),
            }
        }
    }
}

/// One field that differs between Retell and the file.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub field: String,
    pub from: Option<Value>,
    pub to: Value,
}

/// What applying a file would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub file: String,
    /// None: a new agent (and LLM) would be created.
    pub agent_id: Option<String>,
    pub llm_id: Option<String>,
    pub changes: Vec<Change>,
    #[serde(skip)]
    agent_update: AgentSettings,
    #[serde(skip)]
    llm_update: LlmSettings,
}

impl Plan {
    pub fn is_noop(&self) -> bool {
        self.agent_id.is_some() && self.changes.is_empty()
    }
}

/// The agent and LLM settings the file asks for at this stack.
fn desired(file: &AgentFile, stack: &Stack) -> (AgentSettings, LlmSettings) {
    let mut agent = file.agent.clone();
    agent.webhook_url = Some(stack.webhook_url.clone());
    let mut llm = file.llm.clone();
    llm.general_tools = Some(file.general_tools(&|t| stack.tool_url(t)));
    (agent, llm)
}

/// The agent a file names: by `agent_id`, else the one agent with its name (None: none yet).
pub async fn find_agent(
    retell: &RetellClient,
    loaded: &LoadedFile,
    explicit: Option<&str>,
) -> Result<Option<Agent>, OpsError> {
    if let Some(id) = explicit.or(loaded.file.agent_id.as_deref()) {
        return match retell.get_agent(id, None).await {
            Ok(agent) => Ok(Some(agent)),
            Err(e) if e.is_not_found() => Err(OpsError::File(loaded.error_at(
                &["agent_id"],
                format!("agent {id} does not exist at Retell (remove agent_id to create it)"),
            ))),
            Err(e) => Err(e.into()),
        };
    }
    let name = loaded.file.agent.agent_name.clone().unwrap_or_default();
    let matches: Vec<_> = retell
        .list_agents()
        .await?
        .into_iter()
        .filter(|a| a.agent_name.as_deref() == Some(name.as_str()))
        .collect();
    match matches.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(retell.get_agent(&one.agent_id, None).await?)),
        many => Err(OpsError::File(loaded.error_at(
            &["agent", "agent_name"],
            format!(
                "{} agents are named {name:?} ({}): add `agent_id:` to the file",
                many.len(),
                many.iter().map(|a| a.agent_id.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ))),
    }
}

/// Compares the file with the agent (None: to be created) and its LLM.
pub async fn plan(
    retell: &RetellClient,
    stack: &Stack,
    loaded: &LoadedFile,
    agent: Option<&Agent>,
) -> Result<Plan, OpsError> {
    let (want_agent, want_llm) = desired(&loaded.file, stack);
    let Some(agent) = agent else {
        let mut changes = fields(&want_agent, "agent");
        changes.extend(fields(&want_llm, "llm"));
        return Ok(Plan {
            file: loaded.path.clone(),
            agent_id: None,
            llm_id: None,
            changes,
            agent_update: want_agent,
            llm_update: want_llm,
        });
    };
    let llm_id = agent.llm_id().ok_or_else(|| {
        OpsError::Other(format!(
            "agent {} answers with {:?}, not a Retell LLM; agent files describe Retell-LLM agents",
            agent.agent_id, agent.response_engine.kind
        ))
    })?;
    let llm = retell.get_llm(llm_id).await?;
    let mut current_agent = agent.other.clone();
    if let Some(n) = &agent.agent_name {
        current_agent.insert("agent_name".into(), Value::String(n.clone()));
    }
    if let Some(w) = &agent.webhook_url {
        current_agent.insert("webhook_url".into(), Value::String(w.clone()));
    }
    let (agent_changes, agent_update) = differences(&want_agent, &current_agent, "agent")?;
    let (llm_changes, llm_update) = differences(&want_llm, &llm_object(&llm), "llm")?;
    let mut changes = agent_changes;
    changes.extend(llm_changes);
    Ok(Plan {
        file: loaded.path.clone(),
        agent_id: Some(agent.agent_id.clone()),
        llm_id: Some(llm_id.to_owned()),
        changes,
        agent_update,
        llm_update,
    })
}

fn llm_object(llm: &RetellLlm) -> Map<String, Value> {
    let mut all = llm.other.clone();
    if let Some(tools) = &llm.general_tools {
        all.insert("general_tools".into(), Value::Array(tools.clone()));
    }
    all
}

fn fields<T: Serialize>(settings: &T, prefix: &str) -> Vec<Change> {
    let map = match serde_json::to_value(settings) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    map.into_iter()
        .map(|(k, v)| Change {
            field: format!("{prefix}.{k}"),
            from: None,
            to: v,
        })
        .collect()
}

/// The fields of `want` that `current` lacks or has otherwise, and the update setting only them.
fn differences<T: Serialize + serde::de::DeserializeOwned>(
    want: &T,
    current: &Map<String, Value>,
    prefix: &str,
) -> Result<(Vec<Change>, T), OpsError> {
    let want = match serde_json::to_value(want) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut changes = Vec::new();
    let mut update = Map::new();
    for (k, v) in want {
        let now = current.get(&k).filter(|v| !v.is_null());
        // Retell may leave out (or null) an empty list.
        let empty = v.as_array().is_some_and(Vec::is_empty);
        if now.is_some_and(|now| covers(now, &v)) || (now.is_none() && empty) {
            continue;
        }
        changes.push(Change {
            field: format!("{prefix}.{k}"),
            from: now.cloned(),
            to: v.clone(),
        });
        update.insert(k, v);
    }
    let update = serde_json::from_value(Value::Object(update))
        .map_err(|e| OpsError::Other(format!("building the update: {e}")))?;
    Ok((changes, update))
}

/// Whether `current` already is `wanted`: numbers by value, objects on the keys the file sets
/// (Retell fills in defaults for the rest), arrays element by element. A tool's `parameters`
/// (a JSON schema) must be exactly the same: a property code removed is a change.
pub fn covers(current: &Value, wanted: &Value) -> bool {
    match (current, wanted) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Object(a), Value::Object(b)) => b.iter().all(|(k, v)| {
            let same = |c: &Value| {
                if k == "parameters" {
                    shared::retell::wiring::same_json(c, v)
                } else {
                    covers(c, v)
                }
            };
            a.get(k).is_some_and(same) || (v.is_null() && !a.contains_key(k))
        }),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| covers(x, y))
        }
        (a, b) => a == b,
    }
}

/// What applying did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub file: String,
    pub agent_id: String,
    pub llm_id: String,
    pub created: bool,
    pub changed: Vec<String>,
    pub published: bool,
}

/// Applies a plan. An error part way says what was already changed; a new LLM whose agent
/// could not be created is deleted again, so a rerun does not leave a second one behind.
pub async fn apply(retell: &RetellClient, plan: Plan, publish: bool) -> Result<Applied, OpsError> {
    let changed: Vec<String> = plan.changes.iter().map(|c| c.field.clone()).collect();
    let mut done: Vec<String> = Vec::new();
    let (agent_id, llm_id, created) = match (&plan.agent_id, &plan.llm_id) {
        (Some(agent_id), Some(llm_id)) => {
            if changed.iter().any(|f| f.starts_with("llm.")) {
                retell.update_llm(llm_id, &plan.llm_update).await?;
                done.push(format!("LLM {llm_id} updated"));
            }
            if changed.iter().any(|f| f.starts_with("agent.")) {
                retell
                    .update_agent(agent_id, &plan.agent_update)
                    .await
                    .map_err(|e| OpsError::from(e).after(&done))?;
                done.push(format!("agent {agent_id} updated"));
            }
            (agent_id.clone(), llm_id.clone(), false)
        }
        _ => {
            let llm = retell.create_llm(&plan.llm_update).await?;
            let mut agent = plan.agent_update.clone();
            agent.response_engine = Some(ResponseEngine::retell_llm(&llm.llm_id));
            let agent = match retell.create_agent(&agent).await {
                Ok(a) => a,
                Err(e) => {
                    let left = match retell.delete_llm(&llm.llm_id).await {
                        Ok(()) => Vec::new(),
                        Err(_) => vec![format!(
                            "LLM {} created and left unused (delete it)",
                            llm.llm_id
                        )],
                    };
                    return Err(OpsError::from(e).after(&left));
                }
            };
            done.push(format!("agent {} created", agent.agent_id));
            (agent.agent_id, llm.llm_id, true)
        }
    };
    // Publishing an unchanged, already published draft would only repeat the last version.
    let mut published = false;
    if publish {
        let draft = retell
            .get_agent(&agent_id, None)
            .await
            .map_err(|e| OpsError::from(e).after(&done))?;
        if !draft.is_published {
            retell
                .publish_agent(&agent_id, draft.version)
                .await
                .map_err(|e| OpsError::from(e).after(&done))?;
            published = true;
        }
    }
    let publish = published;
    Ok(Applied {
        file: plan.file,
        agent_id,
        llm_id,
        created,
        changed,
        published: publish,
    })
}

/// A change for people: short values inline, long text as the lines that differ.
pub fn describe(change: &Change) -> Vec<String> {
    let show = |v: &Value| match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    let long = |v: &Value| {
        v.as_str().is_some_and(|s| s.contains('\n') || s.len() > 80)
            || matches!(v, Value::Array(_) | Value::Object(_)) && v.to_string().len() > 80
    };
    match &change.from {
        None => {
            if long(&change.to) {
                vec![format!(
                    "{}: set ({} chars)",
                    change.field,
                    show(&change.to).len()
                )]
            } else {
                vec![format!("{}: set to {}", change.field, show(&change.to))]
            }
        }
        Some(from) if long(from) || long(&change.to) => {
            let mut out = vec![format!("{}: changed", change.field)];
            let text = |v: &Value| match v {
                Value::String(s) => s.lines().map(str::to_owned).collect::<Vec<_>>(),
                other => serde_json::to_string_pretty(other)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect(),
            };
            let (old, new) = (text(from), text(&change.to));
            for l in old.iter().filter(|l| !new.contains(l)) {
                out.push(format!("    - {l}"));
            }
            for l in new.iter().filter(|l| !old.contains(l)) {
                out.push(format!("    + {l}"));
            }
            out
        }
        Some(from) => vec![format!(
            "{}: {} → {}",
            change.field,
            show(from),
            show(&change.to)
        )],
    }
}

/// An agent and its LLM from Retell: as Retell answers (`{"agent": …, "llm": …}`) and as an
/// agent file.
pub async fn fetch(retell: &RetellClient, agent_id: &str) -> Result<(Value, AgentFile), String> {
    let agent = retell
        .get_agent(agent_id, None)
        .await
        .map_err(|e| e.to_string())?;
    let llm_id = agent
        .llm_id()
        .ok_or_else(|| format!("agent {agent_id} does not answer with a Retell LLM"))?;
    let llm = retell.get_llm(llm_id).await.map_err(|e| e.to_string())?;
    let file = AgentFile::from_retell(&agent, &llm)?;
    Ok((json!({"agent": agent, "llm": llm}), file))
}

/// Where `export` writes by default: `agents/<agent_id>.yaml`.
pub fn default_export_path(agent_id: &str, json: bool) -> PathBuf {
    PathBuf::from("agents").join(format!("{agent_id}.{}", if json { "json" } else { "yaml" }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn covers_ignores_what_retell_adds_and_number_forms() {
        assert!(covers(&json!(1), &json!(1.0)));
        assert!(covers(&json!({"a": 1, "b": 2}), &json!({"a": 1})));
        assert!(!covers(&json!({"a": 1}), &json!({"a": 2})));
        assert!(covers(
            &json!([{"name": "x", "extra": true}]),
            &json!([{"name": "x"}])
        ));
        assert!(!covers(
            &json!([{"name": "x"}]),
            &json!([{"name": "x"}, {"name": "y"}])
        ));
        assert!(!covers(&json!("a"), &json!("b")));
    }

    #[test]
    fn differences_list_only_what_changes() {
        let want = AgentSettings {
            voice_speed: Some(1.1),
            agent_name: Some("R".into()),
            ..Default::default()
        };
        let current = json!({"voice_speed": 1.0, "agent_name": "R", "voice_id": "v"});
        let (changes, update) =
            differences(&want, current.as_object().expect("object"), "agent").expect("diff");
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "agent.voice_speed");
        assert_eq!(update.voice_speed, Some(1.1));
        assert_eq!(update.agent_name, None);
    }

    #[test]
    fn long_text_changes_show_the_lines() {
        let lines = describe(&Change {
            field: "llm.general_prompt".into(),
            from: Some(json!("a\nb\nc")),
            to: json!("a\nB\nc"),
        });
        assert_eq!(
            lines,
            vec!["llm.general_prompt: changed", "    - b", "    + B"]
        );
    }
}
