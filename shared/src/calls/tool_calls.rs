//! The tool calls of a call, read from Retell's `transcript_with_tool_calls`: each invocation
//! paired with its result. Used for the statistics (which calls booked) and the control center's
//! call page. Anything Retell or a caller put there is data: names, arguments and results are
//! kept as text and JSON values, never interpreted beyond what is named here.

use serde::Serialize;
use serde_json::Value;

use crate::calendar::is_appointment_id;

/// One tool call: the invocation and, if it came, its result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    pub tool_call_id: String,
    pub name: String,
    /// The arguments as the agent sent them (parsed when they are JSON, else the text).
    pub arguments: Value,
    /// The tool's answer (parsed when it is JSON, else the text); None: no answer recorded.
    pub result: Option<Value>,
    /// Retell's `successful` flag of the result, when it has one.
    pub successful: Option<bool>,
}

impl ToolCall {
    /// Every tool call of a `transcript_with_tool_calls` array, in order (anything else: none).
    pub fn parse_all(transcript_with_tool_calls: &Value) -> Vec<ToolCall> {
        let Some(entries) = transcript_with_tool_calls.as_array() else {
            return Vec::new();
        };
        let mut calls: Vec<ToolCall> = Vec::new();
        for entry in entries {
            let text = |k: &str| entry.get(k).and_then(Value::as_str);
            match text("role") {
                Some("tool_call_invocation") => {
                    let (Some(id), Some(name)) = (text("tool_call_id"), text("name")) else {
                        continue;
                    };
                    calls.push(ToolCall {
                        tool_call_id: id.to_owned(),
                        name: name.to_owned(),
                        arguments: json_or_text(entry.get("arguments")),
                        result: None,
                        successful: None,
                    });
                }
                Some("tool_call_result") => {
                    let Some(id) = text("tool_call_id") else {
                        continue;
                    };
                    if let Some(call) = calls
                        .iter_mut()
                        .rev()
                        .find(|c| c.tool_call_id == id && c.result.is_none())
                    {
                        call.result = Some(json_or_text(entry.get("content")));
                        call.successful = entry.get("successful").and_then(Value::as_bool);
                    }
                }
                _ => {}
            }
        }
        calls
    }

    /// Who a `book_appointment` call booked with: its answer's `staff` (a display name, at most
    /// 60 characters as `companies load` allows), when it booked.
    pub fn booked_staff(&self) -> Option<&str> {
        self.booked_appointment()?;
        self.result
            .as_ref()?
            .get("staff")?
            .as_str()
            .map(str::trim)
            .filter(|name| !name.is_empty() && name.chars().count() <= 60)
    }

    /// Who the caller asked for in a `check_availability` call: its answer's `staff_asked` (a
    /// display name, at most 60 characters).
    pub fn asked_staff(&self) -> Option<&str> {
        if self.name != "check_availability" {
            return None;
        }
        self.result
            .as_ref()?
            .get("staff_asked")?
            .as_str()
            .map(str::trim)
            .filter(|name| !name.is_empty() && name.chars().count() <= 60)
    }

    /// The appointment a `book_appointment` call booked (its answer said `success: true` with
    /// one of this service's appointment ids).
    pub fn booked_appointment(&self) -> Option<&str> {
        if self.name != "book_appointment" {
            return None;
        }
        let result = self.result.as_ref()?;
        if result.get("success").and_then(Value::as_bool) != Some(true) {
            return None;
        }
        result
            .get("appointment_id")
            .and_then(Value::as_str)
            .filter(|id| is_appointment_id(id))
    }
}

fn json_or_text(value: Option<&Value>) -> Value {
    match value {
        Some(Value::String(s)) => {
            serde_json::from_str(s).unwrap_or_else(|_| Value::from(s.as_str()))
        }
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invocations_are_paired_with_their_results() {
        let log = json!([
            {"role": "agent", "content": "Einen Moment"},
            {"role": "tool_call_invocation", "tool_call_id": "t1", "name": "check_availability",
             "arguments": "{\"date\":\"2026-12-01\"}"},
            {"role": "tool_call_result", "tool_call_id": "t1", "content": "{\"available\":true}", "successful": true},
            {"role": "tool_call_invocation", "tool_call_id": "t2", "name": "book_appointment", "arguments": "{}"},
            {"role": "tool_call_result", "tool_call_id": "t2",
             "content": "{\"success\":true,\"appointment_id\":\"apt_0123456789abcdef\"}"},
            {"role": "tool_call_invocation", "tool_call_id": "t3", "name": "book_appointment", "arguments": "not json"},
            {"role": "tool_call_result", "tool_call_id": "unknown", "content": "x"}
        ]);
        let calls = ToolCall::parse_all(&log);
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0].arguments, json!({"date": "2026-12-01"}));
        assert_eq!(calls[0].successful, Some(true));
        assert_eq!(calls[1].booked_appointment(), Some("apt_0123456789abcdef"));
        assert_eq!(calls[2].arguments, json!("not json"));
        assert_eq!(calls[2].result, None);
        assert_eq!(calls[2].booked_appointment(), None);
    }

    #[test]
    fn only_a_real_booking_of_ours_counts() {
        let booked = |content: Value| {
            let log = json!([
                {"role": "tool_call_invocation", "tool_call_id": "t", "name": "book_appointment", "arguments": "{}"},
                {"role": "tool_call_result", "tool_call_id": "t", "content": content.to_string()}
            ]);
            ToolCall::parse_all(&log)[0]
                .booked_appointment()
                .map(str::to_owned)
        };
        assert_eq!(
            booked(json!({"success": false, "appointment_id": "apt_0123456789abcdef"})),
            None
        );
        assert_eq!(
            booked(json!({"success": true, "appointment_id": "<script>"})),
            None
        );
        assert_eq!(
            booked(json!({"success": "true", "appointment_id": "apt_0123456789abcdef"})),
            None
        );
        assert_eq!(
            booked(json!({"success": true, "appointment_id": "apt_0123456789abcdef"})),
            Some("apt_0123456789abcdef".into())
        );
        assert!(ToolCall::parse_all(&json!({"not": "a list"})).is_empty());
    }
}
