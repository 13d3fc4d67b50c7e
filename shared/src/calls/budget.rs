//! Keeping a call's item under DynamoDB's size limit: word-level transcripts go first, then
//! transcript text is cut, then the largest remaining fields; everything dropped stays in the
//! archived raw payloads. Pure logic, no I/O.

use serde_json::Value;

use crate::calls::record::CallRecord;

/// Word-level transcripts: kept in the item while it fits, always kept in the raw payload.
pub const HEAVY_FIELDS: &[&str] = &[
    "transcript_object",
    "transcript_with_tool_calls",
    "scrubbed_transcript_object",
    "scrubbed_transcript_with_tool_calls",
    "llm_token_usage",
];

/// DynamoDB's hard item limit is 400 KB; leave room for attribute overhead we do not count.
pub const ITEM_BUDGET_BYTES: usize = 350_000;

impl CallRecord {
    /// Approximate stored size: attribute names plus JSON-encoded values (an over-estimate of
    /// DynamoDB's accounting, which is what a budget wants).
    pub fn approximate_size(&self) -> usize {
        let fields: usize = self.fields.iter().map(|(k, v)| k.len() + json_len(v)).sum();
        let ranks = self.field_rank.keys().map(|k| k.len() + 3).sum::<usize>();
        let refs = self.payload_refs.iter().map(|r| r.len() + 3).sum::<usize>();
        fields + ranks + refs + 512
    }

    /// Keeps the item under DynamoDB's limit. Everything dropped stays in the archived raw
    /// payloads (`payload_refs`): first word-level transcripts, then transcript text is cut,
    /// then the largest remaining fields go.
    pub fn fit_to_budget(&mut self, budget: usize) {
        let mut size = self.approximate_size();
        if size <= budget {
            return;
        }
        for field in HEAVY_FIELDS {
            if size <= budget {
                return;
            }
            if let Some(v) = self.fields.remove(*field) {
                size -= field.len() + json_len(&v);
                self.trimmed_fields.insert((*field).to_owned());
            }
        }
        if size > budget {
            if let Some(Value::String(text)) = self.fields.get_mut("transcript") {
                let excess = size - budget;
                let mut keep = text.len().saturating_sub(excess + 64);
                while keep > 0 && !text.is_char_boundary(keep) {
                    keep -= 1;
                }
                text.truncate(keep);
                self.transcript_truncated = true;
                size = self.approximate_size();
            }
        }
        while size > budget {
            let largest = self
                .fields
                .iter()
                .filter(|(k, _)| k.as_str() != "call_id")
                .max_by_key(|(k, v)| k.len() + json_len(v))
                .map(|(k, _)| k.clone());
            let Some(key) = largest else { return };
            self.fields.remove(&key);
            self.trimmed_fields.insert(key);
            size = self.approximate_size();
        }
    }
}

fn json_len(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len() + 2,
        Value::Null | Value::Bool(_) => 5,
        Value::Number(n) => n.to_string().len(),
        Value::Array(items) => items.iter().map(json_len).sum::<usize>() + items.len() + 2,
        Value::Object(map) => {
            map.iter()
                .map(|(k, v)| k.len() + 3 + json_len(v))
                .sum::<usize>()
                + map.len()
                + 2
        }
    }
}
