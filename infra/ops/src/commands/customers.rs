//! `customers vip` / `customers no-messages`: marks (or unmarks) a caller as a VIP of a company,
//! or as one who gets no messages, kept with the customers in the native calendar's table.

use chrono::Utc;
use serde_json::json;
use shared::booking::phone::PhoneNumber;

use crate::context::Context;
use crate::error::{err, CliError, CliResult, Outcome};
use crate::output::Check;

#[derive(clap::Subcommand)]
pub enum CustomersCommand {
    /// Mark a caller as a VIP of a company (the VIP agent and `is_vip` on their next call).
    Vip(VipArgs),
    /// Send a caller no messages (confirmations, reminders, offers); `--off` to send them again.
    NoMessages(VipArgs),
}

#[derive(clap::Args)]
pub struct VipArgs {
    /// The customer's number (E.164; a national number is read as German).
    phone: String,
    #[arg(long)]
    company: String,
    /// Not a VIP any more.
    #[arg(long)]
    off: bool,
}

impl CustomersCommand {
    pub async fn run(self, ctx: &Context) -> CliResult {
        match self {
            Self::Vip(args) => mark(ctx, args, Mark::Vip).await,
            Self::NoMessages(args) => mark(ctx, args, Mark::NoMessages).await,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Vip,
    NoMessages,
}

async fn mark(ctx: &Context, args: VipArgs, mark: Mark) -> CliResult {
    let VipArgs {
        phone,
        company,
        off,
    } = args;
    let on = !off;
    // The number is not echoed: it is a customer's, or not a number at all.
    let phone = PhoneNumber::parse(&phone).map_err(|e| {
        CliError::Usage(format!(
            "the customer's number: {e} (an E.164 number such as +4915112345678)"
        ))
    })?;
    // Refuses a company the stack does not know.
    ctx.companies(Some(&company)).await?;
    let table = ctx.stack.appointments_table.clone().ok_or(
        "the stack has no output AppointmentsTableName (deploy the current template.yaml)",
    )?;
    let ledger = shared::calendar::AppointmentLedger::new(ctx.aws.dynamodb.clone(), table);
    let now_ms = Utc::now().timestamp_millis();
    match mark {
        Mark::Vip => ledger.set_vip(&company, &phone, on, now_ms).await,
        Mark::NoMessages => ledger.set_no_messages(&company, &phone, on, now_ms).await,
    }
    .map_err(err)?;
    let what = match (mark, on) {
        (Mark::Vip, true) => "is a VIP",
        (Mark::Vip, false) => "is no VIP any more",
        (Mark::NoMessages, true) => "gets no messages",
        (Mark::NoMessages, false) => "gets messages again",
    };
    ctx.out.check(&Check::ok(
        format!("{} of {company} {what}", phone.masked()),
        None,
    ));
    ctx.out.json_value(
        &match mark {
            Mark::Vip => json!({"ok": true, "company_id": company, "customer": phone.masked(), "vip": on}),
            Mark::NoMessages => json!({"ok": true, "company_id": company, "customer": phone.masked(), "no_messages": on}),
        },
    );
    Ok(Outcome::Success)
}
