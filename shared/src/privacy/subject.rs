//! Whose data a request is about: one caller (a phone number) of one company, and how to tell
//! whether a stored text still names them.

use crate::booking::phone::PhoneNumber;

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
