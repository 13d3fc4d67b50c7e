//! Cal.com's webhook deliveries as Cal.com sends them (`sendPayload.ts`): a JSON body
//! `{"triggerEvent", "createdAt", "payload"}` signed in `X-Cal-Signature-256` with the lowercase
//! hex HMAC-SHA256 of the raw body and the webhook's secret; a webhook without a secret sends
//! the literal `no-secret-provided`, which is refused like a wrong signature. There is no
//! timestamp to bound a replay: the inbox drops a delivery whose trigger and booking uid it has
//! applied before ([`super::calcom_inbox`]).

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "x-cal-signature-256";
pub const NO_SECRET: &str = "no-secret-provided";
/// The triggers `retell-ops sync` subscribes to.
pub const TRIGGERS: [&str; 3] = [
    "BOOKING_CREATED",
    "BOOKING_RESCHEDULED",
    "BOOKING_CANCELLED",
];
/// A delivery larger than this is refused before it is read (Cal.com's are a few KiB).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Cancellation and reschedule reasons this project's own Cal.com writes carry
/// (`calcom::CalComCalendar`): their webhooks are the echo of a write the calendar path records.
pub const OWN_REASON_SUFFIX: &str = "by the caller on the phone";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("no X-Cal-Signature-256 header")]
    Unsigned,
    /// The webhook was registered without a secret: anyone could have sent this.
    #[error("the webhook has no secret (no-secret-provided)")]
    NoSecret,
    #[error("signature does not match")]
    BadSignature,
    #[error("{0}")]
    Malformed(String),
}

impl DeliveryError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned",
            Self::NoSecret => "no_secret",
            Self::BadSignature => "bad_signature",
            Self::Malformed(_) => "malformed",
        }
    }
}

/// The hex HMAC-SHA256 of `body` with `secret`, as Cal.com signs.
pub fn sign(body: &[u8], secret: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks the signature header against the raw body in constant time.
pub fn verify(body: &[u8], header: Option<&str>, secret: &str) -> Result<(), DeliveryError> {
    let header = header.map(str::trim).ok_or(DeliveryError::Unsigned)?;
    if header == NO_SECRET {
        return Err(DeliveryError::NoSecret);
    }
    let Ok(given) = hex::decode(header) else {
        return Err(DeliveryError::BadSignature);
    };
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| DeliveryError::BadSignature)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Created,
    Rescheduled,
    Cancelled,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "BOOKING_CREATED",
            Self::Rescheduled => "BOOKING_RESCHEDULED",
            Self::Cancelled => "BOOKING_CANCELLED",
        }
    }
}

/// A booking delivery, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub trigger: Trigger,
    /// The booking's uid (for a reschedule: the new booking's).
    pub uid: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub event_type_id: Option<u64>,
    /// The host (Cal.com user) it is with.
    pub organizer_id: Option<u64>,
    pub attendee_name: Option<String>,
    pub attendee_email: Option<String>,
    pub attendee_phone: Option<String>,
    /// For a reschedule: the booking it replaces, and when that one was.
    pub replaces: Option<(String, Option<DateTime<Utc>>)>,
    /// Our appointment id, for a booking this project made (`metadata.appointment_id`).
    pub own_appointment: Option<String>,
    pub cancellation_reason: Option<String>,
}

fn text(v: &Value, max: usize) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().filter(|c| !c.is_control()).take(max).collect())
}

fn instant(v: &Value, name: &str) -> Result<DateTime<Utc>, DeliveryError> {
    v.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| DeliveryError::Malformed(format!("payload.{name}: not an ISO 8601 instant")))
}

