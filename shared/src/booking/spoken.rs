//! Dates and times as a voice agent passes them on from the caller, German first, English too:
//! `2025-01-15`, `15.01.2025`, `15. Januar`, `heute`, `übermorgen`, `nächsten Dienstag`,
//! `14 Uhr`, `halb drei`, `viertel nach zehn`, `quarter to eleven`, … Relative words are read
//! against the company's local today; hours that could be morning or afternoon are read within
//! business hours.
//!
//! Weekdays: a bare weekday (`Dienstag`, `am Dienstag`, `tuesday`) is its next occurrence,
//! today included; `nächsten Dienstag` / `next tuesday` is the next one after today.

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpokenError {
    #[error("no date recognised in {0:?}")]
    UnrecognisedDate(String),
    #[error("{0:?} is not a date in the calendar")]
    ImpossibleDate(String),
    #[error("no time recognised in {0:?}")]
    UnrecognisedTime(String),
}

/// Lower case, umlauts folded (`ü` → `ue`, `ß` → `ss`), punctuation except `.` and `:` as spaces,
/// single spaces.
fn fold(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.trim().chars().flat_map(char::to_lowercase) {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            c if c.is_alphanumeric() || c == '.' || c == ':' || c == '-' || c == '/' => out.push(c),
            _ => out.push(' '),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn month(word: &str) -> Option<u32> {
    let w = word.trim_end_matches('.');
    const MONTHS: [(&[&str], u32); 12] = [
        (&["januar", "jaenner", "january", "jan"], 1),
        (&["februar", "february", "feb"], 2),
        (&["maerz", "march", "mar", "mrz"], 3),
        (&["april", "apr"], 4),
        (&["mai", "may"], 5),
        (&["juni", "june", "jun"], 6),
        (&["juli", "july", "jul"], 7),
        (&["august", "aug"], 8),
        (&["september", "sept", "sep"], 9),
        (&["oktober", "october", "okt", "oct"], 10),
        (&["november", "nov"], 11),
        (&["dezember", "december", "dez", "dec"], 12),
    ];
    MONTHS
        .iter()
        .find(|(names, _)| names.contains(&w))
        .map(|(_, m)| *m)
}

fn weekday(word: &str) -> Option<Weekday> {
    match word {
        "montag" | "monday" | "mo" => Some(Weekday::Mon),
        "dienstag" | "tuesday" | "di" => Some(Weekday::Tue),
        "mittwoch" | "wednesday" | "mi" => Some(Weekday::Wed),
        "donnerstag" | "thursday" | "do" => Some(Weekday::Thu),
        "freitag" | "friday" | "fr" => Some(Weekday::Fri),
        "samstag" | "sonnabend" | "saturday" | "sa" => Some(Weekday::Sat),
        "sonntag" | "sunday" | "so" => Some(Weekday::Sun),
        _ => None,
    }
}

fn ordinal(word: &str) -> Option<u32> {
    let w = word.trim_end_matches('.');
    let w = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|s| w.strip_suffix(s))
        .unwrap_or(w);
    w.parse().ok().filter(|d| (1..=31).contains(d))
}

/// A date without a year: this year if it is still ahead (or today), else next year.
fn upcoming(today: NaiveDate, month: u32, day: u32, raw: &str) -> Result<NaiveDate, SpokenError> {
    let this_year = NaiveDate::from_ymd_opt(today.year(), month, day);
    match this_year {
        Some(d) if d >= today => Ok(d),
        _ => NaiveDate::from_ymd_opt(today.year() + 1, month, day)
            .ok_or_else(|| SpokenError::ImpossibleDate(raw.to_owned())),
    }
}

fn full_year(y: i32) -> i32 {
    if y < 100 {
        2000 + y
    } else {
        y
    }
}

fn numeric_date(s: &str, today: NaiveDate, raw: &str) -> Option<Result<NaiveDate, SpokenError>> {
    // ISO 2025-01-15
    if let [y, m, d] = s.split('-').collect::<Vec<_>>()[..] {
        if y.len() == 4 {
            let (y, m, d) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
            return Some(
                NaiveDate::from_ymd_opt(y, m, d)
                    .ok_or_else(|| SpokenError::ImpossibleDate(raw.into())),
            );
        }
    }
    // 15.01.2025, 15.1.25, 15.01., 15/01/2025
    let sep = if s.contains('.') { '.' } else { '/' };
    let parts: Vec<&str> = s.trim_end_matches(sep).split(sep).collect();
    if !(2..=3).contains(&parts.len())
        || !parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let d: u32 = parts[0].parse().ok()?;
    let m: u32 = parts[1].parse().ok()?;
    Some(match parts.get(2) {
        Some(y) => NaiveDate::from_ymd_opt(full_year(y.parse().ok()?), m, d)
            .ok_or_else(|| SpokenError::ImpossibleDate(raw.into())),
        None => upcoming(today, m, d, raw),
    })
}

/// Reads a date relative to `today` (the company's local date).
pub fn parse_date(input: &str, today: NaiveDate) -> Result<NaiveDate, SpokenError> {
    let s = fold(input);
    let unrecognised = || SpokenError::UnrecognisedDate(input.to_owned());
    let mut words: Vec<&str> = s.split(' ').filter(|w| !w.is_empty()).collect();
    // Filler words the agent may pass along.
    words.retain(|w| {
        !matches!(
            *w,
            "am" | "den" | "der" | "on" | "the" | "of" | "fuer" | "for" | "at"
        )
    });
    let joined = words.join(" ");
    match joined.as_str() {
        "heute" | "today" => return Ok(today),
        "morgen" | "tomorrow" => return Ok(today + Duration::days(1)),
        "uebermorgen" | "day after tomorrow" => return Ok(today + Duration::days(2)),
        _ => {}
    }
    if words.len() == 1 {
        if let Some(result) = numeric_date(words[0], today, input) {
            return result;
        }
    }
    // [naechsten|kommenden|next|this|diesen] <weekday>
    if let Some(last) = words.last() {
        if let Some(wd) = weekday(last) {
            let next_one = words.len() == 2
                && matches!(
                    words[0],
                    "naechsten" | "naechste" | "kommenden" | "kommender" | "next"
                );
            if words.len() == 1
                || next_one
                || (words.len() == 2 && matches!(words[0], "this" | "diesen" | "diese"))
            {
                let offset = (7 + wd.num_days_from_monday() as i64
                    - today.weekday().num_days_from_monday() as i64)
                    % 7;
                let offset = if next_one && offset == 0 { 7 } else { offset };
                return Ok(today + Duration::days(offset));
            }
        }
    }
    // 15. Januar [2025] | 15 January | January 15th[, 2025] | Jan 15
    let (day, mon, year) = match words[..] {
        [d, m] => match (ordinal(d), month(m), month(d), ordinal(m)) {
            (Some(d), Some(m), _, _) => (d, m, None),
            (_, _, Some(m), Some(d)) => (d, m, None),
            _ => return Err(unrecognised()),
        },
        [a, b, y] => {
            let year = y
                .parse::<i32>()
                .ok()
                .map(full_year)
                .ok_or_else(unrecognised)?;
            match (ordinal(a), month(b), month(a), ordinal(b)) {
                (Some(d), Some(m), _, _) => (d, m, Some(year)),
                (_, _, Some(m), Some(d)) => (d, m, Some(year)),
                _ => return Err(unrecognised()),
            }
        }
        _ => return Err(unrecognised()),
    };
    match year {
        Some(y) => NaiveDate::from_ymd_opt(y, mon, day)
            .ok_or_else(|| SpokenError::ImpossibleDate(input.to_owned())),
        None => upcoming(today, mon, day, input),
    }
}

fn number_word(word: &str) -> Option<u32> {
    let n = match word {
        "null" | "zero" => 0,
        "eins" | "ein" | "eine" | "one" => 1,
        "zwei" | "two" => 2,
        "drei" | "three" => 3,
        "vier" | "four" => 4,
        "fuenf" | "five" => 5,
        "sechs" | "six" => 6,
        "sieben" | "seven" => 7,
        "acht" | "eight" => 8,
        "neun" | "nine" => 9,
        "zehn" | "ten" => 10,
        "elf" | "eleven" => 11,
        "zwoelf" | "twelve" => 12,
        "dreizehn" | "thirteen" => 13,
        "vierzehn" | "fourteen" => 14,
        "fuenfzehn" | "fifteen" => 15,
        "sechzehn" | "sixteen" => 16,
        "siebzehn" | "seventeen" => 17,
        "achtzehn" | "eighteen" => 18,
        "neunzehn" | "nineteen" => 19,
        "zwanzig" | "twenty" => 20,
        "einundzwanzig" => 21,
        "zweiundzwanzig" => 22,
        "dreiundzwanzig" => 23,
        "fuenfundzwanzig" | "twenty-five" => 25,
        "dreissig" | "thirty" => 30,
        "vierzig" | "forty" => 40,
        "fuenfundvierzig" | "forty-five" => 45,
        _ => return word.parse().ok(),
    };
    Some(n)
}

/// Hour and minute as said, and whether the hour is unambiguous (24-hour or am/pm given).
fn spoken_clock(words: &[&str]) -> Option<(u32, u32, bool)> {
    let n = |w: &str| number_word(w);
    let hm = |w: &str| -> Option<(u32, u32)> {
        let (h, m) = w.split_once(':').or_else(|| w.split_once('.'))?;
        Some((h.parse().ok()?, m.parse().ok()?))
    };
    match words {
        // 14:30, 14.30, 2:30 pm, 14 uhr, 14 uhr 30, 2 pm, 14h
        [t] if hm(t).is_some() => hm(t).map(|(h, m)| (h, m, h > 12 || h == 0)),
        [t, "uhr"] | [t, "h"] | [t, "o'clock"] => n(t).map(|h| (h, 0, h > 12 || h == 0)),
        [t] if t.ends_with('h') => n(t.trim_end_matches('h')).map(|h| (h, 0, h > 12)),
        [h, "uhr", m] => Some((n(h)?, n(m)?, n(h)? > 12)),
        [t, ap @ ("am" | "pm" | "a.m." | "p.m.")] => {
            let (h, m) = hm(t).or_else(|| n(t).map(|h| (h, 0)))?;
            let pm = ap.starts_with('p');
            Some(((h % 12) + if pm { 12 } else { 0 }, m, true))
        }
        ["mittag"] | ["mittags"] | ["noon"] | ["midday"] => Some((12, 0, true)),
        // halb drei = 2:30
        ["halb", h] => Some(((n(h)? + 11) % 12, 30, false)),
        // viertel nach zehn, viertel vor elf, dreiviertel elf, viertel elf (east German)
        ["viertel", "nach", h] => Some((n(h)?, 15, false)),
        ["viertel", "vor", h] => Some(((n(h)? + 11) % 12, 45, false)),
        ["dreiviertel", h] => Some(((n(h)? + 11) % 12, 45, false)),
        ["viertel", h] => Some(((n(h)? + 11) % 12, 15, false)),
        // fünf vor halb drei = 2:25, fünf nach halb drei = 2:35
        [m, "vor", "halb", h] => Some(((n(h)? + 11) % 12, 30 - n(m)?.min(29), false)),
        [m, "nach", "halb", h] => Some(((n(h)? + 11) % 12, 30 + n(m)?.min(29), false)),
        // zehn nach drei, zehn vor drei
        [m, "nach", h] => Some((n(h)?, n(m)?, false)),
        [m, "vor", h] => Some(((n(h)? + 23) % 24, 60 - n(m)?.min(59), false)),
        // half past two, quarter past ten, quarter to eleven, ten past three, ten to four
        ["half", "past", h] => Some((n(h)?, 30, false)),
        ["quarter", "past", h] => Some((n(h)?, 15, false)),
        ["quarter", "to", h] => Some(((n(h)? + 11) % 12, 45, false)),
        [m, "past", h] => Some((n(h)?, n(m)?, false)),
        [m, "to", h] => Some(((n(h)? + 23) % 24, 60 - n(m)?.min(59), false)),
        // "drei" alone
        [h] => n(h).map(|h| (h, 0, h > 12 || h == 0)),
        _ => None,
    }
}

/// Reads a time of day. An hour that could be morning or afternoon (`halb drei`, `3 Uhr`) is
/// the reading for which `is_open` holds (afternoon first when both do not), so "halb drei" at
/// a salon is 14:30.
pub fn parse_time(
    input: &str,
    is_open: impl Fn(NaiveTime) -> bool,
) -> Result<NaiveTime, SpokenError> {
    let s = fold(input);
    let mut words: Vec<&str> = s.split(' ').filter(|w| !w.is_empty()).collect();
    words.retain(|w| {
        !matches!(
            *w,
            "um" | "at" | "gegen" | "so" | "ca." | "circa" | "etwa" | "ungefaehr" | "around"
        )
    });
    let unrecognised = || SpokenError::UnrecognisedTime(input.to_owned());
    let (h, m, exact) = spoken_clock(&words).ok_or_else(unrecognised)?;
    if h > 23 || m > 59 {
        return Err(unrecognised());
    }
    let at = |h: u32| NaiveTime::from_hms_opt(h, m, 0);
    if exact || h >= 12 {
        return at(h).ok_or_else(unrecognised);
    }
    let morning = at(h).ok_or_else(unrecognised)?;
    let afternoon = at(h + 12).ok_or_else(unrecognised)?;
    Ok(match (is_open(morning), is_open(afternoon)) {
        (true, false) => morning,
        (false, true) => afternoon,
        // Both or neither: appointments in the afternoon are the likelier reading of 1–7.
        _ if h <= 7 => afternoon,
        _ => morning,
    })
}

/// "HH:MM" for replies.
pub fn hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

/// "Monday": the English weekday of a date.
pub fn english_weekday(date: NaiveDate) -> &'static str {
    use chrono::Datelike;
    const WEEKDAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    WEEKDAYS[date.weekday().num_days_from_monday() as usize]
}

