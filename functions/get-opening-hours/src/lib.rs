//! `get_opening_hours([date], [week])`: whether the business is open on a day (or the seven days
//! from it) and when, closures included; the next opening when it is closed. Staff absences are
//! not named: the business is open whoever is in.

use serde_json::{json, Value};
use shared::booking::opening_hours::{day_hours, days_hours, next_open_day, DayHours};
use shared::booking::spoken::{english_weekday, german_date, hhmm};
use shared::tools::{parameters, Args, Reply, Tool, ToolContext, ToolDefinition};

pub struct GetOpeningHours;

/// How far ahead the hours are told (closures are rarely planned further).
const MAX_DAYS_AHEAD: i64 = 366;

impl Tool for GetOpeningHours {
    const NAME: &'static str = "get_opening_hours";

    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: Self::NAME,
            description: "Öffnungszeiten nennen: an einem Tag (auch Feiertage und Betriebsferien) oder für eine Woche. Tell whether and when the business is open on a day (holidays and closures included), or for the week from that day.",
            parameters: parameters::object(
                [
                    ("date", parameters::day("The day asked about ('morgen', 'am 24.', '2026-12-24'); omit for today")),
                    (
                        "week",
                        json!({"type": "boolean", "description": "true: the seven days from date (or today)"}),
                    ),
                ],
                &[],
            ),
        }
    }

    async fn run(&self, ctx: &ToolContext<'_>, args: &Args) -> Result<Reply, Reply> {
        let week = args
            .flag("week")
            .map_err(|e| ctx.bad_argument("week", e))?
            .unwrap_or(false);
        let today = ctx.today();
        let date = ctx.appointment_date(args, "date")?.unwrap_or(today);
        if (date - today).num_days() > MAX_DAYS_AHEAD {
            return Err(ctx.refuse_argument(
                "date",
                "So weit im Voraus kann ich zu den Öffnungszeiten noch nichts sagen. Welcher Tag im kommenden Jahr?",
                "I cannot say the hours that far ahead yet. Which day within the coming year?",
            ));
        }
        if week {
            let days = days_hours(ctx.company, date, 7);
            let spoken: Vec<String> = days.iter().map(|d| spoken_day(ctx, d, true)).collect();
            let message = ctx.say(
                format!("Unsere Zeiten: {}.", spoken.join("; ")),
                format!("Our hours: {}.", spoken.join("; ")),
            );
            let listed: Vec<Value> = days.iter().map(day_json).collect();
            return Ok(json!({"success": true, "days": listed, "message": message}));
        }
        let day = day_hours(ctx.company, date);
        let mut reply = day_json(&day);
        let mut message = spoken_day(ctx, &day, false);
        if !day.is_open() {
            if let Some(next) = next_open_day(ctx.company, date) {
                let first = next
                    .open
                    .first()
                    .map(|iv| hhmm(iv.start))
                    .unwrap_or_default();
                message.push(' ');
                message.push_str(&ctx.say(
                    format!(
                        "Danach sind wir am {} ab {first} Uhr wieder da.",
                        german_date(next.date)
                    ),
                    format!(
                        "We are open again on {} {} from {first}.",
                        english_weekday(next.date),
                        next.date
                    ),
                ));
                reply["next_open_date"] = json!(next.date.to_string());
            }
        }
        reply["success"] = json!(true);
        reply["message"] = json!(message);
        Ok(reply)
    }
}

fn intervals(day: &DayHours) -> Vec<String> {
    day.open
        .iter()
        .map(|iv| format!("{}-{}", hhmm(iv.start), hhmm(iv.end)))
        .collect()
}

fn day_json(day: &DayHours) -> Value {
    json!({
        "date": day.date.to_string(),
        "open": day.is_open(),
        "hours": intervals(day),
        "closure": day.closure,
    })
}

