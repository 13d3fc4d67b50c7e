//! A service's price as a business writes it: `"45"`, `"45,50"`, `"45-60"` (a range) or
//! `"ab 45"` / `"from 45"` (a lower bound), in the company's currency, kept in cents. Stored and
//! shown in one canonical form (`"45"`, `"45.50"`, `"45-60"`, `"ab 45"`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The highest price a service may have (a typo's guard): 100,000.00.
const MAX_CENTS: u32 = 10_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Price {
    Exactly(u32),
    Range { from: u32, to: u32 },
    From(u32),
}

fn cents(text: &str) -> Result<u32, String> {
    let t = text.trim().trim_end_matches('€').trim();
    let (whole, fraction) = match t.split_once([',', '.']) {
        Some((w, f)) => (w, f),
        None => (t, ""),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(fraction.is_empty() || (fraction.len() <= 2 && digits(fraction))) {
        return Err(format!(
            "{:?} is not an amount (45, 45,50)",
            text.chars().take(32).collect::<String>()
        ));
    }
    let whole: u32 = whole.parse().map_err(|_| "amount too large".to_owned())?;
    let fraction: u32 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<u32>().unwrap_or(0) * 10,
        _ => fraction.parse().unwrap_or(0),
    };
    let total = whole * 100 + fraction;
    if total > MAX_CENTS {
        return Err("at most 100000".into());
    }
    Ok(total)
}

impl Price {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let lower = t.to_lowercase();
        if let Some(rest) = lower
            .strip_prefix("ab ")
            .or_else(|| lower.strip_prefix("from "))
        {
            return Ok(Price::From(cents(rest)?));
        }
        if let Some((a, b)) = t.split_once(['-', '–']) {
            let (from, to) = (cents(a)?, cents(b)?);
            if to <= from {
                return Err("a range goes from the lower to the higher price".into());
            }
            return Ok(Price::Range { from, to });
        }
        Ok(Price::Exactly(cents(t)?))
    }
}

/// The currency a company's prices are in (`currency` in its settings; default euro).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Currency {
    #[default]
    #[serde(rename = "EUR")]
    Euro,
    #[serde(rename = "CHF")]
    SwissFranc,
    #[serde(rename = "GBP")]
    Pound,
    #[serde(rename = "USD")]
    Dollar,
}

impl Currency {
    /// The unit as spoken after an amount (singular and plural are the same in German).
    fn unit(self, german: bool) -> &'static str {
        match (self, german) {
            (Currency::Euro, true) => "Euro",
            (Currency::Euro, false) => "euros",
            (Currency::SwissFranc, true) => "Franken",
            (Currency::SwissFranc, false) => "Swiss francs",
            (Currency::Pound, true) => "Pfund",
            (Currency::Pound, false) => "pounds",
            (Currency::Dollar, true) => "Dollar",
            (Currency::Dollar, false) => "dollars",
        }
    }
}

/// An amount as a voice says it: `45`, `45,50` (German) / `45.50` (English).
fn spoken_amount(cents: u32, german: bool) -> String {
    if cents.is_multiple_of(100) {
        (cents / 100).to_string()
    } else if german {
        format!("{},{:02}", cents / 100, cents % 100)
    } else {
        format!("{}.{:02}", cents / 100, cents % 100)
    }
}

impl Price {
    /// The price as the agent says it, in the company's language and currency:
    /// "45 Euro", "zwischen 45 und 60 Euro", "ab 19,90 Euro" / "45 euros", "from 19.90 euros".
    pub fn spoken(&self, currency: Currency, german: bool) -> String {
        let unit = currency.unit(german);
        let a = |c: u32| spoken_amount(c, german);
        match (*self, german) {
            (Price::Exactly(c), _) => format!("{} {unit}", a(c)),
            (Price::Range { from, to }, true) => {
                format!("zwischen {} und {} {unit}", a(from), a(to))
            }
            (Price::Range { from, to }, false) => {
                format!("between {} and {} {unit}", a(from), a(to))
            }
            (Price::From(c), true) => format!("ab {} {unit}", a(c)),
            (Price::From(c), false) => format!("from {} {unit}", a(c)),
        }
    }

    /// The lowest and highest amount in cents (`None`: open-ended).
    pub fn bounds(&self) -> (u32, Option<u32>) {
        match *self {
            Price::Exactly(c) => (c, Some(c)),
            Price::Range { from, to } => (from, Some(to)),
            Price::From(c) => (c, None),
        }
    }
}

fn amount(cents: u32) -> String {
    if cents.is_multiple_of(100) {
        (cents / 100).to_string()
    } else {
        format!("{}.{:02}", cents / 100, cents % 100)
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Price::Exactly(c) => write!(f, "{}", amount(*c)),
            Price::Range { from, to } => write!(f, "{}-{}", amount(*from), amount(*to)),
            Price::From(c) => write!(f, "ab {}", amount(*c)),
        }
    }
}

impl Serialize for Price {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Price::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_as_businesses_write_them() {
        for (text, price, shown) in [
            ("45", Price::Exactly(4500), "45"),
            ("45,50 €", Price::Exactly(4550), "45.50"),
            ("45.5", Price::Exactly(4550), "45.50"),
            (
                "45-60",
                Price::Range {
                    from: 4500,
                    to: 6000,
                },
                "45-60",
            ),
            (
                "45 – 60",
                Price::Range {
                    from: 4500,
                    to: 6000,
                },
                "45-60",
            ),
            ("ab 45", Price::From(4500), "ab 45"),
            ("From 19,90", Price::From(1990), "ab 19.90"),
        ] {
            let parsed = Price::parse(text).expect(text);
            assert_eq!(parsed, price, "{text}");
            assert_eq!(parsed.to_string(), shown);
            assert_eq!(Price::parse(shown), Ok(price), "round trip {shown}");
        }
        for (price, currency, de, en) in [
            (Price::Exactly(4500), Currency::Euro, "45 Euro", "45 euros"),
            (
                Price::Exactly(4550),
                Currency::Euro,
                "45,50 Euro",
                "45.50 euros",
            ),
            (
                Price::Range {
                    from: 4500,
                    to: 6000,
                },
                Currency::Euro,
                "zwischen 45 und 60 Euro",
                "between 45 and 60 euros",
            ),
            (
                Price::From(1990),
                Currency::SwissFranc,
                "ab 19,90 Franken",
                "from 19.90 Swiss francs",
            ),
            (
                Price::Exactly(5),
                Currency::Pound,
                "0,05 Pfund",
                "0.05 pounds",
            ),
        ] {
            assert_eq!(price.spoken(currency, true), de);
            assert_eq!(price.spoken(currency, false), en);
        }
        for bad in [
            "", "abc", "-5", "60-45", "45,555", "1e3", "9999999", "45 60", "ab", "€",
        ] {
            assert!(Price::parse(bad).is_err(), "{bad}");
        }
    }
}
