//! How a call ended, by Retell's `disconnection_reason`: it ran its course, it never connected,
//! or it failed. The table is `disconnection_reasons.json` beside this file, the one list: the
//! statistics read it here, and `tests/e2e/test_sdk_contract.py` checks that it classifies every
//! value the pinned retell-sdk knows, so a new reason cannot slip through as a failure unnoticed.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndClass {
    /// It ran its course: a hang-up, a transfer, voicemail or an IVR reached, a limit reached.
    Completed,
    /// Nobody came on the line: busy, no answer, a failed dial or routing, a declined call.
    NotConnected,
    /// Retell, the account or the agent failed: errors, refusals, an unpaid or stopped call.
    Failed,
}

#[derive(Deserialize)]
struct Table {
    completed: Vec<String>,
    not_connected: Vec<String>,
    failed: Vec<String>,
    not_in_sdk: HashMap<String, EndClass>,
}

static CLASSES: LazyLock<HashMap<String, EndClass>> = LazyLock::new(|| {
    // The file is part of the source and tested below: it always parses.
    let table: Table =
        serde_json::from_str(include_str!("disconnection_reasons.json")).unwrap_or(Table {
            completed: Vec::new(),
            not_connected: Vec::new(),
            failed: Vec::new(),
            not_in_sdk: HashMap::new(),
        });
    let mut classes = table.not_in_sdk;
    for (list, class) in [
        (table.completed, EndClass::Completed),
        (table.not_connected, EndClass::NotConnected),
        (table.failed, EndClass::Failed),
    ] {
        classes.extend(list.into_iter().map(|reason| (reason, class)));
    }
    classes
});

/// The class of `reason`; `None` for a value the table does not know (counted as not
/// completed, and logged by the caller).
pub fn end_class(reason: &str) -> Option<EndClass> {
    CLASSES.get(reason).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_names_each_reason_once() {
        let table: Table =
            serde_json::from_str(include_str!("disconnection_reasons.json")).expect("parses");
        let mut all: Vec<&String> = table
            .completed
            .iter()
            .chain(&table.not_connected)
            .chain(&table.failed)
            .chain(table.not_in_sdk.keys())
            .collect();
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count, "a reason in two classes");
        assert!(count >= 39);
    }

    #[test]
    fn reasons_are_classed_as_calls_end() {
        for (reason, class) in [
            ("user_hangup", EndClass::Completed),
            ("transfer_bridged", EndClass::Completed),
            ("ivr_reached", EndClass::Completed),
            ("user_requested_callback", EndClass::Completed),
            ("dial_no_answer", EndClass::NotConnected),
            ("error_llm_websocket_open", EndClass::Failed),
            ("transfer_cancelled", EndClass::Failed),
            ("unknown_to_retell", EndClass::Failed),
        ] {
            assert_eq!(end_class(reason), Some(class), "{reason}");
        }
        assert_eq!(end_class("something_new"), None);
    }
}
