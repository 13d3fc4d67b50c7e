//! Free appointment slots for one day: business hours per weekday with breaks, closures, service
//! duration and buffer, slot step, minimum notice, never in the past, DST-correct in the
//! company's time zone. Pure logic: the bookings come in as UTC intervals.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// An opening interval of a weekday, in local wall-clock time (`start < end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenInterval {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// When a company takes appointments.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub time_zone: Tz,
    /// Monday first. Breaks are already cut out: Mon 09:00–12:00 and 13:00–18:00.
    pub weekly: [Vec<OpenInterval>; 7],
    /// Whole days closed (holidays, vacation).
    pub closures: BTreeSet<NaiveDate>,
    pub slot_step_minutes: u32,
    pub min_notice_minutes: u32,
}

/// A bookable service's length and the time kept free after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceTiming {
    pub duration_minutes: u32,
    pub buffer_minutes: u32,
}

/// An existing booking, as the calendar stores it, buffer included in `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Busy {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// One free slot: the local start time the caller hears, and the instant it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub local: NaiveTime,
    pub start: DateTime<Utc>,
}

/// Local wall-clock time on `date` as an instant. Times skipped by a DST jump do not exist;
/// times repeated by the autumn change take their first occurrence.
pub fn local_instant(tz: &Tz, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&date.and_time(time)) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

/// Where the local day `date` begins: midnight, or, where a clock change skips midnight (some
/// zones switch at 00:00), the first hour after it.
pub fn local_day_start(tz: &Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    local_instant(tz, date, NaiveTime::MIN)
        .or_else(|| local_instant(tz, date, NaiveTime::from_hms_opt(1, 0, 0)?))
}

pub struct SlotFinder<'a> {
    schedule: &'a Schedule,
}

impl<'a> SlotFinder<'a> {
    pub fn new(schedule: &'a Schedule) -> Self {
        Self { schedule }
    }

    /// Whether the company is open at all on `date` (weekday hours and no closure).
    pub fn is_open_on(&self, date: NaiveDate) -> bool {
        !self.schedule.closures.contains(&date)
            && !self.schedule.weekly[date.weekday().num_days_from_monday() as usize].is_empty()
    }

    /// Every start time on `date` where the service fits inside an opening interval, after
    /// `now` plus the minimum notice, without touching a booking (with both buffers).
    /// `busy` may be in any order.
    pub fn free_slots(
        &self,
        date: NaiveDate,
        service: ServiceTiming,
        busy: &[Busy],
        now: DateTime<Utc>,
    ) -> Vec<Slot> {
        if !self.is_open_on(date) || service.duration_minutes == 0 {
            return Vec::new();
        }
        let s = self.schedule;
        let step = Duration::minutes(i64::from(s.slot_step_minutes.max(1)));
        let length = Duration::minutes(i64::from(service.duration_minutes));
        let occupied = length + Duration::minutes(i64::from(service.buffer_minutes));
        let earliest = now + Duration::minutes(i64::from(s.min_notice_minutes));
        let mut bookings: Vec<Busy> = busy.to_vec();
        bookings.sort_unstable();
        let mut slots = Vec::new();
        let mut first_relevant = 0;
        for interval in &s.weekly[date.weekday().num_days_from_monday() as usize] {
            // Without a clock change inside the interval (its two ends as far apart in UTC as on
            // the wall), every start is the interval's first instant plus the wall-clock offset:
            // one time-zone lookup an interval instead of one a candidate.
            let first = local_instant(&s.time_zone, date, interval.start);
            let steady = first.filter(|first| {
                local_instant(&s.time_zone, date, interval.end)
                    .is_some_and(|last| last - *first == interval.end - interval.start)
            });
            let mut local = interval.start;
            loop {
                // The appointment itself must end by closing time; the buffer may run over.
                let (end_local, wrapped) = local.overflowing_add_signed(length);
                if wrapped != 0 || end_local > interval.end {
                    break;
                }
                let instant = match steady {
                    Some(first) => Some(first + (local - interval.start)),
                    None => local_instant(&s.time_zone, date, local),
                };
                if let Some(start) = instant {
                    let end = start + occupied;
                    if start >= earliest {
                        // Bookings are sorted and candidates ascend: skip those that ended.
                        while first_relevant < bookings.len()
                            && bookings[first_relevant].end <= start
                        {
                            first_relevant += 1;
                        }
                        let clash = bookings[first_relevant..]
                            .iter()
                            .take_while(|b| b.start < end)
                            .any(|b| b.end > start);
                        if !clash {
                            slots.push(Slot { local, start });
                        }
                    }
                }
                let (next, wrapped) = local.overflowing_add_signed(step);
                if wrapped != 0 || next <= local {
                    break;
                }
                local = next;
            }
        }
        slots
    }

