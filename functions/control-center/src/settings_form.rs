//! The settings page's forms read into a company's settings: each section (general, hours,
//! breaks, closures, services, staff) replaces its part of the document and nothing else. What a
//! field cannot say is refused with the field's name; whether the result is a valid company is
//! then `Company::from_settings`' to say, as for `companies load`.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use shared::booking::company::{Break, Closure, CompanySettings, Service};
use shared::booking::faq::FaqEntry;
use shared::booking::price::{Currency, Price};
use shared::booking::staff::StaffSettings;

pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// A form's fields: at most this many, each at most this long (a textarea of closures too).
pub const MAX_FIELDS: usize = 2000;
pub const MAX_FIELD_CHARS: usize = 20_000;
/// Rows of breaks or closures.
const MAX_LINES: usize = 400;

pub type Fields = [(String, String)];

/// The value of `name` (the last one given), trimmed.
fn value<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
}

/// Checks the form's size and characters before any of it is read.
pub fn check(fields: &Fields) -> Result<(), String> {
    if fields.len() > MAX_FIELDS {
        return Err(format!("at most {MAX_FIELDS} fields"));
    }
    for (k, v) in fields {
        let shown: String = k.chars().take(40).collect();
        if v.chars().count() > MAX_FIELD_CHARS {
            return Err(format!("{shown}: at most {MAX_FIELD_CHARS} characters"));
        }
        if v.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            return Err(format!("{shown}: control characters"));
        }
    }
    Ok(())
}

fn number(fields: &Fields, name: &str) -> Result<Option<u32>, String> {
    match value(fields, name) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<u32>()
            .map(Some)
            .map_err(|_| format!("{name}: a whole number")),
    }
}

/// `09:00-12:00, 13:00-18:00` → the intervals as the file writes them (empty: closed).
pub fn intervals(text: &str) -> Vec<String> {
    text.split([',', ';', '\n'])
        .map(|p| p.replace('–', "-").replace(char::is_whitespace, ""))
        .filter(|p| !p.is_empty())
        .collect()
}

/// Weekday fields `<prefix>.mon` … `.sun` (an empty one: closed that day).
fn week(fields: &Fields, prefix: &str) -> HashMap<String, Vec<String>> {
    WEEKDAYS
        .iter()
        .filter_map(|day| {
            let list = intervals(value(fields, &format!("{prefix}.{day}")).unwrap_or(""));
            (!list.is_empty()).then(|| ((*day).to_owned(), list))
        })
        .collect()
}

/// A textarea's non-empty lines, at most [`MAX_LINES`].
fn lines<'a>(text: &'a str, name: &str) -> Result<Vec<&'a str>, String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() > MAX_LINES {
        return Err(format!("{name}: at most {MAX_LINES} lines"));
    }
    Ok(lines)
}

/// Lines of closures: `2026-12-24` or `2026-12-24..2026-12-31`.
pub fn closures(text: &str, name: &str) -> Result<Vec<Closure>, String> {
    lines(text, name)?
        .iter()
        .map(|line| {
            let date = |t: &str| {
                NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").map_err(|_| {
                    format!(
                        "{name}: {:?} is not YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD",
                        line.chars().take(40).collect::<String>()
                    )
                })
            };
            match line.split_once("..") {
                Some((a, b)) => Ok(Closure::Range {
                    from: date(a)?,
                    to: date(b)?,
                }),
                None => Ok(Closure::Day(date(line)?)),
            }
        })
        .collect()
}

