//! Pausing and resuming the stack's background processing, by the switches AWS has for it: a
//! queue consumer stops when its SQS event source mapping is disabled (the queue keeps every
//! message; Lambda stops polling), a scheduled job when its EventBridge rule is. The webhook is
//! never paused: what Retell sends is still accepted and queued, and drained on resume.
//!
//! Lambda is read over its REST API and EventBridge over its JSON one, like CloudWatch Logs (see
//! [`super::aws_json`]): the same requests in AWS and against the local emulator, whose pump
//! honours the same mappings and rules.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::platform::aws_json::{AwsJsonClient, AwsJsonError};

/// What can be paused, each a set of mappings and schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// The call-started, call-ended and call-analyzed consumers: calls stop being stored.
    Consumers,
    /// The messaging consumer and its sweep: no confirmation, reminder or notice goes out.
    Messaging,
    /// The reconcile job: no import of missed calls, no repair of stuck ones.
    Reconcile,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Consumers, Part::Messaging, Part::Reconcile];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consumers => "consumers",
            Self::Messaging => "messaging",
            Self::Reconcile => "reconcile",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The functions whose event source mappings and the EventBridge rules that make up a part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartSwitch {
    #[serde(default)]
    pub functions: Vec<String>,
    #[serde(default)]
    pub rules: Vec<String>,
}

/// Every part's switches, as the stack describes them (the `ProcessingSwitches` output of
/// template.yaml, `PROCESSING_SWITCHES` of the control center, `processing_switches` of the
/// local stack's state file): `{"consumers": {"functions": [...], "rules": [...]}, ...}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Switches(pub BTreeMap<Part, PartSwitch>);

#[derive(Debug, thiserror::Error)]
pub enum ProcessingError {
    #[error("the stack's processing switches are not readable: {0}")]
    BadSwitches(String),
    #[error("this stack names no switch for {0} (deploy the current template.yaml)")]
    NoSwitch(Part),
    #[error("{what}: {source}")]
    Aws {
        what: String,
        #[source]
        source: AwsJsonError,
    },
}

impl Switches {
    pub fn parse(text: &str) -> Result<Self, ProcessingError> {
        let switches: Self =
            serde_json::from_str(text).map_err(|e| ProcessingError::BadSwitches(e.to_string()))?;
        for switch in switches.0.values() {
            // Names go into a URL path and a JSON body: only what Lambda and EventBridge name.
            if let Some(bad) = switch
                .functions
                .iter()
                .chain(&switch.rules)
                .find(|n| !valid_name(n))
            {
                return Err(ProcessingError::BadSwitches(format!(
                    "{:?} is not a function or rule name",
                    bad.chars().take(80).collect::<String>()
                )));
            }
        }
        Ok(switches)
    }

    pub fn part(&self, part: Part) -> Result<&PartSwitch, ProcessingError> {
        self.0.get(&part).ok_or(ProcessingError::NoSwitch(part))
    }
}

fn valid_name(name: &str) -> bool {
    (1..=140).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// One event source mapping as Lambda reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingState {
    pub function: String,
    pub uuid: String,
    /// Lambda's state: Enabled, Disabled, Enabling, Disabling, Creating, Updating, Deleting.
    pub state: String,
    pub queue_arn: String,
}

/// One EventBridge rule as EventBridge reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleState {
    pub name: String,
    /// ENABLED, DISABLED (or ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS).
    pub state: String,
}

/// Whether a part runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Running {
    Running,
    Paused,
    /// Some switches on, some off, or Lambda still turning them (Enabling/Disabling).
    Partly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartState {
    pub part: Part,
    pub running: Running,
    pub mappings: Vec<MappingState>,
    pub rules: Vec<RuleState>,
}

impl PartState {
    fn new(part: Part, mappings: Vec<MappingState>, rules: Vec<RuleState>) -> Self {
        let on = mappings
            .iter()
            .map(|m| m.state == "Enabled")
            .chain(rules.iter().map(|r| r.state != "DISABLED"));
        let off = mappings
            .iter()
            .map(|m| m.state == "Disabled")
            .chain(rules.iter().map(|r| r.state == "DISABLED"));
        let running = if on.clone().all(|b| b) {
            Running::Running
        } else if off.clone().all(|b| b) {
            Running::Paused
        } else {
            Running::Partly
        };
        Self {
            part,
            running,
            mappings,
            rules,
        }
    }
}

/// Lambda's event source mappings and EventBridge's rules.
#[derive(Clone, Debug)]
pub struct ProcessingClient {
    lambda: AwsJsonClient,
    events: AwsJsonClient,
}

#[derive(Deserialize)]
struct MappingList {
    #[serde(default, rename = "EventSourceMappings")]
    mappings: Vec<Value>,
    #[serde(default, rename = "NextMarker")]
    next: Option<String>,
}