    /// The next `count` open days after `date` (within `horizon_days`) that have a free slot.
    pub fn next_days_with_slots(
        &self,
        date: NaiveDate,
        service: ServiceTiming,
        busy_on: impl Fn(NaiveDate) -> Vec<Busy>,
        now: DateTime<Utc>,
        count: usize,
        horizon_days: u32,
    ) -> Vec<(NaiveDate, Vec<Slot>)> {
        let mut found = Vec::new();
        let mut day = date;
        for _ in 0..horizon_days {
            let Some(next) = day.succ_opt() else { break };
            day = next;
            if !self.is_open_on(day) {
                continue;
            }
            let slots = self.free_slots(day, service, &busy_on(day), now);
            if !slots.is_empty() {
                found.push((day, slots));
                if found.len() == count {
                    break;
                }
            }
        }
        found
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("valid time")
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    fn open(a: (u32, u32), b: (u32, u32)) -> OpenInterval {
        OpenInterval {
            start: t(a.0, a.1),
            end: t(b.0, b.1),
        }
    }

    /// The demo salon (`infra/local/companies/demo.json`): Mon–Fri 09–18 with a 12–13 break,
    /// Sat 10–14, Sun closed, 15-minute steps, 60 minutes notice, closed 2025-12-25.
    fn demo_schedule() -> Schedule {
        crate::booking::company::demo_company().schedule
    }

    const HAIRCUT: ServiceTiming = ServiceTiming {
        duration_minutes: 30,
        buffer_minutes: 0,
    };

    fn berlin(date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
        local_instant(&chrono_tz::Europe::Berlin, date, t(h, m)).expect("exists")
    }

    fn times(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| s.local.format("%H:%M").to_string())
            .collect()
    }

    #[test]
    fn weekday_hours_with_break() {
        let s = demo_schedule();
        let day = d(2025, 1, 14); // Tuesday
        let slots = SlotFinder::new(&s).free_slots(day, HAIRCUT, &[], berlin(d(2025, 1, 1), 8, 0));
        let got = times(&slots);
        assert_eq!(got.first().map(String::as_str), Some("09:00"));
        assert!(got.contains(&"11:30".to_owned()));
        assert!(
            !got.contains(&"11:45".to_owned()),
            "would run into the break"
        );
        assert!(!got.contains(&"12:00".to_owned()));
        assert!(got.contains(&"13:00".to_owned()));
        assert_eq!(got.last().map(String::as_str), Some("17:30"));
        assert_eq!(got.len(), 11 + 19);
    }

    #[test]
    fn saturday_sunday_and_closures() {
        let s = demo_schedule();
        let f = SlotFinder::new(&s);
        let now = berlin(d(2025, 1, 1), 8, 0);
        let sat = times(&f.free_slots(d(2025, 1, 18), HAIRCUT, &[], now));
        assert_eq!(
            (
                sat.first().map(String::as_str),
                sat.last().map(String::as_str)
            ),
            (Some("10:00"), Some("13:30"))
        );
        assert!(
            f.free_slots(d(2025, 1, 19), HAIRCUT, &[], now).is_empty(),
            "Sunday"
        );
        assert!(
            f.free_slots(d(2025, 12, 25), HAIRCUT, &[], now).is_empty(),
            "closure"
        );
    }

