//! `get_customer_info([phone])`: who is calling, how often they came, what is booked.

use serde_json::{json, Value};
use shared::booking::spoken::{german_date, hhmm};
use shared::calendar::AppointmentStatus;
use shared::calendar::Calendar;
use shared::tools::{parameters, Args, Reply, Tool, ToolContext, ToolDefinition};

pub struct GetCustomerInfo;

impl Tool for GetCustomerInfo {
    const NAME: &'static str = "get_customer_info";

    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: Self::NAME,
            description: "Kundendaten des Anrufers abrufen (Name, Besuche, kommende Termine). Look up the caller by the number they call from: name, visits, upcoming appointments. Another number needs the name and an appointment date.",
            parameters: parameters::object(
                parameters::another_customer(
                    "For another number: the day of one of its appointments",
                ),
                &[],
            ),
        }
    }

    async fn run(&self, ctx: &ToolContext<'_>, args: &Args) -> Result<Reply, Reply> {
        let phone = ctx.proven_customer(args, "phone").await?.phone;
        let (name, appointments) = match tokio::join!(
            ctx.calendar.customer_name(ctx.company, &phone),
            ctx.calendar.customer_appointments(ctx.company, &phone)
        ) {
            (Ok(n), Ok(a)) => (n, a),
            (Err(e), _) | (_, Err(e)) => return Err(ctx.unavailable(&e)),
        };
        let booked = appointments
            .iter()
            .filter(|a| a.status == AppointmentStatus::Booked);
        let past: Vec<_> = booked.clone().filter(|a| a.start < ctx.now).collect();
        let upcoming: Vec<_> = booked.filter(|a| a.start >= ctx.now).collect();
        let known = name.is_some() || !appointments.is_empty();
        let last_visit = past.last().map(|a| a.date.to_string());
        let message = if !known {
            ctx.say(
                "Zu dieser Nummer ist noch kein Kunde bekannt.",
                "No customer is known for this number yet.",
            )
        } else {
            let who = name
                .clone()
                .unwrap_or_else(|| ctx.say("Der Kunde", "The customer"));
            match upcoming.first().map(|a| (a.date, hhmm(a.time))) {
                Some((d, t)) => ctx.say(
                    format!(
                        "{who} war {} Mal hier. Nächster Termin: {} um {t} Uhr.",
                        past.len(),
                        german_date(d)
                    ),
                    format!(
                        "{who} has visited {} times. Next appointment: {d} at {t}.",
                        past.len()
                    ),
                ),
                None => ctx.say(
                    format!(
                        "{who} war {} Mal hier und hat keinen kommenden Termin.",
                        past.len()
                    ),
                    format!(
                        "{who} has visited {} times and has no upcoming appointment.",
                        past.len()
                    ),
                ),
            }
        };
        let upcoming: Vec<Value> = upcoming
            .iter()
            .map(|a| json!({"appointment_id": a.appointment_id, "date": a.date.to_string(), "time": hhmm(a.time), "service_id": a.service_id}))
            .collect();
        Ok(
            json!({"known": known, "name": name, "phone": phone.as_str(), "visits": past.len(),
                   "last_visit": last_visit, "upcoming": upcoming, "message": message}),
        )
    }
}
