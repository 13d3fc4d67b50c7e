//! Points in time as operators write them: "24 hours ago", "7d", "yesterday", "now",
//! "2026-11-24", "2026-11-24 08:00", RFC 3339.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

pub fn parse(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim().to_lowercase();
    match t.as_str() {
        "now" => return Ok(now),
        "today" => return Ok(midnight(now.date_naive())),
        "yesterday" => return Ok(midnight(now.date_naive() - Duration::days(1))),
        _ => {}
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(dt.with_timezone(&Utc));
    }
    if let Some(dt) = wall_clock(text) {
        return Ok(Utc.from_utc_datetime(&dt));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        return Ok(midnight(d));
    }
    let body = t.strip_suffix(" ago").unwrap_or(&t).trim();
    let split = body.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| {
        format!("{text:?} is not a time (e.g. \"24 hours ago\", \"7d\", \"2026-11-24\")")
    })?;
    let (number, unit) = body.split_at(split);
    let n: i64 = number.parse().map_err(|_| {
        format!("{text:?} is not a time (e.g. \"24 hours ago\", \"7d\", \"2026-11-24\")")
    })?;
    let span = match unit.trim() {
        "m" | "min" | "mins" | "minute" | "minutes" => Duration::try_minutes(n),
        "h" | "hour" | "hours" => Duration::try_hours(n),
        "d" | "day" | "days" => Duration::try_days(n),
        "w" | "week" | "weeks" => Duration::try_weeks(n),
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (minutes, hours, days, weeks)"
            ))
        }
    }
    .filter(|d| *d <= Duration::days(3660))
    .ok_or_else(|| format!("{text:?} is too far back"))?;
    Ok(now - span)
}

/// As [`parse`], but a date or a time without an offset (and "today", "yesterday") is read in
/// `tz`, the zone the statistics' days are counted in, so `--from 2026-11-01` starts that day
/// there. Relative times and RFC 3339 are instants either way.
pub fn parse_in(text: &str, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, String> {
    let t = text.trim().to_lowercase();
    let local_today = now.with_timezone(&tz).date_naive();
    let day = match t.as_str() {
        "today" => Some(local_today),
        "yesterday" => Some(local_today - Duration::days(1)),
        _ => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok(),
    };
    if let Some(d) = day {
        return local(tz, d.and_hms_opt(0, 0, 0).unwrap_or_default(), text);
    }
    if DateTime::parse_from_rfc3339(text.trim()).is_err() {
        if let Some(dt) = wall_clock(text) {
            return local(tz, dt, text);
        }
    }
    parse(text, now)
}

/// One day of `tz` ("yesterday", "today", "2026-11-29"): its first moment and the next day's.
pub fn day_in(
    text: &str,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let t = text.trim().to_lowercase();
    let local_today = now.with_timezone(&tz).date_naive();
    let day = match t.as_str() {
        "today" => local_today,
        "yesterday" => local_today - Duration::days(1),
        _ => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
            let shown: String = text.chars().take(64).collect();
            format!("{shown:?} is not a day: yesterday, today or 2026-11-29")
        })?,
    };
    let start = local(tz, day.and_hms_opt(0, 0, 0).unwrap_or_default(), text)?;
    let next = day
        .succ_opt()
        .ok_or_else(|| format!("{day} has no next day"))?;
    let end = local(tz, next.and_hms_opt(0, 0, 0).unwrap_or_default(), text)?;
    Ok((start, end))
}

/// A wall-clock time in `tz`: the earlier of an hour that happens twice, and the first moment
/// after an hour that does not happen (a clock change at midnight).
fn local(tz: Tz, dt: NaiveDateTime, text: &str) -> Result<DateTime<Utc>, String> {
    (0..=3)
        .find_map(|h| {
            tz.from_local_datetime(&(dt + Duration::hours(h)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{text:?} is not a time in {tz}"))
}

/// A date and time without an offset, as operators write them.
fn wall_clock(text: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text.trim(), format).ok())
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// A span of seconds as people read it: "42 s", "5 min", "3 h", "2 d".
pub fn span(s: i64) -> String {
    match s.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_its_local_midnights_across_a_clock_change() {
        let berlin = chrono_tz::Europe::Berlin;
        let now: DateTime<Utc> = "2026-10-26T12:00:00Z".parse().unwrap();
        // 25 October 2026 has 25 hours in Berlin (CEST ends).
        let (start, end) = day_in("yesterday", now, berlin).unwrap();
        assert_eq!(start.to_rfc3339(), "2026-10-24T22:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-10-25T23:00:00+00:00");
        assert_eq!(
            day_in("2026-10-26", now, berlin).unwrap(),
            day_in("today", now, berlin).unwrap()
        );
        assert!(day_in("30d", now, berlin).is_err());
        assert!(day_in("2026-02-30", now, berlin).is_err());
    }

    #[test]
    fn operator_times() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
            .single()
            .expect("now");
        let ok = |t: &str| parse(t, now).expect(t);
        assert_eq!(ok("24 hours ago"), now - Duration::hours(24));
        assert_eq!(ok("7d"), now - Duration::days(7));
        assert_eq!(ok("30 minutes ago"), now - Duration::minutes(30));
        assert_eq!(ok("now"), now);
        assert_eq!(
            ok("yesterday"),
            Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0)
                .single()
                .expect("y")
        );
        assert_eq!(
            ok("2026-11-24"),
            Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0)
                .single()
                .expect("d")
        );
        assert_eq!(
            ok("2026-11-24T08:00:00+01:00"),
            Utc.with_ymd_and_hms(2026, 11, 24, 7, 0, 0)
                .single()
                .expect("r")
        );
        for bad in [
            "",
            "soon",
            "5 fortnights ago",
            "99999999999999999999 days ago",
            "100000 days ago",
        ] {
            assert!(parse(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_are_read_in_the_statistics_zone() {
        let berlin = chrono_tz::Europe::Berlin;
        // 00:30 in Berlin on 1 December is still 30 November in UTC.
        let now = Utc
            .with_ymd_and_hms(2026, 11, 30, 23, 30, 0)
            .single()
            .expect("now");
        let ok = |t: &str| parse_in(t, now, berlin).expect(t);
        let utc = |d: u32, h: u32| {
            Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0)
                .single()
                .expect("utc")
        };
        assert_eq!(ok("2026-11-01"), utc(1, 0) - Duration::hours(1));
        assert_eq!(ok("today"), utc(30, 23));
        assert_eq!(ok("yesterday"), utc(29, 23));
        assert_eq!(ok("2026-11-24 08:00"), utc(24, 7));
        assert_eq!(ok("2026-11-24T08:00:00Z"), utc(24, 8));
        assert_eq!(ok("2h"), now - Duration::hours(2));
        // Summer time: midnight is UTC+2.
        assert_eq!(
            ok("2026-07-01"),
            Utc.with_ymd_and_hms(2026, 6, 30, 22, 0, 0)
                .single()
                .expect("utc")
        );
        assert!(parse_in("next tuesday", now, berlin).is_err());
    }
}