pub fn closures_text(list: &[Closure]) -> String {
    list.iter()
        .map(|c| match c {
            Closure::Day(d) => d.to_string(),
            Closure::Range { from, to } => format!("{from}..{to}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Lines of breaks: `mon tue wed 12:00-13:00`.
fn breaks(text: &str) -> Result<Vec<Break>, String> {
    lines(text, "breaks")?
        .iter()
        .map(|line| {
            let words: Vec<&str> = line
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|w| !w.is_empty())
                .collect();
            let (time, days) = words.split_last().ok_or("breaks: empty line")?;
            let (from, to) = time.split_once('-').ok_or_else(|| {
                format!(
                    "breaks: {:?} is not `mon tue 12:00-13:00`",
                    line.chars().take(40).collect::<String>()
                )
            })?;
            if days.is_empty() {
                return Err("breaks: name the days (mon … sun) before the time".into());
            }
            Ok(Break {
                days: days.iter().map(|d| d.to_lowercase()).collect(),
                from: from.to_owned(),
                to: to.to_owned(),
            })
        })
        .collect()
}

pub fn breaks_text(list: &[Break]) -> String {
    list.iter()
        .map(|b| format!("{} {}-{}", b.days.join(" "), b.from, b.to))
        .collect::<Vec<_>>()
        .join("\n")
}

fn words(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Rows `<prefix>.<n>.<field>`, by row number.
fn rows<'a>(fields: &'a Fields, prefix: &str) -> BTreeMap<u32, Vec<(&'a str, &'a str)>> {
    let mut out: BTreeMap<u32, Vec<(&str, &str)>> = BTreeMap::new();
    for (k, v) in fields {
        let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        if let Some((n, field)) = rest.split_once('.') {
            if let Ok(n) = n.parse::<u32>() {
                out.entry(n).or_default().push((field, v.trim()));
            }
        }
    }
    out
}

fn row_value<'a>(row: &[(&'a str, &'a str)], field: &str) -> &'a str {
    row.iter()
        .rev()
        .find(|(f, _)| *f == field)
        .map_or("", |(_, v)| v)
}

fn services(fields: &Fields) -> Result<Vec<Service>, String> {
    let mut out = Vec::new();
    for (_, row) in rows(fields, "service") {
        let id = row_value(&row, "id");
        if id.is_empty() || row_value(&row, "remove") == "on" {
            continue;
        }
        let at = format!("services[{id}]");
        let minutes = |f: &str| -> Result<u32, String> {
            match row_value(&row, f) {
                "" => Ok(0),
                v => v
                    .parse()
                    .map_err(|_| format!("{at}.{f}: a whole number of minutes")),
            }
        };
        let price = match row_value(&row, "price") {
            "" => None,
            p => Some(Price::parse(p).map_err(|e| format!("{at}.price: {e}"))?),
        };
        out.push(Service {
            id: id.to_owned(),
            names: words(row_value(&row, "names")),
            duration_minutes: minutes("duration")?,
            buffer_minutes: minutes("buffer")?,
            price,
            description: Some(row_value(&row, "description").replace("\r\n", "\n"))
                .filter(|d| !d.is_empty()),
        });
    }
    Ok(out)
}

/// Rows `faq.<n>.question` / `.answer`; a row with neither, or ticked `remove`, is left out.
fn faq(fields: &Fields) -> Result<Vec<FaqEntry>, String> {
    let mut out = Vec::new();
    for (n, row) in rows(fields, "faq") {
        let (question, answer) = (row_value(&row, "question"), row_value(&row, "answer"));
        if row_value(&row, "remove") == "on" || (question.is_empty() && answer.is_empty()) {
            continue;
        }
        if question.is_empty() || answer.is_empty() {
            return Err(format!(
                "faq.{n}: a question needs its answer, an answer its question"
            ));
        }
        out.push(FaqEntry {
            question: question.to_owned(),
            answer: answer.replace("\r\n", "\n"),
        });
    }
    Ok(out)
}

fn staff(fields: &Fields, before: &[StaffSettings]) -> Result<Vec<StaffSettings>, String> {
    let mut out = Vec::new();
    for (_, row) in rows(fields, "staff") {
        let id = row_value(&row, "id");
        if id.is_empty() || row_value(&row, "remove") == "on" {
            continue;
        }
        let at = format!("staff[{id}]");
        let old = before.iter().find(|p| p.id == id);
        let services: Vec<String> = row
            .iter()
            .filter(|(f, _)| *f == "service")
            .map(|(_, v)| (*v).to_owned())
            .collect();
        let hours: HashMap<String, Vec<String>> = WEEKDAYS
            .iter()
            .filter_map(|day| {
                let list = intervals(row_value(&row, &format!("hours.{day}")));
                (!list.is_empty()).then(|| ((*day).to_owned(), list))
            })
            .collect();
        out.push(StaffSettings {
            id: id.to_owned(),
            name: match row_value(&row, "name") {
                "" => id.to_owned(),
                name => name.to_owned(),
            },
            aliases: words(row_value(&row, "aliases")),
            // Every service ticked, or none: all of them (also those added later).
            services: (row_value(&row, "all_services") != "on").then_some(services),
            hours: (!hours.is_empty()).then_some(hours),
            breaks: old.and_then(|p| p.breaks.clone()),
            absences: closures(row_value(&row, "absences"), &format!("{at}.absences"))?,
        });
    }
    Ok(out)
}

/// `settings` with `section` replaced by what the form says.
pub fn apply(
    section: &str,
    fields: &Fields,
    settings: &CompanySettings,
) -> Result<CompanySettings, String> {
    check(fields)?;
    let mut next = settings.clone();
    match section {
        "general" => {
            for (name, slot) in [
                (
                    "callback_promise_minutes",
                    &mut next.callback_promise_minutes,
                ),
                ("min_notice_minutes", &mut next.min_notice_minutes),
                ("max_advance_days", &mut next.max_advance_days),
                ("slot_step_minutes", &mut next.slot_step_minutes),
            ] {
                if let Some(v) = number(fields, name)? {
                    *slot = v;
                }
            }
            if let Some(code) = value(fields, "currency") {
                next.currency = Some(
                    serde_json::from_value::<Currency>(serde_json::Value::String(code.to_owned()))
                        .map_err(|_| "currency: one of EUR, CHF, GBP, USD".to_owned())?,
                );
            }
        }
        "hours" => next.hours = week(fields, "hours"),
        "breaks" => next.breaks = breaks(value(fields, "breaks").unwrap_or(""))?,
        "closures" => {
            next.closures = closures(value(fields, "closures").unwrap_or(""), "closures")?
        }
        "services" => next.services = services(fields)?,
        "staff" => next.staff = staff(fields, &settings.staff)?,
        "faq" => next.faq = faq(fields)?,
        other => {
            return Err(format!(
                "section: {:?} is none of general, hours, breaks, closures, services, staff, faq",
                other.chars().take(20).collect::<String>()
            ))
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> CompanySettings {
        serde_json::from_str(include_str!("../../../infra/local/companies/demo.json"))
            .expect("demo")
    }

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_faq_and_descriptions_are_read_and_refused() {
        let s = demo();
        let next = apply(
            "faq",
            &f(&[
                ("faq.0.question", "Wo kann ich parken?"),
                ("faq.0.answer", "Im Hof,\r\nEinfahrt links."),
                ("faq.1.question", "Alt"),
                ("faq.1.answer", "weg"),
                ("faq.1.remove", "on"),
                ("faq.2.question", ""),
                ("faq.2.answer", ""),
            ]),
            &s,
        )
        .expect("faq");
        assert_eq!(next.faq.len(), 1);
        assert_eq!(next.faq[0].answer, "Im Hof,\nEinfahrt links.");
        assert_eq!(next.services, s.services);
        let err = apply("faq", &f(&[("faq.0.question", "Nur Frage")]), &s).expect_err("half");
        assert!(err.contains("needs its answer"), "{err}");
        let general = apply("general", &f(&[("currency", "CHF")]), &s).expect("currency");
        assert_eq!(general.currency, Some(Currency::SwissFranc));
        for bad in ["chf", "EURO", "", "{}"] {
            if bad.is_empty() {
                continue;
            }
            assert!(
                apply("general", &f(&[("currency", bad)]), &s).is_err(),
                "{bad}"
            );
        }
        let described = apply(
            "services",
            &f(&[
                ("service.0.id", "haircut"),
                ("service.0.duration", "30"),
                ("service.0.description", "Waschen, schneiden, föhnen."),
            ]),
            &s,
        )
        .expect("services");
        assert_eq!(
            described.services[0].description.as_deref(),
            Some("Waschen, schneiden, föhnen.")
        );
    }

    #[test]
    fn each_section_replaces_its_part() {
        let s = demo();
        let hours = apply(
            "hours",
            &f(&[
                ("hours.mon", "09:00-12:00, 13:00 – 18:00"),
                ("hours.sat", ""),
            ]),
            &s,
        )
        .expect("hours");
        assert_eq!(hours.hours.len(), 1);
        assert_eq!(hours.hours["mon"], ["09:00-12:00", "13:00-18:00"]);
        assert_eq!(hours.services, s.services);

        let closed = apply(
            "closures",
            &f(&[("closures", "2026-12-24\n\n2026-12-27..2026-12-31\n")]),
            &s,
        )
        .expect("closures");
        assert_eq!(
            closures_text(&closed.closures),
            "2026-12-24\n2026-12-27..2026-12-31"
        );

        let b = apply("breaks", &f(&[("breaks", "mon, tue 12:00-13:00")]), &s).expect("breaks");
        assert_eq!(breaks_text(&b.breaks), "mon tue 12:00-13:00");

        let services = apply(
            "services",
            &f(&[
                ("service.0.id", "haircut"),
                ("service.0.names", "Haarschnitt, Schnitt"),
                ("service.0.duration", "45"),
                ("service.0.price", "ab 30"),
                ("service.1.id", "beard"),
                ("service.1.remove", "on"),
                ("service.2.id", "keratin"),
                ("service.2.names", "Keratin"),
                ("service.2.duration", "120"),
                ("service.2.buffer", "15"),
            ]),
            &s,
        )
        .expect("services");
        let ids: Vec<&str> = services.services.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["haircut", "keratin"]);
        assert_eq!(services.services[0].price, Some(Price::From(3000)));

        let staff = apply(
            "staff",
            &f(&[
                ("staff.0.id", "anna"),
                ("staff.0.name", "Anna"),
                ("staff.0.service", "haircut"),
                ("staff.0.hours.sat", "10:00-14:00"),
                ("staff.0.absences", "2026-12-24"),
                ("staff.1.id", "ben"),
                ("staff.1.all_services", "on"),
            ]),
            &s,
        )
        .expect("staff");
        assert_eq!(staff.staff.len(), 2);
        assert_eq!(staff.staff[0].services, Some(vec!["haircut".to_owned()]));
        assert_eq!(staff.staff[1].services, None);
        assert_eq!(staff.staff[0].absences.len(), 1);
    }

    #[test]
    fn what_cannot_be_read_is_refused_by_name() {
        let s = demo();
        for (section, fields, named) in [
            (
                "general",
                vec![("min_notice_minutes", "viel")],
                "min_notice_minutes",
            ),
            ("closures", vec![("closures", "24.12.2026")], "closures"),
            ("breaks", vec![("breaks", "12:00-13:00")], "breaks"),
            (
                "services",
                vec![("service.0.id", "x"), ("service.0.duration", "-5")],
                "services[x].duration",
            ),
            (
                "services",
                vec![("service.0.id", "x"), ("service.0.price", "gratis")],
                "services[x].price",
            ),
            (
                "staff",
                vec![("staff.0.id", "anna"), ("staff.0.absences", "bald")],
                "staff[anna].absences",
            ),
            ("everything", vec![], "section"),
            ("hours", vec![("hours.mon", "a\u{0}b")], "hours.mon"),
        ] {
            let err = apply(section, &f(&fields), &s).expect_err(section);
            assert!(err.contains(named), "{section}: {err}");
        }
        let huge = "x".repeat(MAX_FIELD_CHARS + 1);
        assert!(apply("breaks", &f(&[("breaks", &huge)]), &s).is_err());
    }
}
