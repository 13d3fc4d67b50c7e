//! `sync`: points every agent's webhook, every number's inbound webhook and the LLMs' tools at
//! this stack, planned from one [`crate::account`] walk; `--publish` also moves pinned numbers.
//! Companies on Cal.com get their booking webhook ([`crate::calcom_webhooks`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use shared::retell::api::{mask_number, LlmSettings, PhoneNumberUpdate, RetellClient};
use shared::retell::wiring::{self, Wiring};

use crate::account::{self, Found};
use crate::context::Context;
use crate::error::{err, CliResult};
use crate::output::Check;
use crate::privacy_check::AgentStorage;
use crate::target::Stack;

#[derive(clap::Args)]
pub struct Args {
    /// Print the plan, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Publish every agent changed (or whose pinned version does not point here) as a new
    /// version, and move numbers pinned to an older version onto it.
    #[arg(long)]
    publish: bool,
}

/// What `sync` changes, found in one walk of the account.
#[derive(Default)]
struct Plan {
    /// (what, id, field, change): a row of the table and of the JSON.
    rows: Vec<(String, String, String, String)>,
    agent_updates: Vec<String>,
    llm_updates: BTreeMap<String, Vec<Value>>,
    number_updates: Vec<String>,
    /// Agents to publish (`--publish`), and the numbers pinned to an old version of each.
    to_publish: BTreeSet<String>,
    pinned: Vec<wiring::PinnedRoute>,
    /// What sync cannot point here (a tag, or a pinned version without `--publish`).
    unresolved: Vec<String>,
}

impl Plan {
    /// Adds what `found` needs changed. A read that failed is the error sync stops with.
    fn add(
        &mut self,
        found: Found,
        stack: &Stack,
        wired: &Wiring,
        publish: bool,
    ) -> Result<(), String> {
        match found {
            Found::Unlisted { error, .. } => return Err(error),
            Found::Agent { agent, .. } => {
                let agent = agent?;
                if !wiring::webhook_points_here(wired, &agent) {
                    self.rows.push((
                        "agent".into(),
                        agent.agent_id.clone(),
                        "webhook_url".into(),
                        format!(
                            "{} → {}",
                            agent.webhook_url.as_deref().unwrap_or("(not set)"),
                            stack.webhook_url
                        ),
                    ));
                    self.agent_updates.push(agent.agent_id.clone());
                    self.to_publish.insert(agent.agent_id.clone());
                }
            }
            Found::SharedLlm { agent_id, llm_id } => {
                if self.llm_updates.contains_key(&llm_id) {
                    self.to_publish.insert(agent_id);
                }
            }
            Found::Llm {
                agent_id,
                llm_id,
                llm,
            } => {
                let llm = llm?;
                let (states, fixed) = wiring::project_tools_of(wired, &llm);
                for tool in states.iter().filter(|t| !t.drifted.is_empty()) {
                    self.rows.push((
                        "LLM tool".into(),
                        format!("{llm_id}/{}", tool.name),
                        tool.drifted.join(", "),
                        if tool.drifted.contains(&"url") {
                            format!("url → {}", stack.tool_url(&tool.name))
                        } else {
                            "from code".into()
                        },
                    ));
                }
                if let Some(tools) = fixed {
                    self.llm_updates.insert(llm_id, tools);
                    self.to_publish.insert(agent_id);
                }
            }
            Found::Number { number, routes } => {
                if number.inbound_webhook_url.as_deref() != Some(stack.inbound_url.as_str()) {
                    self.rows.push((
                        "number".into(),
                        mask_number(&number.phone_number),
                        "inbound_webhook_url".into(),
                        format!(
                            "{} → {}",
                            number.inbound_webhook_url.as_deref().unwrap_or("(not set)"),
                            stack.inbound_url
                        ),
                    ));
                    self.number_updates.push(number.phone_number.clone());
                }
                for route in routes? {
                    self.add_route(route, wired, publish);
                }
            }
        }
        Ok(())
    }

