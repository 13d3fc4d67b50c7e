//! Whose data a request is about: one caller (a phone number) of one company, and how to tell
//! whether a stored text still names them.

use crate::booking::company::CompanySettings;
use crate::booking::phone::PhoneNumber;

/// Refuses the business's own lines (its numbers, its transfer and reminder-call numbers, its
/// test numbers): every call of the company is to or from one of them, so an export would
/// hand over every caller's data and an erasure would strip every call.
pub fn refuse_business_number(
    settings: &CompanySettings,
    phone: &PhoneNumber,
) -> Result<(), String> {
    let own = |raw: &str| PhoneNumber::parse(raw).is_ok_and(|n| &n == phone);
    let business = settings.phone_numbers.iter().any(|n| own(n))
        || settings.test_numbers.iter().any(|n| own(n))
        || settings.transfer.as_ref().is_some_and(|t| own(&t.number))
        || settings
            .messaging
            .as_ref()
            .and_then(|m| m.reminder_call.as_ref())
            .is_some_and(|r| own(&r.from_number));
    if business {
        Err("that is one of the company's own numbers, not a caller's".into())
    } else {
        Ok(())
    }
}

/// One caller of one company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub company_id: String,
    pub phone: PhoneNumber,
}

/// Characters a spoken or typed number is written with between its digits (`0151 123-45/67`).
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '/' | '.' | '(' | ')' | '\u{a0}')
}

impl Subject {
    pub fn new(company_id: impl Into<String>, phone: PhoneNumber) -> Self {
        Self {
            company_id: company_id.into(),
            phone,
        }
    }

    /// Whether `text` holds the number in any usual spelling: E.164, with `00`, national with
    /// its `0`, digits grouped by spaces, dashes, slashes, dots or brackets. Every spelling
    /// contains the national significant digits, so the digit runs of the text (separators
    /// inside a run dropped) are searched for those.
    pub fn mentioned_in(&self, text: &str) -> bool {
        let needle = self.phone.national_significant();
        if needle.len() < 4 {
            return text.contains(self.phone.as_str());
        }
        let mut run = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c.is_ascii_digit() {
                run.push(c);
                continue;
            }
            let joins = is_separator(c)
                && !run.is_empty()
                && chars
                    .peek()
                    .is_some_and(|n| n.is_ascii_digit() || is_separator(*n));
            if joins {
                continue;
            }
            if run.contains(needle) {
                return true;
            }
            run.clear();
        }
        run.contains(needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        Subject::new(
            "salon",
            PhoneNumber::parse("+4915112345678").expect("number"),
        )
    }

    #[test]
    fn every_spelling_of_the_number_is_found() {
        let s = subject();
        for text in [
            "+4915112345678",
            "{\"from_number\":\"+4915112345678\"}",
            "meine Nummer ist 0151 1234 5678, danke",
            "0151-12345678",
            "(0151) 123 456 78",
            "0049 151 12345678",
            "4915112345678",
            "015112345678",
        ] {
            assert!(s.mentioned_in(text), "{text}");
        }
    }

    #[test]
    fn the_business_own_lines_are_no_callers() {
        let mut settings: CompanySettings =
            serde_json::from_str(include_str!("../../../infra/local/companies/demo.json"))
                .expect("demo");
        let line = PhoneNumber::parse(&settings.phone_numbers[0]).expect("line");
        assert!(refuse_business_number(&settings, &line).is_err());
        let caller = PhoneNumber::parse("+4915112345678").expect("caller");
        assert!(refuse_business_number(&settings, &caller).is_ok());
        settings.test_numbers = vec!["0151 12345678".into()];
        assert!(refuse_business_number(&settings, &caller).is_err());
    }

    #[test]
    fn other_numbers_and_fragments_are_not() {
        let s = subject();
        for text in [
            "",
            "+4915112345679",
            "0151 1234 567",
            "1511234567",
            "call_15112345",
            "151123456.",
        ] {
            assert!(!s.mentioned_in(text), "{text}");
        }
    }
}
