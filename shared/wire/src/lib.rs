//! Retell's webhook wire format: `{"event": "...", "call": {...}}`.
//!
//! The webhook only needs three fields to route an event, so [`WebhookPeek`] borrows them from
//! the raw body and skips the rest (transcripts can be megabytes); the consumers parse the full
//! call object later (`shared::calls::record`).
//!
//! This crate is the webhook's per-request CPU work (verify, peek, storability checks) and
//! nothing else, so it can be built at opt-level 3 while the rest is optimised for size.

pub mod signature;

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;

/// The call events we store. Everything else Retell sends is acknowledged and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    CallStarted,
    CallEnded,
    CallAnalyzed,
}

impl EventKind {
    pub const ALL: [EventKind; 3] = [
        EventKind::CallStarted,
        EventKind::CallEnded,
        EventKind::CallAnalyzed,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "call_started" => Some(EventKind::CallStarted),
            "call_ended" => Some(EventKind::CallEnded),
            "call_analyzed" => Some(EventKind::CallAnalyzed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CallStarted => "call_started",
            EventKind::CallEnded => "call_ended",
            EventKind::CallAnalyzed => "call_analyzed",
        }
    }

    /// Later events carry a superset of earlier ones' call fields; when two events disagree on a
    /// field, the one with the higher rank wins, whatever order they arrived in.
    pub fn rank(self) -> u8 {
        match self {
            EventKind::CallStarted => 1,
            EventKind::CallEnded => 2,
            EventKind::CallAnalyzed => 3,
        }
    }

    pub fn from_rank(rank: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.rank() == rank)
    }
}

/// Retell's transfer events (sent only to agents whose `webhook_events` list them). They are
/// stored as the call's transfer log, not merged into its fields, and travel on the queue of
/// [`TransferEvent::QUEUE`]: they happen while the call is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransferEvent {
    Started,
    Bridged,
    Cancelled,
    Ended,
}

impl TransferEvent {
    pub const ALL: [TransferEvent; 4] = [
        TransferEvent::Started,
        TransferEvent::Bridged,
        TransferEvent::Cancelled,
        TransferEvent::Ended,
    ];

    /// The queue (and consumer) that carries them: the live call's, call_started's.
    pub const QUEUE: EventKind = EventKind::CallStarted;

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TransferEvent::Started => "transfer_started",
            TransferEvent::Bridged => "transfer_bridged",
            TransferEvent::Cancelled => "transfer_cancelled",
            TransferEvent::Ended => "transfer_ended",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Retell's call id. It names S3 objects and log lines, so only a conservative alphabet passes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallIdError {
    #[error("call_id is empty")]
    Empty,
    #[error("call_id is longer than {max} characters")]
    TooLong { max: usize },
    #[error("call_id contains characters other than letters, digits, '_', '-', '.', ':'")]
    InvalidCharacter,
}

