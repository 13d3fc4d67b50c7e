//! `export-analytics`: the calls (or the daily statistics) of a window as CSV or JSON, streamed
//! to stdout or written whole to a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde_json::json;
use shared::calls::export::{ExportFormat, ExportWriter};
use shared::calls::store::DynamoCallStore;
use shared::calls::views::CallFilter;

use crate::args::Window;
use crate::context::{each_call, Context};
use crate::error::{CliError, CliResult, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// What to export: the calls (one row each) or the daily statistics (one row per company and day).
    #[arg(value_enum, default_value_t = ExportTable::Calls)]
    table: ExportTable,
    #[arg(long, value_enum, default_value_t = ExportFormatArg::Csv)]
    format: ExportFormatArg,
    /// Start of the window: "7d", "yesterday", "2026-11-01", RFC 3339, …; dates and times without
    /// an offset are read in the statistics' time zone, so a window of dates is those days.
    #[arg(long, default_value = "30d")]
    from: String,
    /// End of the window, exclusive (default: now).
    #[arg(long, default_value = "now")]
    to: String,
    /// One company (default: every company in the companies table and the default company).
    #[arg(long)]
    company: Option<String>,
    /// The zone the statistics' days are counted in, which plain dates are read in (default: the
    /// stack's DefaultTimeZone; the days themselves are as the stack counted them).
    #[arg(long)]
    time_zone: Option<String>,
    /// Write here instead of stdout (a summary then goes to stdout, as JSON with --json).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportTable {
    Calls,
    Days,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormatArg {
    Csv,
    Json,
}

/// What `export-analytics` writes.
struct Export {
    /// The daily statistics instead of the calls.
    days: bool,
    format: ExportFormat,
    window: Window,
    company: Option<String>,
    /// The stack's DEFAULT_TIME_ZONE, which the statistics' days are kept in.
    time_zone: chrono_tz::Tz,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let zone = args
        .time_zone
        .unwrap_or_else(|| ctx.stack.default_time_zone.clone());
    let time_zone: chrono_tz::Tz = zone
        .parse()
        .map_err(|_| CliError::Usage(format!("--time-zone: unknown time zone {zone}")))?;
    let window = Window::parse_in(&args.from, &args.to, chrono::Utc::now(), time_zone)?;
    let format = match args.format {
        ExportFormatArg::Csv => ExportFormat::Csv,
        ExportFormatArg::Json => ExportFormat::Json,
    };
    let export = Export {
        days: matches!(args.table, ExportTable::Days),
        format,
        window,
        company: args.company,
        time_zone,
    };
    export_analytics(ctx, &export, args.out.as_deref()).await
}

/// Calls page by page through each company's index (200 at a time, never a scan of the calls
/// table), or the statistics' days, written as they are read.
async fn export_analytics(ctx: &Context, export: &Export, path: Option<&Path>) -> CliResult {
    let companies = ctx.companies(export.company.as_deref()).await?;
    let store = ctx.call_store();
    let what = if export.days { "days" } else { "calls" };
    let bar = ctx.out.progress(None, what);
    let rows = match path {
        None => {
            let sink = std::io::BufWriter::new(std::io::stdout().lock());
            write_export(export, &companies, &store, sink, &bar, "stdout").await?
        }
        // Written beside its name and renamed when complete: a failed export leaves no file
        // and never cuts an earlier one short.
        Some(p) => {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let partial = p.with_file_name(format!(".{name}.partial"));
            let file = std::fs::File::create(&partial)
                .map_err(|e| format!("{}: {e}", partial.display()))?;
            let label = p.display().to_string();
            let sink = std::io::BufWriter::new(file);
            match write_export(export, &companies, &store, sink, &bar, &label).await {
                Ok(rows) => {
                    if let Err(e) = std::fs::rename(&partial, p) {
                        let _ = std::fs::remove_file(&partial);
                        return Err(format!("{label}: {e}").into());
                    }
                    rows
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(e.into());
                }
            }
        }
    };
    bar.finish_and_clear();
    let summary = format!(
        "exported {rows} {what} of {} compan{} from {} to {}",
        companies.len(),
        if companies.len() == 1 { "y" } else { "ies" },
        export.window.from.to_rfc3339(),
        export.window.to.to_rfc3339()
    );
    match path {
        // stdout carries the export: the summary goes to stderr.
        None => eprintln!("{summary}"),
        Some(p) => {
            ctx.out.line(&format!("{summary} into {}", p.display()));
            ctx.out.json_value(&json!({
                "ok": true, "table": what, "rows": rows, "companies": companies,
                "file": p.display().to_string(),
                "from": export.window.from.to_rfc3339(), "to": export.window.to.to_rfc3339(),
            }));
        }
    }
    Ok(Outcome::Success)
}

/// The rows of `export` into `sink`, flushed; how many.
async fn write_export<W: Write>(
    export: &Export,
    companies: &[String],
    store: &DynamoCallStore,
    sink: W,
    bar: &indicatif::ProgressBar,
    label: &str,
) -> Result<u64, String> {
    let write_err = |e: std::io::Error| format!("{label}: {e}");
    if export.days {
        let first = export
            .window
            .from
            .with_timezone(&export.time_zone)
            .date_naive();
        let last = (export.window.to - chrono::Duration::milliseconds(1))
            .with_timezone(&export.time_zone)
            .date_naive();
        let mut writer = ExportWriter::days(sink, export.format).map_err(write_err)?;
        for company in companies {
            let days = store
                .stats_range(company, &first.to_string(), &last.to_string())
                .await
                .map_err(|e| format!("{company}: {e}"))?;
            for day in &days {
                writer.day(company, day).map_err(write_err)?;
                bar.inc(1);
            }
        }
        return writer.finish().map_err(write_err);
    }
    let filter = CallFilter {
        from_ms: export.window.from.timestamp_millis(),
        to_ms: export.window.to.timestamp_millis(),
        ..Default::default()
    };
    let mut writer = ExportWriter::calls(sink, export.format).map_err(write_err)?;
    each_call(store, companies, &filter, |company, call| {
        writer.call(company, call).map_err(write_err)?;
        bar.inc(1);
        Ok(())
    })
    .await?;
    writer.finish().map_err(write_err)
}
