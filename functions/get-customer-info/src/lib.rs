//! `get_customer_info([phone])`: who is calling, how often they came, what is booked.

use serde_json::{json, Value};
use shared::booking::spoken::{german_date, hhmm};
use shared::calendar::Calendar;
use shared::calendar::{Appointment, AppointmentStatus};
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
        // "Wie letztes Mal bei Anna?": the person of the last visit, and of each upcoming one.
        let staff_of = |a: &&Appointment| a.staff_id.as_deref().and_then(|id| ctx.staff_name(id));
        let last_staff = past.last().and_then(staff_of);
        let message = if !known {
            ctx.say(
                "Zu dieser Nummer ist noch kein Kunde bekannt.",
                "No customer is known for this number yet.",
            )
        } else {
            let who = name
                .clone()
                .unwrap_or_else(|| ctx.say("Der Kunde", "The customer"));
            let last_with = last_staff.map_or(String::new(), |n| {
                ctx.say(format!(" (zuletzt bei {n})"), format!(" (last with {n})"))
            });
            match upcoming
                .first()
                .map(|a| (a.date, hhmm(a.time), staff_of(a)))
            {
                Some((d, t, staff)) => {
                    let with = staff.map_or(String::new(), |n| {
                        ctx.say(format!(" bei {n}"), format!(" with {n}"))
                    });
                    ctx.say(
                        format!(
                            "{who} war {} Mal hier{last_with}. Nächster Termin: {} um {t} Uhr{with}.",
                            past.len(),
                            german_date(d)
                        ),
                        format!(
                            "{who} has visited {} times{last_with}. Next appointment: {d} at {t}{with}.",
                            past.len()
                        ),
                    )
                }
                None => ctx.say(
                    format!(
                        "{who} war {} Mal hier{last_with} und hat keinen kommenden Termin.",
                        past.len()
                    ),
                    format!(
                        "{who} has visited {} times{last_with} and has no upcoming appointment.",
                        past.len()
                    ),
                ),
            }
        };
        let upcoming: Vec<Value> = upcoming
            .iter()
            .map(|a| {
                let mut item = json!({"appointment_id": a.appointment_id, "date": a.date.to_string(), "time": hhmm(a.time), "service_id": a.service_id});
                if let Some(staff) = staff_of(a) {
                    item["staff"] = json!(staff);
                }
                item
            })
            .collect();
        Ok(
            json!({"known": known, "name": name, "phone": phone.as_str(), "visits": past.len(),
                   "last_visit": last_visit, "last_staff": last_staff, "upcoming": upcoming, "message": message}),
        )
    }
}
