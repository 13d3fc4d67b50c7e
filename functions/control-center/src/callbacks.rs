//! The callbacks board, shared by the page and the API: a company's pending callbacks (oldest
//! first, each with when it is due by the company's promise and whether it is overdue) and the
//! last done ones, and staff's changes (assign, note, done) with the version they read. The
//! items are only ever read in the company's own partition: another company's id is not found.

use chrono::{DateTime, Utc};
use shared::booking::company::Company;
use shared::callbacks::store::MAX_DONE_LISTED;
use shared::callbacks::{
    Callback, CallbackError, CallbackStatus, CallbackStore, CallbackUpdate, MAX_ASSIGNEE_CHARS,
    MAX_NOTE_CHARS,
};

/// A company's callbacks as staff see them.
pub struct Board {
    /// Pending, oldest first.
    pub pending: Vec<Entry>,
    /// Done, newest first.
    pub done: Vec<Entry>,
}

pub struct Entry {
    pub callback: Callback,
    pub due: DateTime<Utc>,
    pub overdue: bool,
}

impl Board {
    pub fn overdue(&self) -> usize {
        self.pending.iter().filter(|e| e.overdue).count()
    }
}

fn entry(company: &Company, callback: Callback, now: DateTime<Utc>) -> Entry {
    Entry {
        due: callback.due(company),
        overdue: callback.is_overdue(company, now),
        callback,
    }
}

/// The board of `company`; `status` keeps only callbacks in that state.
pub async fn board(
    store: &CallbackStore,
    company: &Company,
    status: Option<CallbackStatus>,
    now: DateTime<Utc>,
) -> Result<Board, CallbackError> {
    let pending = match status {
        Some(CallbackStatus::Done) => Vec::new(),
        _ => store.pending(company.id()).await?,
    };
    let done = match status {
        None | Some(CallbackStatus::Done) => store.done(company.id(), MAX_DONE_LISTED).await?,
        _ => Vec::new(),
    };
    Ok(Board {
        pending: pending
            .into_iter()
            .filter(|c| status.is_none_or(|s| s == c.status))
            .map(|c| entry(company, c, now))
            .collect(),
        done: done.into_iter().map(|c| entry(company, c, now)).collect(),
    })
}

/// How many callbacks are pending, and how many of them overdue (one Query).
pub async fn counts(
    store: &CallbackStore,
    company: &Company,
    now: DateTime<Utc>,
) -> Result<(usize, usize), CallbackError> {
    let pending = store.pending(company.id()).await?;
    let overdue = pending
        .iter()
        .filter(|c| c.is_overdue(company, now))
        .count();
    Ok((pending.len(), overdue))
}

/// Staff's change as typed: each part trimmed and bounded; an empty assignee unassigns.
pub fn read_update(
    status: Option<&str>,
    assignee: Option<&str>,
    note: Option<&str>,
) -> Result<CallbackUpdate, CallbackError> {
    let status = match status.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            CallbackStatus::parse(s)
                .ok_or_else(|| CallbackError::Invalid("status: open, assigned or done".into()))?,
        ),
    };
    let assignee = match assignee.map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(a) => {
            if a.chars().count() > MAX_ASSIGNEE_CHARS || a.chars().any(char::is_control) {
                return Err(CallbackError::Invalid(format!(
                    "assignee: at most {MAX_ASSIGNEE_CHARS} characters, one line"
                )));
            }
            Some(Some(a.to_owned()))
        }
    };
    let note = match note.map(str::trim).filter(|n| !n.is_empty()) {
        None => None,
        Some(n) => {
            if n.chars().count() > MAX_NOTE_CHARS
                || n.chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
            {
                return Err(CallbackError::Invalid(format!(
                    "note: at most {MAX_NOTE_CHARS} characters of text"
                )));
            }
            Some(n.to_owned())
        }
    };
    Ok(CallbackUpdate {
        status,
        assignee,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_read_strictly() {
        let u = read_update(Some("done"), Some(" Anna "), Some(" erledigt ")).unwrap();
        assert_eq!(u.status, Some(CallbackStatus::Done));
        assert_eq!(u.assignee, Some(Some("Anna".into())));
        assert_eq!(u.note.as_deref(), Some("erledigt"));
        assert_eq!(
            read_update(None, Some(""), None).unwrap().assignee,
            Some(None)
        );
        assert!(read_update(Some("closed"), None, None).is_err());
        assert!(read_update(None, Some(&"x".repeat(121)), None).is_err());
        assert!(read_update(None, Some("a\u{0}b"), None).is_err());
        assert!(read_update(None, None, Some(&"x".repeat(1001))).is_err());
        assert!(read_update(None, None, Some("zeile\nzwei")).is_ok());
    }
}
