//! What the operator sees and is asked: ✅/❌ lines and tables for people, one JSON document for
//! scripts (`--json`), colour and progress bars only on a terminal, and how values are shown.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
    pub color: bool,
    pub terminal: bool,
}

impl Out {
    pub fn new(json: bool) -> Self {
        let terminal = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            json,
            color: terminal && !no_color && !json,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    /// A line for people (nothing under `--json`).
    pub fn line(&self, text: &str) {
        if !self.json {
            println!("{text}");
        }
    }

    /// A check's result line: ✅ or ❌ (⚠️ for what cannot be told).
    pub fn check(&self, check: &Check) {
        if self.json {
            return;
        }
        let mark = match check.status {
            Status::Ok => "✅",
            Status::Failed => "❌",
            Status::Unknown => "⚠️ ",
        };
        let text = match check.status {
            Status::Ok => check.what.clone(),
            Status::Failed => self.paint("31", &check.what),
            Status::Unknown => self.paint("33", &check.what),
        };
        match &check.detail {
            Some(d) => println!("{mark} {text}: {}", self.dim(d)),
            None => println!("{mark} {text}"),
        }
    }

    pub fn json_value(&self, value: &Value) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into())
            );
        }
    }

    /// A table for people: columns as wide as their widest cell.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) {
        if self.json {
            return;
        }
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let render = |cells: Vec<String>| {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let pad = widths[i].saturating_sub(c.chars().count());
                    format!("{c}{}", " ".repeat(pad))
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        };
        println!(
            "{}",
            self.bold(&render(headers.iter().map(|h| h.to_string()).collect()))
        );
        for row in rows {
            println!("{}", render(row.clone()));
        }
        if rows.is_empty() {
            println!("{}", self.dim("(none)"));
        }
    }

    /// A progress bar on stderr, hidden unless stderr is a terminal and output is for people.
    pub fn progress(&self, len: Option<u64>, what: &str) -> ProgressBar {
        if self.json || !self.terminal {
            return ProgressBar::hidden();
        }
        let bar = match len {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        let template = if len.is_some() {
            "{spinner} {msg} [{bar:30}] {pos}/{len} ({per_sec}, {eta} left)"
        } else {
            "{spinner} {msg} {pos} ({per_sec})"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// `--yes`, or the operator types `id` at a terminal; never a silent yes. Ok(false): not
    /// confirmed (said on stderr), nothing is to change.
    pub fn confirm(&self, yes: bool, question: &str, id: &str) -> Result<bool, String> {
        if yes {
            return Ok(true);
        }
        if !std::io::stdin().is_terminal() || self.json {
            return Err(format!(
                "{question} Pass --yes to confirm (no terminal to ask on)"
            ));
        }
        eprint!("{question}\nType {id} to confirm: ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| e.to_string())?;
        if answer.trim() == id {
            Ok(true)
        } else {
            eprintln!("Not confirmed; nothing changed.");
            Ok(false)
        }
    }
}

/// What a user typed, as an error quotes it: at most 64 characters.
pub fn shown(text: &str) -> String {
    format!("{:?}", text.chars().take(64).collect::<String>())
}

/// Milliseconds since the epoch as RFC 3339 (the number itself if it is no time).
pub fn show_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| ms.to_string())
}

/// How long ago `t` was, as [`crate::when::span`] says it ("5 min").
pub fn ago(t: DateTime<Utc>) -> String {
    crate::when::span((Utc::now() - t).num_seconds())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Failed,
    Unknown,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub what: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Check {
    pub fn ok(what: impl Into<String>, detail: Option<String>) -> Self {
        Self {
            what: what.into(),
            status: Status::Ok,
            detail,
        }
    }

    pub fn failed(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            status: Status::Failed,
            detail: Some(detail.into()),
        }
    }

    pub fn unknown(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            status: Status::Unknown,
            detail: Some(detail.into()),
        }
    }

    pub fn from_bool(what: impl Into<String>, ok: bool, detail: String) -> Self {
        if ok {
            Self::ok(what, Some(detail))
        } else {
            Self::failed(what, detail)
        }
    }
}
