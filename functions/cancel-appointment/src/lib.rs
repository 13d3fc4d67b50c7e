//! `cancel_appointment([phone], [date], [appointment_id])`: cancels one of the caller's own
//! appointments and frees its time.

use serde_json::json;
use shared::booking::spoken::{german_date, hhmm};
use shared::calendar::Calendar;
use shared::tools::{parameters, Args, Reply, Tool, ToolContext, ToolDefinition};

pub struct CancelAppointment;

impl Tool for CancelAppointment {
    const NAME: &'static str = "cancel_appointment";

    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: Self::NAME,
            description: "Einen eigenen Termin des Anrufers absagen. Cancel one of the caller's own appointments (found by phone, date or id).",
            parameters: parameters::object(
                parameters::own_appointment(
                    "Day of the appointment: if the caller has several, or for another number",
                ),
                &[],
            ),
        }
    }

    async fn run(&self, ctx: &ToolContext<'_>, args: &Args) -> Result<Reply, Reply> {
        let appointment = ctx.own_appointment(args).await?;
        Ok(
            match ctx
                .calendar
                .cancel(ctx.company, &appointment, &ctx.changed_by())
                .await
            {
                Ok(true) => {
                    tracing::info!(appointment_id = %appointment.appointment_id, "appointment cancelled");
                    json!({"success": true, "appointment_id": appointment.appointment_id,
                       "date": appointment.date.to_string(), "time": hhmm(appointment.time),
                       "message": ctx.say(
                           format!("Ihr Termin am {} um {} Uhr ist abgesagt.", german_date(appointment.date), hhmm(appointment.time)),
                           format!("Your appointment on {} at {} is cancelled.", appointment.date, hhmm(appointment.time)))})
                }
                Ok(false) => ctx.refuse(
                    "Dieser Termin ist bereits abgesagt.",
                    "That appointment is already cancelled.",
                ),
                Err(e) => ctx.unavailable(&e),
            },
        )
    }
}
