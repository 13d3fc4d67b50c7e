//! Retell's `x-retell-signature`, exactly as the official SDKs sign and verify it:
//! `v=<unix ms>,d=<hex(HMAC-SHA256(api_key, raw_body ++ v))>`, accepted within five minutes
//! either side of our clock. Always over the raw request bytes: re-serialised JSON would not match.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far the signed timestamp may be from our clock, either way (the SDK's `FIVE_MINUTES`).
pub const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header missing")]
    Missing,
    #[error("signature header malformed")]
    Malformed,
    #[error("signature timestamp outside the allowed window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

impl SignatureError {
    /// Short machine-readable reason for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            SignatureError::Missing => "signature_missing",
            SignatureError::Malformed => "signature_malformed",
            SignatureError::Stale => "signature_stale",
            SignatureError::Mismatch => "signature_mismatch",
        }
    }
}

/// A parsed `v=<ms>,d=<64 lowercase hex>` header. Only constructible from a well-formed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureHeader<'a> {
    timestamp_ms: i64,
    timestamp_text: &'a str,
    digest: [u8; 32],
}

impl<'a> SignatureHeader<'a> {
    /// Same grammar as the SDK's `^v=(\d+),d=([0-9a-f]{64})$`.
    pub fn parse(header: &'a str) -> Result<Self, SignatureError> {
        let rest = header.strip_prefix("v=").ok_or(SignatureError::Malformed)?;
        let (ts, digest_hex) = rest.split_once(",d=").ok_or(SignatureError::Malformed)?;
        if ts.is_empty() || ts.len() > 18 || !ts.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SignatureError::Malformed);
        }
        if digest_hex.len() != 64
            || !digest_hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(SignatureError::Malformed);
        }
        let timestamp_ms = ts.parse::<i64>().map_err(|_| SignatureError::Malformed)?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(digest_hex, &mut digest).map_err(|_| SignatureError::Malformed)?;
        Ok(Self {
            timestamp_ms,
            timestamp_text: ts,
            digest,
        })
    }

    /// The header of a request, which may have none.
    pub fn from_request(header: Option<&'a str>) -> Result<Self, SignatureError> {
        Self::parse(header.ok_or(SignatureError::Missing)?)
    }

    /// Whether the signed time is within [`MAX_SKEW_MS`] of `now_ms`: checked before anything is
    /// looked up for the request, so a stale or replayed one costs nothing.
    pub fn check_fresh(&self, now_ms: i64) -> Result<(), SignatureError> {
        if (now_ms - self.timestamp_ms).abs() > MAX_SKEW_MS {
            return Err(SignatureError::Stale);
        }
        Ok(())
    }
}

fn mac(body: &[u8], api_key: &str, timestamp_text: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(api_key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    mac.update(body);
    mac.update(timestamp_text.as_bytes());
    mac
}

/// Checks a parsed header against `body` and one candidate key. `now_ms` is injected so
/// the window is testable without sleeping.
pub fn verify_signature(
    body: &[u8],
    api_key: &str,
    header: &SignatureHeader<'_>,
    now_ms: i64,
) -> Result<(), SignatureError> {
    header.check_fresh(now_ms)?;
    let expected = mac(body, api_key, header.timestamp_text)
        .finalize()
        .into_bytes();
    if bool::from(expected.as_slice().ct_eq(&header.digest)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Produces the header value Retell would send. Used by tests, benches and the local tools.
pub fn sign(body: &[u8], api_key: &str, timestamp_ms: i64) -> String {
    let ts = timestamp_ms.to_string();
    let digest = mac(body, api_key, &ts).finalize().into_bytes();
    format!("v={ts},d={}", hex::encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"event":"call_ended"}"#;
    const KEY: &str = "test-api-key";
    const TS: i64 = 1_700_000_000_000;
    const SDK_DIGEST: &str = "07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e";

    #[test]
    fn matches_the_sdk_test_vector() {
        assert_eq!(sign(BODY, KEY, TS), format!("v={TS},d={SDK_DIGEST}"));
        let header = format!("v={TS},d={SDK_DIGEST}");
        let parsed = SignatureHeader::parse(&header).expect("well-formed");
        assert_eq!(verify_signature(BODY, KEY, &parsed, TS), Ok(()));
    }

    #[test]
    fn accepts_within_five_minutes_either_way() {
        let header = sign(BODY, KEY, TS);
        let parsed = SignatureHeader::parse(&header).expect("well-formed");
        assert_eq!(
            verify_signature(BODY, KEY, &parsed, TS + MAX_SKEW_MS),
            Ok(())
        );
        assert_eq!(
            verify_signature(BODY, KEY, &parsed, TS - MAX_SKEW_MS),
            Ok(())
        );
        assert_eq!(
            verify_signature(BODY, KEY, &parsed, TS + MAX_SKEW_MS + 1),
            Err(SignatureError::Stale)
        );
        // A timestamp from the future is as suspect as an old one.
        assert_eq!(
            verify_signature(BODY, KEY, &parsed, TS - MAX_SKEW_MS - 1),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn rejects_wrong_key_body_or_digest() {
        let header = sign(BODY, KEY, TS);
        let parsed = SignatureHeader::parse(&header).expect("well-formed");
        assert_eq!(
            verify_signature(BODY, "other-key", &parsed, TS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(br#"{"event":"call_ended" }"#, KEY, &parsed, TS),
            Err(SignatureError::Mismatch)
        );
        let tampered = format!("v={},d={}", TS + 1, SDK_DIGEST);
        let parsed = SignatureHeader::parse(&tampered).expect("well-formed");
        assert_eq!(
            verify_signature(BODY, KEY, &parsed, TS),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_garbage_headers() {
        for bad in [
            "",
            "garbage",
            "v=,d=",
            "d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e,v=1",
            "v=1700000000000,d=07024CABE7DD8F6D1C6E4A8324CA92C812E6AD4A7EE506C04F7E462E3321823E",
            "v=1700000000000,d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823",
            "v=1700000000000,d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e0",
            "v=-1700000000000,d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e",
            "v=1700000000000 ,d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e",
            "v=99999999999999999999999,d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e",
            "07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e",
        ] {
            assert_eq!(
                SignatureHeader::parse(bad),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }
}
