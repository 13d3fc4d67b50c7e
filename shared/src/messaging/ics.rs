//! The appointment as an iCalendar object (RFC 5545) for the confirmation e-mail: one UID per
//! appointment (so a calendar updates the event instead of adding one), SEQUENCE rising with
//! each move or cancel, METHOD:CANCEL on a cancel, times in the company's zone with a
//! VTIMEZONE that describes that zone's offsets in the appointment's year.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::{OffsetName, Tz};

/// What the event says.
pub struct Event<'a> {
    pub uid: &'a str,
    pub sequence: u32,
    pub cancelled: bool,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub zone: Tz,
    pub summary: &'a str,
    pub description: &'a str,
    /// The business: `(name, address)` of the organizer.
    pub organizer: Option<(&'a str, &'a str)>,
    pub stamp: DateTime<Utc>,
}

/// The whole `text/calendar` object, CRLF line ends, lines folded at 75 octets.
pub fn calendar(event: &Event<'_>) -> String {
    let mut lines: Vec<String> = vec![
        "BEGIN:VCALENDAR".into(),
        "VERSION:2.0".into(),
        "PRODID:-//retell-backend//appointments//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        format!(
            "METHOD:{}",
            if event.cancelled { "CANCEL" } else { "REQUEST" }
        ),
    ];
    lines.extend(vtimezone(event.zone, event.start));
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&event.zone)
            .naive_local()
            .format("%Y%m%dT%H%M%S")
            .to_string()
    };
    let tzid = event.zone.name();
    lines.extend([
        "BEGIN:VEVENT".into(),
        format!("UID:{}", text(event.uid)),
        format!("DTSTAMP:{}", event.stamp.format("%Y%m%dT%H%M%SZ")),
        format!("SEQUENCE:{}", event.sequence),
        format!("DTSTART;TZID={tzid}:{}", local(event.start)),
        format!("DTEND;TZID={tzid}:{}", local(event.end)),
        format!("SUMMARY:{}", text(event.summary)),
        format!("DESCRIPTION:{}", text(event.description)),
        format!(
            "STATUS:{}",
            if event.cancelled {
                "CANCELLED"
            } else {
                "CONFIRMED"
            }
        ),
    ]);
    if let Some((name, address)) = event.organizer {
        lines.push(format!("ORGANIZER;CN={}:mailto:{address}", param(name)));
    }
    lines.extend(["END:VEVENT".into(), "END:VCALENDAR".into()]);
    let mut out = String::new();
    for line in lines {
        fold(&line, &mut out);
    }
    out
}

/// TEXT value escaping (RFC 5545 3.3.11).
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value: quoted, without the characters a quoted value cannot hold.
fn param(value: &str) -> String {
    let clean: String = value
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .collect();
    format!("\"{clean}\"")
}

/// Content lines longer than 75 octets folded (CRLF and a space), never inside a character.
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

