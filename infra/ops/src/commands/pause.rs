//! `pause consumers|messaging|reconcile|all`: processing stops, nothing is lost: the webhook
//! keeps accepting and queueing, the queues keep every event until `resume`.

use std::time::Duration;

use serde_json::json;

use crate::context::Context;
use crate::error::CliResult;
use crate::switches::{rows, states_json, switch, PartArg, SwitchArgs};
use shared::platform::processing::Running;

pub type Args = SwitchArgs;

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let parts = PartArg::parts(&args.parts);
    let states = switch(ctx, &parts, false, Duration::from_secs(args.wait)).await?;
    let out = &ctx.out;
    out.table(&["part", "state", "switches"], &rows(&states));
    let ok = states.iter().all(|s| s.running == Running::Paused);
    if ok {
        out.line("Paused. Retell's webhooks are still accepted and queued; `retell-ops resume` processes them.");
    } else {
        out.line("Not every switch is off yet: run `retell-ops health` again in a minute.");
    }
    out.json_value(&json!({"ok": ok, "paused": states_json(&states)}));
    Ok(ok.into())
}
