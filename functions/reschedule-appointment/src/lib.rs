//! `reschedule_appointment([phone], [date], [appointment_id], new_date, new_time)`: moves one of
//! the caller's own appointments, with the same person or the one asked for (`staff`); the new
//! time is taken and the old freed together, or nothing changes (and the reply says who else is
//! free then).

use serde_json::json;
use shared::booking::spoken::{german_date, hhmm};
use shared::calendar::{Calendar, CalendarError};
use shared::tools::{parameters, Args, Reply, Tool, ToolContext, ToolDefinition};

pub struct RescheduleAppointment;

impl Tool for RescheduleAppointment {
    const NAME: &'static str = "reschedule_appointment";

    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: Self::NAME,
            description: "Einen eigenen Termin verschieben. Move one of the caller's own appointments to a new day and time.",
            parameters: parameters::object(
                parameters::own_appointment(
                    "Current day of the appointment: if the caller has several, or for another number",
                )
                .into_iter()
                .chain([
                    (
                        "new_date",
                        parameters::day("New day, e.g. 'morgen', '20.01.2025'"),
                    ),
                    ("new_time", parameters::time("New start time, e.g. '15 Uhr'")),
                    ("staff", parameters::staff()),
                ]),
                &["new_date", "new_time"],
            ),
        }
    }

    async fn run(&self, ctx: &ToolContext<'_>, args: &Args) -> Result<Reply, Reply> {
        let new_date = ctx.date(args, "new_date")?;
        let new_time = ctx.time(args, "new_time", new_date)?;
        let appointment = ctx.own_appointment(args).await?;
        let Some(service) = ctx
            .company
            .settings
            .services
            .iter()
            .find(|s| s.id == appointment.service_id)
        else {
            return Err(ctx.refuse(
                "Diese Leistung bieten wir nicht mehr an; bitte sagen Sie den Termin ab und buchen Sie neu.",
                "That service is no longer offered; please cancel and book again.",
            ));
        };
        // Another person only when the caller asks for one; otherwise the same.
        let asked = ctx.staff(args, "staff", service)?;
        let person = asked.unwrap_or_else(|| {
            ctx.company
                .team
                .member_or_default(appointment.staff_id.as_deref())
        });
        if ctx.is_bookable_start(service, new_date, new_time, Some(person)) {
            match ctx
                .calendar
                .reschedule(
                    ctx.company,
                    &appointment,
                    service,
                    new_date,
                    new_time,
                    asked,
                    &ctx.changed_by(),
                )
                .await
            {
                Ok(Some(moved)) => {
                    tracing::info!(appointment_id = %moved.appointment_id, "appointment rescheduled");
                    let staff = moved.staff_id.as_deref().and_then(|id| ctx.staff_name(id));
                    let with = staff.map_or(String::new(), |n| {
                        ctx.say(format!(" bei {n}"), format!(" with {n}"))
                    });
                    return Ok(
                        json!({"success": true, "appointment_id": moved.appointment_id, "date": new_date.to_string(),
                       "time": hhmm(new_time), "service_id": service.id, "staff": staff,
                       "message": ctx.say(
                           format!("Ihr Termin{with} ist verschoben auf {} um {} Uhr.", german_date(new_date), hhmm(new_time)),
                           format!("Your appointment{with} is moved to {new_date} at {}.", hhmm(new_time)))}),
                    );
                }
                Ok(None) | Err(CalendarError::NonexistentTime) => {}
                Err(e) => return Ok(ctx.unavailable(&e)),
            }
        }
        // Taken, or the person does not work then: who else is free at that time (the
        // appointment keeps its person unless the caller books anew with someone else).
        let others: Vec<String> = if ctx.company.team.is_staffed() {
            ctx.free_slots(service, new_date, 1)
                .await
                .ok()
                .and_then(|days| days.into_iter().next())
                .and_then(|(_, free)| free.into_iter().find(|f| f.time == new_time))
                .map(|f| f.staff.into_iter().filter(|id| *id != person.id).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        if others.is_empty() {
            return Err(ctx.refuse(
                format!("{} um {} Uhr ist leider nicht frei. Soll ich nach freien Zeiten an dem Tag schauen?", german_date(new_date), hhmm(new_time)),
                format!("{new_date} at {} is not available. Shall I check free times that day?", hhmm(new_time)),
            ));
        }
        let names = ctx.names(others.iter().map(String::as_str));
        let mut reply = ctx.refuse(
            format!("{} hat {} um {} Uhr leider keine Zeit, {names} aber schon. Soll ich den Termin bei {names} neu buchen, oder schauen wir nach einer anderen Zeit bei {}?", person.name, german_date(new_date), hhmm(new_time), person.name),
            format!("{} is not available on {new_date} at {}, but {names} is. Shall I book it anew with {names}, or look for another time with {}?", person.name, hhmm(new_time), person.name),
        );
        reply["others_free"] = json!(others
            .iter()
            .filter_map(|id| ctx.staff_name(id))
            .collect::<Vec<_>>());
        Ok(reply)
    }
}