impl ProcessingClient {
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Result<Self, ProcessingError> {
        let aws = |what: &str| {
            let what = what.to_owned();
            move |source| ProcessingError::Aws { what, source }
        };
        Ok(Self {
            lambda: AwsJsonClient::new(config, "lambda", "", None).map_err(aws("Lambda"))?,
            events: AwsJsonClient::new(config, "events", "AWSEvents", None)
                .map_err(aws("EventBridge"))?,
        })
    }

    /// Every part the stack has, as it is now.
    /// (The parts, their mappings and rules are asked at once: the overview waits on it.)
    pub async fn states(&self, switches: &Switches) -> Result<Vec<PartState>, ProcessingError> {
        futures::future::try_join_all(switches.0.keys().map(|part| self.state(switches, *part)))
            .await
    }

    pub async fn state(
        &self,
        switches: &Switches,
        part: Part,
    ) -> Result<PartState, ProcessingError> {
        let switch = switches.part(part)?;
        let (found, rules) = futures::future::try_join(
            futures::future::try_join_all(switch.functions.iter().map(|f| self.mappings(f))),
            futures::future::try_join_all(switch.rules.iter().map(|r| self.rule(r))),
        )
        .await?;
        let mut mappings = Vec::new();
        for (function, found) in switch.functions.iter().zip(found) {
            if found.is_empty() {
                // A consumer without its mapping consumes nothing: never reported as running.
                mappings.push(MappingState {
                    function: function.clone(),
                    uuid: String::new(),
                    state: "Missing".into(),
                    queue_arn: String::new(),
                });
            }
            mappings.extend(found);
        }
        Ok(PartState::new(part, mappings, rules))
    }

    /// Turns a part on (`run`) or off: each of its mappings and rules, then reads it back.
    /// Mappings first on pause (nothing more is taken from the queues), last on resume.
    pub async fn switch(
        &self,
        switches: &Switches,
        part: Part,
        run: bool,
    ) -> Result<PartState, ProcessingError> {
        let before = self.state(switches, part).await?;
        if let Some(missing) = before.mappings.iter().find(|m| m.state == "Missing") {
            return Err(ProcessingError::BadSwitches(format!(
                "{} has no event source mapping (deploy the current template.yaml)",
                missing.function
            )));
        }
        // Already there, or on the way (Lambda refuses an update while a mapping changes).
        let (there, on_the_way) = if run {
            ("Enabled", "Enabling")
        } else {
            ("Disabled", "Disabling")
        };
        for rule in before.rules.iter().filter(|_| run) {
            self.set_rule(&rule.name, true).await?;
        }
        for mapping in before
            .mappings
            .iter()
            .filter(|m| m.state != there && m.state != on_the_way)
        {
            self.set_mapping(mapping, run).await?;
        }
        for rule in before.rules.iter().filter(|_| !run) {
            self.set_rule(&rule.name, false).await?;
        }
        self.state(switches, part).await
    }

    /// UpdateEventSourceMapping; asked again (up to 5 times, 2 s apart) while Lambda answers
    /// ResourceInUseException: the mapping is still finishing an earlier change.
    async fn set_mapping(&self, mapping: &MappingState, run: bool) -> Result<(), ProcessingError> {
        let path = format!("/2015-03-31/event-source-mappings/{}", mapping.uuid);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answer: Result<Value, AwsJsonError> = self
                .lambda
                .call_rest(
                    reqwest::Method::PUT,
                    &path,
                    Some(&json!({ "Enabled": run })),
                )
                .await;
            match answer {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == Some("ResourceInUseException") && attempt < 5 => {
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                Err(source) => {
                    return Err(ProcessingError::Aws {
                        what: format!("Lambda UpdateEventSourceMapping of {}", mapping.function),
                        source,
                    })
                }
            }
        }
    }

    async fn set_rule(&self, name: &str, enabled: bool) -> Result<(), ProcessingError> {
        let operation = if enabled { "EnableRule" } else { "DisableRule" };
        let _: Value = self
            .events
            .call(operation, &json!({ "Name": name }))
            .await
            .map_err(|source| ProcessingError::Aws {
                what: format!("EventBridge {operation} {name}"),
                source,
            })?;
        Ok(())
    }

