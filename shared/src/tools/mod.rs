//! Retell custom functions ("tools" the agent calls mid-conversation): the request format, the
//! signature check, company resolution, and the reply rules, in one place. A function crate
//! implements [`Tool`] and nothing else (docs/custom-functions.md).
//!
//! Replies are always HTTP 200 JSON with a short `message` the agent can speak, in the company's
//! language: bad or impossible arguments are `success: false` with a message that helps the
//! agent ask again. Only a missing or wrong signature (401) and a body that is not JSON (400)
//! are HTTP errors.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};
use tracing::Instrument;

use crate::booking::company::{Company, CompanyKey, Service};
use crate::booking::phone::{mask_phone, PhoneNumber};
use crate::booking::spoken::{parse_date, parse_time, SpokenError};
use crate::calendar::unresolved::{JournaledCalendar, WriteJournal};
use crate::calendar::{is_appointment_id, Calendar, Calendars};
pub use crate::platform::http::json_response;
use crate::retell::auth::{AuthError, RequestAuth, SIGNATURE_HEADER};
use crate::retell::keys::SecretSource;

/// Retell's cap on a function result.
pub const MAX_REPLY_CHARS: usize = 15_000;

/// A tool answers within this, whatever its calendar does: the caller hears the spoken
/// fallback instead of silence (API Gateway and Lambda add well under the remaining 0.5 s).
pub const REPLY_DEADLINE: std::time::Duration = std::time::Duration::from_millis(2500);

/// What Retell needs to offer a tool to the LLM: generated from code, so the definition in the
/// Retell dashboard and the implementation cannot drift apart (`<binary> --tool-definition`).
#[derive(Debug, Clone)]
pub struct ToolDefinition {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: Value,
}

impl ToolDefinition {
    /// The HTTP route of the tool (template.yaml must have it).
    pub fn path(&self) -> String {
        format!("/api/retell/functions/{}", self.name)
    }

    /// Retell's custom-function definition, with `url` filled in from the deployed base URL.
    pub fn retell_json(&self, base_url: &str) -> Value {
        json!({
            "type": "custom",
            "name": self.name,
            "description": self.description,
            "url": format!("{}{}", base_url.trim_end_matches('/'), self.path()),
            "speak_during_execution": false,
            "speak_after_execution": true,
            "parameters": self.parameters,
        })
    }
}

/// The call the tool runs in, as Retell sends it (absent for "args only" requests).
#[derive(Debug, Clone, Default)]
pub struct CallInfo {
    pub call_id: Option<String>,
    pub agent_id: Option<String>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
}

pub struct ToolContext<'a> {
    pub company: &'a Company,
    /// The company's calendar; its writes are journaled so a reply cut off at the deadline
    /// can say which write's outcome is unknown.
    pub calendar: &'a JournaledCalendar<'a>,
    pub call: &'a CallInfo,
    pub now: DateTime<Utc>,
}

