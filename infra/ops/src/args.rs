//! Checks of argument values clap cannot make: a `--from`/`--to` window of time and an
//! `s3://bucket/prefix` place, each with the error message the commands have always given.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::error::CliError;
use crate::output::shown;
use crate::when;

/// A window of time, `from` (inclusive) before `to` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    /// The one check of every command that takes a window: it must not end before it starts.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Self, CliError> {
        if from >= to {
            return Err(CliError::Usage(format!(
                "--from ({from}) must be before --to ({to})"
            )));
        }
        Ok(Self { from, to })
    }

    /// `--from` and `--to` as operators write them, dates and times without an offset in UTC.
    pub fn parse(from: &str, to: &str, now: DateTime<Utc>) -> Result<Self, CliError> {
        let from = when::parse(from, now).map_err(|e| usage("--from", e))?;
        let to = when::parse(to, now).map_err(|e| usage("--to", e))?;
        Self::new(from, to)
    }

    /// `--from` and `--to`, dates and times without an offset read in `tz`.
    pub fn parse_in(from: &str, to: &str, now: DateTime<Utc>, tz: Tz) -> Result<Self, CliError> {
        let from = when::parse_in(from, now, tz).map_err(|e| usage("--from", e))?;
        let to = when::parse_in(to, now, tz).map_err(|e| usage("--to", e))?;
        Self::new(from, to)
    }

    /// `--date`: one day of `tz`.
    pub fn day_in(date: &str, now: DateTime<Utc>, tz: Tz) -> Result<Self, CliError> {
        let (from, to) = when::day_in(date, now, tz).map_err(|e| usage("--date", e))?;
        Self::new(from, to)
    }
}

fn usage(flag: &str, error: String) -> CliError {
    CliError::Usage(format!("{flag}: {error}"))
}

/// `--to s3://bucket/prefix` as (bucket, prefix without slashes at its ends); `None` for anything
/// not starting `s3://`, an error for a bucket S3 could not have.
pub fn s3_place(to: &str) -> Option<Result<(String, String), CliError>> {
    let rest = to.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    Some(if valid {
        Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
    } else {
        Err(CliError::Usage(format!(
            "--to {}: not an s3://bucket/prefix (a bucket is 3 to 63 of a-z 0-9 . -)",
            shown(to)
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("an RFC 3339 time")
    }

    #[test]
    fn a_window_must_not_end_before_it_starts() {
        let (early, late) = (at("2026-11-01T00:00:00Z"), at("2026-11-02T00:00:00Z"));
        assert_eq!(
            Window::new(early, late),
            Ok(Window {
                from: early,
                to: late
            })
        );
        for (from, to) in [(late, early), (early, early)] {
            assert_eq!(
                Window::new(from, to),
                Err(CliError::Usage(format!(
                    "--from ({from}) must be before --to ({to})"
                )))
            );
        }
    }

    #[test]
    fn flags_name_themselves_in_errors() {
        let now = at("2026-11-24T12:00:00Z");
        let Err(CliError::Usage(e)) = Window::parse("soon", "now", now) else {
            panic!("--from soon is refused");
        };
        assert!(e.starts_with("--from: "), "{e}");
        let Err(CliError::Usage(e)) = Window::parse("1d", "later", now) else {
            panic!("--to later is refused");
        };
        assert!(e.starts_with("--to: "), "{e}");
        let Err(CliError::Usage(e)) = Window::parse("now", "1d", now) else {
            panic!("a window ending before it starts is refused");
        };
        assert!(e.contains("must be before --to"), "{e}");
        let Err(CliError::Usage(e)) = Window::day_in("someday", now, chrono_tz::Europe::Berlin)
        else {
            panic!("--date someday is refused");
        };
        assert!(e.starts_with("--date: "), "{e}");
    }

    #[test]
    fn s3_places() {
        assert!(s3_place("/tmp/x").is_none());
        assert_eq!(
            s3_place("s3://my-bucket/a/b/"),
            Some(Ok(("my-bucket".to_owned(), "a/b".to_owned())))
        );
        assert_eq!(
            s3_place("s3://my-bucket"),
            Some(Ok(("my-bucket".to_owned(), String::new())))
        );
        assert!(matches!(
            s3_place("s3://No_Bucket/x"),
            Some(Err(CliError::Usage(_)))
        ));
    }
}
