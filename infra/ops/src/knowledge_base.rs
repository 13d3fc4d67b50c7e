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

/// Every company's knowledge base brought in line with its FAQ; with `publish`, each agent
/// whose draft differs from its published version in the knowledge base alone is published.
/// A row per company that has or had an FAQ (and one per `faq-*` knowledge base no company of
/// this stack names, reported, not touched: another stack may share the account).
pub async fn sync(ctx: &Context, dry_run: bool, publish: bool) -> Result<Vec<Row>, String> {
    let directory = shared::booking::directory::CompanyDirectory::new(
        ctx.aws.dynamodb.clone(),
        ctx.stack.companies_table.clone(),
        shared::booking::directory::COMPANY_CACHE_TTL,
    );
    let mut rows = Vec::new();
    let mut names = BTreeSet::new();
    for id in ctx.companies(None).await? {
        let key = shared::booking::directory::CompanyKey::Id(id.clone());
        let Some(company) = directory.lookup(&key).await.map_err(err)? else {
            continue;
        };
        names.insert(kb_name(&id));
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
        let run = CompanyRun {
            retell: &retell,
            settings: &company.settings,
            german: company.is_german(),
            dry_run,
            publish,
        };
        match run.sync().await {
            Ok(None) => {}
            Ok(Some(change)) => rows.push(Row {
                company_id: id.clone(),
                change,
                failed: false,
            }),
            Err(e) => rows.push(Row {
                company_id: id.clone(),
                change: e,
                failed: true,
            }),
        }
    }
    if let Ok(retell) = ctx.retell() {
        if let Ok(all) = retell.list_knowledge_bases().await {
            for kb in all.iter().filter(|kb| {
                kb.knowledge_base_name.starts_with("faq-")
                    && !names.contains(&kb.knowledge_base_name)
            }) {
                rows.push(Row {
                    company_id: "-".into(),
                    change: format!(
                        "{} ({}) belongs to no company of this stack: delete it if no other stack uses it",
                        kb.knowledge_base_name, kb.knowledge_base_id
                    ),
                    failed: false,
                });
            }
        }
    }
    Ok(rows)
}

/// One company's knowledge-base sync.
struct CompanyRun<'a> {
    retell: &'a RetellClient,
    settings: &'a CompanySettings,
    german: bool,
    dry_run: bool,
    publish: bool,
}

