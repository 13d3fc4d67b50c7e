//! Calls and daily statistics as CSV or JSON, written row by row as they are read, so an export
//! of a year holds one page of calls in memory, not the year (`retell-ops export-analytics`).

use std::borrow::Cow;
use std::io::{self, Write};

use serde_json::{json, Map, Value};

use crate::calls::stats::{CallStats, StatsDay};
use crate::calls::views::CallSummary;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// RFC 4180, a header line, cells that a spreadsheet would run as a formula neutralised.
    Csv,
    /// One JSON array of objects, one object per line.
    Json,
}

/// The columns of the calls export, in order.
pub const CALL_COLUMNS: [&str; 13] = [
    "company_id",
    "call_id",
    "start_utc",
    "call_status",
    "direction",
    "from_number",
    "to_number",
    "agent_id",
    "duration_ms",
    "disconnection_reason",
    "user_sentiment",
    "call_successful",
    "call_summary",
];

/// The columns of the days export, in order.
fn day_columns() -> Vec<&'static str> {
    ["company_id", "day"]
        .into_iter()
        .chain(CallStats::FIELDS)
        .chain(["booked_by_staff"])
        .collect()
}

/// Writes an export: a header (or `[`) when built, a row per call or day, the end on `finish`.
pub struct ExportWriter<W: Write> {
    out: W,
    format: ExportFormat,
    rows: u64,
}

impl<W: Write> ExportWriter<W> {
    /// An export of calls ([`CALL_COLUMNS`]).
    pub fn calls(out: W, format: ExportFormat) -> io::Result<Self> {
        Self::start(out, format, &CALL_COLUMNS)
    }

    /// An export of daily statistics: `company_id`, `day`, every counter and `booked_by_staff`.
    pub fn days(out: W, format: ExportFormat) -> io::Result<Self> {
        Self::start(out, format, &day_columns())
    }

    fn start(mut out: W, format: ExportFormat, columns: &[&str]) -> io::Result<Self> {
        match format {
            ExportFormat::Csv => writeln!(out, "{}", columns.join(","))?,
            ExportFormat::Json => out.write_all(b"[")?,
        }
        Ok(Self {
            out,
            format,
            rows: 0,
        })
    }

    pub fn call(&mut self, company_id: &str, call: &CallSummary) -> io::Result<()> {
        let start = chrono::DateTime::from_timestamp_millis(call.call_ts)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let text = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
        let row = [
            Value::String(company_id.to_owned()),
            Value::String(call.call_id.clone()),
            start.map(Value::String).unwrap_or(Value::Null),
            text(&call.call_status),
            text(&call.direction),
            text(&call.from_number),
            text(&call.to_number),
            text(&call.agent_id),
            call.duration_ms.map(Value::from).unwrap_or(Value::Null),
            text(&call.disconnection_reason),
            text(&call.user_sentiment),
            call.call_successful.map(Value::Bool).unwrap_or(Value::Null),
            text(&call.call_summary),
        ];
        self.row(&CALL_COLUMNS, row)
    }

