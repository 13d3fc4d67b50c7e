//! `sync`'s privacy report: the agents a company lists whose Retell storage disagrees with the
//! company's privacy settings (docs/privacy.md): Retell keeping calls longer than the company's
//! retention (or forever), or storing recordings for a company that records nothing.

use std::collections::BTreeMap;

use serde_json::Value;
use shared::booking::company::CompanySettings;
use shared::calls::retention::CallRetention;

/// What Retell keeps of one agent's calls (from its draft).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStorage {
    pub data_storage_setting: Option<String>,
    pub retention_days: Option<u64>,
}

impl AgentStorage {
    pub fn of(other: &serde_json::Map<String, Value>) -> Self {
        Self {
            data_storage_setting: other
                .get("data_storage_setting")
                .and_then(Value::as_str)
                .map(str::to_owned),
            retention_days: other
                .get("data_storage_retention_days")
                .and_then(Value::as_u64),
        }
    }
}

/// One line per disagreement: `<company>: agent <id> …`.
pub fn disagreements(
    companies: &[CompanySettings],
    agents: &BTreeMap<String, AgentStorage>,
    default_days: u16,
) -> Vec<String> {
    let mut lines = Vec::new();
    for company in companies {
        let retention = CallRetention::of_settings(company.privacy.as_ref(), default_days);
        for agent_id in &company.agent_ids {
            let Some(agent) = agents.get(agent_id) else {
                continue;
            };
            let company_id = &company.company_id;
            match agent.retention_days {
                None => lines.push(format!(
                    "{company_id}: agent {agent_id} has Retell keep its calls forever; set data_storage_retention_days: {} (the company's retention)",
                    retention.days
                )),
                Some(days) if days > u64::from(retention.days) => lines.push(format!(
                    "{company_id}: agent {agent_id} has Retell keep calls {days} days, the company {} (data_storage_retention_days)",
                    retention.days
                )),
                Some(_) => {}
            }
            let stores_recordings = agent
                .data_storage_setting
                .as_deref()
                .is_none_or(|s| s != "basic_attributes_only");
            if !retention.record_calls && stores_recordings {
                lines.push(format!(
                    "{company_id}: agent {agent_id} stores recordings at Retell (data_storage_setting {}), the company records nothing: set basic_attributes_only",
                    agent.data_storage_setting.as_deref().unwrap_or("everything")
                ));
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::booking::company::PrivacySettings;

    fn company(privacy: Option<PrivacySettings>) -> CompanySettings {
        let mut settings: CompanySettings =
            serde_json::from_str(include_str!("../../local/companies/demo.json")).expect("demo");
        settings.agent_ids = vec!["agent_a".into()];
        settings.privacy = privacy;
        settings
    }

    fn storage(setting: &str, days: Option<u64>) -> BTreeMap<String, AgentStorage> {
        BTreeMap::from([(
            "agent_a".to_owned(),
            AgentStorage {
                data_storage_setting: Some(setting.to_owned()),
                retention_days: days,
            },
        )])
    }

    #[test]
    fn agents_that_keep_more_than_the_company_are_reported() {
        let thirty = Some(PrivacySettings {
            retention_days: Some(30),
            ..PrivacySettings::default()
        });
        assert!(disagreements(&[company(None)], &storage("everything", Some(90)), 90).is_empty());
        assert!(disagreements(
            &[company(thirty.clone())],
            &storage("everything", Some(30)),
            90
        )
        .is_empty());
        let longer = disagreements(&[company(thirty)], &storage("everything", Some(90)), 90);
        assert_eq!(longer.len(), 1, "{longer:?}");
        assert!(longer[0].contains("90 days, the company 30"));
        let forever = disagreements(&[company(None)], &storage("everything", None), 90);
        assert!(forever[0].contains("forever"), "{forever:?}");
        let unrecorded = Some(PrivacySettings {
            record_calls: false,
            ..PrivacySettings::default()
        });
        let recorded = disagreements(
            &[company(unrecorded.clone())],
            &storage("everything", Some(90)),
            90,
        );
        assert!(
            recorded[0].contains("basic_attributes_only"),
            "{recorded:?}"
        );
        assert!(disagreements(
            &[company(unrecorded)],
            &storage("basic_attributes_only", Some(90)),
            90
        )
        .is_empty());
        // An agent the company does not list is not its business.
        let other = BTreeMap::from([(
            "agent_b".to_owned(),
            AgentStorage {
                data_storage_setting: None,
                retention_days: None,
            },
        )]);
        assert!(disagreements(&[company(None)], &other, 90).is_empty());
    }
}
