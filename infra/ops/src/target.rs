//! The system `retell-ops` operates, as one [`Stack`]: a deployed stack (`--stack NAME`, read
//! from CloudFormation) or the running `make dev` (`--local`, read from its state file).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
pub use shared::calls::dead_letters::{QueueKind, QueuePair};
use shared::platform::aws::{AwsBudget, AwsClients};
use shared::platform::config::DEFAULT_RETELL_BASE_URL;
use shared::retell::api::RetellClient;
use shared::retell::keys::KeyRing;
use shared::retell::EventKind;

/// template.yaml's default for the `DefaultTimeZone` parameter (and the local stack's).
const DEFAULT_TIME_ZONE: &str = "Europe/Berlin";
/// template.yaml's default for `BackupRetentionDays` (and the local stack's).
const DEFAULT_BACKUP_RETENTION_DAYS: u16 = 35;

/// A deployed or the local stack, alike: every command runs one code path against either.
#[derive(Debug, Clone)]
pub struct Stack {
    /// What the operator is told: "local stack (…)" or "stack NAME (region)".
    pub label: String,
    pub local: bool,
    pub webhook_url: String,
    pub inbound_url: String,
    /// With `{binary}` and `{name}`: where a tool is served.
    pub tool_url_template: String,
    pub retell_base_url: String,
    pub secret_id: String,
    pub default_company_id: String,
    /// DEFAULT_TIME_ZONE: the days the statistics are kept by.
    pub default_time_zone: String,
    pub calls_table: String,
    pub stats_table: String,
    pub companies_table: String,
    /// The native calendar's table, which also keeps the customers (None: an older stack).
    pub appointments_table: Option<String>,
    /// The audit trail (`shared::privacy::audit`); absent on a stack deployed before it.
    pub audit_table: Option<String>,
    /// RetentionDays: the retention of companies whose settings name none.
    pub retention_days: u16,
    pub bucket: String,
    pub queues: Vec<QueuePair>,
    pub alarms: Vec<String>,
    /// The stack's name: a deployed stack's CloudFormation name, `local` for `make dev`
    /// (Cal.com key secrets are `<name>/calcom/<company>`).
    pub name: String,
    /// `RecordingHosts`: where recordings are fetched from (`backup recordings`).
    pub recording_hosts: String,
    /// What `pause` and `resume` switch (None: a stack deployed before they existed).
    pub processing_switches: Option<shared::platform::processing::Switches>,
    /// Each function's log group (`logs`), in the template's order.
    pub log_groups: Vec<(String, String)>,
    /// `BackupRetentionDays`: no daily backup is kept longer (35 by default).
    pub backup_retention_days: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("no running local stack found at {path}: start it with `make dev` (or set LOCAL_STATE_DIR / LOCAL_API_PORT to the one you started)")]
    NoLocalStack { path: String },
    #[error("the local stack's state file {path} is incomplete: {reason} (restart `make dev`)")]
    BadLocalState { path: String, reason: String },
    #[error("stack {name}: {reason}")]
    Stack { name: String, reason: String },
    #[error("no Retell API key: set RETELL_API_KEY or store it in the stack's secret ({0})")]
    NoKey(String),
    #[error("{0}")]
    Retell(String),
}

impl Stack {
    /// Where Cal.com delivers a company's booking webhooks: the tools' API, at
    /// `/api/calcom/webhook/<company_id>` (served by the `calcom-webhook` function).
    pub fn calcom_webhook_url(&self, company_id: &str) -> String {
        let tool = self
            .tool_url_template
            .replace("{binary}", "calcom-webhook")
            .replace("{name}", "x");
        let base = tool
            .strip_suffix("/api/retell/functions/x")
            .unwrap_or(tool.as_str());
        format!("{base}/api/calcom/webhook/{company_id}")
    }

    pub fn tool_url(&self, tool: &str) -> String {
        self.wiring().tool_url(tool)
    }

