//! `book_appointment(customer_phone, date, time, service_id, [customer_name], [customer_email],
//! [notes])`: books atomically; a taken slot answers with alternatives; a retry of the same
//! booking answers with the same appointment.

use chrono::{NaiveDate, NaiveTime};
use serde_json::{json, Value};
use shared::booking::company::Service;
use shared::booking::spoken::{german_date, hhmm};
use shared::calendar::{BookingOutcome, BookingRequest, Calendar, CalendarError};
use shared::tools::{
    args::MAX_NOTES_CHARS, parameters, Args, Reply, Tool, ToolContext, ToolDefinition,
};

pub struct BookAppointment;

/// How far ahead alternatives are looked for.
const SEARCH_DAYS: u32 = 14;

async fn alternatives(
    ctx: &ToolContext<'_>,
    service: &Service,
    date: NaiveDate,
) -> Result<Vec<(NaiveDate, NaiveTime)>, CalendarError> {
    let days = ctx.free_slots(service, date, SEARCH_DAYS).await?;
    Ok(days
        .iter()
        .flat_map(|(d, slots)| slots.iter().take(3).map(move |t| (*d, *t)))
        .take(3)
        .collect())
}

/// The alternatives as the reply lists them.
fn alternatives_json(alts: &[(NaiveDate, NaiveTime)]) -> Value {
    alts.iter()
        .map(|(d, t)| json!({"date": d.to_string(), "time": hhmm(*t)}))
        .collect()
}

fn spoken_alternatives(
    ctx: &ToolContext<'_>,
    date: NaiveDate,
    alts: &[(NaiveDate, NaiveTime)],
) -> String {
    let list: Vec<String> = alts
        .iter()
        .map(|(d, t)| {
            ctx.say(
                format!("{} um {} Uhr", german_date(*d), hhmm(*t)),
                format!("{d} at {}", hhmm(*t)),
            )
        })
        .collect();
    if list.is_empty() {
        ctx.nothing_free(date, SEARCH_DAYS)
    } else {
        ctx.say(
            format!("Möglich wäre {}.", list.join(" oder ")),
            format!("Possible would be {}.", list.join(" or ")),
        )
    }
}

impl Tool for BookAppointment {
    const NAME: &'static str = "book_appointment";

    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: Self::NAME,
            description: "Einen Termin verbindlich buchen. Book an appointment; if the time is taken, the reply lists alternatives.",
            parameters: parameters::object(
                [
                    (
                        "customer_phone",
                        parameters::text(
                            "Caller's phone number; defaults to the number they call from",
                        ),
                    ),
                    (
                        "date",
                        parameters::day("Day, e.g. 2025-01-15, '15. Januar', 'morgen'"),
                    ),
                    (
                        "time",
                        parameters::time("Start time, e.g. '14:00', '14 Uhr', 'halb drei'"),
                    ),
                    ("service_id", parameters::service_id()),
                    (
                        "customer_name",
                        parameters::person_name("Caller's name (letters only)"),
                    ),
                    ("customer_email", parameters::email()),
                    ("notes", parameters::notes()),
                ],
                &["date", "time", "service_id"],
            ),
        }
    }

    async fn run(&self, ctx: &ToolContext<'_>, args: &Args) -> Result<Reply, Reply> {
        let date = ctx.date(args, "date")?;
        let time = ctx.time(args, "time", date)?;
        let service = ctx.service(args, "service_id")?;
        let (phone, contact_proven) = ctx.contact_number(args, "customer_phone")?;
        // Stored free text, bounded (docs/custom-functions.md, "Arguments"); a name only as
        // names are written, since it reaches the next call's prompt.
        let customer_name = ctx.person_name(args, "customer_name")?;
        let customer_name = customer_name.as_ref().map(|n| n.as_str());
        let customer_email = ctx.email(args, "customer_email")?;
        let notes = ctx.stored_text(args, "notes", MAX_NOTES_CHARS, true)?;
        if !ctx.is_bookable_start(service, date, time) {
            let alts = alternatives(ctx, service, date)
                .await
                .map_err(|e| ctx.unavailable(&e))?;
            let message = ctx.say(
                format!(
                    "{} um {} Uhr können wir {} leider nicht anbieten. {}",
                    german_date(date),
                    hhmm(time),
                    service.display_name(),
                    spoken_alternatives(ctx, date, &alts)
                ),
                format!(
                    "We cannot offer {} on {date} at {}. {}",
                    service.display_name(),
                    hhmm(time),
                    spoken_alternatives(ctx, date, &alts)
                ),
            );
            return Ok(
                json!({"success": false, "alternatives": alternatives_json(&alts), "message": message}),
            );
        }
        let request = BookingRequest {
            date,
            time,
            service,
            customer_phone: &phone,
            customer_name,
            customer_email,
            notes,
            call_id: ctx.call.call_id.as_deref(),
            contact_proven,
        };
        Ok(match ctx.calendar.book(ctx.company, &request).await {
            Ok(BookingOutcome::Booked(a)) | Ok(BookingOutcome::AlreadyBooked(a)) => {
                tracing::info!(appointment_id = %a.appointment_id, "appointment booked");
                let message = ctx.say(
                    format!("Ihr Termin für {} ist gebucht: {} um {} Uhr.", service.display_name(), german_date(date), hhmm(time)),
                    format!("Your {} appointment is booked for {date} at {}.", service.display_name(), hhmm(time)),
                );
                json!({"success": true, "appointment_id": a.appointment_id, "date": date.to_string(),
                       "time": hhmm(time), "service_id": service.id, "message": message})
            }
            Ok(BookingOutcome::SlotTaken) => {
                let alts = alternatives(ctx, service, date).await.map_err(|e| ctx.unavailable(&e))?;
                let message = ctx.say(
                    format!("{} um {} Uhr ist leider gerade vergeben worden. {}", german_date(date), hhmm(time), spoken_alternatives(ctx, date, &alts)),
                    format!("{date} at {} has just been taken. {}", hhmm(time), spoken_alternatives(ctx, date, &alts)),
                );
                json!({"success": false, "alternatives": alternatives_json(&alts), "message": message})
            }
            Err(CalendarError::NonexistentTime) => ctx.refuse(
                "Diese Uhrzeit gibt es an dem Tag wegen der Zeitumstellung nicht. Welche Zeit passt stattdessen?",
                "That time does not exist that day because of the clock change. Which other time suits you?",
            ),
            Err(e) => ctx.unavailable(&e),
        })
    }
}
