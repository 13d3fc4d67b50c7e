//! Phone numbers, kept in E.164 (`+<country><number>`, at most 15 digits).

use std::fmt;

/// The country calling code assumed for national numbers (`0176 …`): the businesses we serve
/// are mostly German.
pub const DEFAULT_CALLING_CODE: &str = "49";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number contains characters that are not digits or separators")]
    InvalidCharacter,
    #[error("phone number has too few or too many digits for E.164")]
    InvalidLength,
}

impl PhoneNumber {
    /// Accepts E.164 (`+4930…`), the international prefix (`0049…`) and national numbers
    /// (`030 …`, read with `default_calling_code`); spaces, dashes, dots, slashes and
    /// parentheses are ignored.
    pub fn parse_with_default(
        raw: &str,
        default_calling_code: &str,
    ) -> Result<Self, PhoneNumberError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(PhoneNumberError::Empty);
        }
        let (international, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '/' | '(' | ')' | '\u{a0}' => {}
                _ => return Err(PhoneNumberError::InvalidCharacter),
            }
        }
        let e164_digits = if international {
            digits
        } else if let Some(after) = digits.strip_prefix("00") {
            after.to_owned()
        } else if let Some(after) = digits.strip_prefix('0') {
            format!("{default_calling_code}{after}")
        } else {
            // No prefix at all: Retell and carriers sometimes drop the '+'.
            digits
        };
        if e164_digits.starts_with('0') || !(8..=15).contains(&e164_digits.len()) {
            return Err(PhoneNumberError::InvalidLength);
        }
        Ok(Self(format!("+{e164_digits}")))
    }

    pub fn parse(raw: &str) -> Result<Self, PhoneNumberError> {
        Self::parse_with_default(raw, DEFAULT_CALLING_CODE)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For logs: the country prefix and the last two digits only.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Masks any phone-like string for logging: keeps the first three and last two characters.
pub fn mask_phone(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    if chars.len() <= 5 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_to_e164() {
        let cases = [
            ("+49123456789", "+49123456789"),
            ("+49 30 1234 5678", "+493012345678"),
            ("0049 30 1234-5678", "+493012345678"),
            ("030 12345678", "+493012345678"),
            ("0176 1111 2222", "+4917611112222"),
            ("(030) 123/45678", "+493012345678"),
            ("14155550123", "+14155550123"),
            ("+1 (415) 555-0123", "+14155550123"),
        ];
        for (raw, want) in cases {
            assert_eq!(
                PhoneNumber::parse(raw).map(|p| p.0),
                Ok(want.to_owned()),
                "{raw}"
            );
        }
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        assert_eq!(PhoneNumber::parse(""), Err(PhoneNumberError::Empty));
        assert_eq!(
            PhoneNumber::parse("anonymous"),
            Err(PhoneNumberError::InvalidCharacter)
        );
        assert_eq!(
            PhoneNumber::parse("+49 30 12a"),
            Err(PhoneNumberError::InvalidCharacter)
        );
        assert_eq!(
            PhoneNumber::parse("+4930"),
            Err(PhoneNumberError::InvalidLength)
        );
        assert_eq!(
            PhoneNumber::parse("+1234567890123456"),
            Err(PhoneNumberError::InvalidLength)
        );
        assert_eq!(
            PhoneNumber::parse("+0123456789"),
            Err(PhoneNumberError::InvalidLength)
        );
    }

    #[test]
    fn masks_all_but_prefix_and_last_two() {
        assert_eq!(mask_phone("+4917611112222"), "+49*********22");
        assert_eq!(mask_phone("12345"), "*****");
        let p = PhoneNumber::parse("+493012345678").expect("valid");
        assert!(!p.masked().contains("12345"));
    }
}