    #[test]
    fn bookings_block_their_time_and_buffers_apply() {
        let s = demo_schedule();
        let day = d(2025, 1, 14);
        let busy = [Busy {
            start: berlin(day, 10, 0),
            end: berlin(day, 11, 0),
        }];
        let with_buffer = ServiceTiming {
            duration_minutes: 30,
            buffer_minutes: 15,
        };
        let got = times(&SlotFinder::new(&s).free_slots(
            day,
            with_buffer,
            &busy,
            berlin(d(2025, 1, 1), 8, 0),
        ));
        assert!(
            got.contains(&"09:15".to_owned()),
            "09:15–09:45 + 15 min buffer ends at 10:00"
        );
        assert!(!got.contains(&"09:30".to_owned()));
        assert!(!got.contains(&"10:45".to_owned()));
        assert!(got.contains(&"11:00".to_owned()));
        // The buffer may run past closing; the appointment may not.
        assert!(got.contains(&"17:30".to_owned()));
    }

    #[test]
    fn minimum_notice_and_the_past() {
        let s = demo_schedule();
        let day = d(2025, 1, 14);
        let got = times(&SlotFinder::new(&s).free_slots(day, HAIRCUT, &[], berlin(day, 14, 5)));
        assert_eq!(
            got.first().map(String::as_str),
            Some("15:15"),
            "60 min notice after 14:05"
        );
        assert!(SlotFinder::new(&s)
            .free_slots(day, HAIRCUT, &[], berlin(day, 19, 0))
            .is_empty());
    }

    #[test]
    fn dst_days_keep_local_times() {
        let mut s = demo_schedule();
        // Open across the spring-forward gap (02:00–03:00 does not exist on 2025-03-30).
        s.weekly[6] = vec![open((1, 0), (4, 0))];
        let spring = SlotFinder::new(&s).free_slots(
            d(2025, 3, 30),
            HAIRCUT,
            &[],
            berlin(d(2025, 1, 1), 0, 0),
        );
        let got = times(&spring);
        assert!(got.contains(&"01:30".to_owned()));
        assert!(!got.iter().any(|t| t.starts_with("02:")), "{got:?}");
        assert!(got.contains(&"03:00".to_owned()));
        // The same wall-clock opening is a different UTC instant in summer and winter.
        let summer = SlotFinder::new(&s).free_slots(
            d(2025, 7, 15),
            HAIRCUT,
            &[],
            berlin(d(2025, 1, 1), 0, 0),
        );
        assert_eq!(
            summer[0].start.format("%H:%M").to_string(),
            "07:00",
            "09:00 CEST"
        );
        let winter = SlotFinder::new(&s).free_slots(
            d(2025, 1, 14),
            HAIRCUT,
            &[],
            berlin(d(2025, 1, 1), 0, 0),
        );
        assert_eq!(
            winter[0].start.format("%H:%M").to_string(),
            "08:00",
            "09:00 CET"
        );
    }

    #[test]
    fn next_open_days_are_offered() {
        let s = demo_schedule();
        let f = SlotFinder::new(&s);
        // Saturday fully booked: the next days with room are Monday and Tuesday.
        let sat = d(2025, 1, 18);
        let full = [Busy {
            start: berlin(sat, 10, 0),
            end: berlin(sat, 14, 0),
        }];
        let next = f.next_days_with_slots(
            d(2025, 1, 17),
            HAIRCUT,
            |day| if day == sat { full.to_vec() } else { vec![] },
            berlin(d(2025, 1, 1), 0, 0),
            2,
            14,
        );
        let days: Vec<String> = next.iter().map(|(day, _)| day.to_string()).collect();
        assert_eq!(days, ["2025-01-20", "2025-01-21"]);
    }
}