impl CallId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, CallIdError> {
        if raw.is_empty() {
            return Err(CallIdError::Empty);
        }
        if raw.len() > Self::MAX_LEN {
            return Err(CallIdError::TooLong { max: Self::MAX_LEN });
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
        {
            return Err(CallIdError::InvalidCharacter);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The routing fields of a webhook body, borrowed from the raw bytes.
#[derive(Debug, Deserialize)]
pub struct WebhookPeek<'a> {
    #[serde(borrow)]
    pub event: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub call: Option<CallPeek<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct CallPeek<'a> {
    #[serde(borrow, default)]
    pub call_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub agent_id: Option<Cow<'a, str>>,
}

impl<'a> WebhookPeek<'a> {
    /// Parses (and so fully syntax-checks) the body, keeping only the routing fields.
    pub fn parse(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    pub fn agent_id(&self) -> Option<&str> {
        self.call.as_ref()?.agent_id.as_deref()
    }

    pub fn call_id(&self) -> Option<&str> {
        self.call.as_ref()?.call_id.as_deref()
    }
}

/// Whether the whole body is UTF-8 (SIMD; std's check would add a third to the webhook's CPU
/// time on a transcript).
pub fn is_utf8(body: &[u8]) -> bool {
    simdutf8::basic::from_utf8(body).is_ok()
}

/// How deep a stored webhook body may nest JSON. DynamoDB stores documents up to 32 levels deep
/// and a call field sits two levels down in the body, so every accepted body fits; serde_json's
/// own limit (128) is far above it.
pub const MAX_JSON_DEPTH: usize = 32;

/// Whether a syntactically valid JSON text nests arrays and objects deeper than `limit`. Strings
/// (most of a webhook body: transcripts, words) are skipped to their closing quote without being
/// read: a short one eight bytes at a time, a long one with memchr (SIMD).
pub fn exceeds_json_depth(json: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&byte) = json.get(i) {
        match byte {
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => match string_end(json, i + 1) {
                Some(end) => i = end,
                None => return false,
            },
            _ => {}
        }
        i += 1;
    }
    false
}

/// The closing quote of the string whose contents start at `from`: the first quote not escaped,
/// i.e. not preceded by an odd number of backslashes.
#[inline]
fn string_end(json: &[u8], from: usize) -> Option<usize> {
    let mut from = from;
    loop {
        let quote = next_quote(json, from)?;
        let backslashes = json[from..quote]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return Some(quote);
        }
        from = quote + 1;
    }
}

/// The next `"` at or after `from`: the first 32 bytes eight at a time (SWAR: keys, words and
/// numbers as text end there), the rest by memchr (SIMD: transcripts).
#[inline]
fn next_quote(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = from;
    while at < from + 32 {
        let Some(chunk) = bytes.get(at..at + 8) else {
            return memchr::memchr(b'"', bytes.get(at..)?).map(|p| at + p);
        };
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]) ^ (ONES * u64::from(b'"'));
        let found = word.wrapping_sub(ONES) & !word & HIGHS;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    memchr::memchr(b'"', bytes.get(at..)?).map(|p| at + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_round_trip_and_rank_in_call_order() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(EventKind::from_rank(kind.rank()), Some(kind));
        }
        assert!(EventKind::CallStarted.rank() < EventKind::CallEnded.rank());
        assert!(EventKind::CallEnded.rank() < EventKind::CallAnalyzed.rank());
        for other in [
            "transcript_updated",
            "transfer_started",
            "call_inbound",
            "",
            "CALL_ENDED",
        ] {
            assert_eq!(EventKind::parse(other), None, "{other}");
        }
    }

    #[test]
    fn strings_end_at_the_first_unescaped_quote() {
        for (text, end) in [
            (&br#"abc" x"#[..], Some(3)),
            (br#"" x"#, Some(0)),
            (br#"a\"b" x"#, Some(4)),
            (br#"a\\" x"#, Some(3)),
            (br#"a\\\"b" x"#, Some(6)),
            (br#"0123456789abcdef\"0123" x"#, Some(22)),
            ("äöüß\\\"\"".as_bytes(), Some(10)),
            (br#"no end here at all \""#, None),
        ] {
            assert_eq!(
                string_end(text, 0),
                end,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn depth_counts_structure_not_text() {
        assert!(!exceeds_json_depth(br#"{"a":[1,{"b":2}]}"#, 3));
        assert!(exceeds_json_depth(br#"{"a":[1,{"b":2}]}"#, 2));
        assert!(!exceeds_json_depth(br#"{"t":"[[[[{{{{\"[[["}"#, 1));
        assert!(!exceeds_json_depth(br#"{"t":"a\\"}"#, 1));
        assert!(exceeds_json_depth(br#"{"t":"a\\","u":[[1]]}"#, 2));
        assert!(!exceeds_json_depth(b"", 0));
        assert!(!exceeds_json_depth(br#"{"unterminated"#, 1));
    }

    #[test]
    fn call_ids_are_checked() {
        assert!(CallId::parse("call_abc123").is_ok());
        assert!(CallId::parse("Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6").is_ok());
        assert_eq!(CallId::parse(""), Err(CallIdError::Empty));
        assert_eq!(
            CallId::parse("../etc/passwd"),
            Err(CallIdError::InvalidCharacter)
        );
        assert_eq!(CallId::parse("call id"), Err(CallIdError::InvalidCharacter));
        assert_eq!(
            CallId::parse(&"a".repeat(129)),
            Err(CallIdError::TooLong { max: 128 })
        );
    }

    #[test]
    fn peek_reads_routing_fields_and_skips_the_rest() {
        let body = br#"{"event":"call_ended","call":{"call_id":"c1","agent_id":"agent_1","transcript":"x\ny","transcript_object":[{"words":[]}]}}"#;
        let peek = WebhookPeek::parse(body).expect("valid");
        assert_eq!(peek.event.as_deref(), Some("call_ended"));
        assert_eq!(peek.call_id(), Some("c1"));
        assert_eq!(peek.agent_id(), Some("agent_1"));
        // Escaped strings cannot be borrowed but still parse.
        let peek =
            WebhookPeek::parse(br#"{"event":"call\u005fended","call":{"call_id":"c\u0031"}}"#)
                .expect("valid");
        assert_eq!(peek.event.as_deref(), Some("call_ended"));
        assert_eq!(peek.call_id(), Some("c1"));
        assert!(WebhookPeek::parse(br#"{"event":"call_ended","call":{"#).is_err());
        assert!(WebhookPeek::parse(br#"{"event":"call_ended","call":{"call_id":5}}"#).is_err());
    }
}
