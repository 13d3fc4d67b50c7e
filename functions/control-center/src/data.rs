//! Reads for the pages and the API, each taking the [`Viewer`]: the tenant rule lives here,
//! where the data is read. A staff member asking for another company's call gets the same
//! answer as for a call that does not exist (None → 404), and a company they may not see is
//! never queried.

use shared::calls::dead_letters::{DeadLetter, DeadLetterQueues, QueuePair, Redriven};
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use shared::booking::company::Company;
use shared::booking::directory::{CompanyDirectory, CompanyKey};
use shared::calendar::ledger::{AppointmentLedger, CustomerRecord};
use shared::calendar::Appointment;
use shared::calls::record::CallRecord;
use shared::calls::stats::{CallStats, StaffBookings};
use shared::calls::store::{CallStore, DynamoCallStore};
use shared::calls::views::{CallFilter, CallPage, CallSummary};
use shared::retell::CallId;

use crate::auth::Viewer;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Not there, or not this viewer's (never told apart).
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("storage unavailable: {0}")]
    Backend(String),
}

impl From<shared::calls::store::StoreError> for DataError {
    fn from(e: shared::calls::store::StoreError) -> Self {
        match e {
            shared::calls::store::StoreError::Invalid(what) => Self::Invalid(what),
            other => Self::Backend(other.to_string()),
        }
    }
}

pub struct Data {
    pub calls: DynamoCallStore,
    pub companies: CompanyDirectory,
    pub ledger: AppointmentLedger,
    pub default_company_id: String,
    pub default_time_zone: Tz,
    /// The dead-letter queues (admins list and redrive them; the caller checks the viewer).
    pub dead_letters: DeadLetterQueues,
    /// Each consumer's queue, dead-letter queue and log group.
    pub queue_pairs: Vec<QueuePair>,
}

/// Messages one redrive may name.
pub const MAX_REDRIVE_IDS: usize = 100;

