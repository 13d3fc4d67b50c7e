//! A raw e-mail (RFC 5322 with MIME) for SES v2's `SendEmail` `Raw` content: a UTF-8 text
//! part and, for appointments, the `.ics` as a `text/calendar` attachment. Headers are encoded
//! (RFC 2047) so no value can add a header of its own.

use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

pub struct Email<'a> {
    /// `Name <address>` or a bare address, as the company's settings give it.
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    /// `(file name, method, content)` of the calendar attachment.
    pub calendar: Option<(&'a str, &'a str, &'a str)>,
    pub date: DateTime<Utc>,
    /// Stable per message (the idempotency key): the Message-ID's local part.
    pub id: &'a str,
}

/// The message's bytes, CRLF line ends.
pub fn raw(email: &Email<'_>) -> String {
    let boundary = format!(
        "=_part_{}",
        &hex::encode(Sha256::digest(email.id.as_bytes()))[..24]
    );
    let domain = email
        .from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .unwrap_or("localhost");
    let mut out = String::new();
    let mut header = |name: &str, value: &str| {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    };
    header("From", &address_header(email.from));
    header("To", &address_header(email.to));
    header("Subject", &encoded_word(email.subject));
    header("Date", &email.date.to_rfc2822());
    header("Message-ID", &format!("<{}@{domain}>", clean_id(email.id)));
    header("MIME-Version", "1.0");
    header(
        "Content-Type",
        &format!("multipart/mixed; boundary=\"{boundary}\""),
    );
    out.push_str("\r\n");
    part(
        &mut out,
        &boundary,
        "text/plain; charset=UTF-8",
        None,
        email.text.as_bytes(),
    );
    if let Some((file, method, content)) = email.calendar {
        part(
            &mut out,
            &boundary,
            &format!("text/calendar; charset=UTF-8; method={method}; name=\"{file}\""),
            Some(file),
            content.as_bytes(),
        );
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

fn part(out: &mut String, boundary: &str, content_type: &str, file: Option<&str>, body: &[u8]) {
    out.push_str(&format!("--{boundary}\r\nContent-Type: {content_type}\r\n"));
    if let Some(file) = file {
        out.push_str(&format!(
            "Content-Disposition: attachment; filename=\"{file}\"\r\n"
        ));
    }
    out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
    let encoded = base64::engine::general_purpose::STANDARD.encode(body);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
}

/// `Name <address>` with the name as an encoded word when it is not plain ASCII; the address
/// was checked by the settings (no CR, LF, `<`, `>`).
fn address_header(value: &str) -> String {
    match value.trim().rsplit_once('<') {
        Some((name, address)) if !name.trim().is_empty() => {
            format!(
                "{} <{}",
                encoded_word(name.trim().trim_matches('"')),
                address
            )
        }
        _ => value.trim().to_owned(),
    }
}

/// RFC 2047 `=?UTF-8?B?…?=` for anything but printable ASCII without specials; control
/// characters dropped either way.
fn encoded_word(value: &str) -> String {
    let clean: String = value.chars().filter(|c| !c.is_control()).collect();
    if clean
        .chars()
        .all(|c| c.is_ascii_graphic() && !"\"()<>@,;:\\[]=?".contains(c) || c == ' ')
    {
        return clean;
    }
    // Words of at most 45 bytes of UTF-8 each (60 characters encoded), split between characters.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in clean.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    words
        .iter()
        .map(|w| {
            format!(
                "=?UTF-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

fn clean_id(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '.'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_cannot_be_injected_and_umlauts_are_encoded() {
        let raw = raw(&Email {
            from: "Salon Müller <termine@salon.example>",
            to: "kai@example.org",
            subject: "Ihr Termin\r\nBcc: evil@example.org",
            text: "Hallo Kai",
            calendar: Some((
                "termin.ics",
                "REQUEST",
                "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
            )),
            date: Utc::now(),
            id: "M#apt_1#0#email",
        });
        let head = raw.split("\r\n\r\n").next().expect("headers");
        assert!(!head.lines().any(|l| l.starts_with("Bcc")), "{head}");
        assert!(head.contains("From: =?UTF-8?B?"), "{head}");
        assert!(head.contains("<termine@salon.example>"));
        assert!(raw.contains("Content-Type: text/calendar; charset=UTF-8; method=REQUEST"));
        assert!(
            head.contains("Message-ID: <M.apt_1.0.email@salon.example>"),
            "{head}"
        );
    }
}
