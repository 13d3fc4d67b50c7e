//! `companies load`: checks company files (each on its own, against this stack, and against each
//! other) and only then writes them to the companies table.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::json;
use shared::booking::company::{CalendarBackend, Company, CompanySettings};
use shared::booking::directory::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::booking::phone::PhoneNumber;

use crate::context::Context;
use crate::error::{CliResult, Outcome};
use crate::output::Check;
use crate::target::Stack;

#[derive(clap::Subcommand)]
pub enum CompaniesCommand {
    /// Validate company files and write them to the companies table.
    Load(LoadArgs),
}

#[derive(clap::Args)]
pub struct LoadArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The table (default: the stack's).
    #[arg(long)]
    table: Option<String>,
}

impl CompaniesCommand {
    pub async fn run(self, ctx: &Context) -> CliResult {
        match self {
            Self::Load(args) => load(ctx, args).await,
        }
    }
}

async fn load(ctx: &Context, args: LoadArgs) -> CliResult {
    let LoadArgs { files, table } = args;
    let table = table.unwrap_or_else(|| ctx.stack.companies_table.clone());
    // Every file is checked before any is written.
    let mut settings: Vec<CompanySettings> = Vec::new();
    let mut claimed: HashMap<String, String> = HashMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let s: CompanySettings = serde_json::from_str(&text)
            .map_err(|e| format!("{}:{}: {e}", file.display(), e.line()))?;
        Company::from_settings(s.clone()).map_err(|e| format!("{}: {e}", file.display()))?;
        for_this_stack(&s, &ctx.stack).map_err(|e| format!("{}: {e}", file.display()))?;
        let keys =
            s.agent_ids
                .iter()
                .map(|a| format!("agent {a}"))
                .chain(s.phone_numbers.iter().map(|n| {
                    let e164 = PhoneNumber::parse(n).map(|p| p.as_str().to_owned());
                    format!("number {}", e164.unwrap_or_else(|_| n.clone()))
                }));
        for key in keys {
            if let Some(other) = claimed.insert(key.clone(), s.company_id.clone()) {
                if other != s.company_id {
                    return Err(format!(
                        "{}: {key} is listed by company {other} and by company {} (remove it from one of the two files)",
                        file.display(),
                        s.company_id
                    )
                    .into());
                }
            }
        }
        settings.push(s);
    }
    let directory = CompanyDirectory::new(ctx.aws.dynamodb.clone(), table, COMPANY_CACHE_TTL);
    let mut loaded = Vec::new();
    let mut removed = Vec::new();
    for s in &settings {
        let done = directory
            .put(s)
            .await
            .map_err(|e| format!("{}: {e} (loaded before it: {:?})", s.company_id, loaded))?;
        ctx.out.check(&Check::ok(
            format!("loaded {} ({})", s.company_id, s.name),
            Some(format!(
                "agents {:?}, {} number(s)",
                s.agent_ids,
                s.phone_numbers.len()
            )),
        ));
        if let Some(table) = &ctx.stack.audit_table {
            let entry = shared::privacy::AuditEntry {
                company_id: s.company_id.clone(),
                at_ms: chrono::Utc::now().timestamp_millis(),
                by: "companies load".to_owned(),
                action: "settings_changed".to_owned(),
                subject: "settings".to_owned(),
                detail: json!({"loaded": true, "removed": done.removed}),
            };
            shared::privacy::AuditLog::new(ctx.aws.dynamodb.clone(), table.clone())
                .record(&entry)
                .await
                .map_err(|e| {
                    format!("{}: loaded, but its audit entry failed: {e}", s.company_id)
                })?;
        }
        for entry in &done.removed {
            ctx.out.check(&Check::ok(
                format!("{}: removed {entry}", s.company_id),
                Some("no longer listed".into()),
            ));
        }
        removed.extend(
            done.removed
                .into_iter()
                .map(|e| json!({"company_id": s.company_id, "removed": e})),
        );
        loaded.push(s.company_id.clone());
    }
    ctx.out
        .json_value(&json!({"ok": true, "loaded": loaded, "removed": removed}));
    Ok(Outcome::Success)
}

/// What a deployed stack requires of a company beyond the file's own checks: its Cal.com key is
/// this stack's secret (`<stack>/calcom/<company_id>`), and its Cal.com is on the internet
/// (https; a stand-in on 127.0.0.1 only for the local stack).
fn for_this_stack(settings: &CompanySettings, stack: &Stack) -> Result<(), String> {
    let CalendarBackend::CalCom(cal) = &settings.calendar else {
        return Ok(());
    };
    let secret_stack = cal.secret_stack(&settings.company_id)?;
    if secret_stack != stack.name {
        return Err(format!(
            "calendar.api_key_secret must be {}/calcom/{} for {}",
            stack.name, settings.company_id, stack.label
        ));
    }
    if cal.is_loopback() && !stack.local {
        return Err(format!(
            "calendar.base_url is on this machine (127.0.0.1); {} calls Cal.com over https only",
            stack.label
        ));
    }
    Ok(())
}
