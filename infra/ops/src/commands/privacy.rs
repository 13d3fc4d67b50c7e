//! `privacy export|erase|audit`: everything held about one caller of a company as one JSON file,
//! the same erased (with a receipt in the audit trail, proven by a scan), and the company's audit
//! trail. The work is `shared::privacy`; the control center's admin actions run the same.

use chrono::Utc;
use serde_json::json;
use shared::booking::phone::PhoneNumber;
use shared::privacy::erase::Erasure;
use shared::privacy::holdings::Holdings;
use shared::privacy::{AuditEntry, AuditLog, PrivacyStores, Subject};

use crate::context::Context;
use crate::error::{err, CliError, CliResult, Outcome};
use crate::output::Check;

#[derive(clap::Subcommand)]
pub enum PrivacyCommand {
    /// Everything held about a caller (calls with transcripts, appointments, messages, callbacks, customer record) as one JSON file.
    Export(ExportArgs),
    /// Erase a caller: customer record, their appointments' and calls' personal fields, transcripts, recordings, raw events, message recipients, Retell's copies; then prove nothing holds the number.
    Erase(EraseArgs),
    /// The company's audit trail: transcript views, exports, erasures, settings changes; newest first.
    Audit(AuditArgs),
}

#[derive(clap::Args)]
pub struct ExportArgs {
    #[arg(long)]
    company: String,
    /// The caller's number (E.164; a national number is read as German).
    #[arg(long)]
    phone: String,
    /// Where to write the document (it holds personal data: created readable by you only).
    #[arg(long)]
    out: std::path::PathBuf,
}

#[derive(clap::Args)]
pub struct EraseArgs {
    #[arg(long)]
    company: String,
    #[arg(long)]
    phone: String,
    /// Do not ask.
    #[arg(long)]
    yes: bool,
    /// Do not read every archived event of the company for the proof (only the tables and the
    /// caller's own objects are checked).
    #[arg(long)]
    quick: bool,
}

#[derive(clap::Args)]
pub struct AuditArgs {
    #[arg(long)]
    company: String,
    /// Entries of the last N days.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    days: u32,
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: u32,
}

impl PrivacyCommand {
    pub async fn run(self, ctx: &Context) -> CliResult {
        match self {
            Self::Export(args) => export(ctx, args).await,
            Self::Erase(args) => erase(ctx, args).await,
            Self::Audit(args) => audit(ctx, args).await,
        }
    }
}

/// Who ran it, for the audit trail: the operating-system user.
fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("retell-ops:{}", user.chars().take(64).collect::<String>())
}

async fn subject(ctx: &Context, company: &str, phone: &str) -> Result<Subject, CliError> {
    // The number is not echoed: it is a caller's, or not a number at all.
    let phone = PhoneNumber::parse(phone).map_err(|e| {
        CliError::Usage(format!(
            "the caller's number: {e} (an E.164 number such as +4915112345678)"
        ))
    })?;
    // Refuses a company the stack does not know.
    ctx.companies(Some(company)).await?;
    let directory = shared::booking::directory::CompanyDirectory::new(
        ctx.aws.dynamodb.clone(),
        ctx.stack.companies_table.clone(),
        shared::booking::directory::COMPANY_CACHE_TTL,
    );
    let key = shared::booking::directory::CompanyKey::Id(company.to_owned());
    if let Some(found) = directory.lookup(&key).await.map_err(err)? {
        shared::privacy::subject::refuse_business_number(&found.settings, &phone)
            .map_err(CliError::Usage)?;
    }
    Ok(Subject::new(company, phone))
}

fn stores(ctx: &Context) -> Result<PrivacyStores, CliError> {
    Ok(PrivacyStores {
        dynamodb: ctx.aws.dynamodb.clone(),
        s3: ctx.aws.s3.client(),
        calls_table: ctx.stack.calls_table.clone(),
        appointments_table: ctx.stack.appointments_table.clone().ok_or(
            "the stack has no output AppointmentsTableName (deploy the current template.yaml)",
        )?,
        bucket: ctx.stack.bucket.clone(),
    })
}

fn audit_log(ctx: &Context) -> Result<AuditLog, CliError> {
    let table = ctx
        .stack
        .audit_table
        .clone()
        .ok_or("the stack has no output AuditTableName (deploy the current template.yaml)")?;
    Ok(AuditLog::new(ctx.aws.dynamodb.clone(), table))
}

