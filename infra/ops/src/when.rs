//! Points in time as operators write them: "24 hours ago", "7d", "yesterday", "now",
//! "2026-11-24", "2026-11-24 08:00", RFC 3339.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

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
    for format in [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(text.trim(), format) {
            return Ok(Utc.from_utc_datetime(&dt));
        }
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

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
