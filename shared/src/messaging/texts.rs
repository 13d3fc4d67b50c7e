//! What the messages say: German and English built in, each overridable per company
//! (`messaging.texts`), with `{placeholders}` filled from the appointment.

use std::collections::BTreeMap;

/// The values a text may name (`messaging_settings::PLACEHOLDERS`).
#[derive(Debug, Default, Clone)]
pub struct Values {
    pub company: String,
    pub name: String,
    pub date: String,
    pub time: String,
    pub service: String,
    pub staff: String,
    pub code: String,
}

/// The built-in text `key` in `language` (`de` or `en`).
pub fn builtin(key: &str, language: &str) -> &'static str {
    let en = language == "en";
    match (key, en) {
        ("booked_sms", false) => "{company}: Ihr Termin ({service}) am {date} um {time} Uhr ist gebucht. Absagen oder verschieben: rufen Sie uns einfach an.",
        ("booked_sms", true) => "{company}: your appointment ({service}) on {date} at {time} is booked. To cancel or move it, just call us.",
        ("moved_sms", false) => "{company}: Ihr Termin ({service}) ist verschoben auf {date} um {time} Uhr.",
        ("moved_sms", true) => "{company}: your appointment ({service}) has moved to {date} at {time}.",
        ("cancelled_sms", false) => "{company}: Ihr Termin ({service}) am {date} um {time} Uhr ist abgesagt.",
        ("cancelled_sms", true) => "{company}: your appointment ({service}) on {date} at {time} is cancelled.",
        ("reminder_sms", false) => "{company}: Erinnerung an Ihren Termin ({service}) am {date} um {time} Uhr. Bis bald!",
        ("reminder_sms", true) => "{company}: a reminder of your appointment ({service}) on {date} at {time}. See you soon!",
        ("no_show_sms", false) => "{company}: Schade, dass Sie am {date} nicht kommen konnten. Rufen Sie uns an, dann finden wir einen neuen Termin.",
        ("no_show_sms", true) => "{company}: sorry we missed you on {date}. Call us and we will find you a new appointment.",
        ("code_sms", false) => "{company}: Ihr Bestätigungscode lautet {code}. Er gilt 10 Minuten.",
        ("code_sms", true) => "{company}: your verification code is {code}. It is valid for 10 minutes.",
        ("booked_subject", false) => "Ihr Termin am {date} um {time} Uhr – {company}",
        ("booked_subject", true) => "Your appointment on {date} at {time} – {company}",
        ("moved_subject", false) => "Termin verschoben: {date} um {time} Uhr – {company}",
        ("moved_subject", true) => "Appointment moved: {date} at {time} – {company}",
        ("cancelled_subject", false) => "Termin abgesagt: {date} um {time} Uhr – {company}",
        ("cancelled_subject", true) => "Appointment cancelled: {date} at {time} – {company}",
        (_, _) => "",
    }
}

/// The company's text for `key` (its own, or the built-in one), filled in.
pub fn render(
    key: &str,
    language: &str,
    own: &BTreeMap<String, String>,
    values: &Values,
) -> String {
    let template = own
        .get(key)
        .map(String::as_str)
        .unwrap_or_else(|| builtin(key, language));
    fill(template, values)
}

fn fill(template: &str, values: &Values) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let value = match &after[..close] {
            "company" => values.company.as_str(),
            "name" => values.name.as_str(),
            "date" => values.date.as_str(),
            "time" => values.time.as_str(),
            "service" => values.service.as_str(),
            "staff" => values.staff.as_str(),
            "code" => values.code.as_str(),
            _ => "",
        };
        // A value never contains a placeholder that is filled again: values are pushed as is.
        out.push_str(value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_both_languages() {
        for key in crate::booking::messaging_settings::TEXT_KEYS {
            assert!(
                !builtin(key, "de").is_empty() && !builtin(key, "en").is_empty(),
                "{key}"
            );
        }
    }

    #[test]
    fn values_are_filled_once_and_own_texts_win() {
        let values = Values {
            company: "Salon {name}".into(),
            name: "Kai".into(),
            date: "26.01.2027".into(),
            time: "10:00".into(),
            ..Values::default()
        };
        let own = BTreeMap::from([(
            "booked_sms".to_owned(),
            "Hi {name} – {company} {date}".to_owned(),
        )]);
        assert_eq!(
            render("booked_sms", "de", &own, &values),
            "Hi Kai – Salon {name} 26.01.2027"
        );
        assert!(render("reminder_sms", "de", &own, &values).starts_with("Salon {name}: Erinnerung"));
    }
}
