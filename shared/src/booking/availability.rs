//! Free times with the people who could take them: a time is free when at least one qualified
//! staff member is working and free then and, for a service that needs a resource, one of its
//! units is free too. Pure logic over what the calendar holds ([`Occupancy`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use super::company::Service;
use super::slots::{Busy, SlotFinder};
use super::staff::{StaffMember, Team};

/// What is booked in a range of time: busy intervals per staff member and per resource unit,
/// and how many appointments each person has per day (for the fair choice).
#[derive(Debug, Clone, Default)]
pub struct Occupancy {
    staff: HashMap<String, Vec<Busy>>,
    units: HashMap<(String, u32), Vec<Busy>>,
    appointments: HashMap<(String, NaiveDate), u32>,
}

impl Occupancy {
    pub fn staff_busy(&mut self, staff_id: &str, busy: Busy) {
        self.staff
            .entry(staff_id.to_owned())
            .or_default()
            .push(busy);
    }

    pub fn unit_busy(&mut self, resource_id: &str, unit: u32, busy: Busy) {
        self.units
            .entry((resource_id.to_owned(), unit))
            .or_default()
            .push(busy);
    }

    /// One more appointment for `staff_id` on `day`.
    pub fn appointment(&mut self, staff_id: &str, day: NaiveDate) {
        *self
            .appointments
            .entry((staff_id.to_owned(), day))
            .or_default() += 1;
    }

    pub fn appointments_of(&self, staff_id: &str, day: NaiveDate) -> u32 {
        self.appointments
            .get(&(staff_id.to_owned(), day))
            .copied()
            .unwrap_or(0)
    }

    fn busy_of(&self, staff_id: &str) -> &[Busy] {
        self.staff.get(staff_id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether unit `unit` of `resource_id` is free over `[start, end)`.
    pub fn unit_free(
        &self,
        resource_id: &str,
        unit: u32,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> bool {
        self.units
            .get(&(resource_id.to_owned(), unit))
            .is_none_or(|busy| !busy.iter().any(|b| b.start < end && b.end > start))
    }
}

/// A free start time and who could take it, the fairest choice first (fewest appointments that
/// day, ties in file order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeTime {
    pub time: NaiveTime,
    pub start: DateTime<Utc>,
    /// Staff ids (empty id: the implicit member of a company without staff).
    pub staff: Vec<String>,
}

impl FreeTime {
    pub fn has(&self, staff_id: &str) -> bool {
        self.staff.iter().any(|s| s == staff_id)
    }
}

/// Free times on `date` for `service`, each with the qualified staff free then; `only` limits
/// the search to one person.
pub fn free_times(
    team: &Team,
    service: &Service,
    date: NaiveDate,
    occupancy: &Occupancy,
    now: DateTime<Utc>,
    only: Option<&StaffMember>,
) -> Vec<FreeTime> {
    let timing = service.timing();
    let mut by_time: BTreeMap<NaiveTime, (DateTime<Utc>, Vec<&StaffMember>)> = BTreeMap::new();
    let people: Vec<&StaffMember> = match only {
        Some(person) => vec![person],
        None => team.qualified(&service.id).collect(),
    };
    for person in people {
        if !person.performs(&service.id) {
            continue;
        }
        let slots = SlotFinder::new(&person.schedule).free_slots(
            date,
            timing,
            occupancy.busy_of(&person.id),
            now,
        );
        for slot in slots {
            by_time
                .entry(slot.local)
                .or_insert_with(|| (slot.start, Vec::new()))
                .1
                .push(person);
        }
    }
    let occupied = Duration::minutes(i64::from(timing.duration_minutes + timing.buffer_minutes));
    let resource = team.resource_for(&service.id);
    by_time
        .into_iter()
        .filter(|(_, (start, _))| {
            resource.is_none_or(|r| {
                (0..r.capacity).any(|u| occupancy.unit_free(&r.id, u, *start, *start + occupied))
            })
        })
        .map(|(time, (start, mut people))| {
            // Stable: ties keep file order.
            people.sort_by_key(|p| occupancy.appointments_of(&p.id, date));
            FreeTime {
                time,
                start,
                staff: people.iter().map(|p| p.id.clone()).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
