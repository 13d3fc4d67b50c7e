//! When a promise of "within N business hours" runs out: the minutes count only while the
//! business is open (its weekly hours without breaks, no closed days), DST-correct.

use chrono::{DateTime, Datelike, Duration, Utc};

use crate::booking::slots::{local_instant, Schedule};

/// How long staff have to call back when a company does not say: two business hours.
pub const DEFAULT_PROMISE_MINUTES: u32 = 120;
/// The longest promise a company may set: a business week and more.
pub const MAX_PROMISE_MINUTES: u32 = 10_080;
/// A business with no opening in this many days (closed for the season) gets the plain
/// minutes after `from` instead.
const SEARCH_DAYS: u64 = 62;

/// The instant `minutes` of opening hours after `from`.
pub fn business_deadline(schedule: &Schedule, from: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
    let mut left = Duration::minutes(i64::from(minutes));
    let first_day = from.with_timezone(&schedule.time_zone).date_naive();
    for date in first_day.iter_days().take(SEARCH_DAYS as usize) {
        if schedule.closures.contains(&date) {
            continue;
        }
        let weekday = date.weekday().num_days_from_monday() as usize;
        for interval in &schedule.weekly[weekday] {
            let (Some(start), Some(end)) = (
                local_instant(&schedule.time_zone, date, interval.start),
                local_instant(&schedule.time_zone, date, interval.end),
            ) else {
                continue;
            };
            let start = start.max(from);
            if start >= end {
                continue;
            }
            let open = end - start;
            if left <= open {
                return start + left;
            }
            left -= open;
        }
    }
    from + Duration::minutes(i64::from(minutes))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::{NaiveDate, NaiveTime, TimeZone};
    use chrono_tz::Europe::Berlin;

    use super::*;
    use crate::booking::slots::OpenInterval;

    fn schedule(closed: &[NaiveDate]) -> Schedule {
        let day = |a: u32, b: u32, c: u32, d: u32| {
            vec![
                OpenInterval {
                    start: NaiveTime::from_hms_opt(a, 0, 0).unwrap(),
                    end: NaiveTime::from_hms_opt(b, 0, 0).unwrap(),
                },
                OpenInterval {
                    start: NaiveTime::from_hms_opt(c, 0, 0).unwrap(),
                    end: NaiveTime::from_hms_opt(d, 0, 0).unwrap(),
                },
            ]
        };
        Schedule {
            time_zone: Berlin,
            // Mon–Fri 9–12 and 13–18, weekends closed.
            weekly: [
                day(9, 12, 13, 18),
                day(9, 12, 13, 18),
                day(9, 12, 13, 18),
                day(9, 12, 13, 18),
                day(9, 12, 13, 18),
                vec![],
                vec![],
            ],
            closures: closed.iter().copied().collect::<BTreeSet<_>>(),
            slot_step_minutes: 15,
            min_notice_minutes: 0,
        }
    }

    fn berlin(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Berlin
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn counts_only_open_minutes() {
        let s = schedule(&[]);
        // Tuesday 10:00 + 2 h: 12:00 (the lunch break does not count, the deadline is its start).
        assert_eq!(
            business_deadline(&s, berlin(2026, 12, 8, 10, 0), 120),
            berlin(2026, 12, 8, 12, 0)
        );
        // Tuesday 11:00 + 2 h: 1 h before lunch, 1 h after: 14:00.
        assert_eq!(
            business_deadline(&s, berlin(2026, 12, 8, 11, 0), 120),
            berlin(2026, 12, 8, 14, 0)
        );
        // Friday 17:30 + 2 h: 30 min Friday, 90 min Monday: Monday 10:30.
        assert_eq!(
            business_deadline(&s, berlin(2026, 12, 11, 17, 30), 120),
            berlin(2026, 12, 14, 10, 30)
        );
        // Saturday night: Monday 11:00.
        assert_eq!(
            business_deadline(&s, berlin(2026, 12, 12, 23, 0), 120),
            berlin(2026, 12, 14, 11, 0)
        );
    }

    #[test]
    fn skips_closed_days_and_never_runs_forever() {
        let monday = NaiveDate::from_ymd_opt(2026, 12, 14).unwrap();
        assert_eq!(
            business_deadline(&schedule(&[monday]), berlin(2026, 12, 11, 18, 0), 60),
            berlin(2026, 12, 15, 10, 0)
        );
        let mut closed = schedule(&[]);
        closed.weekly = Default::default();
        let from = berlin(2026, 12, 8, 10, 0);
        assert_eq!(
            business_deadline(&closed, from, 120),
            from + Duration::minutes(120)
        );
    }
}
