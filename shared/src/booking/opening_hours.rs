//! Whether the business is open on a day, and when: its weekly hours with the breaks cut out,
//! less its closures. Staff absences do not close the business, so they are not here.

use chrono::{Datelike, NaiveDate};

use crate::booking::company::Company;
use crate::booking::slots::OpenInterval;

/// One day of the business's hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayHours {
    pub date: NaiveDate,
    /// Open intervals, in order; empty when closed.
    pub open: Vec<OpenInterval>,
    /// Closed by a closure (holiday, vacation) rather than by the weekly hours.
    pub closure: bool,
}

impl DayHours {
    pub fn is_open(&self) -> bool {
        !self.open.is_empty()
    }
}

/// The business's hours on `date`.
pub fn day_hours(company: &Company, date: NaiveDate) -> DayHours {
    let weekday = date.weekday().num_days_from_monday() as usize;
    let closure = company.schedule.closures.contains(&date);
    let open = if closure {
        Vec::new()
    } else {
        company.schedule.weekly[weekday].clone()
    };
    DayHours {
        date,
        open,
        closure,
    }
}

/// `days` days of hours from `from` (a week: 7).
pub fn days_hours(company: &Company, from: NaiveDate, days: u32) -> Vec<DayHours> {
    from.iter_days()
        .take(days as usize)
        .map(|d| day_hours(company, d))
        .collect()
}

/// The first open day after `date`, looking at most a year ahead (a business closed longer has
/// no next opening worth saying).
pub fn next_open_day(company: &Company, date: NaiveDate) -> Option<DayHours> {
    date.iter_days()
        .skip(1)
        .take(366)
        .map(|d| day_hours(company, d))
        .find(DayHours::is_open)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::company::demo_company;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or(NaiveDate::MIN)
    }

    #[test]
    fn hours_closures_and_the_next_opening() {
        let c = demo_company();
        // demo: Mon–Fri 09–12 and 13–18, Sat 10–14, Sun closed, 24.–26.12.2026 closed.
        for (date, intervals, closure, next) in [
            ("2026-12-07", 2, false, "2026-12-08"), // Monday
            ("2026-12-12", 1, false, "2026-12-14"), // Saturday → Monday
            ("2026-12-13", 0, false, "2026-12-14"), // Sunday
            ("2026-12-24", 0, true, "2026-12-28"),  // Thursday, closed to Saturday 26th, Sunday
            ("2026-12-26", 0, true, "2026-12-28"),
        ] {
            let h = day_hours(&c, d(date));
            assert_eq!(h.open.len(), intervals, "{date}");
            assert_eq!(h.closure, closure, "{date}");
            assert_eq!(
                next_open_day(&c, d(date)).map(|n| n.date),
                Some(d(next)),
                "{date}"
            );
        }
        let week = days_hours(&c, d("2026-12-21"), 7);
        let open: Vec<bool> = week.iter().map(DayHours::is_open).collect();
        assert_eq!(open, [true, true, true, false, false, false, false]);
    }
}
