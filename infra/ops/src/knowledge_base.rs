//! `sync`'s knowledge-base part: a company's FAQ (`faq` in its settings) becomes a Retell
//! knowledge base named after the company (`faq-<company_id>`), one text source per question,
//! attached to the LLM of every agent the company lists (`knowledge_base_ids`). A changed
//! question or answer replaces its source, a removed one's source is deleted, and a company
//! without FAQ has its knowledge base detached and deleted. Each company's account is reached
//! with the key its calls are signed with.
//!
//! A source's title carries a hash of its question and answer (`… #1a2b3c4d`): what is at
//! Retell is compared by title, without reading the texts back.

use std::collections::BTreeSet;

use serde_json::Value;
use shared::booking::company::CompanySettings;
use shared::booking::faq::FaqEntry;
use shared::retell::api::{KnowledgeBase, KnowledgeBaseSource, KnowledgeBaseText, RetellClient};

use crate::context::Context;
use crate::error::err;

/// Retell's limit on a knowledge base's name: under 40 characters.
const MAX_NAME_CHARS: usize = 39;

/// One company's knowledge base: what sync found and did.
pub struct Row {
    pub company_id: String,
    pub change: String,
    pub failed: bool,
}

/// FNV-1a, 64 bits: stable across builds (a source's title must be the same every run).
fn fnv64(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The company's knowledge base name: `faq-<company_id>`, a long id shortened with its hash.
pub fn kb_name(company_id: &str) -> String {
    let name = format!("faq-{company_id}");
    if name.chars().count() <= MAX_NAME_CHARS {
        return name;
    }
    let head: String = company_id.chars().take(MAX_NAME_CHARS - 4 - 9).collect();
    format!("faq-{head}-{:08x}", fnv64(&[company_id]) as u32)
}

/// The sources the FAQ should be: one per question, titled with its hash.
pub fn desired_texts(faq: &[FaqEntry], german: bool) -> Vec<KnowledgeBaseText> {
    let (q, a) = if german {
        ("Frage", "Antwort")
    } else {
        ("Question", "Answer")
    };
    faq.iter()
        .map(|e| {
            let short: String = e.question.chars().take(80).collect();
            KnowledgeBaseText {
                title: format!("{short} #{:08x}", fnv64(&[&e.question, &e.answer]) as u32),
                text: format!("{q}: {}\n{a}: {}", e.question, e.answer),
            }
        })
        .collect()
}

/// What to change at Retell to make `existing` sources the `desired` texts.
#[derive(Debug, Default, PartialEq)]
pub struct SourcePlan {
    /// Source ids to delete (their question changed or went, or a source sync did not make).
    pub delete: Vec<String>,
    pub add: Vec<KnowledgeBaseText>,
}

pub fn plan_sources(existing: &[KnowledgeBaseSource], desired: &[KnowledgeBaseText]) -> SourcePlan {
    let wanted: BTreeSet<&str> = desired.iter().map(|t| t.title.as_str()).collect();
    let mut have = BTreeSet::new();
    let mut plan = SourcePlan::default();
    for s in existing {
        match s.title.as_deref() {
            // A duplicate of a wanted text (an interrupted add) goes too.
            Some(t) if s.kind == "text" && wanted.contains(t) && have.insert(t.to_owned()) => {}
            _ => plan.delete.push(s.source_id.clone()),
        }
    }
    plan.add = desired
        .iter()
        .filter(|t| !have.contains(&t.title))
        .cloned()
        .collect();
    plan
}

/// The knowledge bases an LLM consults.
fn kb_ids(llm: &shared::retell::api::RetellLlm) -> Vec<String> {
    llm.other
        .get("knowledge_base_ids")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Every company's knowledge base brought in line with its FAQ. Returns a row per company that
/// has or had an FAQ, and the agents whose LLM changed (to publish with `--publish`).
pub async fn sync(
    ctx: &Context,
    dry_run: bool,
    publish: bool,
) -> Result<(Vec<Row>, Vec<(String, RetellClient)>), String> {
    let directory = shared::booking::directory::CompanyDirectory::new(
        ctx.aws.dynamodb.clone(),
        ctx.stack.companies_table.clone(),
        shared::booking::directory::COMPANY_CACHE_TTL,
    );
    let mut rows = Vec::new();
    let mut changed_agents = Vec::new();
    for id in ctx.companies(None).await? {
        let key = shared::booking::directory::CompanyKey::Id(id.clone());
        let Some(company) = directory.lookup(&key).await.map_err(err)? else {
            continue;
        };
        let retell = match ctx.retell_for_company(&id).await {
            Ok(r) => r,
            Err(e) => {
                rows.push(Row {
                    company_id: id.clone(),
                    change: format!("no Retell key: {e}"),
                    failed: true,
                });
                continue;
            }
        };
        match company_kb(
            &retell,
            &company.settings,
            company.is_german(),
            dry_run,
            publish,
        )
        .await
        {
            Ok(None) => {}
            Ok(Some((change, agents))) => {
                rows.push(Row {
                    company_id: id.clone(),
                    change,
                    failed: false,
                });
                changed_agents.extend(agents.into_iter().map(|a| (a, retell.clone())));
            }
            Err(e) => rows.push(Row {
                company_id: id.clone(),
                change: e,
                failed: true,
            }),
        }
    }
    Ok((rows, changed_agents))
}

/// One company: `None` when it has no FAQ and no knowledge base; else what changed and the
/// agents whose LLM now lists (or no longer lists) the knowledge base.
async fn company_kb(
    retell: &RetellClient,
    settings: &CompanySettings,
    german: bool,
    dry_run: bool,
    publish: bool,
) -> Result<Option<(String, Vec<String>)>, String> {
    let name = kb_name(&settings.company_id);
    let existing: Option<KnowledgeBase> = retell
        .list_knowledge_bases()
        .await
        .map_err(err)?
        .into_iter()
        .find(|kb| kb.knowledge_base_name == name);
    let desired = desired_texts(&settings.faq, german);
    if desired.is_empty() {
        let Some(kb) = existing else {
            return Ok(None);
        };
        // Detached first: no LLM may point at a deleted knowledge base, and Retell refuses to
        // delete one a published version still uses, so those are published before.
        let agents = attach(retell, settings, &kb.knowledge_base_id, false, dry_run).await?;
        if dry_run {
            return Ok(Some((
                format!("{name}: no FAQ any more, would be deleted"),
                agents,
            )));
        }
        if publish {
            for agent in &agents {
                crate::commands::sync::publish_draft(retell, agent).await?;
            }
        }
        return match retell.delete_knowledge_base(&kb.knowledge_base_id).await {
            Ok(()) => Ok(Some((
                format!("{name}: no FAQ any more, deleted {}", kb.knowledge_base_id),
                if publish { Vec::new() } else { agents },
            ))),
            Err(shared::retell::api::RetellApiError::Rejected { message, .. }) => Err(format!(
                "{name}: detached from the agents' drafts; a published version still uses it ({message}): run `sync --publish`, then it is deleted"
            )),
            Err(e) => Err(err(e)),
        };
    }
    let (kb_id, change) = match existing {
        None if dry_run => (
            None,
            format!(
                "{name}: would be created with {} question(s)",
                desired.len()
            ),
        ),
        None => {
            let kb = retell
                .create_knowledge_base(&name, &desired)
                .await
                .map_err(err)?;
            let change = format!(
                "{name}: created {} with {} question(s)",
                kb.knowledge_base_id,
                desired.len()
            );
            (Some(kb.knowledge_base_id), change)
        }
        Some(kb) => {
            let full = retell
                .get_knowledge_base(&kb.knowledge_base_id)
                .await
                .map_err(err)?;
            let sources = full.knowledge_base_sources.unwrap_or_default();
            let plan = plan_sources(&sources, &desired);
            if !dry_run {
                for source in &plan.delete {
                    retell
                        .delete_knowledge_base_source(&kb.knowledge_base_id, source)
                        .await
                        .map_err(err)?;
                }
                if !plan.add.is_empty() {
                    retell
                        .add_knowledge_base_texts(&kb.knowledge_base_id, &plan.add)
                        .await
                        .map_err(err)?;
                }
            }
            let change = if plan == SourcePlan::default() {
                format!("{name}: up to date ({} question(s))", desired.len())
            } else {
                format!(
                    "{name}: {} question(s) added, {} removed",
                    plan.add.len(),
                    plan.delete.len()
                )
            };
            (Some(kb.knowledge_base_id), change)
        }
    };
    let agents = match &kb_id {
        Some(id) => attach(retell, settings, id, true, dry_run).await?,
        None => Vec::new(),
    };
    let change = if agents.is_empty() {
        change
    } else {
        format!(
            "{change}; {} the LLM of {}",
            if dry_run {
                "would attach to"
            } else {
                "attached to"
            },
            agents.join(", ")
        )
    };
    Ok(Some((change, agents)))
}

/// Makes the LLM of each of the company's agents list (`on`) or not list the knowledge base;
/// the agents whose LLM changed.
async fn attach(
    retell: &RetellClient,
    settings: &CompanySettings,
    kb_id: &str,
    on: bool,
    dry_run: bool,
) -> Result<Vec<String>, String> {
    let mut changed = Vec::new();
    let mut done_llms = BTreeSet::new();
    for agent_id in &settings.agent_ids {
        let agent = match retell.get_agent(agent_id, None).await {
            Ok(a) => a,
            // An agent listed but gone at Retell is sync's other report; nothing to attach.
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(err(e)),
        };
        let Some(llm_id) = agent.llm_id().map(str::to_owned) else {
            continue;
        };
        if !done_llms.insert(llm_id.clone()) {
            continue;
        }
        let llm = retell.get_llm(&llm_id).await.map_err(err)?;
        let mut ids = kb_ids(&llm);
        let listed = ids.iter().any(|i| i == kb_id);
        if listed == on {
            continue;
        }
        if on {
            ids.push(kb_id.to_owned());
        } else {
            ids.retain(|i| i != kb_id);
        }
        if !dry_run {
            retell
                .set_llm_knowledge_bases(&llm_id, &ids)
                .await
                .map_err(err)?;
        }
        changed.push(agent_id.clone());
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(q: &str, a: &str) -> FaqEntry {
        FaqEntry {
            question: q.into(),
            answer: a.into(),
        }
    }

    fn source(id: &str, title: &str) -> KnowledgeBaseSource {
        serde_json::from_value(
            json!({"source_id": id, "type": "text", "title": title, "content_url": "x"}),
        )
        .expect("source")
    }

    #[test]
    fn names_fit_retells_limit() {
        assert_eq!(kb_name("demo"), "faq-demo");
        let long = kb_name(&"salon-".repeat(10));
        assert!(long.chars().count() < 40, "{long}");
        assert_ne!(long, kb_name(&"salon-".repeat(11)));
    }

    #[test]
    fn only_what_changed_is_replaced() {
        let faq = vec![
            entry("Wo parke ich?", "Im Hof."),
            entry("Karte?", "Ja, EC und Visa."),
        ];
        let texts = desired_texts(&faq, true);
        assert_eq!(texts[0].text, "Frage: Wo parke ich?\nAntwort: Im Hof.");
        assert!(texts[0].title.starts_with("Wo parke ich? #"));
        // Unchanged: nothing to do.
        let at_retell = vec![source("s1", &texts[0].title), source("s2", &texts[1].title)];
        assert_eq!(plan_sources(&at_retell, &texts), SourcePlan::default());
        // An answer changed, a question added, a stranger and a duplicate at Retell.
        let faq2 = vec![
            entry("Wo parke ich?", "Im Hof, Einfahrt links."),
            entry("Karte?", "Ja, EC und Visa."),
            entry("Barrierefrei?", "Ja."),
        ];
        let texts2 = desired_texts(&faq2, true);
        let at_retell = vec![
            source("s1", &texts[0].title),
            source("s2", &texts[1].title),
            source("s3", &texts[1].title),
            source("s4", "written by hand"),
        ];
        let plan = plan_sources(&at_retell, &texts2);
        assert_eq!(plan.delete, ["s1", "s3", "s4"]);
        let added: Vec<&str> = plan.add.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            added,
            [
                "Frage: Wo parke ich?\nAntwort: Im Hof, Einfahrt links.",
                "Frage: Barrierefrei?\nAntwort: Ja."
            ]
        );
    }
}