async fn export(ctx: &Context, args: ExportArgs) -> CliResult {
    let subject = subject(ctx, &args.company, &args.phone).await?;
    let stores = stores(ctx)?;
    let audit = audit_log(ctx)?;
    let now_ms = Utc::now().timestamp_millis();
    let holdings = Holdings::find(&stores, &subject).await.map_err(err)?;
    let document = shared::privacy::export::export(&stores, &subject, &holdings, now_ms)
        .await
        .map_err(err)?;
    let text = serde_json::to_string_pretty(&document).map_err(err)?;
    write_private(&args.out, text.as_bytes())
        .map_err(|e| format!("writing {}: {e}", args.out.display()))?;
    let counts = json!({
        "calls": holdings.calls.len(),
        "appointments": holdings.appointments.len(),
        "messages": holdings.messages.len(),
        "callbacks": holdings.callbacks.len(),
        "customer_record": holdings.customer.is_some(),
    });
    audit
        .record(&AuditEntry {
            company_id: subject.company_id.clone(),
            at_ms: now_ms,
            by: operator(),
            action: "exported".into(),
            subject: "caller".into(),
            detail: json!({"call_ids": holdings.call_ids(), "counts": counts}),
        })
        .await
        .map_err(err)?;
    ctx.out.check(&Check::ok(
        format!(
            "{} of {}: {} calls, {} appointments, {} messages, {} callbacks written to {}",
            subject.phone.masked(),
            subject.company_id,
            holdings.calls.len(),
            holdings.appointments.len(),
            holdings.messages.len(),
            holdings.callbacks.len(),
            args.out.display()
        ),
        None,
    ));
    ctx.out.json_value(&json!({
        "ok": true,
        "company_id": subject.company_id,
        "caller": subject.phone.masked(),
        "out": args.out.display().to_string(),
        "counts": counts,
    }));
    Ok(Outcome::Success)
}

/// The export holds personal data: mode 0600 from the start, not chmod'ed after.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

async fn erase(ctx: &Context, args: EraseArgs) -> CliResult {
    let subject = subject(ctx, &args.company, &args.phone).await?;
    let stores = stores(ctx)?;
    let audit = audit_log(ctx)?;
    let masked = subject.phone.masked();
    if !ctx
        .out
        .confirm(
            args.yes,
            &format!(
                "Erase everything {} holds about caller {masked}? This cannot be undone.",
                subject.company_id
            ),
            &subject.company_id,
        )
        .map_err(CliError::Usage)?
    {
        return Ok(Outcome::Failure);
    }
    // The company's own Retell account if it has one (its calls are there), else the default.
    let own = ctx.retell_for_company(&subject.company_id).await;
    let retell = match own.as_ref() {
        Ok(client) => Some(client),
        Err(why) => {
            ctx.out.check(&Check::failed(
                "Retell's copies of the calls are not deleted",
                format!("{why}; delete them in Retell's dashboard"),
            ));
            None
        }
    };
    let erasure = Erasure {
        stores: &stores,
        retell,
        audit: Some(&audit),
        by: operator(),
        proof: if args.quick {
            shared::privacy::proof::Scope::Company
        } else {
            shared::privacy::proof::Scope::CompanyAndArchive
        },
    };
    let receipt = erasure
        .run(&subject, Utc::now().timestamp_millis())
        .await
        .map_err(err)?;
    let clean = receipt.proof.clean();
    if receipt.nothing_held() {
        ctx.out.check(&Check::ok(
            format!("{} holds nothing about {masked}", subject.company_id),
            None,
        ));
    } else {
        ctx.out.check(&Check::ok(
            format!(
                "erased {masked} of {}: {} calls, {} appointments, {} messages, {} callbacks, {} objects, customer record {}",
                subject.company_id,
                receipt.call_ids.len(),
                receipt.appointment_ids.len(),
                receipt.messages,
                receipt.callbacks,
                receipt.objects_deleted,
                if receipt.customer_record { "deleted" } else { "none" },
            ),
            Some(format!("Retell: {}", receipt.retell)),
        ));
    }
    let scanned = format!(
        "{} items and {} objects scanned{}",
        receipt.proof.items_scanned,
        receipt.proof.objects_scanned,
        if receipt.proof.scope == shared::privacy::proof::Scope::CompanyAndArchive {
            ""
        } else {
            " (archived events not read: --quick)"
        }
    );
    if clean {
        ctx.out.check(&Check::ok(
            "nothing holds the number any more",
            Some(scanned),
        ));
    } else {
        ctx.out.check(&Check::failed(
            "the number is still found",
            format!(
                "{}; {scanned}",
                receipt
                    .proof
                    .found
                    .iter()
                    .chain(receipt.proof.unread.iter())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    ctx.out.json_value(&json!({
        "ok": clean,
        "caller": masked,
        "receipt": receipt,
    }));
    Ok(if clean {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

async fn audit(ctx: &Context, args: AuditArgs) -> CliResult {
    ctx.companies(Some(&args.company)).await?;
    let audit = audit_log(ctx)?;
    let from_ms = Utc::now().timestamp_millis() - i64::from(args.days) * 86_400_000;
    let entries = audit
        .list(&args.company, from_ms, args.limit as usize)
        .await
        .map_err(err)?;
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                chrono::DateTime::from_timestamp_millis(e.at_ms)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default(),
                e.by.clone(),
                e.action.clone(),
                e.subject.clone(),
            ]
        })
        .collect();
    ctx.out
        .table(&["at (UTC)", "by", "action", "subject"], &rows);
    ctx.out
        .json_value(&json!({"company_id": args.company, "entries": entries}));
    Ok(Outcome::Success)
}
