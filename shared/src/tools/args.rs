//! Tool arguments, read strictly: absent or `null` is "not given"; anything present must be
//! of the right type and readable, or it is an [`ArgError`] (docs/custom-functions.md,
//! "Arguments"). Never ignored, never guessed.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// Any text argument: at most this many characters (dates, times, services, phone numbers and
/// ids are far shorter); longer ones are refused before they are parsed.
pub const MAX_ARG_CHARS: usize = 200;
/// `customer_name`, stored with the appointment and the customer.
pub const MAX_NAME_CHARS: usize = 100;
/// `customer_email` (the longest address SMTP allows).
pub const MAX_EMAIL_CHARS: usize = 254;
/// `notes`, stored with the appointment (and sent to Cal.com).
pub const MAX_NOTES_CHARS: usize = 500;

/// Why an argument that is present cannot be read. Absent and `null` are not errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgError {
    /// An object, array or boolean, or a number where only text makes sense.
    WrongType,
    /// Text with more than `max_chars` characters.
    TooLong { max_chars: usize },
    /// Text with control characters (line breaks only in `notes`) or Unicode direction
    /// overrides.
    ControlCharacters,
    /// Of the right type but not readable as this argument (a duration that is no number).
    Unreadable,
}

impl ArgError {
    /// The `error` of the refusal, for the agent and the logs.
    pub fn code(self) -> &'static str {
        match self {
            ArgError::WrongType => "wrong_type",
            ArgError::TooLong { .. } => "too_long",
            ArgError::ControlCharacters => "control_characters",
            ArgError::Unreadable => "unreadable",
        }
    }
}

/// A tool's arguments, read strictly (docs/custom-functions.md, "Arguments"): an argument is
/// absent (missing, `null`, or text that is empty after trimming), readable, or refused with an
/// [`ArgError`]; it is never guessed at.
#[derive(Debug, Clone, Default)]
pub struct Args(pub Map<String, Value>);

impl Args {
    /// The argument, `None` if missing or `null`.
    fn value(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A text argument: a JSON string, trimmed, at most [`MAX_ARG_CHARS`] characters, on one
    /// line and free of control characters. Empty text is absent.
    pub fn text(&self, name: &str) -> Result<Option<&str>, ArgError> {
        self.stored_text(name, MAX_ARG_CHARS, false)
    }

    /// Free text that is kept (a name, an email, notes): as [`Args::text`] with its own bound;
    /// `multiline` allows line breaks and tabs.
    pub fn stored_text(
        &self,
        name: &str,
        max_chars: usize,
        multiline: bool,
    ) -> Result<Option<&str>, ArgError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::String(s)) => checked_text(s, max_chars, multiline),
            Some(_) => Err(ArgError::WrongType),
        }
    }

    /// Text, or a JSON integer read as its decimal text (times: `14` is "14").
    pub fn text_or_integer(&self, name: &str) -> Result<Option<Cow<'_, str>>, ArgError> {
        match self.value(name) {
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {
                Ok(Some(Cow::Owned(n.to_string())))
            }
            _ => self.text(name).map(|t| t.map(Cow::Borrowed)),
        }
    }

    /// A yes/no: a JSON boolean, or the text `true` / `false` (as some LLMs send it).
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ArgError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(_)) => match self.text(name)? {
                None => Ok(None),
                Some(t) if t.eq_ignore_ascii_case("true") => Ok(Some(true)),
                Some(t) if t.eq_ignore_ascii_case("false") => Ok(Some(false)),
                Some(_) => Err(ArgError::Unreadable),
            },
            Some(_) => Err(ArgError::WrongType),
        }
    }

    /// A number: a JSON number, or text holding just a (finite) number.
    pub fn number(&self, name: &str) -> Result<Option<f64>, ArgError> {
        match self.value(name) {
            Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(ArgError::Unreadable),
            Some(Value::String(_)) => match self.text(name)? {
                None => Ok(None),
                Some(t) => match t.parse::<f64>() {
                    Ok(n) if n.is_finite() => Ok(Some(n)),
                    _ => Err(ArgError::Unreadable),
                },
            },
            None => Ok(None),
            Some(_) => Err(ArgError::WrongType),
        }
    }
}

/// Trimmed text within `max_chars` characters and free of control characters; empty is `None`.
fn checked_text(s: &str, max_chars: usize, multiline: bool) -> Result<Option<&str>, ArgError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    // Counts at most `max_chars + 1` characters, however long the text.
    if s.chars().nth(max_chars).is_some() {
        return Err(ArgError::TooLong { max_chars });
    }
    let forbidden = |c: char| {
        (c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if s.chars().any(forbidden) {
        return Err(ArgError::ControlCharacters);
    }
    Ok(Some(s))
}

/// `local@domain.tld`: one `@`, no spaces, brackets, quotes or separators, a dot inside the
/// domain. Not a full RFC 5322 check; enough to keep a misheard address out of the calendar.
pub(crate) fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let plain = |part: &str| {
        !part.is_empty()
            && !part.chars().any(|c| {
                c.is_whitespace()
                    || matches!(
                        c,
                        '@' | ',' | ';' | ':' | '<' | '>' | '(' | ')' | '[' | ']' | '"' | '\\'
                    )
            })
    };
    plain(local)
        && local.chars().count() <= 64
        && plain(domain)
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
        && domain.contains('.')
}

/// The argument as the caller would hear it named: German object and subject, English.
pub(crate) fn argument_label(name: &str) -> (&'static str, &'static str, &'static str) {
    match name {
        "date" => ("den Tag", "Der Tag", "the day"),
        "new_date" => ("den neuen Tag", "Der neue Tag", "the new day"),
        "time" => ("die Uhrzeit", "Die Uhrzeit", "the time"),
        "new_time" => ("die neue Uhrzeit", "Die neue Uhrzeit", "the new time"),
        "service_id" => ("die Leistung", "Die Leistung", "the service"),
        "phone" | "customer_phone" => {
            ("die Telefonnummer", "Die Telefonnummer", "the phone number")
        }
        "appointment_id" => (
            "die Terminnummer",
            "Die Terminnummer",
            "the appointment number",
        ),
        "customer_name" => ("den Namen", "Der Name", "the name"),
        "customer_email" => (
            "die E-Mail-Adresse",
            "Die E-Mail-Adresse",
            "the email address",
        ),
        "notes" => ("die Notiz", "Die Notiz", "the note"),
        "duration" => ("die Dauer", "Die Dauer", "the duration"),
        "week" => (
            "die Angabe zur Woche",
            "Die Angabe zur Woche",
            "whether you mean the week",
        ),
        "staff" => (
            "den Namen der Mitarbeiterin oder des Mitarbeiters",
            "Der Name der Mitarbeiterin oder des Mitarbeiters",
            "the staff member's name",
        ),
        _ => ("eine Angabe", "Eine Angabe", "something"),
    }
}

/// "the name" → "The name".
pub(crate) fn sentence_start(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
