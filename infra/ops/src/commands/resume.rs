//! `resume consumers|messaging|reconcile|all`: what `pause` stopped runs again and drains what
//! queued meanwhile.

use std::time::Duration;

use serde_json::json;

use crate::context::Context;
use crate::error::CliResult;
use crate::switches::{rows, states_json, switch, PartArg, SwitchArgs};
use shared::calls::dead_letters::QueueKind;
use shared::platform::processing::{Part, Running};

pub type Args = SwitchArgs;

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let parts = PartArg::parts(&args.parts);
    let states = switch(ctx, &parts, true, Duration::from_secs(args.wait)).await?;
    let out = &ctx.out;
    out.table(&["part", "state", "switches"], &rows(&states));
    // What waits in the resumed parts' queues is processed now.
    let mut waiting = 0;
    for pair in &ctx.stack.queues {
        let resumed = match pair.kind {
            QueueKind::Messaging => parts.contains(&Part::Messaging),
            QueueKind::Event(_) => parts.contains(&Part::Consumers),
        };
        if resumed {
            if let Ok((visible, in_flight)) = ctx.queue_depth(&pair.url).await {
                waiting += visible + in_flight;
            }
        }
    }
    let ok = states.iter().all(|s| s.running == Running::Running);
    if ok {
        out.line(&format!(
            "Running. {waiting} queued event(s) are being processed."
        ));
    } else {
        out.line("Not every switch is on yet: run `retell-ops health` again in a minute.");
    }
    out.json_value(&json!({"ok": ok, "resumed": states_json(&states), "queued": waiting}));
    Ok(ok.into())
}
