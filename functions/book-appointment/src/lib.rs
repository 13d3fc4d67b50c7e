//! `book_appointment(customer_phone, date, time, service_id, [customer_name], [customer_email],
//! [notes], [staff])`: books atomically with the asked-for person or the fairest free one; a
//! taken slot answers with alternatives (and who else is free then); a retry of the same
//! booking answers with the same appointment.

use chrono::{NaiveDate, NaiveTime};
use serde_json::{json, Value};
use shared::booking::company::Service;
use shared::booking::spoken::{german_date, hhmm};
use shared::booking::staff::StaffMember;
use shared::calendar::{BookingOutcome, BookingRequest, Calendar, CalendarError, FreeTime};
use shared::tools::{
    args::MAX_NOTES_CHARS, parameters, Args, Reply, Tool, ToolContext, ToolDefinition,
};

pub struct BookAppointment;

/// How far ahead alternatives are looked for.
const SEARCH_DAYS: u32 = 14;

/// Free times near the asked one (with the asked-for person, if any), and who else is free at
/// the asked time itself.
struct Alternatives {
    times: Vec<(NaiveDate, FreeTime)>,
    others_then: Vec<String>,
}

async fn alternatives(
    ctx: &ToolContext<'_>,
    service: &Service,
    date: NaiveDate,
    time: NaiveTime,
    person: Option<&StaffMember>,
) -> Result<Alternatives, CalendarError> {
    let days = ctx.free_slots(service, date, SEARCH_DAYS).await?;
    let theirs = |f: &&FreeTime| person.is_none_or(|p| f.has(&p.id));
    let others_then = match person {
        Some(p) => days
            .first()
            .and_then(|(d, slots)| (*d == date).then_some(slots))
            .and_then(|slots| slots.iter().find(|f| f.time == time))
            .map(|f| f.staff.iter().filter(|id| **id != p.id).cloned().collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let times = days
        .iter()
        .flat_map(|(d, slots)| {
            slots
                .iter()
                .filter(theirs)
                .take(3)
                .map(move |f| (*d, f.clone()))
        })
        .take(3)
        .collect();
    Ok(Alternatives { times, others_then })
}

/// The alternatives as the reply lists them.
fn alternatives_json(ctx: &ToolContext<'_>, alts: &Alternatives) -> Value {
    alts.times
        .iter()
        .map(|(d, f)| {
            let mut alt = json!({"date": d.to_string(), "time": hhmm(f.time)});
            if ctx.company.team.is_staffed() {
                alt["staff"] = json!(f
                    .staff
                    .iter()
                    .filter_map(|id| ctx.staff_name(id))
                    .collect::<Vec<_>>());
            }
            alt
        })
        .collect()
}

fn spoken_alternatives(
    ctx: &ToolContext<'_>,
    date: NaiveDate,
    alts: &Alternatives,
    person: Option<&StaffMember>,
) -> String {
    let list: Vec<String> = alts
        .times
        .iter()
        .map(|(d, f)| {
            ctx.say(
                format!("{} um {} Uhr", german_date(*d), hhmm(f.time)),
                format!("{d} at {}", hhmm(f.time)),
            )
        })
        .collect();
    let with = person.map_or(String::new(), |p| {
        ctx.say(format!(" bei {}", p.name), format!(" with {}", p.name))
    });
    let mut spoken = if list.is_empty() {
        ctx.nothing_free(date, SEARCH_DAYS)
    } else {
        ctx.say(
            format!("Möglich wäre{with} {}.", list.join(" oder ")),
            format!("Possible{with} would be {}.", list.join(" or ")),
        )
    };
    if let (Some(p), false) = (person, alts.others_then.is_empty()) {
        let others = ctx.names(alts.others_then.iter().map(String::as_str));
        spoken = ctx.say(
            format!(
                "{} hat dann keine Zeit, {others} aber schon. {spoken}",
                p.name
            ),
            format!(
                "{} is not available then, but {others} is. {spoken}",
                p.name
            ),
        );
    }
    spoken
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
                    ("staff", parameters::staff()),
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
        let person = ctx.staff(args, "staff", service)?;
        if !ctx.is_bookable_start(service, date, time, person) {
            let alts = alternatives(ctx, service, date, time, person)
                .await
                .map_err(|e| ctx.unavailable(&e))?;
            let message = ctx.say(
                format!(
                    "{} um {} Uhr können wir {} leider nicht anbieten. {}",
                    german_date(date),
                    hhmm(time),
                    service.display_name(),
                    spoken_alternatives(ctx, date, &alts, person)
                ),
                format!(
                    "We cannot offer {} on {date} at {}. {}",
                    service.display_name(),
                    hhmm(time),
                    spoken_alternatives(ctx, date, &alts, person)
                ),
            );
            return Ok(
                json!({"success": false, "alternatives": alternatives_json(ctx, &alts), "message": message}),
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
            staff: person,
            contact_proven,
            booked_by: None,
        };
        Ok(match ctx.calendar.book(ctx.company, &request).await {
            Ok(BookingOutcome::Booked(a)) | Ok(BookingOutcome::AlreadyBooked(a)) => {
                tracing::info!(appointment_id = %a.appointment_id, staff = a.staff_id.as_deref().unwrap_or(""), "appointment booked");
                let staff = a.staff_id.as_deref().and_then(|id| ctx.staff_name(id));
                let with = staff.map_or(String::new(), |n| ctx.say(format!(" bei {n}"), format!(" with {n}")));
                let message = ctx.say(
                    format!("Ihr Termin für {}{with} ist gebucht: {} um {} Uhr.", service.display_name(), german_date(date), hhmm(time)),
                    format!("Your {} appointment{with} is booked for {date} at {}.", service.display_name(), hhmm(time)),
                );
                json!({"success": true, "appointment_id": a.appointment_id, "date": date.to_string(),
                       "time": hhmm(time), "service_id": service.id, "staff": staff, "message": message})
            }
            Ok(BookingOutcome::SlotTaken) => {
                let alts = alternatives(ctx, service, date, time, person).await.map_err(|e| ctx.unavailable(&e))?;
                let spoken = spoken_alternatives(ctx, date, &alts, person);
                let message = ctx.say(
                    format!("{} um {} Uhr ist leider gerade vergeben worden. {spoken}", german_date(date), hhmm(time)),
                    format!("{date} at {} has just been taken. {spoken}", hhmm(time)),
                );
                let mut reply = json!({"success": false, "alternatives": alternatives_json(ctx, &alts), "message": message});
                if !alts.others_then.is_empty() {
                    reply["others_free"] = json!(alts.others_then.iter().filter_map(|id| ctx.staff_name(id)).collect::<Vec<_>>());
                }
                reply
            }
            Err(CalendarError::NonexistentTime) => ctx.refuse(
                "Diese Uhrzeit gibt es an dem Tag wegen der Zeitumstellung nicht. Welche Zeit passt stattdessen?",
                "That time does not exist that day because of the clock change. Which other time suits you?",
            ),
            Err(e) => ctx.unavailable(&e),
        })
    }
}
