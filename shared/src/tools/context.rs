//! What a tool runs with ([`ToolContext`]): the company, its calendar, the call, the time. Its
//! readers turn an argument into a typed value or into the spoken refusal that asks for it again
//! (`Err`, so a tool ends with `?`); its replies speak the company's language.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde_json::{json, Value};

use super::args::{
    argument_label, looks_like_email, sentence_start, ArgError, Args, MAX_EMAIL_CHARS,
    MAX_NAME_CHARS,
};
use super::CallInfo;
use crate::booking::company::{Company, Service};
use crate::booking::person::PersonName;
use crate::booking::spoken::{
    german_date, german_date_with_year, hhmm, parse_date, parse_time, SpokenError,
};
use crate::booking::staff::StaffMember;
use crate::calendar::unresolved::{JournaledCalendar, PendingWrite, WriteAction, UNKNOWN_OUTCOME};
use crate::calendar::{is_appointment_id, AppointmentStatus, Calendar};

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

    /// Who a change-log entry names for this tool call: the call (`phone:<call_id>`).
    pub fn changed_by(&self) -> String {
        match &self.call.call_id {
            Some(id) => format!("phone:{}", id.chars().take(64).collect::<String>()),
            None => "phone".to_owned(),
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

    /// The reply when the deadline passed with a write under way: its outcome is being
    /// checked, and the agent asks again with the same arguments (`calendar::unresolved`).
    pub fn unknown_outcome(&self, write: &PendingWrite, tool: &str) -> Value {
        tracing::error!(
            appointment_id = %write.appointment_id,
            action = ?write.action,
            reason = "deadline",
            "write outcome unknown at the reply deadline"
        );
        let (de, en) = match write.action {
            WriteAction::Book => ("die Buchung", "the booking"),
            WriteAction::Cancel => ("die Absage", "the cancellation"),
            WriteAction::Reschedule => ("die Verschiebung", "the change"),
        };
        json!({
            "success": false,
            "outcome": UNKNOWN_OUTCOME,
            "pending_write": write,
            "next_step": format!("Call {tool} again with the same arguments to learn the outcome. Do not tell the caller it failed or succeeded before that."),
            "message": self.say(
                format!("Einen Moment bitte, ich prüfe noch, ob {de} durchgegangen ist."),
                format!("One moment please, I am still checking whether {en} went through."),
            ),
        })
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
            "week" => (
                "Möchten Sie die Zeiten für einen Tag oder für die ganze Woche?",
                "Would you like the hours of one day or of the whole week?",
            ),
            "duration" => (
                "Wie viele Minuten soll der Termin dauern?",
                "How many minutes should the appointment take?",
            ),
            "staff" => (
                "Zu wem möchten Sie, oder ist es Ihnen egal?",
                "Who would you like to see, or does it not matter?",
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

    /// An optional person's name, as names are written ([`PersonName`]): it is stored with the
    /// booking and reaches the next call's prompt, so nothing but a name gets in.
    pub fn person_name(&self, args: &Args, name: &str) -> Result<Option<PersonName>, Value> {
        let Some(raw) = self.stored_text(args, name, MAX_NAME_CHARS, false)? else {
            return Ok(None);
        };
        PersonName::parse(raw).map(Some).map_err(|e| {
            tracing::info!(argument = name, error = %e, "argument refused");
            self.refuse_argument(
                name,
                "Den Namen kann ich so nicht notieren. Wie heißen Sie, mit Vor- und Nachnamen?",
                "I cannot note the name like that. What is your first and last name?",
            )
        })
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

    /// Whether `time` on `date` is a start the hours allow for `service`, bookings aside: the
    /// hours of `person`, or of anyone who performs it (book and reschedule refuse anything
    /// else before asking the calendar).
    pub fn is_bookable_start(
        &self,
        service: &Service,
        date: NaiveDate,
        time: NaiveTime,
        person: Option<&StaffMember>,
    ) -> bool {
        self.company
            .team
            .is_bookable_start(service, date, time, person, self.now)
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
    /// their only one). Ownership is by phone, the caller's own line or a number they proved
    /// (`caller`): another customer's appointment is "not found".
    pub async fn own_appointment(
        &self,
        args: &Args,
    ) -> Result<crate::calendar::Appointment, Value> {
        // Every argument is read before the calendar is asked: an unreadable one is a refusal,
        // never a reason to fall back to the caller's only appointment.
        let id = self.text(args, "appointment_id")?;
        let date = self.appointment_date(args, "date")?;
        let phone = self.proven_customer(args, "phone").await?.phone;
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
                Ok(Some(a))
                    if a.customer_phone == phone.as_str()
                        && a.status == AppointmentStatus::Booked =>
                {
                    Ok(a)
                }
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
                a.status == AppointmentStatus::Booked
                    && a.start >= self.now
                    && date.is_none_or(|d| a.date == d)
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