impl CompanyRun<'_> {
    /// `None` when the company has no FAQ and no knowledge base; else what changed.
    async fn sync(&self) -> Result<Option<String>, String> {
        let retell = self.retell;
        let name = kb_name(&self.settings.company_id);
        let all = retell.list_knowledge_bases().await.map_err(err)?;
        // Other companies' FAQ knowledge bases: an agent that moved here must not keep one.
        let foreign: BTreeSet<String> = all
            .iter()
            .filter(|kb| {
                kb.knowledge_base_name.starts_with("faq-") && kb.knowledge_base_name != name
            })
            .map(|kb| kb.knowledge_base_id.clone())
            .collect();
        let existing: Option<&KnowledgeBase> = all.iter().find(|kb| kb.knowledge_base_name == name);
        let desired = desired_texts(&self.settings.faq, self.german);
        if desired.is_empty() {
            let Some(kb) = existing else {
                return Ok(None);
            };
            return self
                .remove(&name, &kb.knowledge_base_id, &foreign)
                .await
                .map(Some);
        }
        let (kb_id, change) = match existing {
            None if self.dry_run => (
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
                let change = self.update(&name, &kb.knowledge_base_id, &desired).await?;
                (Some(kb.knowledge_base_id.clone()), change)
            }
        };
        let Some(kb_id) = kb_id else {
            return Ok(Some(change));
        };
        let attached = self.attach(Some(&kb_id), &foreign).await?;
        let published = self.publish_knowledge_changes().await?;
        Ok(Some(with_agents(
            change,
            &attached,
            &published,
            self.dry_run,
        )))
    }

    /// The sources brought in line: new texts added before the replaced ones are deleted, so a
    /// failed add loses no question. A knowledge base still indexing (or failed) is reported,
    /// not planned against (its source list may be incomplete).
    async fn update(
        &self,
        name: &str,
        kb_id: &str,
        desired: &[KnowledgeBaseText],
    ) -> Result<String, String> {
        let full = self.retell.get_knowledge_base(kb_id).await.map_err(err)?;
        match full.status.as_deref() {
            None | Some("complete") => {}
            Some(other) => {
                return Err(format!(
                    "{name}: Retell says {other:?} (still indexing, or failed): nothing changed; sync again later"
                ))
            }
        }
        let sources = full.knowledge_base_sources.unwrap_or_default();
        let plan = plan_sources(&sources, desired);
        if plan == SourcePlan::default() {
            return Ok(format!(
                "{name}: up to date ({} question(s))",
                desired.len()
            ));
        }
        if !self.dry_run {
            if !plan.add.is_empty() {
                self.retell
                    .add_knowledge_base_texts(kb_id, &plan.add)
                    .await
                    .map_err(err)?;
            }
            for source in &plan.delete {
                self.retell
                    .delete_knowledge_base_source(kb_id, source)
                    .await
                    .map_err(err)?;
            }
        }
        Ok(format!(
            "{name}: {} question(s) {}added, {} removed",
            plan.add.len(),
            if self.dry_run { "would be " } else { "" },
            plan.delete.len()
        ))
    }

    /// No FAQ any more: detached from the drafts, published (`--publish`), then deleted; Retell
    /// refuses to delete one a published version still uses.
    async fn remove(
        &self,
        name: &str,
        kb_id: &str,
        foreign: &BTreeSet<String>,
    ) -> Result<String, String> {
        let detached = self.attach(None, &foreign_and(foreign, kb_id)).await?;
        let published = self.publish_knowledge_changes().await?;
        let change = with_agents(
            format!("{name}: no FAQ any more"),
            &detached,
            &published,
            self.dry_run,
        );
        if self.dry_run {
            return Ok(format!("{change}; would be deleted"));
        }
        match self.retell.delete_knowledge_base(kb_id).await {
            Ok(()) => Ok(format!("{change}; deleted {kb_id}")),
            Err(shared::retell::api::RetellApiError::Rejected { message, .. }) => Err(format!(
                "{change}; a published agent version still uses it ({message}): run `sync --publish` (or publish in the control center), then it is deleted"
            )),
            Err(e) => Err(err(e)),
        }
    }

    /// Makes the draft LLM of each of the company's agents list `kb` (or none of ours) and none
    /// of `foreign`; the agents whose draft changed.
    async fn attach(
        &self,
        kb: Option<&str>,
        foreign: &BTreeSet<String>,
    ) -> Result<Vec<String>, String> {
        let mut changed = Vec::new();
        let mut done_llms = BTreeSet::new();
        for agent_id in &self.settings.agent_ids {
            let Some((_, llm_id, llm)) = self.draft_llm(agent_id).await? else {
                continue;
            };
            if !done_llms.insert(llm_id.clone()) {
                continue;
            }
            let before = kb_ids(&llm);
            let mut after: Vec<String> = before
                .iter()
                .filter(|i| !foreign.contains(*i))
                .cloned()
                .collect();
            if let Some(kb) = kb {
                if !after.iter().any(|i| i == kb) {
                    after.push(kb.to_owned());
                }
            }
            if after == before {
                continue;
            }
            if !self.dry_run {
                self.retell
                    .set_llm_knowledge_bases(&llm_id, &after)
                    .await
                    .map_err(err)?;
            }
            changed.push(agent_id.clone());
        }
        Ok(changed)
    }

    /// The agent's draft, its LLM id and that LLM's latest version; `None` for an agent gone at
    /// Retell (sync's other report) or one not answering with a Retell LLM.
    async fn draft_llm(
        &self,
        agent_id: &str,
    ) -> Result<
        Option<(
            shared::retell::api::Agent,
            String,
            shared::retell::api::RetellLlm,
        )>,
        String,
    > {
        let agent = match self.retell.get_agent(agent_id, None).await {
            Ok(a) => a,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(err(e)),
        };
        let Some(llm_id) = agent.llm_id().map(str::to_owned) else {
            return Ok(None);
        };
        let llm = self.retell.get_llm(&llm_id).await.map_err(err)?;
        Ok(Some((agent, llm_id, llm)))
    }

    /// With `--publish`: each of the company's agents whose draft differs from its published
    /// version in the knowledge bases alone is published (calls then get the FAQ); a draft with
    /// other unpublished edits is left for whoever made them to review and publish. Also catches
    /// a draft an earlier sync without `--publish` changed.
    async fn publish_knowledge_changes(&self) -> Result<Vec<String>, String> {
        let mut lines = Vec::new();
        if !self.publish || self.dry_run {
            return Ok(lines);
        }
        for agent_id in &self.settings.agent_ids {
            let Some((draft, llm_id, draft_llm)) = self.draft_llm(agent_id).await? else {
                continue;
            };
            if draft.is_published {
                continue;
            }
            let versions = self
                .retell
                .list_agent_versions(agent_id)
                .await
                .map_err(err)?;
            let Some(published) = versions.iter().find(|v| v.is_published) else {
                lines.push(format!(
                    "{agent_id}: never published (publish it in the control center)"
                ));
                continue;
            };
            let live = self
                .retell
                .get_agent(agent_id, Some(published.version))
                .await
                .map_err(err)?;
            if live.llm_id() != Some(llm_id.as_str()) {
                lines.push(format!(
                    "{agent_id}: has unpublished edits (publish them in the control center)"
                ));
                continue;
            }
            let live_llm = self
                .retell
                .get_llm_version(&llm_id, live.response_engine.version)
                .await
                .map_err(err)?;
            if kb_ids(&live_llm) == kb_ids(&draft_llm) {
                continue;
            }
            let same_otherwise = draft.settings().ok() == live.settings().ok()
                && draft_llm.settings().ok() == live_llm.settings().ok();
            if !same_otherwise {
                lines.push(format!(
                    "{agent_id}: has unpublished edits besides the knowledge base (publish them in the control center)"
                ));
                continue;
            }
            self.retell
                .publish_agent(agent_id, draft.version)
                .await
                .map_err(err)?;
            lines.push(format!("{agent_id}: published version {}", draft.version));
        }
        Ok(lines)
    }
}

fn foreign_and(foreign: &BTreeSet<String>, kb_id: &str) -> BTreeSet<String> {
    let mut all = foreign.clone();
    all.insert(kb_id.to_owned());
    all
}

fn with_agents(change: String, changed: &[String], published: &[String], dry_run: bool) -> String {
    let mut out = change;
    if !changed.is_empty() {
        out.push_str(&format!(
            "; {} the LLM of {}",
            if dry_run { "would change" } else { "changed" },
            changed.join(", ")
        ));
    }
    if !published.is_empty() {
        out.push_str(&format!("; {}", published.join("; ")));
    }
    out
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
