//! `sync`'s Cal.com part: every company on Cal.com gets a webhook (`POST /v2/webhooks`) for its
//! bookings (created, rescheduled, cancelled) pointing at this stack's Cal.com webhook function,
//! signed with a secret of its own kept in `<stack>/calcom-webhook/<company_id>` (made here on
//! first use, 32 random bytes). A webhook of ours whose secret is not the stored one (the
//! secret was just made) is replaced; Cal.com answers 409 for a second one with the same URL.

use serde_json::Value;
use shared::booking::company::{CalendarBackend, Company};
use shared::booking::directory::{CompanyDirectory, CompanyKey, COMPANY_CACHE_TTL};
use shared::calendar::CalComClient;

use crate::context::Context;
use crate::error::err;

/// One company's webhook: what sync found and did.
pub struct Row {
    pub company_id: String,
    pub url: String,
    pub change: String,
    pub failed: bool,
}

fn random_secret() -> Result<String, String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("no randomness for a webhook secret: {e}"))?;
    Ok(shared_hex(&bytes))
}

fn shared_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored webhook secret, made (and stored) when there is none: (secret, made now).
async fn secret(
    secrets: &aws_sdk_secretsmanager::Client,
    id: &str,
    dry_run: bool,
) -> Result<(String, bool), String> {
    match secrets.get_secret_value().secret_id(id).send().await {
        Ok(out) => match out.secret_string {
            Some(s) if !s.trim().is_empty() => Ok((s.trim().to_owned(), false)),
            _ => Err(format!("secret {id} is empty")),
        },
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            let secret = random_secret()?;
            if !dry_run {
                secrets
                    .create_secret()
                    .name(id)
                    .description("Cal.com webhook secret (retell-ops sync)")
                    .secret_string(&secret)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "creating {id}: {}",
                            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                        )
                    })?;
            }
            Ok((secret, true))
        }
        Err(e) => Err(format!(
            "reading {id}: {}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
        )),
    }
}

async fn sync_one(ctx: &Context, company: &Company, dry_run: bool) -> Result<Row, String> {
    let CalendarBackend::CalCom(cal) = &company.settings.calendar else {
        return Err("not on Cal.com".into());
    };
    let url = ctx.stack.calcom_webhook_url(company.id());
    let (secret, made) = secret(&ctx.aws.secrets, &cal.webhook_secret_id(), dry_run).await?;
    let client = CalComClient::new(cal, ctx.aws.secrets.clone(), ctx.stack.local);
    let existing: Vec<Value> = client
        .webhooks()
        .await
        .map_err(err)?
        .into_iter()
        .filter(|w| w["subscriberUrl"].as_str() == Some(url.as_str()))
        .collect();
    let row = |change: &str| Row {
        company_id: company.id().to_owned(),
        url: url.clone(),
        change: change.to_owned(),
        failed: false,
    };
    let complete = |w: &Value| {
        w["active"] == Value::Bool(true)
            && shared::calendar::calcom_webhook::TRIGGERS.iter().all(|t| {
                w["triggers"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(t)))
            })
    };
    if !made && existing.len() == 1 && complete(&existing[0]) {
        return Ok(row("up to date"));
    }
    let change = if existing.is_empty() {
        "created"
    } else {
        "replaced (new secret or triggers)"
    };
    if dry_run {
        return Ok(row(&format!("{change} (dry run)")));
    }
    for old in &existing {
        let id = match &old["id"] {
            Value::String(id) => id.clone(),
            other => other.to_string(),
        };
        client.delete_webhook(&id).await.map_err(err)?;
    }
    client.create_webhook(&url, &secret).await.map_err(err)?;
    Ok(row(change))
}

/// Every Cal.com company's webhook, as it was or was made.
pub async fn sync(ctx: &Context, dry_run: bool) -> Result<Vec<Row>, String> {
    let directory = CompanyDirectory::new(
        ctx.aws.dynamodb.clone(),
        ctx.stack.companies_table.clone(),
        COMPANY_CACHE_TTL,
    );
    let mut rows = Vec::new();
    for id in directory.company_ids().await.map_err(err)? {
        let company = directory
            .find(&CompanyKey::Id(id.clone()))
            .await
            .map_err(err)?;
        if !matches!(company.settings.calendar, CalendarBackend::CalCom(_)) {
            continue;
        }
        rows.push(match sync_one(ctx, &company, dry_run).await {
            Ok(row) => row,
            Err(e) => Row {
                company_id: id,
                url: ctx.stack.calcom_webhook_url(company.id()),
                change: e,
                failed: true,
            },
        });
    }
    Ok(rows)
}
