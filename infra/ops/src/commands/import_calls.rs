//! `import-calls`: calls whose webhooks never arrived (or arrived in part) imported from Retell
//! through the webhook's queue path, with a checkpoint per stack so a cut-off run resumes.

use shared::calls::dead_letters::QueueKind;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::json;
use shared::booking::directory::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::calls::queue::SqsEventQueue;
use shared::calls::reconcile::{
    CallOutcome, Checkpoint, ReconcileReport, Reconciler, RetellAccount, Tally,
};
use shared::calls::store::DynamoCallStore;
use shared::platform::config::DEFAULT_INLINE_LIMIT_BYTES;

use crate::args::Window;
use crate::context::Context;
use crate::error::{err, CliResult};
use crate::output::{show_ms, Check};
use crate::target::Stack;

#[derive(clap::Args)]
pub struct Args {
    /// Start of the window: "24 hours ago", "7d", "yesterday", "2026-11-24", "2026-11-24T08:00:00Z".
    #[arg(long, default_value = "24 hours ago")]
    from: String,
    /// End of the window (default: now).
    #[arg(long, default_value = "now")]
    to: String,
    /// Calls fetched from Retell at once.
    #[arg(long, default_value_t = shared::calls::reconcile::DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Calls per page of Retell's list (a checkpoint is written after each page).
    #[arg(long, default_value_t = shared::calls::reconcile::LIST_PAGE_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    page_size: u32,
    /// Continue an interrupted (or partly failed) run from its checkpoint: its window, from
    /// the last page finished without a failure.
    #[arg(long)]
    resume: bool,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let window = Window::parse(&args.from, &args.to, chrono::Utc::now())?;
    let (concurrency, page_size, resume) = (args.concurrency.max(1), args.page_size, args.resume);
    let retell = ctx.retell()?.clone();
    let stack = &ctx.stack;
    let out = &ctx.out;
    let checkpoint_file = checkpoint_path(stack);
    let mut run = ImportRun {
        from_ms: window.from.timestamp_millis(),
        to_ms: window.to.timestamp_millis(),
        checkpoint: None,
        done: ReconcileReport::default(),
    };
    if resume {
        match ImportRun::load(&checkpoint_file) {
            Some(saved) => {
                let at = saved
                    .checkpoint
                    .as_ref()
                    .map_or(saved.from_ms, |c| c.start_ms);
                out.line(&format!(
                    "Resuming the interrupted run of {} – {} at {} ({} calls done before)",
                    show_ms(saved.from_ms),
                    show_ms(saved.to_ms),
                    show_ms(at),
                    saved.done.listed
                ));
                run = saved;
            }
            None => out.line("No interrupted run to resume: the window starts from its beginning."),
        }
    }
    // Calls of agents no company lists belong to the company of the key they were made with,
    // as the webhook decides: the tenant whose key this is, else the secret's default company.
    let key = ctx.retell_key().unwrap_or_default();
    let default_company = match stack.key_ring(&ctx.aws).await {
        Ok(ring) => ring
            .tenants()
            .into_iter()
            .find(|t| t.api_key() == key)
            .map(|t| t.company_id.clone())
            .unwrap_or_else(|| ring.default_company_id().to_owned()),
        Err(_) => stack.default_company_id.clone(),
    };
    let queue_urls: HashMap<_, _> = stack
        .queues
        .iter()
        .filter_map(|q| match q.kind {
            QueueKind::Event(kind) => Some((kind, q.url.clone())),
            QueueKind::Messaging => None,
        })
        .collect();
    let reconciler = Reconciler {
        queue: SqsEventQueue::new(
            ctx.aws.sqs.client(),
            ctx.aws.s3.client(),
            &stack.bucket,
            queue_urls,
            DEFAULT_INLINE_LIMIT_BYTES,
        ),
        store: DynamoCallStore::new(
            ctx.aws.dynamodb.clone(),
            &stack.calls_table,
            &stack.stats_table,
        ),
        companies: CompanyDirectory::new(
            ctx.aws.dynamodb.clone(),
            &stack.companies_table,
            COMPANY_CACHE_TTL,
        ),
        concurrency,
        page_size,
    };
    let account = RetellAccount {
        client: retell,
        company_id: default_company,
    };
    // Written before the first page, so even a run cut off at once can be resumed.
    run.save(&checkpoint_file)?;
    let bar = out.progress(None, "calls checked");
    let tally = Tally::default();
    let on_call = |o: &CallOutcome| {
        tally.add(o);
        bar.inc(1);
        if let CallOutcome::Failed { call_id, reason } = o {
            bar.suspend(|| eprintln!("❌ {call_id}: {reason}"));
        }
    };
    let mut save_error = None;
    let mut on_page = |r: &ReconcileReport| {
        // Only what the checkpoint covers is saved as done: a resumed run redoes the rest.
        if r.checkpoint.is_some() && r.checkpoint != run.checkpoint {
            let mut saved = run.clone();
            saved.done.merge(ReconcileReport {
                checkpoint: None,
                failures: Vec::new(),
                ..r.clone()
            });
            saved.checkpoint = r.checkpoint.clone();
            if let Err(e) = saved.save(&checkpoint_file) {
                save_error.get_or_insert(e);
            }
        }
    };
    let started = std::time::Instant::now();
    let report = reconciler
        .import_window(
            &account,
            run.from_ms,
            run.to_ms,
            run.checkpoint.as_ref(),
            &on_call,
            &mut on_page,
        )
        .await;
    bar.finish_and_clear();
    if let Some(e) = save_error {
        out.check(&Check::failed("checkpoint", e));
    }
    let report = report.map_err(|e| {
        let t = tally.snapshot();
        format!(
            "{e} (before it: {} imported, {} already present, {} failed; rerun with --resume)",
            t.imported, t.present, t.failed
        )
    })?;
    let mut total = run.done.clone();
    total.merge(ReconcileReport {
        checkpoint: None,
        ..report.clone()
    });
    let ok = report.failed == 0;
    if ok {
        let _ = std::fs::remove_file(&checkpoint_file);
    } else {
        out.line(&format!(
            "{} call(s) failed: `import-calls --resume` tries them again (checkpoint {})",
            report.failed,
            checkpoint_file.display()
        ));
    }
    let seconds = started.elapsed().as_secs_f64();
    out.table(
        &[
            "listed",
            "imported",
            "already present",
            "failed",
            "events queued",
            "seconds",
        ],
        &[vec![
            total.listed.to_string(),
            total.imported.to_string(),
            total.present.to_string(),
            total.failed.to_string(),
            total.events_queued.to_string(),
            format!("{seconds:.1}"),
        ]],
    );
    for (call_id, reason) in &report.failures {
        out.check(&Check::failed(call_id.clone(), reason.clone()));
    }
    out.json_value(&json!({
        "ok": ok,
        "from": show_ms(run.from_ms),
        "to": show_ms(run.to_ms),
        "resumed": resume && run.checkpoint.is_some(),
        "listed": total.listed,
        "imported": total.imported,
        "present": total.present,
        "failed": total.failed,
        "events_queued": total.events_queued,
        "failures": report.failures,
        "seconds": seconds,
    }));
    Ok(ok.into())
}

/// An import-calls run as its checkpoint file keeps it: the window, how far it got without a
/// failure, and what it counted up to there.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ImportRun {
    from_ms: i64,
    to_ms: i64,
    checkpoint: Option<Checkpoint>,
    done: ReconcileReport,
}

impl ImportRun {
    fn load(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Written whole or not at all (a new file renamed over the old one).
    fn save(&self, path: &Path) -> Result<(), String> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string(self).map_err(err)?;
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// One checkpoint per stack: the window of the interrupted run and how far it got.
fn checkpoint_path(stack: &Stack) -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    let id: String = stack
        .calls_table
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    base.join("retell-ops").join(format!("import-{id}.json"))
}