impl ToolContext<'_> {
    /// German or English, by the company's language.
    pub fn say(&self, de: impl Into<String>, en: impl Into<String>) -> String {
        if self.company.is_german() {
            de.into()
        } else {
            en.into()
        }
    }

    pub fn today(&self) -> NaiveDate {
        self.now.with_timezone(&self.company.time_zone).date_naive()
    }

    /// A reply the agent reads out when the call cannot go on as asked.
    pub fn refuse(&self, de: impl Into<String>, en: impl Into<String>) -> Value {
        json!({"success": false, "message": self.say(de, en)})
    }

    /// The spoken fallback when a dependency is down: never silence, never a 5xx.
    pub fn unavailable(&self, error: &dyn std::fmt::Display) -> Value {
        tracing::error!(%error, "calendar unavailable");
        self.refuse(
            "Ich kann gerade nicht auf den Kalender zugreifen. Darf ich Ihre Nummer notieren, damit wir Sie zurückrufen?",
            "I cannot reach the calendar right now. May I take your number so we can call you back?",
        )
    }

    /// A refusal about one argument: `argument` names it, so the agent knows what to ask again.
    pub fn refuse_argument(
        &self,
        name: &str,
        de: impl Into<String>,
        en: impl Into<String>,
    ) -> Value {
        json!({"success": false, "argument": name, "message": self.say(de, en)})
    }

    /// The refusal for an argument that is present but cannot be read (docs/custom-functions.md,
    /// "Arguments"): it names the argument and asks for it again.
    pub fn bad_argument(&self, name: &str, error: ArgError) -> Value {
        tracing::info!(argument = name, error = error.code(), "argument refused");
        let (object_de, subject_de, label_en) = argument_label(name);
        let (ask_de, ask_en) = self.ask_again(name);
        let (de, en) = match error {
            ArgError::WrongType | ArgError::Unreadable => (
                format!("Ich konnte {object_de} nicht lesen. {ask_de}"),
                format!("I could not read {label_en}. {ask_en}"),
            ),
            ArgError::TooLong { max_chars } => (
                format!("{subject_de} ist zu lang, höchstens {max_chars} Zeichen gehen. {ask_de}"),
                format!(
                    "{} is too long: at most {max_chars} characters. {ask_en}",
                    sentence_start(label_en)
                ),
            ),
            ArgError::ControlCharacters => (
                format!(
                    "{subject_de} enthält Steuerzeichen, die ich nicht übernehmen kann. {ask_de}"
                ),
                format!(
                    "{} contains control characters I cannot take. {ask_en}",
                    sentence_start(label_en)
                ),
            ),
        };
        json!({"success": false, "argument": name, "error": error.code(), "message": self.say(de, en)})
    }

    /// The question that gets an argument again.
    fn ask_again(&self, name: &str) -> (String, String) {
        let (de, en) = match name {
            "date" | "new_date" => (
                "Welcher Tag wäre es, zum Beispiel „morgen“ oder „15. Januar“?",
                "Which day would it be, for example \"tomorrow\" or \"January 15\"?",
            ),
            "time" | "new_time" => (
                "Um wie viel Uhr, zum Beispiel „14 Uhr“?",
                "At what time, for example \"2 pm\"?",
            ),
            "service_id" => {
                let offered = self.offered_services();
                return (
                    format!("Welche Leistung möchten Sie? Wir bieten: {offered}."),
                    format!("Which service would you like? We offer: {offered}."),
                );
            }
            "phone" | "customer_phone" => (
                "Unter welcher Telefonnummer sind Sie erreichbar?",
                "Which phone number can we reach you at?",
            ),
            "appointment_id" => (
                "An welchem Tag ist der Termin, den Sie meinen?",
                "On which day is the appointment you mean?",
            ),
            "customer_name" => ("Wie ist Ihr Name?", "What is your name?"),
            "customer_email" => (
                "Wie lautet Ihre E-Mail-Adresse?",
                "What is your email address?",
            ),
            "notes" => (
                "Was soll ich kurz notieren?",
                "What should I note, in short?",
            ),
            "duration" => (
                "Wie viele Minuten soll der Termin dauern?",
                "How many minutes should the appointment take?",
            ),
            _ => (
                "Können Sie das bitte noch einmal sagen?",
                "Could you say that again, please?",
            ),
        };
        (de.to_owned(), en.to_owned())
    }

    fn offered_services(&self) -> String {
        self.company
            .settings
            .services
            .iter()
            .map(|s| s.display_name().to_owned())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A text argument (`Args::text`), its refusal if it is present but unreadable.
    pub fn text<'a>(&self, args: &'a Args, name: &str) -> Result<Option<&'a str>, Value> {
        args.text(name).map_err(|e| self.bad_argument(name, e))
    }

    /// Free text kept with the booking (`Args::stored_text`), its refusal if unreadable.
    pub fn stored_text<'a>(
        &self,
        args: &'a Args,
        name: &str,
        max_chars: usize,
        multiline: bool,
    ) -> Result<Option<&'a str>, Value> {
        args.stored_text(name, max_chars, multiline)
            .map_err(|e| self.bad_argument(name, e))
    }

    /// An optional email address: stored text of at most `MAX_EMAIL_CHARS`, shaped like one
    /// (`local@domain.tld`, no spaces).
    pub fn email<'a>(&self, args: &'a Args, name: &str) -> Result<Option<&'a str>, Value> {
        let Some(email) = self.stored_text(args, name, MAX_EMAIL_CHARS, false)? else {
            return Ok(None);
        };
        if !looks_like_email(email) {
            return Err(self.refuse_argument(
                name,
                "Die E-Mail-Adresse habe ich nicht verstanden. Wie lautet sie, zum Beispiel „anna@beispiel.de“?",
                "I did not get the email address. What is it, for example \"anna@example.com\"?",
            ));
        }
        Ok(Some(email))
    }

    /// The last day a new appointment may be on (`max_advance_days` after today).
    pub fn last_bookable_day(&self) -> NaiveDate {
        self.company.last_bookable_day(self.today())
    }

    /// "Nothing is free" for a search of `days` days from `date`, naming the horizon when it
    /// cut the search short.
    pub fn nothing_free(&self, date: NaiveDate, days: u32) -> String {
        let last = self.last_bookable_day();
        if date + chrono::Days::new(u64::from(days.max(1)) - 1) > last {
            self.say(
                format!(
                    "Bis {} ist leider nichts mehr frei, und weiter im Voraus vergeben wir noch keine Termine.",
                    german_date_with_year(last)
                ),
                format!("Nothing is free until {last}, and we do not book further ahead yet."),
            )
        } else {
            self.say(
                "In den nächsten zwei Wochen ist leider nichts mehr frei.",
                "Nothing is free in the next two weeks.",
            )
        }
    }

    /// The day of a new appointment (check, book, reschedule): required, from today up to the
    /// booking horizon.
    pub fn date(&self, args: &Args, name: &str) -> Result<NaiveDate, Value> {
        let date = self.day(args, name)?.ok_or_else(|| {
            self.refuse_argument(
                name,
                "Für welchen Tag möchten Sie den Termin?",
                "For which day would you like the appointment?",
            )
        })?;
        let last = self.last_bookable_day();
        if date > last {
            let mut reply = self.refuse_argument(
                name,
                format!(
                    "So weit im Voraus vergeben wir noch keine Termine, möglich ist es bis {}. Welcher Tag davor passt Ihnen?",
                    german_date_with_year(last)
                ),
                format!("We do not book that far ahead: appointments are possible until {last}. Which earlier day works for you?"),
            );
            reply["last_bookable_date"] = json!(last.to_string());
            return Err(reply);
        }
        Ok(date)
    }

    /// The day of an existing appointment (to find it): optional, today or later, no horizon.
    pub fn appointment_date(&self, args: &Args, name: &str) -> Result<Option<NaiveDate>, Value> {
        self.day(args, name)
    }

    /// A day argument read against the company's today; past days are refused.
    fn day(&self, args: &Args, name: &str) -> Result<Option<NaiveDate>, Value> {
        let Some(raw) = self.text(args, name)? else {
            return Ok(None);
        };
        let date = parse_date(raw, self.today()).map_err(|e| match e {
            SpokenError::ImpossibleDate(_) => self.refuse_argument(
                name,
                format!("Den Tag „{raw}“ gibt es im Kalender nicht. Welcher Tag wäre es?"),
                format!("There is no such day as \"{raw}\" in the calendar. Which day would it be?"),
            ),
            _ => self.refuse_argument(
                name,
                format!("Ich habe das Datum „{raw}“ nicht verstanden. Welcher Tag wäre es, zum Beispiel „morgen“ oder „15. Januar“?"),
                format!("I did not understand the date \"{raw}\". Which day, for example \"tomorrow\" or \"January 15\"?"),
            ),
        })?;
        if date < self.today() {
            return Err(self.refuse_argument(
                name,
                format!(
                    "Der {} liegt in der Vergangenheit. Welcher Tag ab heute passt Ihnen?",
                    german_date(date)
                ),
                format!("{date} is in the past. Which day from today works for you?"),
            ));
        }
        Ok(Some(date))
    }

    /// A time on `date`, read within business hours (so "halb drei" at a salon is 14:30). A
    /// whole number is read as its text (`14` is "14", 14:00).
    pub fn time(&self, args: &Args, name: &str, date: NaiveDate) -> Result<NaiveTime, Value> {
        let raw = args
            .text_or_integer(name)
            .map_err(|e| self.bad_argument(name, e))?
            .ok_or_else(|| {
                self.refuse_argument(
                    name,
                    "Um welche Uhrzeit hätten Sie gern den Termin?",
                    "At what time would you like the appointment?",
                )
            })?;
        let weekday = chrono::Datelike::weekday(&date).num_days_from_monday() as usize;
        let hours = &self.company.schedule.weekly[weekday];
        parse_time(&raw, |t| hours.iter().any(|iv| t >= iv.start && t < iv.end)).map_err(|_| {
            self.refuse_argument(
                name,
                format!("Ich habe die Uhrzeit „{raw}“ nicht verstanden. Um wie viel Uhr, zum Beispiel „14 Uhr“?"),
                format!("I did not understand the time \"{raw}\". At what time, for example \"2 pm\"?"),
            )
        })
    }

    /// An optional time (`time` of check_availability): absent is `None`, anything present is
    /// read as [`ToolContext::time`] reads it.
    pub fn optional_time(
        &self,
        args: &Args,
        name: &str,
        date: NaiveDate,
    ) -> Result<Option<NaiveTime>, Value> {
        match args.text_or_integer(name) {
            Ok(None) => Ok(None),
            Ok(Some(_)) => self.time(args, name, date).map(Some),
            Err(e) => Err(self.bad_argument(name, e)),
        }
    }

    pub fn service(&self, args: &Args, name: &str) -> Result<&Service, Value> {
        let Some(raw) = self.text(args, name)? else {
            let (de, en) = self.ask_again(name);
            return Err(self.refuse_argument(name, de, en));
        };
        self.company.service(raw).ok_or_else(|| {
            let offered = self.offered_services();
            self.refuse_argument(
                name,
                format!("„{raw}“ bieten wir leider nicht an. Möglich sind: {offered}."),
                format!("We do not offer \"{raw}\". Available: {offered}."),
            )
        })
    }

    /// The customer's phone: the argument if given, else the number the caller rang from. A
    /// number that is present but unreadable is refused, never replaced by the caller's.
    pub fn phone(&self, args: &Args, name: &str) -> Result<PhoneNumber, Value> {
        let raw = self
            .text(args, name)?
            .or(self.call.from_number.as_deref())
            .ok_or_else(|| {
                self.refuse_argument(
                    name,
                    "Unter welcher Telefonnummer sind Sie erreichbar?",
                    "Which phone number can we reach you at?",
                )
            })?;
        PhoneNumber::parse(raw).map_err(|_| {
            self.refuse_argument(
                name,
                "Die Telefonnummer habe ich nicht richtig verstanden. Können Sie sie bitte noch einmal Ziffer für Ziffer nennen?",
                "I did not get the phone number. Could you repeat it digit by digit?",
            )
        })
    }

    /// An optional duration in minutes (a number, or text holding just one), 5..=600.
    pub fn duration(&self, args: &Args, name: &str) -> Result<Option<u32>, Value> {
        let Some(minutes) = args.number(name).map_err(|e| self.bad_argument(name, e))? else {
            return Ok(None);
        };
        if !(5.0..=600.0).contains(&minutes) {
            return Err(self.refuse_argument(
                name,
                "Die gewünschte Dauer ist ungewöhnlich. Wie lange soll der Termin dauern?",
                "That duration looks wrong. How long should the appointment take?",
            ));
        }
        Ok(Some(minutes.round() as u32))
    }
}

