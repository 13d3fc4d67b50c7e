//! `reschedule_appointment([phone], [date], [appointment_id], new_date, new_time)`: moves one of
//! the caller's own appointments; the new time is taken and the old freed together, or nothing
//! changes.

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
        let taken = || {
            ctx.refuse(
                format!("{} um {} Uhr ist leider nicht frei. Soll ich nach freien Zeiten an dem Tag schauen?", german_date(new_date), hhmm(new_time)),
                format!("{new_date} at {} is not available. Shall I check free times that day?", hhmm(new_time)),
            )
        };
        if !ctx.is_bookable_start(service, new_date, new_time) {
            return Err(taken());
        }
        Ok(
            match ctx
                .calendar
                .reschedule(ctx.company, &appointment, service, new_date, new_time)
                .await
            {
                Ok(Some(moved)) => {
                    tracing::info!(appointment_id = %moved.appointment_id, "appointment rescheduled");
                    json!({"success": true, "appointment_id": moved.appointment_id, "date": new_date.to_string(),
                       "time": hhmm(new_time), "service_id": service.id,
                       "message": ctx.say(
                           format!("Ihr Termin ist verschoben auf {} um {} Uhr.", german_date(new_date), hhmm(new_time)),
                           format!("Your appointment is moved to {new_date} at {}.", hhmm(new_time)))})
                }
                Ok(None) => taken(),
                Err(CalendarError::NonexistentTime) => taken(),
                Err(e) => ctx.unavailable(&e),
            },
        )
    }
}
