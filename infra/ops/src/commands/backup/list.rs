//! `backup list`: the daily backups kept in the stack's bucket, with their tables' export state
//! and when each expires.

use serde_json::json;

use super::tables::backups;
use crate::context::Context;
use crate::error::{err, CliResult};

pub async fn run(ctx: &Context) -> CliResult {
    let store = backups(ctx, &ctx.stack.bucket);
    let manifests = store.list().await.map_err(err)?;
    let mut rows = Vec::new();
    let mut listed = Vec::new();
    for m in manifests.iter().rev() {
        let states = store.export_states(m).await;
        let state = if states.is_empty() {
            "unknown".to_owned()
        } else if states.values().all(|s| s == "COMPLETED") {
            "complete".to_owned()
        } else {
            states
                .iter()
                .filter(|(_, s)| *s != "COMPLETED")
                .map(|(r, s)| format!("{} {}", r.as_str(), s.to_lowercase()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        rows.push(vec![
            m.stamp.clone(),
            m.tables
                .keys()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            m.agents.len().to_string(),
            state.clone(),
            m.keep_until.format("%Y-%m-%d").to_string(),
        ]);
        listed.push(json!({"stamp": m.stamp, "place": m.place(), "tables": m.tables.keys().collect::<Vec<_>>(),
            "agents": m.agents.len(), "state": state, "keep_until": m.keep_until}));
    }
    if rows.is_empty() {
        ctx.out
            .line("no backups yet (`retell-ops backup tables` takes one now)");
    } else {
        ctx.out
            .table(&["stamp", "tables", "agents", "state", "kept until"], &rows);
    }
    ctx.out.json_value(&json!({"ok": true, "backups": listed}));
    Ok(true.into())
}
