//! Where a booking sits in time: its instants and the lock units (`L#<epoch ms>` items on the
//! company's slot-step grid) it occupies, buffer included. Shared by the native calendar, the
//! ledger that writes the locks, and Cal.com bookings mirrored into the ledger.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use super::CalendarError;
use crate::booking::company::{Company, Service};
use crate::booking::slots::local_instant;

pub(super) fn lock_sk(ms: i64) -> String {
    format!("L#{ms:013}")
}

/// The lock units `[start, end)` covers, on the company's step grid.
fn lock_keys(start: DateTime<Utc>, end: DateTime<Utc>, step_minutes: u32) -> BTreeSet<String> {
    let step = i64::from(step_minutes.max(1)) * 60_000;
    let first = start.timestamp_millis().div_euclid(step) * step;
    let last = end.timestamp_millis();
    (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t < last)
        .map(lock_sk)
        .collect()
}

/// Where a booking sits in time: its instants and the step units it occupies (buffer included).
pub(crate) struct Placement {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub locks: BTreeSet<String>,
}

impl Placement {
    pub fn new(
        company: &Company,
        service: &Service,
        date: NaiveDate,
        time: NaiveTime,
    ) -> Result<Self, CalendarError> {
        let start =
            local_instant(&company.time_zone, date, time).ok_or(CalendarError::NonexistentTime)?;
        let end = start + Duration::minutes(i64::from(service.duration_minutes));
        let occupied_until = end + Duration::minutes(i64::from(service.buffer_minutes));
        let locks = lock_keys(start, occupied_until, company.settings.slot_step_minutes);
        Ok(Self { start, end, locks })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn locks_cover_the_occupied_time_on_the_step_grid() {
        let start = Utc
            .timestamp_millis_opt(1_736_845_200_000)
            .single()
            .unwrap_or_default(); // 09:00 UTC
        let keys = lock_keys(start, start + Duration::minutes(45), 15);
        assert_eq!(keys.len(), 3);
        let keys = lock_keys(
            start + Duration::minutes(5),
            start + Duration::minutes(20),
            15,
        );
        assert_eq!(
            keys.len(),
            2,
            "a booking off the grid locks every unit it touches"
        );
    }
}