/// An SQS message id as SQS writes them (a UUID; the emulator's too): anything else is refused
/// before SQS is asked.
pub fn is_message_id(id: &str) -> bool {
    (1..=100).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A company as the pages show it: its settings if it has any (the default company of agents
/// nobody listed may have none), and its time zone.
#[derive(Debug, Clone)]
pub struct CompanyView {
    pub id: String,
    pub name: String,
    pub time_zone: Tz,
    pub language: String,
    pub settings: Option<Arc<Company>>,
}

impl Data {
    /// The company `requested` (or the viewer's own / the default) if the viewer may see it.
    pub async fn company(
        &self,
        viewer: &Viewer,
        requested: Option<&str>,
    ) -> Result<CompanyView, DataError> {
        let id = viewer
            .company(requested, &self.default_company_id)
            .ok_or(DataError::NotFound)?;
        if id.len() > 128 || id.is_empty() {
            return Err(DataError::NotFound);
        }
        let settings = self
            .companies
            .lookup(&CompanyKey::Id(id.to_owned()))
            .await
            .map_err(|e| DataError::Backend(e.to_string()))?;
        Ok(match settings {
            Some(c) => CompanyView {
                id: id.to_owned(),
                name: c.settings.name.clone(),
                time_zone: c.time_zone,
                language: c.settings.language.clone(),
                settings: Some(c),
            },
            None => CompanyView {
                id: id.to_owned(),
                name: id.to_owned(),
                time_zone: self.default_time_zone,
                language: "de-DE".into(),
                settings: None,
            },
        })
    }

    /// Every company an admin can pick (a staff member: their own).
    pub async fn companies(&self, viewer: &Viewer) -> Result<Vec<String>, DataError> {
        match viewer {
            Viewer::Staff { company_id, .. } => Ok(vec![company_id.clone()]),
            Viewer::Admin { .. } => {
                let mut ids = self
                    .companies
                    .company_ids()
                    .await
                    .map_err(|e| DataError::Backend(e.to_string()))?;
                if !ids.contains(&self.default_company_id) {
                    ids.push(self.default_company_id.clone());
                }
                ids.sort();
                Ok(ids)
            }
        }
    }

    /// One call, if it exists and the viewer may see its company.
    pub async fn call(&self, viewer: &Viewer, call_id: &str) -> Result<CallRecord, DataError> {
        let id = CallId::parse(call_id).map_err(|_| DataError::NotFound)?;
        let record = self.calls.load(&id).await?.ok_or(DataError::NotFound)?;
        if !viewer.may_see(&record.company_id) {
            tracing::warn!(call_id = %call_id, company = %record.company_id,
                "a viewer asked for another company's call");
            return Err(DataError::NotFound);
        }
        Ok(record)
    }

    /// Every dead letter with its consumer's last error, and notes on logs not read.
    pub async fn dead_letters(&self) -> Result<(Vec<DeadLetter>, Vec<String>), DataError> {
        let pairs: Vec<&QueuePair> = self.queue_pairs.iter().collect();
        self.dead_letters
            .list(&pairs)
            .await
            .map_err(DataError::Backend)
    }

    /// Moves the dead letters `ids` (or `all`, one or the other) back to their queues; the
    /// page's buttons and the API both come here.
    pub async fn redrive(&self, ids: &[String], all: bool) -> Result<Redriven, DataError> {
        if all != ids.is_empty() {
            return Err(DataError::Invalid(
                "give message ids or all, one of them".into(),
            ));
        }
        if ids.len() > MAX_REDRIVE_IDS {
            return Err(DataError::Invalid(format!(
                "at most {MAX_REDRIVE_IDS} message ids at a time"
            )));
        }
        if let Some(bad) = ids.iter().find(|id| !is_message_id(id)) {
            return Err(DataError::Invalid(format!(
                "message id {:?} is not an SQS message id",
                bad.chars().take(64).collect::<String>()
            )));
        }
        let pairs: Vec<&QueuePair> = self.queue_pairs.iter().collect();
        let report = self
            .dead_letters
            .redrive(&pairs, ids, all)
            .await
            .map_err(DataError::Backend)?;
        tracing::info!(
            moved = report.moved.len(),
            failed = report.failed.len(),
            not_found = report.not_found.len(),
            all,
            "dead letters redriven"
        );
        Ok(report)
    }

    /// A customer of `company`: their stored name and VIP mark (`None`: the company has no
    /// settings, so no customers).
    pub async fn customer(
        &self,
        company: &CompanyView,
        phone: &shared::booking::phone::PhoneNumber,
    ) -> Result<Option<CustomerRecord>, DataError> {
        let Some(settings) = &company.settings else {
            return Ok(None);
        };
        self.ledger
            .customer(settings, phone)
            .await
            .map(Some)
            .map_err(|e| DataError::Backend(e.to_string()))
    }

    /// The names `company` has for these numbers (E.164; others are skipped), by number.
    pub async fn customer_names<'a>(
        &self,
        company: &CompanyView,
        numbers: impl Iterator<Item = &'a str>,
    ) -> Result<HashMap<String, String>, DataError> {
        let phones: Vec<shared::booking::phone::PhoneNumber> = numbers
            .filter_map(|n| shared::booking::phone::PhoneNumber::parse(n).ok())
            .collect();
        if phones.is_empty() || company.settings.is_none() {
            return Ok(HashMap::new());
        }
        self.ledger
            .customer_names(&company.id, &phones)
            .await
            .map_err(|e| DataError::Backend(e.to_string()))
    }

    /// Marks a caller of `company` VIP or not (the company the viewer may see, checked by the
    /// caller through [`Data::company`]). A company without settings has no customers: not found.
    pub async fn set_vip(
        &self,
        company: &CompanyView,
        phone: &shared::booking::phone::PhoneNumber,
        vip: bool,
    ) -> Result<(), DataError> {
        if company.settings.is_none() {
            return Err(DataError::NotFound);
        }
        self.ledger
            .set_vip(
                &company.id,
                phone,
                vip,
                chrono::Utc::now().timestamp_millis(),
            )
            .await
            .map_err(|e| DataError::Backend(e.to_string()))
    }

    /// The appointments a call booked, as stored now (of the call's own company).
    pub async fn appointments_of(
        &self,
        record: &CallRecord,
    ) -> Result<Vec<Appointment>, DataError> {
        let mut out = Vec::new();
        for id in record.booked_appointments() {
            if let Some(a) = self
                .ledger
                .appointment_of(&record.company_id, &id)
                .await
                .map_err(|e| DataError::Backend(e.to_string()))?
            {
                out.push(a);
            }
        }
        Ok(out)
    }

    pub async fn calls_page(
        &self,
        company: &CompanyView,
        filter: &CallFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CallPage, DataError> {
        Ok(self
            .calls
            .company_calls(&company.id, filter, limit, cursor)
            .await?)
    }

    pub async fn active_calls(&self, company: &CompanyView) -> Result<Vec<CallSummary>, DataError> {
        Ok(self.calls.active_calls(&company.id, 100).await?)
    }

    /// Statistics per day of `[from, to]`, every day present (zero when nothing was counted).
    pub async fn stats(
        &self,
        company: &CompanyView,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, CallStats)>, DataError> {
        Ok(self.stats_with_staff(company, from, to).await?.0)
    }

    /// As [`Data::stats`], and the range's bookings per staff member.
    pub async fn stats_with_staff(
        &self,
        company: &CompanyView,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Vec<(NaiveDate, CallStats)>, StaffBookings), DataError> {
        let found = self
            .calls
            .stats_range(&company.id, &from.to_string(), &to.to_string())
            .await?;
        let mut staff = StaffBookings::new();
        for (name, n) in found.iter().flat_map(|d| &d.booked_by_staff) {
            *staff.entry(name.clone()).or_default() += n;
        }
        staff.retain(|_, n| *n > 0);
        let mut days = Vec::new();
        let mut day = from;
        while day <= to {
            let stats = found
                .iter()
                .find(|d| d.day == day.to_string())
                .map(|d| d.stats)
                .unwrap_or_default();
            days.push((day, stats));
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        Ok((days, staff))
    }
}

/// The booking funnel of `[from, to]` and, for each lost call listed, the transcript turn its
/// analysis quoted (when the quote is found in the transcript).
pub struct FunnelView {
    pub report: shared::calls::funnel::FunnelReport,
    pub turns: HashMap<String, (usize, String)>,
}

impl Data {
    /// One paged Query of the `company-outcomes` index, and one BatchGetItem of the listed
    /// lost calls' transcripts.
    pub async fn funnel(
        &self,
        company: &CompanyView,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<FunnelView, DataError> {
        let tz = &company.time_zone;
        let (start, _) = day_bounds(from, tz);
        let (_, end) = day_bounds(to, tz);
        let (outcomes, cut) = self
            .calls
            .outcomes(&company.id, start, end)
            .await
            .map_err(DataError::Backend)?;
        let report = shared::calls::funnel::FunnelReport::build(outcomes, cut);
        let quoted: Vec<String> = report
            .lost
            .iter()
            .filter(|o| o.lost_at_quote.is_some())
            .map(|o| o.call_id.clone())
            .collect();
        let transcripts = self
            .calls
            .transcripts(&company.id, &quoted)
            .await
            .map_err(DataError::Backend)?;
        let turns = report
            .lost
            .iter()
            .filter_map(|o| {
                let quote = o.lost_at_quote.as_deref()?;
                let transcript = transcripts.get(&o.call_id)?;
                shared::calls::funnel::lost_turn(transcript, quote).map(|t| (o.call_id.clone(), t))
            })
            .collect();
        Ok(FunnelView { report, turns })
    }
}

/// `[start, end)` of a company-local day, in epoch milliseconds.
pub fn day_bounds(day: NaiveDate, tz: &Tz) -> (i64, i64) {
    let start = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| tz.from_local_datetime(&t).earliest())
            .map(|t| t.with_timezone(&Utc).timestamp_millis())
            .unwrap_or(0)
    };
    let next = day.succ_opt().unwrap_or(day);
    (start(day), start(next))
}

/// Today in the company's time zone.
pub fn today(tz: &Tz) -> NaiveDate {
    Utc::now().with_timezone(tz).date_naive()
}

/// A time in the company's zone, as people read it.
pub fn local_time(ms: i64, tz: &Tz, format: &str) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(tz).format(format).to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_company_local_and_dst_aware() {
        let berlin = chrono_tz::Europe::Berlin;
        // The last Sunday of March has 23 hours in Berlin.
        let day = NaiveDate::from_ymd_opt(2026, 3, 29).expect("date");
        let (start, end) = day_bounds(day, &berlin);
        assert_eq!(end - start, 23 * 3_600_000);
        assert_eq!(
            local_time(start, &berlin, "%Y-%m-%d %H:%M"),
            "2026-03-29 00:00"
        );
    }
}
