//! `check_availability(date, service_id, [duration], [time], [staff])`: free times on a day
//! (with who takes each), or the next open days with room; asked for a person, their times
//! and who else is free.

use chrono::NaiveDate;
use serde_json::{json, Value};
use shared::booking::company::Service;
use shared::booking::spoken::{german_date, hhmm};
use shared::calendar::FreeTime;
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
                    ("staff", parameters::staff()),
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
        let person = ctx.staff(args, "staff", &service)?;
        let days = ctx
            .free_slots(&service, date, SEARCH_DAYS)
            .await
            .map_err(|e| ctx.unavailable(&e))?;
        // With a person asked for: their times; who else is free is said beside them.
        let theirs = |f: &&FreeTime| person.is_none_or(|p| f.has(&p.id));
        let on_day: &[FreeTime] = days.first().map(|(_, s)| s.as_slice()).unwrap_or_default();
        let free_today: Vec<&FreeTime> = on_day.iter().filter(theirs).collect();
        let today: Vec<String> = free_today.iter().map(|f| hhmm(f.time)).collect();
        let next_days: Vec<(NaiveDate, Vec<&FreeTime>)> = days
            .iter()
            .skip(1)
            .map(|(d, s)| (*d, s.iter().filter(theirs).collect::<Vec<_>>()))
            .filter(|(_, s)| !s.is_empty())
            .take(NEXT_DAYS)
            .collect();
        let next: Vec<Value> = next_days
            .iter()
            .map(|(d, s)| json!({"date": d.to_string(), "slots": spoken(s), "staff": who_json(ctx, s)}))
            .collect();
        let name = service.display_name();
        let with = person.map_or(String::new(), |p| {
            ctx.say(format!(" bei {}", p.name), format!(" with {}", p.name))
        });
        let mut reply = json!({"date": date.to_string(), "next_days": next});
        // Who the caller asked for, by display name (the analytics funnel counts a call that
        // wanted this person and booked no one against them: `calls::funnel`).
        if let Some(p) = person {
            reply["staff_asked"] = json!(p.name);
        }
        if let Some(t) = wanted {
            let free = today.contains(&hhmm(t));
            // Asked for a person who is busy then: who else is.
            let others: Vec<&str> = match (free, person) {
                (false, Some(p)) => on_day
                    .iter()
                    .find(|f| f.time == t)
                    .map(|f| {
                        f.staff
                            .iter()
                            .filter(|id| **id != p.id)
                            .map(String::as_str)
                            .collect()
                    })
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            let message = if free {
                ctx.say(
                    format!(
                        "{} um {} Uhr ist{with} für {name} frei.",
                        german_date(date),
                        hhmm(t)
                    ),
                    format!("{date} at {} is free for {name}{with}.", hhmm(t)),
                )
            } else if let (Some(p), false) = (person, others.is_empty()) {
                let others = ctx.names(others.iter().copied());
                ctx.say(
                    format!(
                        "{} hat {} um {} Uhr leider keine Zeit, {others} aber schon. {}",
                        p.name,
                        german_date(date),
                        hhmm(t),
                        offer_de(&today)
                    ),
                    format!(
                        "{} is not available on {date} at {}, but {others} is. {}",
                        p.name,
                        hhmm(t),
                        offer_en(&today)
                    ),
                )
            } else {
                ctx.say(
                    format!(
                        "{} um {} Uhr ist{with} leider nicht frei. {}",
                        german_date(date),
                        hhmm(t),
                        offer_de(&today)
                    ),
                    format!(
                        "{date} at {} is not available{with}. {}",
                        hhmm(t),
                        offer_en(&today)
                    ),
                )
            };
            reply["available"] = json!(free);
            reply["time"] = json!(hhmm(t));
            reply["slots"] = json!(today);
            reply["staff"] = who_json(ctx, &free_today);
            if !others.is_empty() {
                reply["others_free"] = json!(others
                    .iter()
                    .filter_map(|id| ctx.staff_name(id))
                    .collect::<Vec<_>>());
            }
            reply["message"] = json!(message);
            return Ok(reply);
        }
        if !today.is_empty() {
            let message = ctx.say(
                format!(
                    "Am {}{with} ist für {name} noch frei: {}.",
                    german_date(date),
                    spoken_list(&today, " oder ")
                ),
                format!(
                    "On {date} these times are free for {name}{with}: {}.",
                    spoken_list(&today, " or ")
                ),
            );
            reply["available"] = json!(true);
            reply["slots"] = json!(today);
            reply["staff"] = who_json(ctx, &free_today);
            reply["message"] = json!(message);
            return Ok(reply);
        }
        let message = match next_days.first() {
            Some((day, times)) => {
                let slots = spoken(times);
                ctx.say(
                    format!("Am {}{with} ist leider nichts mehr frei. Der nächste freie Tag ist {}, zum Beispiel um {}.", german_date(date), german_date(*day), spoken_list(&slots, " oder ")),
                    format!("Nothing is free on {date}{with}. The next open day is {day}, for example at {}.", spoken_list(&slots, " or ")),
                )
            }
            None => ctx.nothing_free(date, SEARCH_DAYS),
        };
        reply["available"] = json!(false);
        reply["slots"] = json!([]);
        reply["message"] = json!(message);
        Ok(reply)
    }
}

fn spoken(times: &[&FreeTime]) -> Vec<String> {
    times.iter().map(|f| hhmm(f.time)).collect()
}

/// Who takes each time, by name (`{"10:00": ["Anna", "Ben"]}`); `null` for a company without
/// staff.
fn who_json(ctx: &ToolContext<'_>, times: &[&FreeTime]) -> Value {
    if !ctx.company.team.is_staffed() {
        return Value::Null;
    }
    times
        .iter()
        .map(|f| {
            let names: Vec<&str> = f.staff.iter().filter_map(|id| ctx.staff_name(id)).collect();
            (hhmm(f.time), json!(names))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
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