    /// A version a number pins: fine if it points here, else published anew (`--publish`) or
    /// left unresolved.
    fn add_route(&mut self, route: wiring::PinnedRoute, wired: &Wiring, publish: bool) {
        if route.problem.is_none() && route.points_here(wired) {
            return;
        }
        let label = route.label();
        if let Some(problem) = &route.problem {
            self.unresolved.push(format!("{label}: {problem}"));
            self.rows.push((
                "number".into(),
                label,
                "agent version".into(),
                problem.clone(),
            ));
            return;
        }
        if publish {
            self.rows.push((
                "number".into(),
                label,
                "agent version".into(),
                "→ a newly published version that points at this stack".into(),
            ));
            self.to_publish.insert(route.route.agent_id.clone());
            self.pinned.push(route);
        } else {
            self.rows.push((
                "number".into(),
                label.clone(),
                "agent version".into(),
                "the published version its calls get does not point at this stack: run `sync --publish`".into(),
            ));
            self.unresolved
                .push(format!("{label}: needs `sync --publish`"));
        }
    }
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let Args { dry_run, publish } = args;
    let retell = ctx.retell()?;
    let stack = &ctx.stack;
    let wired = stack.wiring();
    let out = &ctx.out;
    let mut plan = Plan::default();
    let mut storage = BTreeMap::new();
    let bar = out.progress(None, "reading agents");
    account::walk(retell, |found| {
        if let Found::Agent {
            agent: Ok(agent), ..
        } = &found
        {
            storage.insert(agent.agent_id.clone(), AgentStorage::of(&agent.other));
        }
        if matches!(found, Found::Agent { .. }) {
            bar.inc(1);
        }
        plan.add(found, stack, &wired, publish)
    })
    .await?;
    if !publish {
        plan.to_publish.clear();
    }
    bar.finish_and_clear();
    let Plan {
        rows: changes,
        agent_updates,
        llm_updates,
        number_updates,
        to_publish,
        pinned,
        unresolved,
    } = plan;
    let rows: Vec<Vec<String>> = changes
        .iter()
        .map(|(a, b, c, d)| vec![a.clone(), b.clone(), c.clone(), d.clone()])
        .collect();
    if changes.is_empty() {
        out.line("Everything already points at this stack: nothing to change.");
    } else {
        out.line(&format!(
            "{} change(s){}:",
            changes.len(),
            if dry_run {
                " (dry run, nothing changed)"
            } else {
                ""
            }
        ));
        out.table(&["what", "id", "field", "change"], &rows);
    }
    let mut failures = Vec::new();
    let mut published: BTreeMap<String, u64> = BTreeMap::new();
    if !dry_run {
        let total =
            (agent_updates.len() + llm_updates.len() + number_updates.len() + to_publish.len())
                as u64;
        let bar = out.progress(Some(total), "applying");
        for agent_id in &agent_updates {
            let update = shared::retell::api::AgentSettings {
                webhook_url: Some(stack.webhook_url.clone()),
                ..Default::default()
            };
            if let Err(e) = retell.update_agent(agent_id, &update).await {
                failures.push(format!("agent {agent_id}: {e}"));
            }
            bar.inc(1);
        }
        for (llm_id, tools) in &llm_updates {
            let update = LlmSettings {
                general_tools: Some(tools.clone()),
                ..Default::default()
            };
            if let Err(e) = retell.update_llm(llm_id, &update).await {
                failures.push(format!("LLM {llm_id}: {e}"));
            }
            bar.inc(1);
        }
        for number in &number_updates {
            let update = PhoneNumberUpdate {
                inbound_webhook_url: Some(stack.inbound_url.clone()),
                ..Default::default()
            };
            if let Err(e) = retell.update_phone_number(number, &update).await {
                failures.push(format!("number {}: {e}", mask_number(number)));
            }
            bar.inc(1);
        }
        // Only once the drafts point here: publishing makes them what pinned numbers get.
        if failures.is_empty() {
            for agent_id in &to_publish {
                match publish_draft(retell, agent_id).await {
                    Ok(version) => {
                        published.insert(agent_id.clone(), version);
                    }
                    Err(e) => failures.push(format!("publishing agent {agent_id}: {e}")),
                }
                bar.inc(1);
            }
            if let Err(e) = repin(retell, &pinned, &published).await {
                failures.push(e);
            }
        }
        bar.finish_and_clear();
        for f in &failures {
            out.check(&Check::failed("sync", f.clone()));
        }
        for (agent_id, version) in &published {
            out.check(&Check::ok(
                format!("published agent {agent_id}"),
                Some(format!("version {version}")),
            ));
        }
        if failures.is_empty() && !changes.is_empty() {
            out.check(&Check::ok(
                format!("{} change(s) applied", changes.len() - unresolved.len()),
                None,
            ));
        }
    }
    for u in &unresolved {
        out.check(&Check::failed("not pointed at this stack", u.clone()));
    }
    // Cal.com companies: their booking webhooks point here, signed with their own secret.
    let calcom = crate::calcom_webhooks::sync(ctx, dry_run).await?;
    for row in &calcom {
        let what = format!("Cal.com webhook of {}", row.company_id);
        if row.failed {
            failures.push(format!("{what}: {}", row.change));
            out.check(&Check::failed(what, row.change.clone()));
        } else {
            out.check(&Check::ok(
                what,
                Some(format!("{} ({})", row.change, row.url)),
            ));
        }
    }
    // FAQ → each company's knowledge base, attached to its agents' LLMs (published with
    // `--publish` where that is the draft's only change).
    let knowledge = crate::knowledge_base::sync(ctx, dry_run, publish).await?;
    for row in &knowledge {
        let what = format!("knowledge base of {}", row.company_id);
        if row.failed {
            failures.push(format!("{what}: {}", row.change));
            out.check(&Check::failed(what, row.change.clone()));
        } else {
            out.check(&Check::ok(what, Some(row.change.clone())));
        }
    }
    // Reported, not changed: what Retell keeps is the company's decision, made in its agent file.
    let privacy = privacy_report(ctx, &storage).await?;
    for line in &privacy {
        out.check(&Check::failed("privacy", line.clone()));
    }
    let ok = failures.is_empty() && unresolved.is_empty();
    out.json_value(&json!({
        "privacy": privacy,
        "ok": ok,
        "dry_run": dry_run,
        "stack": stack.label,
        "changes": changes.iter().map(|(a, b, c, d)| json!({"what": a, "id": b, "field": c, "change": d})).collect::<Vec<_>>(),
        "published": published,
        "unresolved": unresolved,
        "failures": failures,
        "knowledge_bases": knowledge.iter().map(|r| json!({"company_id": r.company_id, "change": r.change, "ok": !r.failed})).collect::<Vec<_>>(),
        "calcom_webhooks": calcom.iter().map(|r| json!({"company_id": r.company_id, "url": r.url, "change": r.change, "ok": !r.failed})).collect::<Vec<_>>(),
    }));
    Ok(ok.into())
}