impl ToolContext<'_> {
    /// Free slots on `date` and on the following days (up to `days` days in all, never past
    /// the booking horizon), from one calendar read: the day itself first, then the next days
    /// that have room.
    pub async fn free_slots(
        &self,
        service: &Service,
        date: NaiveDate,
        days: u32,
    ) -> Result<Vec<crate::calendar::DaySlots>, crate::calendar::CalendarError> {
        let within = (self.last_bookable_day() - date).num_days() + 1;
        let days = days.min(u32::try_from(within.max(1)).unwrap_or(u32::MAX));
        self.calendar
            .free_slots(self.company, service, date, days, self.now)
            .await
    }
}

impl ToolContext<'_> {
    /// The caller's own booked, upcoming appointment named by `appointment_id` or `date` (or
    /// their only one). Ownership is by phone: another customer's appointment is "not found".
    pub async fn own_appointment(
        &self,
        args: &Args,
    ) -> Result<crate::calendar::Appointment, Value> {
        // Every argument is read before the calendar is asked: an unreadable one is a refusal,
        // never a reason to fall back to the caller's only appointment.
        let phone = self.phone(args, "phone")?;
        let id = self.text(args, "appointment_id")?;
        let date = self.appointment_date(args, "date")?;
        let not_found = || {
            self.refuse(
                "Ich finde zu Ihrer Telefonnummer keinen passenden Termin. Unter welcher Nummer haben Sie gebucht?",
                "I cannot find a matching appointment for your phone number. Which number did you book with?",
            )
        };
        if let Some(id) = id {
            if !is_appointment_id(id) {
                return Err(not_found());
            }
            return match self.calendar.appointment(self.company, id).await {
                Ok(Some(a)) if a.customer_phone == phone.as_str() && a.status == "booked" => Ok(a),
                Ok(_) => Err(not_found()),
                Err(e) => Err(self.unavailable(&e)),
            };
        }
        let all = self
            .calendar
            .customer_appointments(self.company, &phone)
            .await
            .map_err(|e| self.unavailable(&e))?;
        let mut matching: Vec<_> = all
            .into_iter()
            .filter(|a| {
                a.status == "booked" && a.start >= self.now && date.is_none_or(|d| a.date == d)
            })
            .collect();
        match matching.len() {
            0 => Err(not_found()),
            1 => Ok(matching.remove(0)),
            _ => {
                let list: Vec<String> = matching
                    .iter()
                    .map(|a| {
                        self.say(
                            format!("{} um {} Uhr", german_date(a.date), hhmm(a.time)),
                            format!("{} at {}", a.date, hhmm(a.time)),
                        )
                    })
                    .collect();
                Err(json!({"success": false,
                    "appointments": matching.iter().map(|a| json!({"appointment_id": a.appointment_id, "date": a.date.to_string(), "time": hhmm(a.time), "service_id": a.service_id})).collect::<Vec<_>>(),
                    "message": self.say(format!("Sie haben mehrere Termine: {}. Welchen meinen Sie?", list.join(", ")),
                                        format!("You have several appointments: {}. Which one do you mean?", list.join(", ")))}))
            }
        }
    }
}

