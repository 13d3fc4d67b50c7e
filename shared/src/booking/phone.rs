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

    /// The digits after the country code (`+49 151 …` → `151…`): what a national spelling
    /// (`0151 …`) and the international one share.
    pub fn national_significant(&self) -> &str {
        let digits = &self.0[1..];
        &digits[country_code_len(digits)..]
    }
}

/// What kind of destination a number is, for calls and messages placed on a business's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// A subscriber's number: may be called.
    Ordinary,
    /// Premium-rate, shared-cost, directory, televoting and other special-service numbers, and
    /// international premium or satellite networks: calling them costs the business money.
    PremiumOrService,
    /// Fewer than six digits after the country code: a short code, not a subscriber.
    ShortCode,
}

/// Prefixes (E.164 digits, country code first) of premium-rate and special-service ranges in the
/// countries callers of these businesses are in, and international ranges that bill by the
/// minute. Not a numbering plan: a refusal list for outgoing test and reminder calls.
const SPECIAL_PREFIXES: &[&str] = &[
    // Germany: 0900 premium, 0137/0138 televoting, 018x service and user groups, 019x online
    // services, 012 innovative services, 0115/0116/0118 authority, harmonised and directory.
    "49900", "49137", "49138", "4918", "4919", "4912", "49115", "49116", "49118",
    // Austria: 08xx service, 09xx premium. Switzerland: 0840-0848 shared cost, 090x premium.
    "438", "439", "4184", "4190",
    // United Kingdom: 09 premium, 084/087 service, 070 personal numbers, 118 directory.
    "449", "4484", "4487", "4470", "44118", // North America: 900 and 976 premium.
    "1900", "1976", // France: 081-083 shared cost, 089 premium, 118 directory.
    "3381", "3382", "3383", "3389", "33118",
    // Netherlands, Belgium, Italy, Spain: premium and service ranges.
    "31900", "31906", "31909", "3290", "32070", "32077", "39899", "39892", "39894", "39895", "3912",
    "34803", "34806", "34807", "34905", "34118",
    // International premium rate (979), satellite and international networks (870, 881-883, 888).
    "979", "870", "881", "882", "883", "888",
];

/// ITU country codes of one or two digits; every other code has three.
fn country_code_len(digits: &str) -> usize {
    const TWO: &[&str] = &[
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    if digits.starts_with('1') || digits.starts_with('7') {
        1
    } else if TWO.iter().any(|cc| digits.starts_with(cc)) {
        2
    } else {
        3
    }
}

impl PhoneNumber {
    /// Whether this number may be called or texted on a business's behalf (test calls,
    /// reminders): ordinary subscribers only.
    pub fn destination(&self) -> Destination {
        let digits = &self.0[1..];
        if SPECIAL_PREFIXES.iter().any(|p| digits.starts_with(p)) {
            return Destination::PremiumOrService;
        }
        if digits.len() - country_code_len(digits) < 6 {
            return Destination::ShortCode;
        }
        Destination::Ordinary
    }
}

/// Prefixes (E.164 digits) of mobile ranges, where a number can receive an SMS, in the
/// countries these businesses' customers are in. A number of another range (a landline, or a
/// country whose mobiles cannot be told by prefix, as North America) gets no SMS.
const MOBILE_PREFIXES: &[&str] = &[
    // Germany 015x/016x/017x; Austria 065x-069x; Switzerland 075-079.
    "4915", "4916", "4917", "4365", "4366", "4367", "4368", "4369", "4175", "4176", "4177", "4178",
    "4179",
    // United Kingdom 07 (not 070 personal numbers, 076 pagers); Netherlands 06; Belgium 04x;
    // France 06/07; Italy 3xx; Spain 6xx/7xx; Poland; Sweden 07x; Norway 4x/9x.
    "4471", "4472", "4473", "4474", "4475", "4477", "4478", "4479", "316", "3246", "3247", "3248",
    "3249", "336", "337", "393", "346", "347", "4850", "4851", "4853", "4857", "4860", "4866",
    "4869", "4872", "4873", "4878", "4879", "4845", "4888", "467", "474", "479",
];

impl PhoneNumber {
    /// Whether an SMS to this number can arrive: an ordinary subscriber in a mobile range.
    pub fn can_receive_sms(&self) -> bool {
        self.destination() == Destination::Ordinary
            && MOBILE_PREFIXES.iter().any(|p| self.0[1..].starts_with(p))
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
    #[test]
    fn only_mobile_ranges_receive_sms() {
        for (number, mobile) in [
            ("+4917655502468", true),
            ("+4915112345678", true),
            ("+493012345678", false),  // Berlin landline
            ("+4990012345678", false), // premium
            ("+436641234567", true),
            ("+447700900123", true),
            ("+447012345678", false), // UK personal number
            ("+12125551234", false),  // NANP: not told by prefix
            ("+41791234567", true),
        ] {
            let parsed = PhoneNumber::parse(number).expect(number);
            assert_eq!(parsed.can_receive_sms(), mobile, "{number}");
        }
    }

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
    fn premium_service_and_short_numbers_are_not_ordinary_destinations() {
        for (raw, want) in [
            ("+4917611112222", Destination::Ordinary),
            ("+493012345678", Destination::Ordinary),
            ("+4980012345678", Destination::Ordinary),
            ("+14155550123", Destination::Ordinary),
            ("+447911123456", Destination::Ordinary),
            ("+49900123456789", Destination::PremiumOrService),
            ("+49137123456789", Destination::PremiumOrService),
            ("+491805123456", Destination::PremiumOrService),
            ("+4911880123", Destination::PremiumOrService),
            ("+43900123456", Destination::PremiumOrService),
            ("+41901123456", Destination::PremiumOrService),
            ("+449012345678", Destination::PremiumOrService),
            ("+19005550123", Destination::PremiumOrService),
            ("+979123456789", Destination::PremiumOrService),
            ("+88160000000", Destination::PremiumOrService),
            ("+35312345", Destination::ShortCode),
            ("+97112345", Destination::ShortCode),
        ] {
            let number = PhoneNumber::parse(raw).expect("parses");
            assert_eq!(number.destination(), want, "{raw}");
        }
    }

    #[test]
    fn masks_all_but_prefix_and_last_two() {
        assert_eq!(mask_phone("+4917611112222"), "+49*********22");
        assert_eq!(mask_phone("12345"), "*****");
        let p = PhoneNumber::parse("+493012345678").expect("valid");
        assert!(!p.masked().contains("12345"));
    }
}