/// "Dienstag, 14. Juli 2026": a date far enough ahead to need its year.
pub fn german_date_with_year(date: NaiveDate) -> String {
    use chrono::Datelike;
    format!("{} {}", german_date(date), date.year())
}

/// "15. Januar" style date for German messages.
pub fn german_date(date: NaiveDate) -> String {
    const MONTHS: [&str; 12] = [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ];
    const DAYS: [&str; 7] = [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ];
    use chrono::Datelike;
    format!(
        "{}, {}. {}",
        DAYS[date.weekday().num_days_from_monday() as usize],
        date.day(),
        MONTHS[date.month0() as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid")
    }

    // Wednesday, 2025-01-15.
    const TODAY: (i32, u32, u32) = (2025, 1, 15);

    #[test]
    fn dates() {
        let today = d(TODAY.0, TODAY.1, TODAY.2);
        let cases: &[(&str, NaiveDate)] = &[
            ("2025-01-20", d(2025, 1, 20)),
            ("15.01.2025", d(2025, 1, 15)),
            ("3.2.25", d(2025, 2, 3)),
            ("20.01.", d(2025, 1, 20)),
            ("10.01.", d(2026, 1, 10)),
            ("15/01/2025", d(2025, 1, 15)),
            ("15. Januar", d(2025, 1, 15)),
            ("am 3. März", d(2025, 3, 3)),
            ("1. Februar 2026", d(2026, 2, 1)),
            ("January 20th", d(2025, 1, 20)),
            ("20 January 2025", d(2025, 1, 20)),
            ("the 2nd of march", d(2025, 3, 2)),
            ("Jan 14", d(2026, 1, 14)),
            ("heute", today),
            ("Today", today),
            ("morgen", d(2025, 1, 16)),
            ("tomorrow", d(2025, 1, 16)),
            ("übermorgen", d(2025, 1, 17)),
            ("uebermorgen", d(2025, 1, 17)),
            ("day after tomorrow", d(2025, 1, 17)),
            ("Dienstag", d(2025, 1, 21)),
            ("am Mittwoch", d(2025, 1, 15)),
            ("nächsten Mittwoch", d(2025, 1, 22)),
            ("nächsten Dienstag", d(2025, 1, 21)),
            ("next friday", d(2025, 1, 17)),
            ("Samstag", d(2025, 1, 18)),
            ("kommenden Montag", d(2025, 1, 20)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_date(input, today), Ok(*want), "{input}");
        }
    }

    #[test]
    fn impossible_and_unknown_dates() {
        let today = d(TODAY.0, TODAY.1, TODAY.2);
        assert!(matches!(
            parse_date("31.02.2025", today),
            Err(SpokenError::ImpossibleDate(_))
        ));
        assert!(matches!(
            parse_date("30. Februar", today),
            Err(SpokenError::ImpossibleDate(_))
        ));
        for impossible in [
            "2025-02-30",
            "29.02.2025",
            "31.04.2025",
            "2025-13-01",
            "2025-00-10",
        ] {
            assert!(
                matches!(
                    parse_date(impossible, today),
                    Err(SpokenError::ImpossibleDate(_))
                ),
                "{impossible}"
            );
        }
        // Absurd but real days are dates; the tools refuse them (past, or past the horizon).
        assert_eq!(parse_date("9999-12-31", today), Ok(d(9999, 12, 31)));
        assert_eq!(parse_date("0000-01-01", today), Ok(d(0, 1, 1)));
        assert_eq!(parse_date("29.02.2028", today), Ok(d(2028, 2, 29)));
        assert!(
            parse_date("15.01.99999999999", today).is_err(),
            "no overflow"
        );
        for bad in [
            "",
            "irgendwann",
            "bald",
            "32.01.2025",
            "Januar",
            "nächste Woche",
        ] {
            assert!(parse_date(bad, today).is_err(), "{bad}");
        }
    }

    fn salon(t: NaiveTime) -> bool {
        let h = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("valid");
        t >= h(9, 0) && t < h(18, 0)
    }

    #[test]
    fn times() {
        let cases: &[(&str, (u32, u32))] = &[
            ("14:00", (14, 0)),
            ("9:30", (9, 30)),
            ("14.30", (14, 30)),
            ("14 Uhr", (14, 0)),
            ("um 14 Uhr", (14, 0)),
            ("14 Uhr 30", (14, 30)),
            ("16h", (16, 0)),
            ("3 Uhr", (15, 0)),
            ("10 Uhr", (10, 0)),
            ("halb drei", (14, 30)),
            ("halb zehn", (9, 30)),
            ("viertel nach zehn", (10, 15)),
            ("viertel vor elf", (10, 45)),
            ("dreiviertel elf", (10, 45)),
            ("viertel drei", (14, 15)),
            ("zehn nach drei", (15, 10)),
            ("fünf vor halb drei", (14, 25)),
            ("fünf nach halb drei", (14, 35)),
            ("zwölf Uhr", (12, 0)),
            ("mittags", (12, 0)),
            ("2 pm", (14, 0)),
            ("2:30 pm", (14, 30)),
            ("11 am", (11, 0)),
            ("half past two", (14, 30)),
            ("quarter past ten", (10, 15)),
            ("quarter to eleven", (10, 45)),
            ("ten to four", (15, 50)),
            ("gegen drei", (15, 0)),
        ];
        for (input, (h, m)) in cases {
            assert_eq!(
                parse_time(input, salon),
                Ok(NaiveTime::from_hms_opt(*h, *m, 0).expect("valid")),
                "{input}"
            );
        }
    }

    #[test]
    fn unknown_times() {
        for bad in ["", "später", "25:00", "14:75", "nachmittags irgendwann"] {
            assert!(parse_time(bad, salon).is_err(), "{bad}");
        }
    }

    #[test]
    fn german_dates_read_naturally() {
        let d = NaiveDate::from_ymd_opt(2025, 1, 14).unwrap_or_default();
        assert_eq!(german_date(d), "Dienstag, 14. Januar");
    }
}