/// "HH:MM" for replies.
pub fn hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

/// "Dienstag, 14. Juli 2026": a date far enough ahead to need its year.
pub fn german_date_with_year(date: NaiveDate) -> String {
    use chrono::Datelike;
    format!("{} {}", german_date(date), date.year())
}

/// "15. Januar" style date for German messages.
pub fn german_date(date: NaiveDate) -> String {
    const MONTHS: [&str; 12] = [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ];
    const DAYS: [&str; 7] = [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ];
    use chrono::Datelike;
    format!(
        "{}, {}. {}",
        DAYS[date.weekday().num_days_from_monday() as usize],
        date.day(),
        MONTHS[date.month0() as usize]
    )
}

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
fn looks_like_email(email: &str) -> bool {
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
fn argument_label(name: &str) -> (&'static str, &'static str, &'static str) {
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
        _ => ("eine Angabe", "Eine Angabe", "something"),
    }
}

/// "the name" → "The name".
fn sentence_start(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub trait Tool: Send + Sync + 'static {
    /// The function name the agent calls (snake_case), also the last segment of its route.
    const NAME: &'static str;

    fn definition(&self) -> ToolDefinition;

    /// The reply; `message` is what the agent says.
    fn run(&self, ctx: &ToolContext<'_>, args: &Args) -> impl Future<Output = Value> + Send;
}

/// A parsed request: `{"name", "args", "call"}`, or the args alone at the root.
pub fn parse_request(body: &[u8]) -> Result<(Args, CallInfo), serde_json::Error> {
    let mut root: Map<String, Value> = serde_json::from_slice(body)?;
    let call = match root.get("call") {
        Some(Value::Object(call)) => {
            let text = |k: &str| call.get(k).and_then(Value::as_str).map(str::to_owned);
            CallInfo {
                call_id: text("call_id"),
                agent_id: text("agent_id"),
                from_number: text("from_number"),
                to_number: text("to_number"),
            }
        }
        _ => CallInfo::default(),
    };
    let args = match root.remove("args") {
        Some(Value::Object(args)) => args,
        _ => root,
    };
    Ok((Args(args), call))
}

/// Keeps a reply under Retell's cap by shortening its longest list.
pub fn cap_reply(mut reply: Value) -> Value {
    while reply.to_string().chars().count() > MAX_REPLY_CHARS {
        let Some(obj) = reply.as_object_mut() else {
            break;
        };
        let longest = obj
            .iter()
            .filter_map(|(k, v)| v.as_array().map(|a| (k.clone(), a.len())))
            .max_by_key(|(_, len)| *len);
        match longest {
            Some((key, len)) if len > 1 => {
                if let Some(Value::Array(a)) = obj.get_mut(&key) {
                    a.truncate(len / 2);
                }
            }
            _ => break,
        }
    }
    reply
}

/// One tool behind one HTTP route: signature, company, arguments, reply.
pub struct ToolService<T, S> {
    pub tool: T,
    pub auth: RequestAuth<S>,
    pub calendars: Calendars,
}

/// What the caller hears when nothing can be said for sure: the language is unknown until the
/// company is, so both.
fn technical_problem() -> Value {
    json!({"success": false, "message": "Entschuldigung, hier liegt ein technisches Problem vor. Bitte rufen Sie später noch einmal an. / Sorry, there is a technical problem. Please call again later."})
}

impl<T: Tool, S: SecretSource + Send + Sync> ToolService<T, S> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let span = crate::event_span!("tool");
        span.record("event", T::NAME);
        self.respond(request).instrument(span).await
    }

    async fn respond(&self, request: Request) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let body: &[u8] = body.as_ref();
        let span = tracing::Span::current();
        let parsed = parse_request(body);
        let query = parts.uri.query().unwrap_or_default();
        // Who the request claims to be picks the key; the signature has to prove it.
        let claim = parsed
            .as_ref()
            .ok()
            .and_then(|(_, call)| company_key(call, &parts.headers, query));
        let signature = parts
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok());
        let now = Utc::now();
        // Everything, authentication included, is inside the deadline: the caller hears an
        // answer, never silence.
        let deadline = tokio::time::Instant::now() + REPLY_DEADLINE;
        let sender = match tokio::time::timeout_at(
            deadline,
            self.auth
                .authenticate(body, signature, claim.as_ref(), now.timestamp_millis()),
        )
        .await
        {
            Ok(Ok(sender)) => sender,
            Ok(Err(AuthError::Signature(e))) => {
                tracing::warn!(status = 401, reason = e.reason(), "tool call rejected");
                return json_response(401, &json!({"error": e.reason()}));
            }
            Ok(Err(e)) => {
                tracing::error!(status = 503, reason = e.reason(), error = %e, "tool call failed");
                return json_response(503, &json!({"error": e.reason()}));
            }
            Err(_) => {
                tracing::error!(
                    reason = "deadline",
                    "no answer from AWS while authenticating"
                );
                return json_response(200, &technical_problem());
            }
        };
        let (args, call) = match parsed {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(status = 400, reason = "malformed_json", error = %e, "tool call rejected");
                return json_response(400, &json!({"error": "malformed_json"}));
            }
        };
        if let Some(id) = &call.call_id {
            span.record("call_id", id.as_str());
        }
        span.record("company", sender.company_id.as_str());
        let Some(company) = sender.company else {
            tracing::error!(
                reason = "company_not_found",
                "no company for the agent, number or company id given"
            );
            return json_response(200, &technical_problem());
        };
        let calendar = self.calendars.for_company(&company);
        let journal = WriteJournal::default();
        let calendar = JournaledCalendar::new(&calendar, &journal);
        let ctx = ToolContext {
            company: &company,
            calendar: &calendar,
            call: &call,
            now,
        };
        let reply = tokio::time::timeout_at(deadline, self.tool.run(&ctx, &args)).await;
        // A write that may have committed: say that its outcome is being checked, never that
        // it failed or succeeded (`crate::calendar::unresolved`).
        let reply = match (journal.unsettled(), reply) {
            (Some(write), _) => write.unknown_outcome_reply(&ctx, T::NAME),
            (None, Ok(reply)) => cap_reply(reply),
            (None, Err(_)) => ctx.unavailable(&"no answer within the reply deadline"),
        };
        let success = reply
            .get("success")
            .or_else(|| reply.get("available"))
            .and_then(|v| v.as_bool());
        tracing::info!(
            success,
            caller = call
                .from_number
                .as_deref()
                .map(mask_phone)
                .unwrap_or_default(),
            "tool call answered"
        );
        json_response(200, &reply)
    }
}

