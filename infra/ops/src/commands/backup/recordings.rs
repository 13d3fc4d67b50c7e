//! `backup recordings`: the recordings of a day's (or a window's) calls from Retell into the events
//! bucket, as each call's storage setting allows; what is there already is not fetched again.

use futures::StreamExt;
use serde_json::json;
use shared::calls::recordings::{Copied, RecordingCopier, RECORDING_FIELDS};
use shared::calls::store::CallStore;
use shared::platform::outbound::OutboundPolicy;
use shared::retell::CallId;

use crate::args::Window;
use crate::context::Context;
use crate::error::{err, CliResult};
use crate::output::Check;

#[derive(clap::Args)]
pub struct Args {
    /// The day, in the stack's DefaultTimeZone: "yesterday", "today", "2026-11-29".
    #[arg(long, default_value = "yesterday", conflicts_with_all = ["from", "to"])]
    date: String,
    /// Instead of --date: calls that started from this time ("7d", "2026-11-01", RFC 3339) …
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// … until this one (exclusive).
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// One company (default: every company).
    #[arg(long)]
    company: Option<String>,
}

/// Recordings fetched at once.
const RECORDING_COPIES: usize = 4;

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let zone = &ctx.stack.default_time_zone;
    let tz: chrono_tz::Tz = zone
        .parse()
        .map_err(|_| format!("the stack's time zone {zone} is unknown"))?;
    let now = chrono::Utc::now();
    let window = match (&args.from, &args.to) {
        (Some(from), Some(to)) => Window::parse_in(from, to, now, tz)?,
        _ => Window::day_in(&args.date, now, tz)?,
    };
    backup_recordings(ctx, window, args.company.as_deref()).await
}

/// The recordings of the calls that started in the window, into the events bucket.
async fn backup_recordings(ctx: &Context, window: Window, company: Option<&str>) -> CliResult {
    let Window { from, to } = window;
    let mut companies = ctx.companies(company).await?;
    // A company that records nothing (`privacy.record_calls: false`) gets no copies.
    let directory = shared::booking::directory::CompanyDirectory::new(
        ctx.aws.dynamodb.clone(),
        ctx.stack.companies_table.clone(),
        shared::booking::directory::COMPANY_CACHE_TTL,
    );
    let mut unrecorded = Vec::new();
    for id in &companies {
        let key = shared::booking::directory::CompanyKey::Id(id.clone());
        let settings = directory.lookup(&key).await.map_err(err)?;
        if settings.is_some_and(|c| c.settings.privacy.as_ref().is_some_and(|p| !p.record_calls)) {
            unrecorded.push(id.clone());
        }
    }
    companies.retain(|c| !unrecorded.contains(c));
    for id in &unrecorded {
        ctx.out.line(&format!(
            "{id} records no calls (privacy.record_calls): skipped"
        ));
    }
    let store = ctx.call_store();
    let hosts = OutboundPolicy::parse(&ctx.stack.recording_hosts)
        .map_err(|e| format!("the stack's RecordingHosts: {e}"))?;
    let copier =
        RecordingCopier::new(ctx.aws.s3.client(), ctx.stack.bucket.clone(), hosts).map_err(err)?;
    let retell = ctx.retell()?;
    let ids = ctx
        .call_ids(&companies, from.timestamp_millis(), to.timestamp_millis())
        .await?;
    let bar = ctx.out.progress(Some(ids.len() as u64), "recordings");
    let (mut copied, mut there, mut bytes) = (0usize, 0usize, 0usize);
    let mut skipped: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut failed: Vec<String> = Vec::new();
    let mut copies = futures::stream::iter(ids.iter().map(|id| {
        let (store, copier) = (&store, &copier);
        async move {
            let call_id = CallId::parse(id).map_err(|e| (id.clone(), e.to_string()))?;
            let mut record = store
                .load(&call_id)
                .await
                .map_err(|e| (id.clone(), e.to_string()))?
                .ok_or_else(|| (id.clone(), "no longer stored".to_owned()))?;
            // The stored URLs are signed and expire after 24 hours: Retell's current ones.
            let fresh = retell
                .get_call(id)
                .await
                .map_err(|e| (id.clone(), format!("Retell: {e}")))?;
            for field in RECORDING_FIELDS {
                match fresh.other.get(field) {
                    Some(url) => record.fields.insert(field.to_owned(), url.clone()),
                    None => record.fields.remove(field),
                };
            }
            copier
                .copy(&record)
                .await
                .map_err(|e| (id.clone(), e.to_string()))
        }
    }))
    .buffer_unordered(RECORDING_COPIES);
    while let Some(result) = copies.next().await {
        bar.inc(1);
        match result {
            Ok(Copied::Copied { bytes: n, .. }) => {
                copied += 1;
                bytes += n;
            }
            Ok(Copied::AlreadyThere { .. }) => there += 1,
            Ok(Copied::Skipped(why)) => *skipped.entry(why).or_default() += 1,
            Err((id, e)) => failed.push(format!("{id}: {e}")),
        }
    }
    bar.finish_and_clear();
    let ok = failed.is_empty();
    let out = &ctx.out;
    out.line(&format!(
        "{} calls from {} to {} ({}): {copied} recordings copied ({:.1} MB), {there} copied before, {} not copied, {} failed",
        ids.len(),
        from.to_rfc3339(),
        to.to_rfc3339(),
        companies.join(", "),
        bytes as f64 / 1e6,
        skipped.values().sum::<usize>(),
        failed.len()
    ));
    for (why, n) in &skipped {
        out.line(&format!("  not copied, {why}: {n}"));
    }
    for f in failed.iter().take(20) {
        out.check(&Check::failed("copy", f.clone()));
    }
    out.json_value(&json!({
        "ok": ok, "bucket": ctx.stack.bucket, "calls": ids.len(), "copied": copied, "bytes": bytes,
        "already_there": there, "not_copied": skipped, "failed": failed,
        "from": from.to_rfc3339(), "to": to.to_rfc3339(), "companies": companies,
    }));
    Ok(ok.into())
}
