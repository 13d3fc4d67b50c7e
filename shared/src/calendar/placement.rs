//! Where a booking sits in time: its instants and the lock units (items on the company's
//! slot-step grid) it occupies, buffer included. Shared by the native calendar, the ledger that
//! writes the locks, and Cal.com bookings mirrored into the ledger.
//!
//! Lock keys (docs/data-model.md): `L#<epoch ms>` for the implicit member of a company without
//! staff (as before staff existed), `L#<epoch ms>#S#<staff id>` for a person,
//! `L#<epoch ms>#R#<resource id>#<unit>` for a unit of a resource.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use super::CalendarError;
use crate::booking::company::{Company, Service};
use crate::booking::slots::local_instant;

pub(super) fn lock_sk(ms: i64) -> String {
    format!("L#{ms:013}")
}

/// Who a lock item holds time for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockOwner<'a> {
    /// A staff member; the empty id is the implicit member (`L#<ms>` alone).
    Staff(&'a str),
    /// Unit `1` of resource `0`.
    Unit(&'a str, u32),
}

pub(super) fn owned_lock_sk(ms: i64, owner: LockOwner<'_>) -> String {
    match owner {
        LockOwner::Staff("") => lock_sk(ms),
        LockOwner::Staff(id) => format!("L#{ms:013}#S#{id}"),
        LockOwner::Unit(resource, unit) => format!("L#{ms:013}#R#{resource}#{unit}"),
    }
}

/// A lock item's key read back: its unit's start and its owner. `None` for anything else.
pub(super) fn parse_lock_sk(sk: &str) -> Option<(i64, LockOwner<'_>)> {
    let rest = sk.strip_prefix("L#")?;
    let (ms, owner) = match rest.split_once('#') {
        None => (rest, LockOwner::Staff("")),
        Some((ms, owner)) => {
            let owner = match owner.split_once('#')? {
                ("S", id) if !id.is_empty() => LockOwner::Staff(id),
                ("R", unit) => {
                    let (resource, n) = unit.rsplit_once('#')?;
                    LockOwner::Unit(resource, n.parse().ok()?)
                }
                _ => return None,
            };
            (ms, owner)
        }
    };
    if ms.len() != 13 || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((ms.parse().ok()?, owner))
}

/// The starts (epoch ms) of the step units `[start, end)` covers, on the company's grid.
fn unit_starts(start: DateTime<Utc>, end: DateTime<Utc>, step_minutes: u32) -> Vec<i64> {
    let step = i64::from(step_minutes.max(1)) * 60_000;
    let first = start.timestamp_millis().div_euclid(step) * step;
    let last = end.timestamp_millis();
    (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t < last)
        .collect()
}

/// The lock units `[start, end)` covers, on the company's step grid.
#[cfg(test)]
fn lock_keys(start: DateTime<Utc>, end: DateTime<Utc>, step_minutes: u32) -> BTreeSet<String> {
    unit_starts(start, end, step_minutes)
        .into_iter()
        .map(lock_sk)
        .collect()
}

/// Where a booking sits in time: its instants and the step units it occupies (buffer included).
pub(crate) struct Placement {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The lock items it holds: the implicit member's until [`Placement::assigned`] names a
    /// person and a resource unit.
    pub locks: BTreeSet<String>,
    /// Who it is with (empty: the implicit member, or not assigned yet).
    pub staff_id: String,
    units: Vec<i64>,
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
        let units = unit_starts(start, occupied_until, company.settings.slot_step_minutes);
        let locks = units.iter().map(|ms| lock_sk(*ms)).collect();
        Ok(Self {
            start,
            end,
            locks,
            staff_id: String::new(),
            units,
        })
    }

    /// The implicit member's lock keys for this time (`L#<ms>`): a company that lists staff
    /// still holds them for bookings made before it did, and they count as its first staff
    /// member's, so that person's bookings check them.
    pub fn unowned_locks(&self) -> BTreeSet<String> {
        self.units.iter().map(|ms| lock_sk(*ms)).collect()
    }

    /// The locks for `staff_id` (empty: the implicit member) and, if the service needs one, a
    /// unit of a resource.
    pub fn assigned(mut self, staff_id: &str, unit: Option<(&str, u32)>) -> Self {
        let mut locks: BTreeSet<String> = self
            .units
            .iter()
            .map(|ms| owned_lock_sk(*ms, LockOwner::Staff(staff_id)))
            .collect();
        if let Some((resource, n)) = unit {
            locks.extend(
                self.units
                    .iter()
                    .map(|ms| owned_lock_sk(*ms, LockOwner::Unit(resource, n))),
            );
        }
        self.locks = locks;
        self.staff_id = staff_id.to_owned();
        self
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

    #[test]
    fn lock_keys_read_back_with_their_owner() {
        let ms = 1_736_845_200_000;
        for owner in [
            LockOwner::Staff(""),
            LockOwner::Staff("anna"),
            LockOwner::Unit("color-station", 0),
            LockOwner::Unit("room", 12),
        ] {
            let sk = owned_lock_sk(ms, owner);
            assert_eq!(parse_lock_sk(&sk), Some((ms, owner)), "{sk}");
        }
        assert_eq!(owned_lock_sk(ms, LockOwner::Staff("")), "L#1736845200000");
        for bad in [
            "L#",
            "L#12",
            "L#1736845200000#X#a",
            "L#1736845200000#S#",
            "A#x",
            "L#1736845200000#R#r#x",
        ] {
            assert_eq!(parse_lock_sk(bad), None, "{bad}");
        }
    }
}
