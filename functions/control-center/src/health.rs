//! What an admin sees of the pipeline, on the overview page and in the status API: messages
//! waiting in the dead-letter queues and the reconcile job's last summary line.

use shared::retell::EventKind;

use crate::ControlCenter;

/// What an admin sees of the pipeline: messages waiting in the dead-letter queues, the
/// reconcile job's last summary line, and what `retell-ops pause` has stopped.
pub struct Health {
    pub dead_letters: Result<u64, String>,
    pub reconcile: Option<String>,
    /// The parts not running (None: this stack has no switches to read).
    pub paused: Option<Result<Vec<shared::platform::processing::Part>, String>>,
}

pub async fn system_health(app: &ControlCenter) -> Health {
    let mut total = 0u64;
    let mut error = None;
    for kind in EventKind::ALL {
        let Some(url) = app.config.dead_letter_urls.get(&kind) else {
            continue;
        };
        let answer: Result<serde_json::Value, _> = app
            .sqs
            .call(
                "GetQueueAttributes",
                &serde_json::json!({"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages"]}),
            )
            .await;
        match answer {
            Ok(out) => {
                total += out
                    .pointer("/Attributes/ApproximateNumberOfMessages")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
            }
            Err(e) => error = Some(e.to_string()),
        }
    }
    let reconcile = app.logbook.reconcile_status().await;
    let paused = match &app.processing {
        Some((switches, client)) => Some(
            client
                .states(switches)
                .await
                .map(|states| {
                    states
                        .into_iter()
                        .filter(|s| s.running != shared::platform::processing::Running::Running)
                        .map(|s| s.part)
                        .collect()
                })
                .map_err(|e| e.to_string()),
        ),
        None => None,
    };
    Health {
        paused,
        dead_letters: match error {
            Some(e) => Err(e),
            None => Ok(total),
        },
        reconcile,
    }
}