    async fn mappings(&self, function: &str) -> Result<Vec<MappingState>, ProcessingError> {
        let mut found = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut path = format!("/2015-03-31/event-source-mappings/?FunctionName={function}");
            if let Some(m) = &marker {
                path.push_str(&format!("&Marker={}", percent(m)));
            }
            let page: MappingList = self
                .lambda
                .call_rest(reqwest::Method::GET, &path, None)
                .await
                .map_err(|source| ProcessingError::Aws {
                    what: format!("Lambda ListEventSourceMappings of {function}"),
                    source,
                })?;
            for m in page.mappings {
                let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                found.push(MappingState {
                    function: function.to_owned(),
                    uuid: text("UUID"),
                    state: text("State"),
                    queue_arn: text("EventSourceArn"),
                });
            }
            match page.next.filter(|n| !n.is_empty()) {
                Some(next) if found.len() < 1000 => marker = Some(next),
                _ => break,
            }
        }
        // A UUID goes into a path: one Lambda did not write is not used.
        found.retain(|m| valid_name(&m.uuid));
        Ok(found)
    }

    /// Whether one event source mapping takes messages now (the local pump asks before it
    /// delivers a batch, as Lambda's poller stops when its mapping is disabled).
    pub async fn mapping_enabled(&self, uuid: &str) -> Result<bool, ProcessingError> {
        let aws = |source| ProcessingError::Aws {
            what: format!("Lambda GetEventSourceMapping {uuid}"),
            source,
        };
        if !valid_name(uuid) {
            return Err(ProcessingError::BadSwitches(format!("mapping {uuid:?}")));
        }
        let answer: Value = self
            .lambda
            .call_rest(
                reqwest::Method::GET,
                &format!("/2015-03-31/event-source-mappings/{uuid}"),
                None,
            )
            .await
            .map_err(aws)?;
        Ok(answer.get("State").and_then(Value::as_str) == Some("Enabled"))
    }

    /// Whether a rule runs its schedule now.
    pub async fn rule_enabled(&self, name: &str) -> Result<bool, ProcessingError> {
        Ok(self.rule(name).await?.state != "DISABLED")
    }

    async fn rule(&self, name: &str) -> Result<RuleState, ProcessingError> {
        let answer: Value = self
            .events
            .call("DescribeRule", &json!({ "Name": name }))
            .await
            .map_err(|source| ProcessingError::Aws {
                what: format!("EventBridge DescribeRule {name}"),
                source,
            })?;
        Ok(RuleState {
            name: name.to_owned(),
            state: answer
                .get("State")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        })
    }
}

/// A pagination marker in a query string.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(state: &str) -> MappingState {
        MappingState {
            function: "f".into(),
            uuid: "u".into(),
            state: state.into(),
            queue_arn: String::new(),
        }
    }

    fn rule(state: &str) -> RuleState {
        RuleState {
            name: "r".into(),
            state: state.into(),
        }
    }

    #[test]
    fn a_part_runs_only_when_every_switch_is_on_and_is_paused_only_when_every_one_is_off() {
        let cases = [
            (
                vec!["Enabled", "Enabled"],
                vec!["ENABLED"],
                Running::Running,
            ),
            (
                vec!["Disabled", "Disabled"],
                vec!["DISABLED"],
                Running::Paused,
            ),
            (
                vec!["Disabled", "Enabled"],
                vec!["DISABLED"],
                Running::Partly,
            ),
            (vec!["Disabling"], vec![], Running::Partly),
            (vec!["Enabled"], vec!["DISABLED"], Running::Partly),
            (vec![], vec!["DISABLED"], Running::Paused),
            (vec![], vec!["ENABLED"], Running::Running),
            (vec!["Missing", "Enabled"], vec![], Running::Partly),
            (vec!["Missing"], vec![], Running::Partly),
        ];
        for (mappings, rules, want) in cases {
            let state = PartState::new(
                Part::Consumers,
                mappings.iter().map(|s| mapping(s)).collect(),
                rules.iter().map(|s| rule(s)).collect(),
            );
            assert_eq!(state.running, want, "{mappings:?} {rules:?}");
        }
    }

    #[test]
    fn switches_are_read_strictly() {
        let ok = Switches::parse(
            r#"{"consumers":{"functions":["s-call-started"]},"reconcile":{"rules":["s-reconcile"]}}"#,
        )
        .unwrap();
        assert_eq!(
            ok.part(Part::Consumers).unwrap().functions,
            ["s-call-started"]
        );
        assert!(matches!(
            ok.part(Part::Messaging),
            Err(ProcessingError::NoSwitch(Part::Messaging))
        ));
        for bad in [
            "",
            "[]",
            r#"{"pumps":{}}"#,
            r#"{"consumers":{"functions":"f"}}"#,
            r#"{"consumers":{"functions":["a/../b"]}}"#,
            r#"{"consumers":{"functions":[""]}}"#,
            r#"{"consumers":{"lambdas":["f"]}}"#,
            r#"{"consumers":{"rules":["x?y=1"]}}"#,
        ] {
            assert!(Switches::parse(bad).is_err(), "{bad}");
        }
        let long = format!(
            r#"{{"consumers":{{"functions":["{}"]}}}}"#,
            "f".repeat(1_000_000)
        );
        assert!(Switches::parse(&long).is_err());
    }

    #[test]
    fn parts_are_named_as_operators_type_them() {
        for part in Part::ALL {
            assert_eq!(Part::parse(part.as_str()), Some(part));
        }
        assert_eq!(Part::parse("Consumers"), None);
        assert_eq!(Part::parse("webhook"), None);
        assert_eq!(percent("a b/ü"), "a%20b%2F%C3%BC");
    }
}