/// Reads a verified body: `Ok(None)` for a trigger this project does not act on (a meeting
/// started, a ping).
pub fn parse(body: &[u8]) -> Result<Option<Delivery>, DeliveryError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(DeliveryError::Malformed(format!(
            "body: over {MAX_BODY_BYTES} bytes"
        )));
    }
    let root: Value =
        serde_json::from_slice(body).map_err(|e| DeliveryError::Malformed(format!("body: {e}")))?;
    let trigger = match root["triggerEvent"].as_str() {
        Some("BOOKING_CREATED") => Trigger::Created,
        Some("BOOKING_RESCHEDULED") => Trigger::Rescheduled,
        Some("BOOKING_CANCELLED") => Trigger::Cancelled,
        Some(_) => return Ok(None),
        None => return Err(DeliveryError::Malformed("triggerEvent: missing".into())),
    };
    let p = &root["payload"];
    if !p.is_object() {
        return Err(DeliveryError::Malformed("payload: not an object".into()));
    }
    let uid = text(&p["uid"], 128)
        .filter(|u| {
            u.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or_else(|| DeliveryError::Malformed("payload.uid: missing or not a uid".into()))?;
    let start = instant(&p["startTime"], "startTime")?;
    let end = instant(&p["endTime"], "endTime")?;
    if end <= start || end - start > chrono::Duration::hours(24) {
        return Err(DeliveryError::Malformed(
            "payload.endTime: not after startTime within a day".into(),
        ));
    }
    let attendee = &p["attendees"][0];
    let phone = text(&attendee["phoneNumber"], 40)
        .or_else(|| text(&p["responses"]["attendeePhoneNumber"]["value"], 40))
        .or_else(|| text(&p["responses"]["attendeePhoneNumber"], 40));
    let replaces = match trigger {
        Trigger::Rescheduled => {
            let old = text(&p["rescheduleUid"], 128).ok_or_else(|| {
                DeliveryError::Malformed("payload.rescheduleUid: missing for a reschedule".into())
            })?;
            let old_start = match &p["rescheduleStartTime"] {
                Value::Null => None,
                v => Some(instant(v, "rescheduleStartTime")?),
            };
            Some((old, old_start))
        }
        _ => None,
    };
    Ok(Some(Delivery {
        trigger,
        uid,
        start,
        end,
        event_type_id: p["eventTypeId"].as_u64(),
        organizer_id: p["organizer"]["id"].as_u64(),
        attendee_name: text(&attendee["name"], 100),
        attendee_email: text(&attendee["email"], 254),
        attendee_phone: phone,
        replaces,
        own_appointment: text(&p["metadata"]["appointment_id"], 64),
        cancellation_reason: text(&p["cancellationReason"], 300),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn created() -> Value {
        json!({"triggerEvent":"BOOKING_CREATED","createdAt":"2026-12-01T09:00:00.123Z","payload":{
            "type":"haircut","title":"Haarschnitt","startTime":"2026-12-08T10:00:00Z","endTime":"2026-12-08T10:30:00Z",
            "organizer":{"id":11,"name":"Anna","email":"anna@salon.example","timeZone":"Europe/Berlin"},
            "attendees":[{"name":"Eva Fett","email":"eva@example.com","timeZone":"Europe/Berlin","phoneNumber":"+4915112345678"}],
            "responses":{"attendeePhoneNumber":{"label":"phone_number","value":"+4915112345678"}},
            "uid":"bFJeNb2uX8ANpT3JL5EfXw","bookingId":91,"eventTypeId":2001,"metadata":{},"status":"ACCEPTED"}})
    }

    #[test]
    fn signatures_are_cal_coms_hex_hmac_of_the_raw_body() {
        let body = created().to_string();
        let good = sign(body.as_bytes(), "whsec");
        assert_eq!(good.len(), 64);
        assert_eq!(verify(body.as_bytes(), Some(&good), "whsec"), Ok(()));
        assert_eq!(
            verify(body.as_bytes(), Some(&good.to_uppercase()), "whsec"),
            Ok(())
        );
        assert_eq!(
            verify(body.as_bytes(), None, "whsec"),
            Err(DeliveryError::Unsigned)
        );
        assert_eq!(
            verify(body.as_bytes(), Some(NO_SECRET), "whsec"),
            Err(DeliveryError::NoSecret)
        );
        for bad in [
            "",
            "zz",
            &good[..63],
            &sign(b"other", "whsec"),
            &sign(body.as_bytes(), "other"),
        ] {
            assert_eq!(
                verify(body.as_bytes(), Some(bad), "whsec"),
                Err(DeliveryError::BadSignature),
                "{bad}"
            );
        }
    }

    #[test]
    fn deliveries_are_read_strictly() {
        let d = parse(created().to_string().as_bytes()).unwrap().unwrap();
        assert_eq!(d.trigger, Trigger::Created);
        assert_eq!((d.event_type_id, d.organizer_id), (Some(2001), Some(11)));
        assert_eq!(d.attendee_phone.as_deref(), Some("+4915112345678"));
        let mut moved = created();
        moved["triggerEvent"] = json!("BOOKING_RESCHEDULED");
        moved["payload"]["uid"] = json!("NEWuid9xYz");
        moved["payload"]["rescheduleUid"] = json!("bFJeNb2uX8ANpT3JL5EfXw");
        moved["payload"]["rescheduleStartTime"] = json!("2026-12-07T10:00:00+00:00");
        let d = parse(moved.to_string().as_bytes()).unwrap().unwrap();
        assert_eq!(
            d.replaces.as_ref().map(|r| r.0.as_str()),
            Some("bFJeNb2uX8ANpT3JL5EfXw")
        );
        let mut ping = created();
        ping["triggerEvent"] = json!("MEETING_STARTED");
        assert_eq!(parse(ping.to_string().as_bytes()), Ok(None));
        for (path, value) in [
            ("uid", json!({"a": 1})),
            ("uid", json!("a#b")),
            ("startTime", json!("tomorrow")),
            ("endTime", json!("2026-12-07T10:00:00Z")),
            ("endTime", json!("2027-12-08T10:00:00Z")),
        ] {
            let mut bad = created();
            bad["payload"][path] = value.clone();
            assert!(parse(bad.to_string().as_bytes()).is_err(), "{path} {value}");
        }
        let mut no_old = moved.clone();
        no_old["payload"]["rescheduleUid"] = Value::Null;
        assert!(parse(no_old.to_string().as_bytes()).is_err());
        assert!(parse(b"[").is_err());
        assert!(parse(b"{\"payload\": {}}").is_err());
        assert!(parse(&vec![b' '; MAX_BODY_BYTES + 1]).is_err());
    }
}
