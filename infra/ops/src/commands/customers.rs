//! `customers vip`: marks (or unmarks) a caller as a VIP of a company, kept with the customers in
//! the native calendar's table.

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
            Self::Vip(args) => vip(ctx, args).await,
        }
    }
}

async fn vip(ctx: &Context, args: VipArgs) -> CliResult {
    let VipArgs {
        phone,
        company,
        off,
    } = args;
    let vip = !off;
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
    ledger
        .set_vip(&company, &phone, vip, Utc::now().timestamp_millis())
        .await
        .map_err(err)?;
    let what = if vip {
        "is a VIP"
    } else {
        "is no VIP any more"
    };
    ctx.out.check(&Check::ok(
        format!("{} of {company} {what}", phone.masked()),
        None,
    ));
    ctx.out.json_value(
        &json!({"ok": true, "company_id": company, "customer": phone.masked(), "vip": vip}),
    );
    Ok(Outcome::Success)
}
