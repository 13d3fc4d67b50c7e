//! What `simulate-call` and `load-test` share: the line a simulated call reaches, the player that
//! signs as Retell ([`crate::player`]), and reading back what the stack stored.

use shared::booking::directory::{CompanyDirectory, CompanyKey, COMPANY_CACHE_TTL};
use shared::calls::record::CallRecord;
use shared::calls::store::{CallStore, DynamoCallStore};
use shared::retell::{CallId, EventKind};

use crate::context::Context;
use crate::error::err;
use crate::player::{Line, PlayedCall, Player};

/// The company a simulated call reaches: `company`, or the first company (by id) that has an
/// agent and a number.
pub async fn line_for(
    ctx: &Context,
    company: Option<&str>,
    customer: &str,
) -> Result<(String, Line), String> {
    let directory = CompanyDirectory::new(
        ctx.aws.dynamodb.clone(),
        ctx.stack.companies_table.clone(),
        COMPANY_CACHE_TTL,
    );
    let ids = match company {
        // A megabyte of text is not a company id, and never a DynamoDB key.
        Some(id) if !CompanyKey::Id(id.to_owned()).is_well_formed() => {
            return Err(format!(
                "--company: {:?}… is not a company id",
                id.chars().take(32).collect::<String>()
            ))
        }
        Some(id) => vec![id.to_owned()],
        None => directory.company_ids().await.map_err(err)?,
    };
    for id in &ids {
        let Some(found) = directory
            .lookup(&CompanyKey::Id(id.clone()))
            .await
            .map_err(err)?
        else {
            continue;
        };
        let s = &found.settings;
        let (Some(agent), Some(number), Some(service)) = (
            s.agent_ids.first(),
            s.phone_numbers.first(),
            s.services.first(),
        ) else {
            if company.is_some() {
                return Err(format!(
                    "company {id} needs an agent, a phone number and a service to take a call"
                ));
            }
            continue;
        };
        return Ok((
            id.clone(),
            Line {
                agent_id: agent.clone(),
                company_number: number.clone(),
                customer: customer.to_owned(),
                customer_name: "Max Mustermann".into(),
                service: service.display_name().to_owned(),
                time_zone: found.time_zone,
                wants_at: None,
                wants_staff: None,
            },
        ));
    }
    Err(match company {
        Some(id) => format!(
            "--company: no company {:?} in {}",
            id.chars().take(64).collect::<String>(),
            ctx.stack.companies_table
        ),
        None => format!(
            "no company in {} has an agent, a number and a service: `retell-ops companies load`",
            ctx.stack.companies_table
        ),
    })
}

/// The player, signing with the stack's Retell key.
pub fn player(ctx: &Context) -> Result<Player, String> {
    let key = ctx.retell_key().ok_or(
        "no Retell API key to sign with: set RETELL_API_KEY or store it in the stack's secret",
    )?;
    Player::new(&ctx.stack, key)
}

/// Every event the stack accepted for the call is applied (None: no record yet).
pub async fn settled(
    store: &DynamoCallStore,
    played: &PlayedCall,
) -> Result<Option<CallRecord>, String> {
    let id = CallId::parse(&played.call_id).map_err(err)?;
    let record = store.load(&id).await.map_err(err)?;
    Ok(record.filter(|r| {
        played
            .delivered
            .iter()
            .all(|e| r.events_applied.contains(e))
    }))
}

/// The events a record has applied, as a report lists them.
pub fn applied(r: &CallRecord) -> String {
    let names: Vec<&str> = r.events_applied.iter().map(|e| e.as_str()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Event names, as a report lists them.
pub fn names(events: &[EventKind]) -> String {
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