/// The zone's VTIMEZONE for the year of `at`: each offset change in that year as a STANDARD or
/// DAYLIGHT component (DTSTART in local time before the change), or one STANDARD for a zone
/// without changes.
fn vtimezone(zone: Tz, at: DateTime<Utc>) -> Vec<String> {
    let offset_at = |t: DateTime<Utc>| zone.offset_from_utc_datetime(&t.naive_utc());
    let year_start = Utc
        .with_ymd_and_hms(at.year(), 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(at);
    let mut transitions = Vec::new();
    let mut previous = offset_at(year_start);
    // Offsets change on the hour or half hour: find each change day by day, then the minute.
    let mut day = year_start;
    while day.year() == at.year() {
        let next = day + Duration::days(1);
        let offset = offset_at(next);
        if offset.fix() != previous.fix() {
            let mut t = day;
            while offset_at(t).fix() == previous.fix() {
                t += Duration::minutes(15);
            }
            transitions.push((t, previous, offset_at(t)));
            previous = offset;
        }
        day = next;
    }
    let hhmm = |seconds: i32| {
        let sign = if seconds < 0 { '-' } else { '+' };
        let s = seconds.abs();
        format!("{sign}{:02}{:02}", s / 3600, (s % 3600) / 60)
    };
    let mut lines = vec!["BEGIN:VTIMEZONE".into(), format!("TZID:{}", zone.name())];
    if transitions.is_empty() {
        let offset = offset_at(at);
        let seconds = offset.fix().local_minus_utc();
        lines.extend([
            "BEGIN:STANDARD".into(),
            "DTSTART:19700101T000000".into(),
            format!("TZOFFSETFROM:{}", hhmm(seconds)),
            format!("TZOFFSETTO:{}", hhmm(seconds)),
            format!("TZNAME:{}", offset.abbreviation().unwrap_or("LMT")),
            "END:STANDARD".into(),
        ]);
    }
    for (when, from, to) in transitions {
        let (from_s, to_s) = (from.fix().local_minus_utc(), to.fix().local_minus_utc());
        // The larger offset of the zone's year is its summer time.
        let kind = if to_s > from_s {
            "DAYLIGHT"
        } else {
            "STANDARD"
        };
        let local_before: NaiveDateTime = when.naive_utc() + Duration::seconds(i64::from(from_s));
        lines.extend([
            format!("BEGIN:{kind}"),
            format!("DTSTART:{}", local_before.format("%Y%m%dT%H%M%S")),
            format!("TZOFFSETFROM:{}", hhmm(from_s)),
            format!("TZOFFSETTO:{}", hhmm(to_s)),
            format!("TZNAME:{}", to.abbreviation().unwrap_or("LMT")),
            format!("END:{kind}"),
        ]);
    }
    lines.push("END:VTIMEZONE".into());
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(cancelled: bool) -> String {
        let start = Utc
            .with_ymd_and_hms(2027, 1, 26, 9, 0, 0)
            .single()
            .expect("time");
        calendar(&Event {
            uid: "apt_0123456789abcdef@demo",
            sequence: 2,
            cancelled,
            start,
            end: start + Duration::minutes(30),
            zone: chrono_tz::Europe::Berlin,
            summary: "Haarschnitt, Salon Demo; bei Clara",
            description: "Termin\nbei Clara",
            organizer: Some(("Salon \"Demo\"", "termine@demo.example")),
            stamp: start,
        })
    }

    #[test]
    fn times_are_local_with_the_zone_and_its_changes() {
        let ics = event(false);
        assert!(
            ics.contains("DTSTART;TZID=Europe/Berlin:20270126T100000\r\n"),
            "{ics}"
        );
        assert!(ics.contains("DTEND;TZID=Europe/Berlin:20270126T103000\r\n"));
        assert!(ics.contains("BEGIN:DAYLIGHT\r\nDTSTART:20270328T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST"), "{ics}");
        assert!(ics.contains("BEGIN:STANDARD\r\nDTSTART:20271031T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET"), "{ics}");
        assert!(ics.contains("METHOD:REQUEST") && ics.contains("SEQUENCE:2"));
        assert!(ics.contains("SUMMARY:Haarschnitt\\, Salon Demo\\; bei Clara"));
        assert!(ics.contains("DESCRIPTION:Termin\\nbei Clara"));
        assert!(ics.contains("ORGANIZER;CN=\"Salon Demo\":mailto:termine@demo.example"));
        assert!(ics.lines().all(|l| l.len() <= 76), "folded");
    }

    #[test]
    fn a_cancel_says_so() {
        let ics = event(true);
        assert!(ics.contains("METHOD:CANCEL\r\n") && ics.contains("STATUS:CANCELLED\r\n"));
    }

    #[test]
    fn long_lines_fold_between_characters() {
        let mut out = String::new();
        fold(&format!("DESCRIPTION:{}", "ä".repeat(100)), &mut out);
        for line in out.split("\r\n") {
            assert!(line.len() <= 75, "{line}");
        }
        assert_eq!(
            out.replace("\r\n ", ""),
            format!("DESCRIPTION:{}\r\n", "ä".repeat(100))
        );
    }

    #[test]
    fn a_zone_without_changes_has_one_standard() {
        let start = Utc
            .with_ymd_and_hms(2027, 6, 1, 9, 0, 0)
            .single()
            .expect("time");
        let lines = vtimezone(chrono_tz::Asia::Tokyo, start);
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("BEGIN:STANDARD"))
                .count(),
            1
        );
        assert!(lines.contains(&"TZOFFSETTO:+0900".to_owned()));
    }
}