/// Which company a call belongs to: the agent, else the called number, else (args-only calls)
/// `x-company-id` / `?company_id=` or `x-agent-id` / `?agent_id=`.
pub fn company_key(
    call: &CallInfo,
    headers: &lambda_http::http::HeaderMap,
    query: &str,
) -> Option<CompanyKey> {
    if let Some(agent) = &call.agent_id {
        return Some(CompanyKey::Agent(agent.clone()));
    }
    if let Some(number) = call
        .to_number
        .as_deref()
        .and_then(|n| PhoneNumber::parse(n).ok())
    {
        return Some(CompanyKey::Number(number.as_str().to_owned()));
    }
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(id) = header("x-company-id").or_else(|| param("company_id")) {
        return Some(CompanyKey::Id(id));
    }
    header("x-agent-id")
        .or_else(|| param("agent_id"))
        .map(CompanyKey::Agent)
}

/// A tool Lambda: clients built once, then the runtime loop. `--tool-definition` prints the
/// Retell definition instead (`make tools`).
pub async fn run_lambda<T: Tool>(tool: T) -> Result<(), lambda_http::Error> {
    use crate::platform::config::Env;
    if std::env::args().any(|a| a == "--tool-definition") {
        let base = std::env::var("API_BASE_URL").unwrap_or_else(|_| "https://YOUR-API".into());
        println!(
            "{}",
            serde_json::to_string_pretty(&tool.definition().retell_json(&base))?
        );
        return Ok(());
    }
    crate::platform::telemetry::init();
    let env = Env::from_process();
    let aws =
        crate::platform::aws::AwsClients::from_env(crate::platform::aws::AwsBudget::CALLER_WAITING)
            .await;
    let service = Arc::new(ToolService {
        tool,
        auth: RequestAuth::from_env(&env, &aws)?,
        calendars: Calendars::new(
            crate::calendar::NativeCalendar::new(
                aws.dynamodb.clone(),
                env.required("APPOINTMENTS_TABLE")?,
            ),
            aws.secrets.clone(),
        ),
    });
    lambda_http::run(lambda_http::service_fn(move |request: Request| {
        let service = service.clone();
        async move { Ok::<_, lambda_http::Error>(service.handle(request).await) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_with_and_without_the_envelope() {
        let (args, call) = parse_request(
            br#"{"name":"check_availability","args":{"date":"morgen"},"call":{"call_id":"c1","agent_id":"agent_demo","from_number":"+4917611112222"}}"#,
        )
        .expect("valid");
        assert_eq!(args.text("date"), Ok(Some("morgen")));
        assert_eq!(call.agent_id.as_deref(), Some("agent_demo"));
        let (args, call) =
            parse_request(br#"{"date":"morgen","service_id":"haircut"}"#).expect("valid");
        assert_eq!(args.text("service_id"), Ok(Some("haircut")));
        assert!(call.call_id.is_none());
        assert!(parse_request(b"[1]").is_err());
    }

    #[test]
    fn company_from_agent_number_header_or_query() {
        let headers = lambda_http::http::HeaderMap::new();
        let call = CallInfo {
            agent_id: Some("agent_demo".into()),
            to_number: Some("+493012345678".into()),
            ..CallInfo::default()
        };
        assert_eq!(
            company_key(&call, &headers, ""),
            Some(CompanyKey::Agent("agent_demo".into()))
        );
        let call = CallInfo {
            to_number: Some("030 12345678".into()),
            ..CallInfo::default()
        };
        assert_eq!(
            company_key(&call, &headers, ""),
            Some(CompanyKey::Number("+493012345678".into()))
        );
        assert_eq!(
            company_key(&CallInfo::default(), &headers, "company_id=demo"),
            Some(CompanyKey::Id("demo".into()))
        );
        let mut headers = lambda_http::http::HeaderMap::new();
        headers.insert(
            "x-agent-id",
            lambda_http::http::HeaderValue::from_static("agent_x"),
        );
        assert_eq!(
            company_key(&CallInfo::default(), &headers, ""),
            Some(CompanyKey::Agent("agent_x".into()))
        );
        assert_eq!(
            company_key(
                &CallInfo::default(),
                &lambda_http::http::HeaderMap::new(),
                ""
            ),
            None
        );
    }

    #[test]
    fn replies_are_capped() {
        let slots: Vec<String> = (0..5000)
            .map(|i| format!("{:02}:{:02}", i % 24, i % 60))
            .collect();
        let reply = cap_reply(json!({"available": true, "slots": slots, "message": "ok"}));
        assert!(reply.to_string().chars().count() <= MAX_REPLY_CHARS);
        assert!(!reply["slots"].as_array().map(Vec::is_empty).unwrap_or(true));
    }

    fn args(value: Value) -> Args {
        match value {
            Value::Object(map) => Args(map),
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn arguments_are_absent_readable_or_refused() {
        let long = "x".repeat(1_000_000);
        let exactly = "y".repeat(MAX_ARG_CHARS);
        let a = args(json!({
            "missing_is_absent": null, "empty": "", "blank": "  \t ", "padded": "  morgen ",
            "number": 14, "float": 14.5, "bool": true, "object": {"day": 15}, "array": ["15"],
            "long": long, "exactly": exactly, "nul": "mor\u{0}gen", "newline": "mor\ngen",
            "bidi": "Anna\u{202e}", "umlaut": "Müller", "numeric_text": " 45 ", "word": "lang",
            "nan": "NaN", "huge": u64::MAX,
        }));
        let text: &[(&str, Result<Option<&str>, ArgError>)] = &[
            ("absent", Ok(None)),
            ("missing_is_absent", Ok(None)),
            ("empty", Ok(None)),
            ("blank", Ok(None)),
            ("padded", Ok(Some("morgen"))),
            ("umlaut", Ok(Some("Müller"))),
            ("exactly", Ok(Some(exactly.as_str()))),
            ("number", Err(ArgError::WrongType)),
            ("float", Err(ArgError::WrongType)),
            ("bool", Err(ArgError::WrongType)),
            ("object", Err(ArgError::WrongType)),
            ("array", Err(ArgError::WrongType)),
            (
                "long",
                Err(ArgError::TooLong {
                    max_chars: MAX_ARG_CHARS,
                }),
            ),
            ("nul", Err(ArgError::ControlCharacters)),
            ("newline", Err(ArgError::ControlCharacters)),
            ("bidi", Err(ArgError::ControlCharacters)),
        ];
        for (name, want) in text {
            assert_eq!(a.text(name), *want, "text {name}");
        }
        let time: &[(&str, Result<Option<&str>, ArgError>)] = &[
            ("number", Ok(Some("14"))),
            ("huge", Ok(Some("18446744073709551615"))),
            ("padded", Ok(Some("morgen"))),
            ("absent", Ok(None)),
            ("float", Err(ArgError::WrongType)),
            ("bool", Err(ArgError::WrongType)),
            ("array", Err(ArgError::WrongType)),
        ];
        for (name, want) in time {
            assert_eq!(
                a.text_or_integer(name).as_ref().map(|t| t.as_deref()),
                want.as_ref().map(|t| *t),
                "text_or_integer {name}"
            );
        }
        let number: &[(&str, Result<Option<f64>, ArgError>)] = &[
            ("number", Ok(Some(14.0))),
            ("float", Ok(Some(14.5))),
            ("numeric_text", Ok(Some(45.0))),
            ("empty", Ok(None)),
            ("absent", Ok(None)),
            ("word", Err(ArgError::Unreadable)),
            ("nan", Err(ArgError::Unreadable)),
            ("bool", Err(ArgError::WrongType)),
            ("object", Err(ArgError::WrongType)),
            (
                "long",
                Err(ArgError::TooLong {
                    max_chars: MAX_ARG_CHARS,
                }),
            ),
        ];
        for (name, want) in number {
            assert_eq!(a.number(name), *want, "number {name}");
        }
        assert_eq!(
            a.stored_text("newline", MAX_NOTES_CHARS, true),
            Ok(Some("mor\ngen"))
        );
        assert_eq!(
            a.stored_text("nul", MAX_NOTES_CHARS, true),
            Err(ArgError::ControlCharacters)
        );
        assert_eq!(
            a.stored_text("exactly", 10, false),
            Err(ArgError::TooLong { max_chars: 10 })
        );
    }

    #[test]
    fn email_addresses_and_appointment_ids_have_a_shape() {
        for (email, ok) in [
            ("anna@example.com", true),
            ("anna.schmidt+salon@mail.example.de", true),
            ("anna", false),
            ("anna@", false),
            ("@example.com", false),
            ("anna@example", false),
            ("anna@@example.com", false),
            ("anna schmidt@example.com", false),
            ("anna@example..com", false),
            ("anna@-example.com", false),
            ("<anna@example.com>", false),
        ] {
            assert_eq!(looks_like_email(email), ok, "{email}");
        }
        for (id, ok) in [
            ("apt_0123456789abcdef", true),
            ("apt_0123456789ABCDEF", false),
            ("apt_0123456789abcde", false),
            ("0123456789abcdef", false),
            ("apt_0123456789abcdef#x", false),
            ("12345", false),
        ] {
            assert_eq!(is_appointment_id(id), ok, "{id}");
        }
    }

    #[test]
    fn deeply_nested_requests_are_malformed_not_a_crash() {
        let deep = format!(
            r#"{{"args": {{"date": {}1{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(
            parse_request(deep.as_bytes()).is_err(),
            "serde's depth limit"
        );
    }

    /// A calendar whose DynamoDB points nowhere: a test using it passes only if nothing asks it.
    fn unreachable_calendar() -> crate::calendar::CompanyCalendar {
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .region(aws_sdk_dynamodb::config::Region::new("eu-central-1"))
                .endpoint_url("http://127.0.0.1:9")
                .build(),
        );
        crate::calendar::CompanyCalendar::Native(crate::calendar::NativeCalendar::new(
            client,
            "unreachable",
        ))
    }

    /// A tool context for the demo salon on 2025-01-15 (a Wednesday), 08:00 in Berlin. Its
    /// calendar points nowhere: these tests pass only if nothing asks it.
    fn with_demo_context<R>(from_number: Option<&str>, f: impl FnOnce(&ToolContext<'_>) -> R) -> R {
        let company = crate::booking::company::demo_company();
        let calendar = unreachable_calendar();
        let journal = WriteJournal::default();
        let calendar = JournaledCalendar::new(&calendar, &journal);
        let call = CallInfo {
            from_number: from_number.map(str::to_owned),
            ..CallInfo::default()
        };
        let now = "2025-01-15T07:00:00Z".parse().unwrap_or_default();
        f(&ToolContext {
            company: &company,
            calendar: &calendar,
            call: &call,
            now,
        })
    }

    fn refused_argument(reply: &Value) -> Option<&str> {
        (reply["success"] == json!(false))
            .then(|| reply["argument"].as_str())
            .flatten()
    }

    #[test]
    fn dates_outside_today_to_the_horizon_are_refused() {
        with_demo_context(None, |ctx| {
            let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
            // The demo salon books 180 days ahead: until 2025-07-14.
            assert_eq!(ctx.last_bookable_day(), day(2025, 7, 14));
            let cases: &[(Value, Option<NaiveDate>, &str)] = &[
                (json!("morgen"), Some(day(2025, 1, 16)), ""),
                (json!("2025-07-14"), Some(day(2025, 7, 14)), ""),
                (json!("14.07.2025"), Some(day(2025, 7, 14)), ""),
                (json!("2025-07-15"), None, "So weit im Voraus"),
                (json!("9999-12-31"), None, "So weit im Voraus"),
                (json!("1. Januar 9999"), None, "So weit im Voraus"),
                (json!("0000-01-01"), None, "Vergangenheit"),
                (json!("2025-02-30"), None, "gibt es im Kalender nicht"),
                (json!("30. Februar"), None, "gibt es im Kalender nicht"),
                (json!("irgendwann"), None, "nicht verstanden"),
                (json!(15), None, "nicht lesen"),
                (json!(20250115), None, "nicht lesen"),
                (json!({"day": 15}), None, "nicht lesen"),
                (json!(["morgen"]), None, "nicht lesen"),
                (json!(true), None, "nicht lesen"),
                (json!("x".repeat(20_000)), None, "zu lang"),
                (json!("morgen\u{7}"), None, "Steuerzeichen"),
                (Value::Null, None, "Für welchen Tag"),
                (json!(""), None, "Für welchen Tag"),
            ];
            for (value, want, fragment) in cases {
                let a = args(json!({ "date": value }));
                match (ctx.date(&a, "date"), want) {
                    (Ok(got), Some(want)) => assert_eq!(got, *want, "{value}"),
                    (Err(reply), None) => {
                        assert_eq!(refused_argument(&reply), Some("date"), "{value}: {reply}");
                        assert!(
                            reply["message"]
                                .as_str()
                                .unwrap_or_default()
                                .contains(fragment),
                            "{value}: {reply}"
                        );
                    }
                    (got, _) => panic!("{value}: {got:?}"),
                }
            }
            assert!(ctx
                .nothing_free(day(2025, 7, 10), 14)
                .starts_with("Bis Montag, 14. Juli 2025 ist leider nichts mehr frei"));
            assert!(ctx
                .nothing_free(day(2025, 1, 16), 14)
                .contains("zwei Wochen"));
            // Finding an existing appointment knows no horizon, but still no past.
            let a = args(json!({"date": "2025-12-01"}));
            assert_eq!(ctx.appointment_date(&a, "date"), Ok(Some(day(2025, 12, 1))));
            assert_eq!(ctx.appointment_date(&args(json!({})), "date"), Ok(None));
            let a = args(json!({"date": "2020-01-01"}));
            assert!(ctx.appointment_date(&a, "date").is_err());
        });
    }

    #[test]
    fn times_phones_and_durations_are_read_or_refused() {
        with_demo_context(Some("+4917611112222"), |ctx| {
            let day = NaiveDate::from_ymd_opt(2025, 1, 21).unwrap_or_default();
            let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default();
            let cases: &[(Value, Option<NaiveTime>)] = &[
                (json!("halb drei"), Some(at(14, 30))),
                (json!(14), Some(at(14, 0))),
                (json!(3), Some(at(15, 0))),
                (json!(930), None),
                (json!(14.5), None),
                (json!("14:00\n"), Some(at(14, 0))),
                (json!("14:\u{0}00"), None),
                (json!({"hour": 14}), None),
                (json!(false), None),
            ];
            for (value, want) in cases {
                let a = args(json!({ "time": value }));
                match (ctx.time(&a, "time", day), want) {
                    (Ok(got), Some(want)) => assert_eq!(got, *want, "{value}"),
                    (Err(reply), None) => {
                        assert_eq!(refused_argument(&reply), Some("time"), "{value}: {reply}")
                    }
                    (got, _) => panic!("{value}: {got:?}"),
                }
            }
            assert_eq!(
                ctx.optional_time(&args(json!({"time": null})), "time", day),
                Ok(None)
            );

            let phone = |v: Value| ctx.phone(&args(json!({ "phone": v })), "phone");
            assert_eq!(
                phone(Value::Null).map(|p| p.as_str().to_owned()),
                Ok("+4917611112222".to_owned()),
                "absent: the caller's number"
            );
            assert_eq!(
                phone(json!("0176 3333 4444")).map(|p| p.as_str().to_owned()),
                Ok("+4917633334444".to_owned())
            );
            for bad in [
                json!(4917633334444_u64),
                json!({"n": "0176"}),
                json!(["0176"]),
            ] {
                let reply = phone(bad.clone()).map(|p| p.as_str().to_owned());
                assert_eq!(
                    reply.as_ref().err().and_then(refused_argument),
                    Some("phone"),
                    "{bad} is refused, not replaced by the caller's number"
                );
            }

            let duration = |v: Value| ctx.duration(&args(json!({ "duration": v })), "duration");
            assert_eq!(duration(json!(45)), Ok(Some(45)));
            assert_eq!(duration(json!("60")), Ok(Some(60)));
            assert_eq!(duration(Value::Null), Ok(None));
            for bad in [
                json!("eine Stunde"),
                json!(true),
                json!(4),
                json!(601),
                json!([30]),
            ] {
                let reply = duration(bad.clone());
                assert_eq!(
                    reply.as_ref().err().and_then(refused_argument),
                    Some("duration"),
                    "{bad}"
                );
            }
        });
    }

    #[test]
    fn stored_text_is_bounded_and_email_shaped() {
        with_demo_context(None, |ctx| {
            let name = |v: Value| {
                ctx.stored_text(
                    &args(json!({ "customer_name": v })),
                    "customer_name",
                    MAX_NAME_CHARS,
                    false,
                )
                .map(|n| n.map(str::to_owned))
            };
            assert_eq!(
                name(json!(" Anna Schmidt ")),
                Ok(Some("Anna Schmidt".into()))
            );
            let longest = "ä".repeat(MAX_NAME_CHARS);
            assert_eq!(
                name(json!(longest)),
                Ok(Some(longest.clone())),
                "characters, not bytes"
            );
            for bad in [
                json!("x".repeat(20_000)),
                json!(format!("{longest}x")),
                json!(42),
                json!("Anna\nSchmidt"),
            ] {
                let reply = name(bad.clone());
                assert_eq!(
                    reply.as_ref().err().and_then(refused_argument),
                    Some("customer_name"),
                    "{bad}"
                );
            }
            let email = |v: Value| {
                ctx.email(&args(json!({ "customer_email": v })), "customer_email")
                    .map(|e| e.map(str::to_owned))
            };
            assert_eq!(
                email(json!("anna@example.com")),
                Ok(Some("anna@example.com".into()))
            );
            assert_eq!(email(json!("")), Ok(None));
            for bad in [
                json!("anna at example dot com"),
                json!(1),
                json!(format!("{}@example.com", "a".repeat(300))),
            ] {
                let reply = email(bad.clone());
                assert_eq!(
                    reply.as_ref().err().and_then(refused_argument),
                    Some("customer_email"),
                    "{bad}"
                );
            }
        });
    }

    #[tokio::test]
    async fn an_unreadable_appointment_argument_never_picks_the_only_appointment() {
        let company = crate::booking::company::demo_company();
        let calendar = unreachable_calendar();
        let journal = WriteJournal::default();
        let calendar = JournaledCalendar::new(&calendar, &journal);
        let call = CallInfo {
            from_number: Some("+4917611112222".into()),
            ..CallInfo::default()
        };
        let ctx = ToolContext {
            company: &company,
            calendar: &calendar,
            call: &call,
            now: Utc::now(),
        };
        // Each is refused before the (unreachable) calendar is asked.
        for (value, argument) in [
            (json!({"appointment_id": 12345}), "appointment_id"),
            (
                json!({"appointment_id": {"id": "apt_0123456789abcdef"}}),
                "appointment_id",
            ),
            (
                json!({"appointment_id": ["apt_0123456789abcdef"]}),
                "appointment_id",
            ),
            (json!({"appointment_id": true}), "appointment_id"),
            (json!({"date": 15}), "date"),
            (json!({"date": {"day": 15}}), "date"),
            (json!({"date": "2025-02-30"}), "date"),
            (json!({"phone": 4917611112222_u64}), "phone"),
            (
                json!({"appointment_id": "apt_0123456789abcdef", "date": [1]}),
                "date",
            ),
        ] {
            let reply = ctx.own_appointment(&args(value.clone())).await;
            assert_eq!(
                reply.as_ref().err().and_then(refused_argument),
                Some(argument),
                "{value}: {reply:?}"
            );
        }
        let not_ours = ctx
            .own_appointment(&args(json!({"appointment_id": "12345"})))
            .await;
        let reply = not_ours.err().unwrap_or_default();
        assert!(
            reply["message"]
                .as_str()
                .is_some_and(|m| m.contains("keinen passenden Termin")),
            "an id we never issued is not found without a calendar read: {reply}"
        );
    }

    #[test]
    fn german_dates_read_naturally() {
        let d = NaiveDate::from_ymd_opt(2025, 1, 14).unwrap_or_default();
        assert_eq!(german_date(d), "Dienstag, 14. Januar");
    }
}
