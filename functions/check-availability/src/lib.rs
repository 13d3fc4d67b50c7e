//! `check_availability(date, service_id, [duration], [time])`: free times on a day, or the next
//! open days with room.

use serde_json::{json, Value};
use shared::booking::company::Service;
use shared::booking::spoken::{german_date, hhmm};
use shared::tools::{parameters, Args, Reply, Tool, ToolContext, ToolDefinition};

/// How far ahead alternatives are looked for.
const SEARCH_DAYS: u32 = 14;
/// Alternatives offered when the day is full.
const NEXT_DAYS: usize = 3;

pub struct CheckAvailability;

impl Tool for CheckAvailability {
    const NAME: &'static str = "check_availability";

    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: Self::NAME,
            description: "Freie Termine für eine Leistung an einem Tag prüfen. Check free appointment times for a service on a day; offers the next open days if that day is full.",
            parameters: parameters::object(
                [
                    (
                        "date",
                        parameters::day("Day as the caller said it: 2025-01-15, 15.01.2025, '15. Januar', 'morgen', 'nächsten Dienstag'"),
                    ),
                    ("service_id", parameters::service_id()),
                    (
                        "duration",
                        parameters::minutes("Minutes, if the caller needs longer than the service's usual duration"),
                    ),
                    (
                        "time",
                        parameters::time("A specific time to check, e.g. '14:00' or 'halb drei'; omit to list the day's free times"),
                    ),
                ],
                &["date", "service_id"],
            ),
        }
    }

    async fn run(&self, ctx: &ToolContext<'_>, args: &Args) -> Result<Reply, Reply> {
        let date = ctx.date(args, "date")?;
        let mut service: Service = ctx.service(args, "service_id")?.clone();
        if let Some(minutes) = ctx.duration(args, "duration")? {
            service.duration_minutes = service.duration_minutes.max(minutes);
        }
        let wanted = ctx.optional_time(args, "time", date)?;
        let days = ctx
            .free_slots(&service, date, SEARCH_DAYS)
            .await
            .map_err(|e| ctx.unavailable(&e))?;
        let spoken =
            |times: &[chrono::NaiveTime]| times.iter().copied().map(hhmm).collect::<Vec<_>>();
        let today: Vec<String> = days.first().map(|(_, s)| spoken(s)).unwrap_or_default();
        let next_days = || days.iter().skip(1).take(NEXT_DAYS);
        let next: Vec<Value> = next_days()
            .map(|(d, s)| json!({"date": d.to_string(), "slots": spoken(s)}))
            .collect();
        let name = service.display_name();
        if let Some(t) = wanted {
            let free = today.contains(&hhmm(t));
            let message = if free {
                ctx.say(
                    format!(
                        "{} um {} Uhr ist für {name} frei.",
                        german_date(date),
                        hhmm(t)
                    ),
                    format!("{date} at {} is free for {name}.", hhmm(t)),
                )
            } else {
                ctx.say(
                    format!(
                        "{} um {} Uhr ist leider nicht frei. {}",
                        german_date(date),
                        hhmm(t),
                        offer_de(&today)
                    ),
                    format!(
                        "{date} at {} is not available. {}",
                        hhmm(t),
                        offer_en(&today)
                    ),
                )
            };
            return Ok(
                json!({"available": free, "date": date.to_string(), "time": hhmm(t), "slots": today, "next_days": next, "message": message}),
            );
        }
        if !today.is_empty() {
            let message = ctx.say(
                format!(
                    "Am {} ist für {name} noch frei: {}.",
                    german_date(date),
                    spoken_list(&today, " oder ")
                ),
                format!(
                    "On {date} these times are free for {name}: {}.",
                    spoken_list(&today, " or ")
                ),
            );
            return Ok(
                json!({"available": true, "date": date.to_string(), "slots": today, "message": message}),
            );
        }
        let message = match next_days().next() {
            Some((day, times)) => {
                let slots = spoken(times);
                ctx.say(
                    format!("Am {} ist leider nichts mehr frei. Der nächste freie Tag ist {}, zum Beispiel um {}.", german_date(date), german_date(*day), spoken_list(&slots, " oder ")),
                    format!("Nothing is free on {date}. The next open day is {day}, for example at {}.", spoken_list(&slots, " or ")),
                )
            }
            None => ctx.nothing_free(date, SEARCH_DAYS),
        };
        Ok(
            json!({"available": false, "date": date.to_string(), "slots": [], "next_days": next, "message": message}),
        )
    }
}

/// The first few times, as the agent would say them.
fn spoken_list(times: &[String], or: &str) -> String {
    let shown: Vec<&str> = times.iter().take(4).map(String::as_str).collect();
    match shown.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{}{or}{last}", rest.join(", ")),
        Some((last, _)) => (*last).to_owned(),
        None => String::new(),
    }
}

fn offer_de(times: &[String]) -> String {
    if times.is_empty() {
        "An dem Tag ist nichts mehr frei.".into()
    } else {
        format!("Frei wäre {}.", spoken_list(times, " oder "))
    }
}

fn offer_en(times: &[String]) -> String {
    if times.is_empty() {
        "Nothing else is free that day.".into()
    } else {
        format!("Free would be {}.", spoken_list(times, " or "))
    }
}
