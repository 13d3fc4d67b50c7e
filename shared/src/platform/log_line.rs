//! One of the functions' JSON log lines (Lambda's JSON log format, written by [`super::telemetry`]),
//! read back: what the control center's logs page and `retell-ops logs` show.

use serde::Serialize;
use serde_json::Value;

use crate::platform::telemetry::UNKNOWN;

/// A line's level, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// As a filter names it (lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// `warn`, `WARN`, `warning`; anything else is None.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "trace" => Some(Self::Trace),
            "debug" => Some(Self::Debug),
            "info" => Some(Self::Info),
            "warn" | "warning" => Some(Self::Warn),
            "error" | "fatal" => Some(Self::Error),
            _ => None,
        }
    }
}

/// One line as it is shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    pub timestamp_ms: i64,
    pub function: String,
    pub level: String,
    pub message: String,
    pub call_id: Option<String>,
    pub event: Option<String>,
    pub company: Option<String>,
    /// The other fields of the line (status, reason, latency_ms, …), as written.
    pub fields: serde_json::Map<String, Value>,
}

impl LogLine {
    /// A JSON log line of `function` (None: not one of ours, e.g. Lambda's START/END lines or
    /// an Embedded Metric Format record).
    pub fn parse(function: &str, timestamp_ms: i64, raw: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(raw.trim()).ok()?;
        let obj = value.as_object()?;
        if obj.contains_key("_aws") {
            return None;
        }
        let span = obj.get("span");
        let span_text = |k: &str| {
            span.and_then(|s| s.get(k))
                .and_then(Value::as_str)
                .filter(|v| *v != UNKNOWN)
                .map(str::to_owned)
        };
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
        let fields = obj
            .get("fields")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(|| {
                obj.iter()
                    .filter(|(k, _)| {
                        !matches!(
                            k.as_str(),
                            "timestamp" | "level" | "message" | "span" | "spans" | "target"
                        )
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            });
        let message = text("message")
            .or_else(|| {
                fields
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        Some(Self {
            timestamp_ms,
            function: function.to_owned(),
            level: text("level").unwrap_or_else(|| "INFO".into()),
            message,
            call_id: span_text("call_id"),
            event: span_text("event"),
            company: span_text("company"),
            fields: fields.into_iter().filter(|(k, _)| k != "message").collect(),
        })
    }

    pub fn level(&self) -> Level {
        Level::parse(&self.level).unwrap_or(Level::Info)
    }
}

/// `text` with every run of 7 or more digits (a phone number, with or without its `+`) masked
/// as the functions mask numbers when they log them: a line written before masking was
/// complete, or a number inside a reason, is not shown in full.
pub fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let digits = run.chars().filter(char::is_ascii_digit).count();
        if digits >= 7 {
            out.push_str(&crate::booking::phone::mask_phone(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || (c == '+' && run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// A line's fields with every number in them masked as [`mask_numbers`] does, at any depth:
/// strings, and integers of seven or more digits (a number logged as a JSON number), except
/// where the key says it is a time or a duration (`*_ms`, `*_at`, `*timestamp*`).
pub fn mask_fields(fields: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    fields
        .iter()
        .map(|(k, v)| (k.clone(), mask_value(k, v, 0)))
        .collect()
}

fn mask_value(key: &str, value: &Value, depth: usize) -> Value {
    let is_time = key.ends_with("_ms") || key.ends_with("_at") || key.contains("timestamp");
    match value {
        Value::String(s) => Value::String(mask_numbers(s)),
        Value::Number(n) if !is_time && n.to_string().trim_start_matches('-').len() >= 7 => {
            Value::String(mask_numbers(&n.to_string()))
        }
        // Deeper than any line we write: shown as a placeholder, not walked.
        _ if depth > 16 => Value::String("…".into()),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| mask_value(key, v, depth + 1))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), mask_value(k, v, depth + 1)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_is_read_with_its_span_and_fields() {
        let raw = r#"{"timestamp":"x","level":"WARN","fields":{"message":"request answered","status":503,"reason":"busy"},"target":"webhook","span":{"call_id":"call_1","event":"call_ended","company":"-"}}"#;
        let line = LogLine::parse("webhook", 5, raw).unwrap();
        assert_eq!(line.level(), Level::Warn);
        assert_eq!(line.message, "request answered");
        assert_eq!(line.call_id.as_deref(), Some("call_1"));
        assert_eq!(line.company, None);
        assert_eq!(line.fields.get("status"), Some(&Value::from(503)));
        for not_ours in ["START RequestId: 1", "", "[]", r#"{"_aws":{}}"#, "{\"a\":"] {
            assert!(LogLine::parse("f", 0, not_ours).is_none(), "{not_ours}");
        }
    }

    #[test]
    fn numbers_are_masked_and_short_ones_left() {
        assert_eq!(
            mask_numbers("from +4917655502468 now"),
            "from +49*********68 now"
        );
        assert_eq!(mask_numbers("status 503 in 42 ms"), "status 503 in 42 ms");
        assert_eq!(mask_numbers("a1234567b"), "a123**67b");
        assert_eq!(mask_numbers("ümlaut +"), "ümlaut +");
        assert_eq!(Level::parse("WARNING"), Some(Level::Warn));
        assert_eq!(Level::parse("loud"), None);
        assert!(Level::Error > Level::Warn);
    }

    #[test]
    fn fields_are_masked_at_any_depth_and_times_are_kept() {
        let fields: serde_json::Map<String, Value> = serde_json::from_str(
            r#"{"to": 4917655502468, "latency_ms": 1765000000000, "status": 200,
                "nested": {"numbers": ["+4917655502468", {"n": 4917655502468}]}, "received_at": 1765000000}"#,
        )
        .unwrap();
        let masked = Value::Object(mask_fields(&fields)).to_string();
        assert!(!masked.contains("4917655502468"), "{masked}");
        assert!(masked.contains("1765000000000") && masked.contains("\"status\":200"));
    }
}