    /// What this stack's agents, LLMs and numbers should point at.
    pub fn wiring(&self) -> shared::retell::wiring::Wiring {
        shared::retell::wiring::Wiring {
            webhook_url: self.webhook_url.clone(),
            inbound_url: self.inbound_url.clone(),
            tool_url_template: self.tool_url_template.clone(),
            tools: crate::agent_file::project_tools(),
        }
    }

    /// The state file of the local stack `make dev` runs.
    pub fn local_state_file() -> PathBuf {
        let dir = match std::env::var("LOCAL_STATE_DIR") {
            Ok(d) if !d.trim().is_empty() => PathBuf::from(d),
            _ => {
                let port = std::env::var("LOCAL_API_PORT")
                    .ok()
                    .filter(|p| !p.trim().is_empty())
                    .unwrap_or_else(|| "9000".into());
                std::env::temp_dir().join(format!("retell-backend-{port}"))
            }
        };
        dir.join("stack.json")
    }

    /// Reads the local stack's description; returns it and the AWS endpoint to use.
    pub fn local(path: &Path) -> Result<(Self, String), TargetError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|_| TargetError::NoLocalStack {
            path: shown.clone(),
        })?;
        let bad = |reason: &str| TargetError::BadLocalState {
            path: shown.clone(),
            reason: reason.to_owned(),
        };
        let d: Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        let endpoints = d.get("endpoints").ok_or_else(|| bad("no endpoints"))?;
        let text_at = |v: &Value, p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| bad(&format!("no {p}")))
        };
        let res = d.get("resources").ok_or_else(|| bad("no resources"))?;
        let queue = |logical: &str| text_at(res, &format!("/{logical}/QueueUrl"));
        let mut queues = Vec::new();
        for (kind, main, dlq, _) in QUEUES {
            let consumer = kind.as_str().replace('_', "-");
            queues.push(QueuePair {
                kind,
                url: queue(main)?,
                dlq_url: queue(dlq)?,
                log_group: d
                    .pointer(&format!("/functions/{consumer}/log_group"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
        let api = text_at(endpoints, "/api")?;
        let processing_switches = match d.get("processing_switches") {
            Some(v) if v.as_object().is_some_and(|o| !o.is_empty()) => Some(
                shared::platform::processing::Switches::parse(&v.to_string())
                    .map_err(|e| bad(&e.to_string()))?,
            ),
            _ => None,
        };
        let log_groups = d
            .get("functions")
            .and_then(Value::as_object)
            .map(|functions| {
                functions
                    .iter()
                    .filter_map(|(name, f)| {
                        Some((name.clone(), f.get("log_group")?.as_str()?.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let stack = Stack {
            label: format!("local stack at {api}"),
            local: true,
            webhook_url: text_at(endpoints, "/webhook_url")?,
            inbound_url: text_at(endpoints, "/inbound_url")?,
            tool_url_template: text_at(endpoints, "/tool_url_template")?,
            retell_base_url: text_at(endpoints, "/retell_url")?,
            secret_id: text_at(res, "/RetellWebhookKeys/Ref")?,
            default_company_id: endpoints
                .get("default_company_id")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_owned(),
            default_time_zone: endpoints
                .get("default_time_zone")
                .and_then(Value::as_str)
                .unwrap_or(DEFAULT_TIME_ZONE)
                .to_owned(),
            calls_table: text_at(res, "/CallsTable/Ref")?,
            stats_table: text_at(res, "/CallStatsTable/Ref")?,
            companies_table: text_at(res, "/CompaniesTable/Ref")?,
            appointments_table: text_at(res, "/AppointmentsTable/Ref").ok(),
            audit_table: text_at(res, "/AuditTable/Ref").ok(),
            retention_days: shared::booking::privacy_settings::DEFAULT_RETENTION_DAYS,
            bucket: text_at(res, "/EventsBucket/Ref")?,
            queues,
            alarms: Vec::new(),
            name: endpoints
                .get("stack_name")
                .and_then(Value::as_str)
                .unwrap_or("local")
                .to_owned(),
            recording_hosts: endpoints
                .get("recording_hosts")
                .and_then(Value::as_str)
                .unwrap_or(shared::platform::config::DEFAULT_RECORDING_HOSTS)
                .to_owned(),
            processing_switches,
            log_groups,
            backup_retention_days: DEFAULT_BACKUP_RETENTION_DAYS,
        };
        Ok((stack, text_at(endpoints, "/aws")?))
    }

    /// A deployed stack, from its CloudFormation outputs and parameters (and its alarms from
    /// its resources).
    pub async fn deployed(name: &str) -> Result<Self, TargetError> {
        let err = |reason: String| TargetError::Stack {
            name: name.to_owned(),
            reason,
        };
        let config = shared::platform::aws::config_loader().load().await;
        let region = config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "(no region set)".into());
        let cfn = aws_sdk_cloudformation::Client::new(&config);
        let described = cfn
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| err(aws_sdk_cloudformation::error::DisplayErrorContext(e).to_string()))?;
        let stack = described
            .stacks()
            .first()
            .ok_or_else(|| err("not found".into()))?;
        let outputs: HashMap<String, String> = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect();
        let parameters: HashMap<String, String> = stack
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_owned(),
                    p.parameter_value()?.to_owned(),
                ))
            })
            .collect();
        let mut alarms = Vec::new();
        let mut functions: HashMap<String, String> = HashMap::new();
        let mut log_groups: HashMap<String, String> = HashMap::new();
        let mut pages = cfn
            .list_stack_resources()
            .stack_name(name)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                err(aws_sdk_cloudformation::error::DisplayErrorContext(e).to_string())
            })?;
            for r in page.stack_resource_summaries() {
                if let (Some("AWS::Lambda::Function"), Some(logical), Some(id)) = (
                    r.resource_type(),
                    r.logical_resource_id(),
                    r.physical_resource_id(),
                ) {
                    functions.insert(logical.to_owned(), format!("/aws/lambda/{id}"));
                }
                if let (Some("AWS::Logs::LogGroup"), Some(logical), Some(id)) = (
                    r.resource_type(),
                    r.logical_resource_id(),
                    r.physical_resource_id(),
                ) {
                    log_groups.insert(logical.to_owned(), id.to_owned());
                }
                if let (Some("AWS::CloudWatch::Alarm"), Some(id)) =
                    (r.resource_type(), r.physical_resource_id())
                {
                    alarms.push(id.to_owned());
                }
            }
        }
        let mut stack = Self::from_cloudformation(name, &region, &outputs, &parameters, alarms)?;
        for q in &mut stack.queues {
            let consumer = QUEUES
                .iter()
                .find(|(kind, ..)| *kind == q.kind)
                .map(|(.., function)| *function);
            // The function's own log group (`<Function>LogGroup`), else Lambda's default of a
            // stack deployed before the template named them.
            q.log_group = consumer.and_then(|f| {
                let own = f
                    .strip_suffix("Function")
                    .map(|base| format!("{base}LogGroup"));
                own.and_then(|g| log_groups.get(&g).cloned())
                    .or_else(|| functions.get(f).cloned())
            });
        }
        Ok(stack)
    }

    /// The stack its outputs describe (every name and URL `retell-ops` needs is an output of
    /// template.yaml, so an older stack is told to deploy the current template).
    pub fn from_cloudformation(
        name: &str,
        region: &str,
        outputs: &HashMap<String, String>,
        parameters: &HashMap<String, String>,
        alarms: Vec<String>,
    ) -> Result<Self, TargetError> {
        let output = |k: &str| {
            outputs
                .get(k)
                .filter(|v| !v.trim().is_empty())
                .cloned()
                .ok_or_else(|| TargetError::Stack {
                    name: name.to_owned(),
                    reason: format!("has no output {k} (deploy the current template.yaml)"),
                })
        };
        let mut queues = Vec::new();
        for (kind, main, dlq, _) in QUEUES {
            queues.push(QueuePair {
                kind,
                url: output(&format!("{main}Url"))?,
                dlq_url: output(&format!("{dlq}Url"))?,
                log_group: None,
            });
        }
        let base = output("FunctionsBaseUrl")?;
        Ok(Stack {
            label: format!("stack {name} ({region})"),
            local: false,
            webhook_url: output("WebhookUrl")?,
            inbound_url: output("InboundWebhookUrl")?,
            tool_url_template: format!(
                "{}/api/retell/functions/{{name}}",
                base.trim_end_matches('/')
            ),
            retell_base_url: DEFAULT_RETELL_BASE_URL.to_owned(),
            secret_id: output("WebhookKeysSecretArn")?,
            default_company_id: parameters
                .get("DefaultCompanyId")
                .cloned()
                .unwrap_or_else(|| "default".into()),
            default_time_zone: parameters
                .get("DefaultTimeZone")
                .cloned()
                .unwrap_or_else(|| DEFAULT_TIME_ZONE.into()),
            calls_table: output("CallsTableName")?,
            stats_table: output("CallStatsTableName")?,
            companies_table: output("CompaniesTableName")?,
            appointments_table: outputs.get("AppointmentsTableName").cloned(),
            audit_table: outputs.get("AuditTableName").cloned(),
            retention_days: parameters
                .get("RetentionDays")
                .and_then(|d| d.parse().ok())
                .unwrap_or(shared::booking::privacy_settings::DEFAULT_RETENTION_DAYS),
            bucket: output("EventsBucketName")?,
            queues,
            alarms,
            name: name.to_owned(),
            recording_hosts: parameters
                .get("RecordingHosts")
                .cloned()
                .unwrap_or_else(|| shared::platform::config::DEFAULT_RECORDING_HOSTS.into()),
            processing_switches: match outputs.get("ProcessingSwitches") {
                Some(text) => Some(shared::platform::processing::Switches::parse(text).map_err(
                    |e| TargetError::Stack {
                        name: name.to_owned(),
                        reason: format!("output ProcessingSwitches: {e}"),
                    },
                )?),
                None => None,
            },
            backup_retention_days: parameters
                .get("BackupRetentionDays")
                .and_then(|d| d.parse().ok())
                .unwrap_or(DEFAULT_BACKUP_RETENTION_DAYS),
            log_groups: outputs
                .get("LogGroups")
                .map(|pairs| {
                    pairs
                        .split(',')
                        .filter_map(|pair| pair.split_once('='))
                        .map(|(f, g)| (f.trim().to_owned(), g.trim().to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    pub async fn aws(&self) -> AwsClients {
        AwsClients::from_env(AwsBudget::BACKGROUND).await
    }

    /// The key ring in the stack's secret (the key(s) Retell signs with and we call Retell with).
    pub async fn key_ring(&self, aws: &AwsClients) -> Result<KeyRing, TargetError> {
        let secret = aws
            .secrets
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| {
                TargetError::NoKey(format!(
                    "{}: {}",
                    self.secret_id,
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                ))
            })?;
        let text = secret
            .secret_string()
            .ok_or_else(|| TargetError::NoKey(format!("{} has no string value", self.secret_id)))?;
        KeyRing::parse(text, &self.default_company_id)
            .map_err(|e| TargetError::NoKey(format!("{}: {e}", self.secret_id)))
    }

    /// The Retell API key: `RETELL_API_KEY`, else the default key of the stack's secret.
    pub async fn retell_key(
        &self,
        aws: &AwsClients,
    ) -> Result<(String, &'static str), TargetError> {
        if let Ok(key) = std::env::var("RETELL_API_KEY") {
            if !key.trim().is_empty() {
                return Ok((key.trim().to_owned(), "RETELL_API_KEY"));
            }
        }
        let ring = self.key_ring(aws).await?;
        let key = ring
            .tenants()
            .first()
            .map(|t| t.api_key().to_owned())
            .ok_or_else(|| TargetError::NoKey(self.secret_id.clone()))?;
        Ok((key, "the stack's secret"))
    }

    pub fn retell(&self, key: &str) -> Result<RetellClient, TargetError> {
        let base = std::env::var("RETELL_BASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| self.retell_base_url.clone());
        RetellClient::new(&base, key, Duration::from_secs(15))
            .map_err(|e| TargetError::Retell(e.to_string()))
    }
}

/// Each consumer's queue, its dead-letter queue and the function consuming it (logical ids).
const QUEUES: [(QueueKind, &str, &str, &str); 4] = [
    (
        QueueKind::Event(EventKind::CallStarted),
        "CallStartedQueue",
        "CallStartedDeadLetterQueue",
        "CallStartedFunction",
    ),
    (
        QueueKind::Event(EventKind::CallEnded),
        "CallEndedQueue",
        "CallEndedDeadLetterQueue",
        "CallEndedFunction",
    ),
    (
        QueueKind::Event(EventKind::CallAnalyzed),
        "CallAnalyzedQueue",
        "CallAnalyzedDeadLetterQueue",
        "CallAnalyzedFunction",
    ),
    (
        QueueKind::Messaging,
        "MessagingQueue",
        "MessagingDeadLetterQueue",
        "MessagingFunction",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> HashMap<String, String> {
        let mut o: HashMap<String, String> = [
            ("WebhookUrl", "https://api.example.com/api/retell/webhook"),
            (
                "InboundWebhookUrl",
                "https://api.example.com/api/retell/inbound",
            ),
            ("FunctionsBaseUrl", "https://api.example.com/"),
            (
                "WebhookKeysSecretArn",
                "arn:aws:secretsmanager:eu-central-1:1:secret:k",
            ),
            ("CallsTableName", "calls"),
            ("CallStatsTableName", "stats"),
            ("CompaniesTableName", "companies"),
            ("EventsBucketName", "events"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (_, main, dlq, _) in QUEUES {
            o.insert(format!("{main}Url"), format!("https://sqs/{main}"));
            o.insert(format!("{dlq}Url"), format!("https://sqs/{dlq}"));
        }
        o
    }

    #[test]
    fn a_deployed_stack_is_read_from_its_outputs() {
        let params = HashMap::from([("DefaultCompanyId".to_owned(), "askpro".to_owned())]);
        let stack = Stack::from_cloudformation(
            "prod",
            "eu-central-1",
            &outputs(),
            &params,
            vec!["prod-A-1".into()],
        )
        .expect("stack");
        assert_eq!(stack.label, "stack prod (eu-central-1)");
        assert_eq!(
            stack.tool_url("book_appointment"),
            "https://api.example.com/api/retell/functions/book_appointment"
        );
        assert_eq!(stack.default_company_id, "askpro");
        assert_eq!(stack.queues[1].kind, QueueKind::Event(EventKind::CallEnded));
        assert_eq!(
            stack.queues[1].dlq_url,
            "https://sqs/CallEndedDeadLetterQueue"
        );
        assert_eq!(stack.alarms, vec!["prod-A-1"]);
    }

    #[test]
    fn an_older_stack_is_told_to_deploy_the_current_template() {
        let mut o = outputs();
        o.remove("CallAnalyzedDeadLetterQueueUrl");
        let e = Stack::from_cloudformation("prod", "r", &o, &HashMap::new(), Vec::new())
            .expect_err("missing output");
        assert_eq!(
            e.to_string(),
            "stack prod: has no output CallAnalyzedDeadLetterQueueUrl (deploy the current template.yaml)"
        );
    }
}