/// The agents whose Retell storage disagrees with their company's privacy settings.
async fn privacy_report(
    ctx: &Context,
    storage: &BTreeMap<String, AgentStorage>,
) -> Result<Vec<String>, String> {
    let directory = shared::booking::directory::CompanyDirectory::new(
        ctx.aws.dynamodb.clone(),
        ctx.stack.companies_table.clone(),
        shared::booking::directory::COMPANY_CACHE_TTL,
    );
    let mut companies = Vec::new();
    for id in ctx.companies(None).await? {
        let key = shared::booking::directory::CompanyKey::Id(id);
        if let Some(company) = directory.lookup(&key).await.map_err(|e| e.to_string())? {
            companies.push(company.settings.clone());
        }
    }
    Ok(crate::privacy_check::disagreements(
        &companies,
        storage,
        ctx.stack.retention_days,
    ))
}

/// Publishes an agent's draft; the version now published (the draft's, or the latest
/// published one when the draft is published already).
async fn publish_draft(retell: &RetellClient, agent_id: &str) -> Result<u64, String> {
    let draft = retell.get_agent(agent_id, None).await.map_err(err)?;
    if !draft.is_published {
        retell
            .publish_agent(agent_id, draft.version)
            .await
            .map_err(err)?;
    }
    Ok(draft.version)
}

/// Moves numbers pinned to a version number onto the version just published
/// (`latest_published` follows by itself).
async fn repin(
    retell: &RetellClient,
    pinned: &[wiring::PinnedRoute],
    published: &BTreeMap<String, u64>,
) -> Result<(), String> {
    let mut numbers: BTreeSet<&str> = BTreeSet::new();
    for p in pinned {
        if matches!(
            p.route.version_ref(),
            shared::retell::api::VersionRef::Number(_)
        ) {
            numbers.insert(&p.number);
        }
    }
    if numbers.is_empty() {
        return Ok(());
    }
    let all = retell.list_phone_numbers().await.map_err(err)?;
    for number in all
        .iter()
        .filter(|n| numbers.contains(n.phone_number.as_str()))
    {
        let mut routes = number.inbound_agents.clone().unwrap_or_default();
        for r in routes.iter_mut() {
            let pinned_here = pinned.iter().any(|p| {
                p.number == number.phone_number
                    && p.route.agent_id == r.agent_id
                    && p.route.agent_version == r.agent_version
            });
            if let (true, Some(v)) = (pinned_here, published.get(&r.agent_id)) {
                r.agent_version = Some(json!(v));
            }
        }
        let update = PhoneNumberUpdate {
            inbound_agents: Some(routes),
            ..Default::default()
        };
        retell
            .update_phone_number(&number.phone_number, &update)
            .await
            .map_err(|e| format!("number {}: {e}", mask_number(&number.phone_number)))?;
    }
    Ok(())
}
