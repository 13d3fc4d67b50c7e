//! `test-connection`: the Retell key, a signed probe the webhook must accept, and that every
//! agent, LLM tool and number points at this stack (read by the one [`crate::account`] walk).

use std::convert::Infallible;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use shared::retell::api::mask_number;
use shared::retell::wiring::{self, Wiring};

use crate::account::{self, Found, Listing};
use crate::context::Context;
use crate::error::CliResult;
use crate::output::{Check, Status};
use crate::target::Stack;

pub async fn run(ctx: &Context) -> CliResult {
    let out = &ctx.out;
    let stack = &ctx.stack;
    let wired = stack.wiring();
    let mut checks = Vec::new();
    let report = |checks: &mut Vec<Check>, c: Check| {
        out.check(&c);
        checks.push(c);
    };
    // The account is walked only with a key Retell accepts.
    let valid_retell = match ctx.retell_and_key_source() {
        Ok((client, source)) => match client.list_agents_page(None, 1).await {
            Ok(_) => {
                report(
                    &mut checks,
                    Check::ok(
                        "Retell API key valid",
                        Some(format!("from {source}, {}", client.base_url())),
                    ),
                );
                Some(client)
            }
            Err(e) => {
                report(
                    &mut checks,
                    Check::failed("Retell API key valid", e.to_string()),
                );
                None
            }
        },
        Err(e) => {
            report(&mut checks, Check::failed("Retell API key", e));
            None
        }
    };
    report(&mut checks, probe_webhook(ctx).await);

    if let Some(retell) = valid_retell {
        // A read that failed is a failed check, and the walk goes on.
        let Ok(()) = account::walk(retell, |found| {
            for c in checks_of(found, &wired, stack) {
                report(&mut checks, c);
            }
            Ok::<(), Infallible>(())
        })
        .await;
    }
    let ok = checks.iter().all(|c| c.status != Status::Failed);
    out.json_value(&json!({"ok": ok, "stack": stack.label, "checks": checks}));
    if !ok && !out.json {
        out.line("\nSome checks failed: `retell-ops sync` points agents, tools and numbers at this stack.");
    }
    Ok(ok.into())
}

/// The checks of one thing the walk found.
fn checks_of(found: Found, wired: &Wiring, stack: &Stack) -> Vec<Check> {
    match found {
        Found::Unlisted { what, error } => {
            let listing = match what {
                Listing::Agents => "listing agents",
                Listing::Numbers => "listing phone numbers",
            };
            vec![Check::failed(listing, error)]
        }
        Found::Agent {
            summary,
            agent: Err(e),
        } => {
            let name = summary.agent_name.unwrap_or_default();
            vec![Check::failed(
                format!("agent {} ({name})", summary.agent_id),
                e,
            )]
        }
        Found::Agent {
            summary,
            agent: Ok(agent),
        } => {
            let name = summary.agent_name.unwrap_or_default();
            let url = agent.webhook_url.clone().unwrap_or_default();
            vec![Check::from_bool(
                format!("agent {} ({name}) webhook_url", agent.agent_id),
                wiring::webhook_points_here(wired, &agent),
                if url.is_empty() {
                    "not set".into()
                } else {
                    url
                },
            )]
        }
        Found::Llm {
            llm_id,
            llm: Err(e),
            ..
        } => vec![Check::failed(format!("LLM {llm_id}"), e)],
        Found::Llm {
            llm_id,
            llm: Ok(llm),
            ..
        } => {
            let mut checks = Vec::new();
            for tool in wiring::project_tools_of(wired, &llm).0 {
                let detail = if tool.drifted.is_empty() {
                    tool.url.clone()
                } else {
                    format!(
                        "{} (differs from code: {})",
                        tool.url,
                        tool.drifted.join(", ")
                    )
                };
                checks.push(Check::from_bool(
                    format!("LLM {llm_id} tool {}", tool.name),
                    tool.drifted.is_empty(),
                    detail,
                ));
            }
            for (name, url) in wiring::foreign_tools(wired, &llm) {
                checks.push(Check::unknown(
                    format!("LLM {llm_id} tool {name}"),
                    format!("not a tool of this project ({url})"),
                ));
            }
            checks
        }
        Found::SharedLlm { .. } => Vec::new(),
        Found::Number { number, routes } => {
            let url = number.inbound_webhook_url.clone().unwrap_or_default();
            let mut checks = vec![Check::from_bool(
                format!(
                    "number {} inbound_webhook_url",
                    mask_number(&number.phone_number)
                ),
                url == stack.inbound_url,
                if url.is_empty() {
                    "not set".into()
                } else {
                    url
                },
            )];
            match routes {
                Ok(routes) => {
                    for r in routes {
                        checks.push(match &r.problem {
                            Some(p) => Check::failed(r.label(), p.clone()),
                            None => Check::from_bool(
                                r.label(),
                                r.points_here(wired),
                                if r.points_here(wired) {
                                    "the version its calls get points at this stack".into()
                                } else {
                                    "the version its calls get does not point at this stack: `retell-ops sync --publish`".to_owned()
                                },
                            ),
                        });
                    }
                }
                Err(e) => checks.push(Check::failed(
                    format!(
                        "number {} agent versions",
                        mask_number(&number.phone_number)
                    ),
                    e,
                )),
            }
            checks
        }
    }
}

/// A signed request the webhook must accept and ignore (an event kind it does not store).
async fn probe_webhook(ctx: &Context) -> Check {
    let what = format!("webhook answers a signed probe ({})", ctx.stack.webhook_url);
    let key = match (ctx.retell(), ctx.retell_key()) {
        (_, Some(k)) => k.to_owned(),
        (Err(e), None) => return Check::failed(what, e),
        (Ok(_), None) => return Check::failed(what, "no Retell API key".to_owned()),
    };
    let now = Utc::now().timestamp_millis();
    let body = json!({"event": "retell_ops_probe", "call": {"call_id": format!("probe_{now}")}})
        .to_string();
    let signature = wire::signature::sign(body.as_bytes(), &key, now);
    let client = match shared::platform::http::client_builder()
        .timeout(Duration::from_secs(15))
        .build()
    {
        Ok(c) => c,
        Err(e) => return Check::failed(what, e.to_string()),
    };
    let answer = client
        .post(&ctx.stack.webhook_url)
        .header("content-type", "application/json")
        .header(shared::retell::auth::SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => {
            Check::ok(what, Some(format!("HTTP {}", r.status().as_u16())))
        }
        Ok(r) => {
            let status = r.status().as_u16();
            let text: String = r
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            let hint = if status == 401 {
                " (the stack's key is not the one this probe signed with)"
            } else {
                ""
            };
            Check::failed(what, format!("HTTP {status}{hint}: {text}"))
        }
        Err(e) => Check::failed(what, format!("no answer: {e}")),
    }
}
