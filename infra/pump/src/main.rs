//! `local-pump --stack .local/stack.json --lambda http://127.0.0.1:9000`: polls every queue the
//! template connects to a function and delivers batches to `cargo lambda watch`, and runs the
//! template's `rate(...)` schedules (`--no-schedules`: not).

use local_pump::{EventSource, HttpInvoker, Pump, Schedule};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize)]
struct StackDescription {
    region: String,
    event_sources: Vec<EventSource>,
    #[serde(default)]
    schedules: Vec<Schedule>,
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::platform::telemetry::init();
    let args: Vec<String> = std::env::args().collect();
    let stack_path = arg(&args, "--stack").ok_or(
        "usage: local-pump --stack FILE --lambda URL [--retry-after SECS] [--no-schedules]",
    )?;
    let lambda_url = arg(&args, "--lambda").unwrap_or_else(|| "http://127.0.0.1:9000".into());
    let retry_after: i32 = arg(&args, "--retry-after")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2);
    let stack: StackDescription = serde_json::from_slice(&std::fs::read(&stack_path)?)?;
    let aws =
        shared::platform::aws::AwsClients::from_env(shared::platform::aws::AwsBudget::BACKGROUND)
            .await;
    let switches = shared::platform::processing::ProcessingClient::from_sdk_config(&aws.sdk).ok();
    let mut tasks = Vec::new();
    // Schedules as EventBridge runs them: the first run one period after the start, a daily
    // cron at its time; none while the schedule's rule is disabled (`retell-ops pause`).
    // `--no-schedules`: none at all, for tests that run those jobs themselves.
    let schedules = if args.iter().any(|a| a == "--no-schedules") {
        Vec::new()
    } else {
        stack.schedules
    };
    for schedule in schedules {
        let invoker = HttpInvoker::new(lambda_url.clone());
        let region = stack.region.clone();
        let switches = switches.clone();
        if schedule.next_run(chrono::Utc::now()).is_none() {
            tracing::warn!(function = %schedule.function, expression = %schedule.expression, "not run locally");
            continue;
        }
        tracing::info!(function = %schedule.function, expression = %schedule.expression, "scheduling");
        tasks.push(tokio::spawn(async move {
            loop {
                let now = chrono::Utc::now();
                let Some(next) = schedule.next_run(now) else { break };
                tokio::time::sleep((next - now).to_std().unwrap_or(Duration::from_secs(1))).await;
                if let (Some(rule), Some(client)) = (&schedule.rule, &switches) {
                    match client.rule_enabled(rule).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::info!(function = %schedule.function, %rule, "rule disabled: not run");
                            continue;
                        }
                        Err(e) => tracing::warn!(%rule, error = %e, "rule state unknown; running"),
                    }
                }
                match invoker
                    .invoke_scheduled(&schedule.function, &region, chrono::Utc::now())
                    .await
                {
                    Ok(_) => tracing::info!(function = %schedule.function, "scheduled run done"),
                    Err(e) => tracing::warn!(function = %schedule.function, error = %e, "scheduled run failed"),
                }
            }
        }));
    }
    let pump = Arc::new(Pump::new(
        aws.sqs.client(),
        HttpInvoker::new(lambda_url),
        stack.region,
        retry_after,
    ));
    for source in stack.event_sources {
        let pump = pump.clone();
        let switches = switches.clone();
        tracing::info!(function = %source.function, queue = %source.queue_url, "pumping");
        tasks.push(tokio::spawn(async move {
            // Whether the source's event source mapping is enabled, asked of the emulator's
            // Lambda before each receive and again before delivering what it received.
            let enabled = || async {
                match (&source.mapping_uuid, &switches) {
                    (Some(uuid), Some(client)) => match client.mapping_enabled(uuid).await {
                        Ok(on) => on,
                        Err(e) => {
                            tracing::warn!(function = %source.function, error = %e, "mapping state unknown");
                            false
                        }
                    },
                    _ => true,
                }
            };
            let mut was_on = true;
            loop {
                let on = enabled().await;
                if on != was_on {
                    tracing::info!(function = %source.function, enabled = on, "event source mapping switched");
                    was_on = on;
                }
                if !on {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                match pump.poll_once_while(&source, 1, enabled).await {
                    Ok(o) if o.received > 0 || o.released > 0 => tracing::info!(
                        function = %source.function, received = o.received,
                        succeeded = o.succeeded, failed = o.failed, released = o.released,
                        "batch delivered"
                    ),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(function = %source.function, error = %e, "poll failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    Ok(())
}