/// "Am Montag, 7. Dezember haben wir von 9:00 bis 12:00 und von 13:00 bis 18:00 Uhr geöffnet."
/// In a week's list, shorter: "Montag, 7. Dezember 09:00-12:00 und 13:00-18:00".
fn spoken_day(ctx: &ToolContext<'_>, day: &DayHours, short: bool) -> String {
    let (de_day, en_day) = (
        german_date(day.date),
        format!("{} {}", english_weekday(day.date), day.date),
    );
    let spans: Vec<(String, String)> = day
        .open
        .iter()
        .map(|iv| (hhmm(iv.start), hhmm(iv.end)))
        .collect();
    if short {
        let hours = |and: &str| {
            spans
                .iter()
                .map(|(a, b)| format!("{a}-{b}"))
                .collect::<Vec<_>>()
                .join(and)
        };
        return match (day.is_open(), day.closure) {
            (true, _) => ctx.say(
                format!("{de_day} {}", hours(" und ")),
                format!("{en_day} {}", hours(" and ")),
            ),
            (false, true) => ctx.say(
                format!("{de_day} ausnahmsweise geschlossen"),
                format!("{en_day} closed (exceptionally)"),
            ),
            (false, false) => ctx.say(format!("{de_day} geschlossen"), format!("{en_day} closed")),
        };
    }
    if day.closure {
        return ctx.say(
            format!("Am {de_day} haben wir ausnahmsweise geschlossen."),
            format!("On {en_day} we are closed (exceptionally)."),
        );
    }
    if !day.is_open() {
        return ctx.say(
            format!("Am {de_day} haben wir geschlossen."),
            format!("On {en_day} we are closed."),
        );
    }
    let de = spans
        .iter()
        .map(|(a, b)| format!("von {a} bis {b}"))
        .collect::<Vec<_>>()
        .join(" und ");
    let en = spans
        .iter()
        .map(|(a, b)| format!("from {a} to {b}"))
        .collect::<Vec<_>>()
        .join(" and ");
    ctx.say(
        format!("Am {de_day} haben wir {de} Uhr geöffnet."),
        format!("On {en_day} we are open {en}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::booking::company::{Company, CompanySettings};
    use shared::tools::offline;

    fn company(language: &str) -> Company {
        let mut settings: CompanySettings =
            serde_json::from_str(include_str!("../../../infra/local/companies/demo.json"))
                .expect("demo.json");
        settings.language = language.into();
        // Anna away all week: the business is open all the same, and she is not named.
        settings.staff[0].absences =
            vec![
                serde_json::from_value(json!({"from": "2026-12-07", "to": "2026-12-13"}))
                    .expect("absence"),
            ];
        Company::from_settings(settings).expect("valid")
    }

    /// Asked on Monday 2026-12-07, 09:00 in Berlin.
    async fn ask(company: &Company, args: Value) -> Result<Reply, Reply> {
        let now = "2026-12-07T08:00:00Z".parse().unwrap_or_default();
        offline::run(&GetOpeningHours, company, now, args).await
    }

    #[tokio::test]
    async fn days_weeks_and_closures_as_spoken() {
        let de = company("de");
        let en = company("en");
        for (c, args, message, next) in [
            (&de, json!({}), "Am Montag, 7. Dezember haben wir von 09:00 bis 12:00 und von 13:00 bis 18:00 Uhr geöffnet.", None),
            (&de, json!({"date": "2026-12-12"}), "Am Samstag, 12. Dezember haben wir von 10:00 bis 14:00 Uhr geöffnet.", None),
            (&de, json!({"date": "2026-12-13"}), "Am Sonntag, 13. Dezember haben wir geschlossen. Danach sind wir am Montag, 14. Dezember ab 09:00 Uhr wieder da.", Some("2026-12-14")),
            (&de, json!({"date": "2026-12-24"}), "Am Donnerstag, 24. Dezember haben wir ausnahmsweise geschlossen. Danach sind wir am Montag, 28. Dezember ab 09:00 Uhr wieder da.", Some("2026-12-28")),
            (&en, json!({"date": "2026-12-26"}), "On Saturday 2026-12-26 we are closed (exceptionally). We are open again on Monday 2026-12-28 from 09:00.", Some("2026-12-28")),
            (&en, json!({"date": "morgen", "week": false}), "On Tuesday 2026-12-08 we are open from 09:00 to 12:00 and from 13:00 to 18:00.", None),
        ] {
            let reply = ask(c, args.clone()).await.expect("answered");
            assert_eq!(reply["message"], json!(message), "{args}");
            assert_eq!(reply["next_open_date"], next.map_or(Value::Null, |n| json!(n)), "{args}");
            assert!(!reply.to_string().contains("Anna"), "absences are not named");
        }
        let week = ask(&de, json!({"date": "2026-12-21", "week": true}))
            .await
            .expect("answered");
        let open: Vec<bool> = week["days"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| d["open"] == json!(true))
            .collect();
        assert_eq!(open, [true, true, true, false, false, false, false]);
        assert_eq!(
            week["message"],
            json!("Unsere Zeiten: Montag, 21. Dezember 09:00-12:00 und 13:00-18:00; Dienstag, 22. Dezember 09:00-12:00 und 13:00-18:00; Mittwoch, 23. Dezember 09:00-12:00 und 13:00-18:00; Donnerstag, 24. Dezember ausnahmsweise geschlossen; Freitag, 25. Dezember ausnahmsweise geschlossen; Samstag, 26. Dezember ausnahmsweise geschlossen; Sonntag, 27. Dezember geschlossen.")
        );
        let this_week = ask(&en, json!({"week": "true"})).await.expect("answered");
        assert_eq!(this_week["days"][0]["date"], json!("2026-12-07"));
    }

    #[tokio::test]
    async fn past_absurd_and_hostile_days_are_refused() {
        let de = company("de");
        for (args, argument) in [
            (json!({"date": "2026-12-01"}), "date"),
            (json!({"date": "2030-01-01"}), "date"),
            (json!({"date": "31. Februar"}), "date"),
            (json!({"date": "+275760-09-13"}), "date"),
            (json!({"date": {"day": 1}}), "date"),
            (json!({"date": ["2026-12-08"]}), "date"),
            (json!({"date": "x".repeat(1_000_000)}), "date"),
            (json!({"date": "morgen\u{7}"}), "date"),
            (json!({"week": "sometimes"}), "week"),
            (json!({"week": 1}), "week"),
            (json!({"week": {"yes": true}}), "week"),
        ] {
            let refusal = ask(&de, args.clone()).await.expect_err("refused");
            assert_eq!(refusal["success"], json!(false), "{args}: {refusal}");
            assert_eq!(refusal["argument"], json!(argument), "{args}: {refusal}");
        }
    }
}