    /// One company-day; its bookings per staff member as one cell: an object in JSON,
    /// `Anna=2; Ben=1` in CSV (empty for a company without staff).
    pub fn day(&mut self, company_id: &str, day: &StatsDay) -> io::Result<()> {
        let staff = match self.format {
            ExportFormat::Json => json!(day.booked_by_staff),
            ExportFormat::Csv => Value::String(
                day.booked_by_staff
                    .iter()
                    .map(|(name, n)| format!("{name}={n}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        };
        let row = [Value::from(company_id), Value::from(day.day.as_str())]
            .into_iter()
            .chain(day.stats.values().into_iter().map(Value::from))
            .chain([staff]);
        self.row(&day_columns(), row)
    }

    fn row(&mut self, columns: &[&str], values: impl IntoIterator<Item = Value>) -> io::Result<()> {
        match self.format {
            ExportFormat::Csv => {
                let cells: Vec<String> = values
                    .into_iter()
                    .map(|v| match v {
                        Value::Null => String::new(),
                        Value::String(s) => csv_cell(&s).into_owned(),
                        other => other.to_string(),
                    })
                    .collect();
                writeln!(self.out, "{}", cells.join(","))?;
            }
            ExportFormat::Json => {
                let object: Map<String, Value> = columns
                    .iter()
                    .map(|c| (*c).to_owned())
                    .zip(values)
                    .collect();
                let sep: &[u8] = if self.rows == 0 { b"\n" } else { b",\n" };
                self.out.write_all(sep)?;
                serde_json::to_writer(&mut self.out, &json!(object))?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Ends the export (`]` for JSON) and flushes; the rows written.
    pub fn finish(mut self) -> io::Result<u64> {
        if self.format == ExportFormat::Json {
            self.out
                .write_all(if self.rows == 0 { b"]\n" } else { b"\n]\n" })?;
        }
        self.out.flush()?;
        Ok(self.rows)
    }
}

/// One CSV cell. Quoted when it holds a comma, a semicolon or tab (German spreadsheets split
/// on `;`), a quote or a line break. Text a spreadsheet would run as a formula (`=`, `+`, `-`,
/// `@` or their full-width forms first, leading blanks or line breaks aside: a caller's words
/// end up in the summary) gets a leading `'`; a plain number such as an E.164 phone number
/// stays as it is.
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    let is_number = {
        let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    };
    const TRIGGERS: [char; 10] = ['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠'];
    let formula = !is_number
        && (s.starts_with(TRIGGERS)
            || s.trim_start_matches([' ', '\t', '\r', '\n', '\u{a0}', '\u{3000}'])
                .starts_with(TRIGGERS));
    let needs_quotes = formula || s.contains([',', ';', '\t', '"', '\n', '\r']);
    if !needs_quotes {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 4);
    out.push('"');
    if formula {
        out.push('\'');
    }
    out.push_str(&s.replace('"', "\"\""));
    out.push('"');
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> CallSummary {
        CallSummary {
            call_id: "call_1".into(),
            call_ts: 1_796_000_000_123,
            agent_id: Some("agent_demo".into()),
            call_status: Some("ended".into()),
            direction: Some("inbound".into()),
            from_number: Some("+4917611112222".into()),
            to_number: Some("+493012345678".into()),
            duration_ms: Some(61_000),
            disconnection_reason: Some("user_hangup".into()),
            call_summary: Some("=HYPERLINK(\"http://x\"), \"ja\"\nzwei".into()),
            user_sentiment: Some("Positive".into()),
            call_successful: Some(true),
        }
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("+4917611112222"), "+4917611112222");
        assert_eq!(csv_cell("-12.5"), "-12.5");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=1+1"), "\"'=1+1\"");
        assert_eq!(csv_cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(csv_cell("+49 (0) 30"), "\"'+49 (0) 30\"");
        assert_eq!(csv_cell("-"), "\"'-\"");
        // Separators German spreadsheets split on, and formulas behind blanks or full-width.
        assert_eq!(csv_cell("ok;=1+1"), "\"ok;=1+1\"");
        assert_eq!(csv_cell("a\tb"), "\"a\tb\"");
        assert_eq!(csv_cell("  =1+1"), "\"'  =1+1\"");
        assert_eq!(csv_cell("\n@x"), "\"'\n@x\"");
        assert_eq!(csv_cell("＝1+1"), "\"'＝1+1\"");
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn exports_read_back_to_what_was_written() {
        let mut buf = Vec::new();
        {
            let mut w = ExportWriter::calls(&mut buf, ExportFormat::Csv).expect("start");
            w.call("demo", &call()).expect("row");
            w.finish().expect("finish");
        }
        let text = String::from_utf8(buf).expect("utf-8");
        let (header, rest) = text.split_once('\n').expect("header");
        assert_eq!(header, CALL_COLUMNS.join(","));
        assert!(rest.starts_with(
            "demo,call_1,2026-11-30T00:53:20.123Z,ended,inbound,+4917611112222,+493012345678,agent_demo,61000,user_hangup,Positive,true,\"'=HYPERLINK(\"\"http://x\"\"), \"\"ja\"\"\nzwei\"\n"
        ), "{rest}");

        let mut buf = Vec::new();
        {
            let mut w = ExportWriter::calls(&mut buf, ExportFormat::Json).expect("start");
            w.call("demo", &call()).expect("row");
            w.call("demo", &call()).expect("row");
            assert_eq!(w.finish().expect("finish"), 2);
        }
        let rows: Vec<Value> = serde_json::from_slice(&buf).expect("one JSON document");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["from_number"], "+4917611112222");
        assert_eq!(rows[0]["duration_ms"], 61_000);
        assert_eq!(rows[0]["call_successful"], true);
        assert_eq!(
            rows[0]["call_summary"],
            "=HYPERLINK(\"http://x\"), \"ja\"\nzwei"
        );

        let mut buf = Vec::new();
        {
            let w = ExportWriter::days(&mut buf, ExportFormat::Json).expect("start");
            assert_eq!(w.finish().expect("finish"), 0);
        }
        let rows: Vec<Value> = serde_json::from_slice(&buf).expect("an empty export is []");
        assert!(rows.is_empty());
    }

    #[test]
    fn a_day_row_carries_every_counter_and_the_bookings_per_staff_member() {
        let day = StatsDay {
            day: "2026-11-30".into(),
            stats: CallStats {
                calls: 3,
                booked: 2,
                ..Default::default()
            },
            booked_by_staff: [("Anna".to_owned(), 2), ("Ben".to_owned(), 1)].into(),
        };
        let mut buf = Vec::new();
        {
            let mut w = ExportWriter::days(&mut buf, ExportFormat::Csv).expect("start");
            w.day("demo", &day).expect("row");
            w.day("solo", &StatsDay::default()).expect("row");
            w.finish().expect("finish");
        }
        let text = String::from_utf8(buf).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        let header: Vec<&str> = lines[0].split(',').collect();
        let row: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(header.len(), 3 + CallStats::FIELDS.len());
        assert_eq!(row.len(), header.len());
        let at = |name: &str| row[header.iter().position(|h| *h == name).expect(name)];
        assert_eq!((at("company_id"), at("day")), ("demo", "2026-11-30"));
        assert_eq!((at("calls"), at("booked")), ("3", "2"));
        // Quoted: a semicolon separates cells in German spreadsheets.
        assert_eq!(at("booked_by_staff"), "\"Anna=2; Ben=1\"");
        assert!(
            lines[2].ends_with(','),
            "no staff: an empty cell: {}",
            lines[2]
        );

        let mut buf = Vec::new();
        {
            let mut w = ExportWriter::days(&mut buf, ExportFormat::Json).expect("start");
            w.day("demo", &day).expect("row");
            w.finish().expect("finish");
        }
        let rows: Vec<Value> = serde_json::from_slice(&buf).expect("JSON");
        assert_eq!(rows[0]["booked_by_staff"], json!({"Anna": 2, "Ben": 1}));
    }
}
