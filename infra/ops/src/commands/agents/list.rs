//! `agents list`: the account's agents and when each was last changed.

use chrono::DateTime;
use serde_json::json;

use crate::context::Context;
use crate::error::{err, CliResult, Outcome};

pub async fn run(ctx: &Context) -> CliResult {
    let agents = ctx.retell()?.list_agents().await.map_err(err)?;
    let rows: Vec<Vec<String>> = agents
        .iter()
        .map(|a| {
            vec![
                a.agent_id.clone(),
                a.agent_name.clone().unwrap_or_default(),
                a.user_modified_timestamp
                    .and_then(DateTime::from_timestamp_millis)
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    ctx.out
        .table(&["agent_id", "name", "modified (UTC)"], &rows);
    ctx.out.json_value(&json!({"ok": true, "agents": agents}));
    Ok(Outcome::Success)
}
