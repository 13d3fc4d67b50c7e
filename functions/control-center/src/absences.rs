//! A staff member off for a day or a range (sick, holiday), marked at the desk: the absence is
//! added to the company's settings (the same versioned write as the settings page, re-read and
//! tried again if someone saved in between: adding a day off merges with any edit), and the
//! person's booked appointments on those days are listed for staff to move or call. Nothing is
//! cancelled by it.

use chrono::NaiveDate;
use shared::booking::company::{Closure, CompanySettings};
use shared::booking::directory::CompanyDirectory;
use shared::calendar::{Appointment, AppointmentStatus};

use crate::auth::Viewer;
use crate::desk::{read_date, Desk, DeskError};
use crate::settings::{read, save, SettingsError};

/// The longest absence marked at once (as a closure range).
const MAX_DAYS: i64 = 366;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Absence {
    pub staff_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Absence {
    /// The form's fields: a staff id, a first day and an optional last day.
    pub fn read(staff_id: &str, from: &str, to: &str) -> Result<Self, SettingsError> {
        let invalid = |e: DeskError| SettingsError::Invalid(e.to_string());
        let from = read_date(from).map_err(invalid)?;
        let to = match to.trim() {
            "" => from,
            to => read_date(to).map_err(invalid)?,
        };
        if to < from || (to - from).num_days() >= MAX_DAYS {
            return Err(SettingsError::Invalid(format!(
                "to: from the first day up to {MAX_DAYS} days"
            )));
        }
        Ok(Self {
            staff_id: staff_id.trim().to_owned(),
            from,
            to,
        })
    }

    fn closure(&self) -> Closure {
        if self.from == self.to {
            Closure::Day(self.from)
        } else {
            Closure::Range {
                from: self.from,
                to: self.to,
            }
        }
    }
}

/// The settings with the absence added to the person's.
fn with_absence(
    settings: &CompanySettings,
    absence: &Absence,
) -> Result<CompanySettings, SettingsError> {
    let mut next = settings.clone();
    let person = next
        .staff
        .iter_mut()
        .find(|p| p.id == absence.staff_id)
        .ok_or_else(|| SettingsError::Invalid("staff: not one of the company's staff".into()))?;
    let closure = absence.closure();
    if !person.absences.contains(&closure) {
        person.absences.push(closure);
    }
    Ok(next)
}

/// Marks the absence and returns the person's booked appointments on those days.
pub async fn mark(
    directory: &CompanyDirectory,
    desk: &Desk,
    viewer: &Viewer,
    company_id: &str,
    absence: &Absence,
    by: &str,
    audit: Option<&shared::privacy::AuditLog>,
) -> Result<Vec<Appointment>, SettingsError> {
    let mut tries = 0;
    loop {
        let stored = read(directory, company_id).await?;
        let next = with_absence(&stored.settings, absence)?;
        match save(
            directory,
            viewer,
            &stored.settings,
            &next,
            stored.version,
            by,
            audit,
        )
        .await
        {
            Ok(_) => break,
            Err(SettingsError::Stale) if tries < 2 => tries += 1,
            Err(e) => return Err(e),
        }
    }
    let company = directory
        .find(&shared::booking::directory::CompanyKey::Id(
            company_id.to_owned(),
        ))
        .await?;
    let days = u32::try_from((absence.to - absence.from).num_days() + 1).unwrap_or(1);
    let list = desk
        .appointments(&company, absence.from, days)
        .await
        .map_err(|e| match e {
            DeskError::Invalid(reason) => SettingsError::Invalid(reason),
            other => SettingsError::Backend(other.to_string()),
        })?;
    Ok(list
        .into_iter()
        .filter(|a| {
            a.status == AppointmentStatus::Booked
                && company.team.member_or_default(a.staff_id.as_deref()).id == absence.staff_id
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absences_are_read_strictly_and_added_once() {
        let a = Absence::read("anna", "2026-12-24", "").expect("a day");
        assert_eq!(a.closure(), Closure::Day(a.from));
        let r = Absence::read("anna", "2026-12-24", "2026-12-31").expect("a range");
        assert!(matches!(r.closure(), Closure::Range { .. }));
        assert!(Absence::read("anna", "2026-12-24", "2026-12-23").is_err());
        assert!(Absence::read("anna", "2026-01-01", "2027-06-01").is_err());
        assert!(Absence::read("anna", "morgen", "").is_err());
        let settings: CompanySettings =
            serde_json::from_str(include_str!("../../../infra/local/companies/demo.json"))
                .expect("demo");
        let once = with_absence(&settings, &a).expect("anna");
        let twice = with_absence(&once, &a).expect("anna");
        assert_eq!(once, twice);
        assert!(with_absence(
            &settings,
            &Absence::read("zoe", "2026-12-24", "").expect("read")
        )
        .is_err());
    }
}
