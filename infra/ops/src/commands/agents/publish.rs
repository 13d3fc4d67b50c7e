//! `agents publish`: publishes an agent's draft as a new version (nothing if it is already).

use serde_json::json;

use crate::context::Context;
use crate::error::{err, CliResult, Outcome};
use crate::output::Check;

#[derive(clap::Args)]
pub struct Args {
    agent_id: String,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let agent_id = args.agent_id;
    let retell = ctx.retell()?;
    let draft = retell.get_agent(&agent_id, None).await.map_err(err)?;
    if draft.is_published {
        ctx.out.check(&Check::ok(
            format!(
                "agent {agent_id} version {} is published already",
                draft.version
            ),
            None,
        ));
        ctx.out.json_value(
            &json!({"ok": true, "agent_id": agent_id, "published_version": draft.version}),
        );
        return Ok(Outcome::Success);
    }
    retell
        .publish_agent(&agent_id, draft.version)
        .await
        .map_err(err)?;
    ctx.out.check(&Check::ok(
        format!("published agent {agent_id}"),
        Some(format!("version {}", draft.version)),
    ));
    ctx.out
        .json_value(&json!({"ok": true, "agent_id": agent_id, "published_version": draft.version}));
    Ok(Outcome::Success)
}
