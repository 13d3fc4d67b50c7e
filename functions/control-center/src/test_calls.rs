//! Test calls: Retell calls a number from the company's own number with the company's agent. A
//! login must not be a way to make the business's line ring anyone, or to run up a bill:
//!
//! - admins may call any ordinary number; staff only their company's `test_numbers`;
//! - never premium-rate, service or short numbers ([`PhoneNumber::destination`]);
//! - at most [`TEST_CALLS_PER_HOUR`] per user and clock hour, counted in DynamoDB (one item per
//!   user and hour in the appointments table, expiring with the day), so every container and
//!   the page and the API share the count;
//! - each one logged: who, which company, the number masked, the call.
//!
//! The pages (`pages::test_call`) and the API (`api::test_call`) both start calls here.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::StatusCode;
use shared::booking::phone::{Destination, PhoneNumber};
use shared::retell::api::PhoneCallRequest;

use crate::auth::Viewer;
use crate::data::CompanyView;
use crate::retell_access::retell_for;
use crate::ControlCenter;

/// Test calls one user may start in a clock hour.
pub const TEST_CALLS_PER_HOUR: u32 = 5;

/// Why a test call was not started, as an HTTP status and a sentence for the person.
pub type Refusal = (StatusCode, String);

/// What starting a test call needs from the company: its number and its agent.
pub fn caller_of(company: &CompanyView) -> Result<(String, Option<String>), &'static str> {
    let settings = company
        .settings
        .as_ref()
        .ok_or("the company has no settings (phone numbers, agents)")?;
    let from = settings
        .settings
        .phone_numbers
        .first()
        .cloned()
        .ok_or("the company has no phone number")?;
    let agent = settings
        .settings
        .inbound_agent_id
        .clone()
        .or_else(|| settings.settings.agent_ids.first().cloned());
    Ok((from, agent))
}

/// Whether `viewer` may have the company's agent call `to`: the number's kind, and for staff
/// the company's list.
pub fn may_call(viewer: &Viewer, company: &CompanyView, to: &PhoneNumber) -> Result<(), Refusal> {
    match to.destination() {
        Destination::Ordinary => {}
        Destination::PremiumOrService => {
            return Err((
                StatusCode::BAD_REQUEST,
                "premium-rate and service numbers are never called".into(),
            ))
        }
        Destination::ShortCode => {
            return Err((
                StatusCode::BAD_REQUEST,
                "short codes are never called".into(),
            ))
        }
    }
    if viewer.is_admin() {
        return Ok(());
    }
    let listed = company.settings.as_ref().is_some_and(|c| {
        c.settings
            .test_numbers
            .iter()
            .filter_map(|n| PhoneNumber::parse(n).ok())
            .any(|n| n == *to)
    });
    if listed {
        Ok(())
    } else {
        Err((
            StatusCode::FORBIDDEN,
            "staff may call only the company's test numbers (test_numbers in its settings)".into(),
        ))
    }
}

/// Starts a test call to `to` (E.164) for the company: the call's id.
pub async fn start(
    app: &ControlCenter,
    viewer: &Viewer,
    company: &CompanyView,
    to: &str,
) -> Result<String, Refusal> {
    let to = PhoneNumber::parse(to.trim()).map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            format!(
                "{:?} is not a phone number in E.164 (+49…)",
                to.chars().take(32).collect::<String>()
            ),
        )
    })?;
    let refused = |reason: &str, status: StatusCode| {
        tracing::warn!(
            user = viewer.user(),
            company = %company.id,
            to = %to.masked(),
            reason,
            status = status.as_u16(),
            "test call refused"
        );
    };
    if let Err((status, why)) = may_call(viewer, company, &to) {
        refused(&why, status);
        return Err((status, why));
    }
    let (from, agent) = caller_of(company).map_err(|r| (StatusCode::CONFLICT, r.to_owned()))?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    if !count_call(app, viewer.user(), now_ms)
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e))?
    {
        let why = format!("at most {TEST_CALLS_PER_HOUR} test calls an hour per user");
        refused(&why, StatusCode::TOO_MANY_REQUESTS);
        return Err((StatusCode::TOO_MANY_REQUESTS, why));
    }
    let retell = retell_for(app, &company.id)
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e))?;
    let call = retell
        .create_phone_call(&PhoneCallRequest {
            from_number: from,
            to_number: to.as_str().to_owned(),
            override_agent_id: agent,
            ..Default::default()
        })
        .await
        .map_err(|e| {
            let status = match e.status() {
                Some(s) if (400..500).contains(&s) => StatusCode::BAD_REQUEST,
                _ => StatusCode::BAD_GATEWAY,
            };
            (status, e.to_string())
        })?;
    tracing::info!(
        user = viewer.user(),
        call_id = %call.call_id,
        company = %company.id,
        to = %to.masked(),
        "test call started"
    );
    Ok(call.call_id)
}

/// Counts one test call of `user` in the current clock hour: `false` (and nothing counted) when
/// the hour's calls are used up.
async fn count_call(app: &ControlCenter, user: &str, now_ms: i64) -> Result<bool, String> {
    let hour = now_ms.div_euclid(3_600_000);
    let ledger = &app.data.ledger;
    let counted = ledger
        .client()
        .update_item()
        .table_name(ledger.table())
        .key("pk", AttributeValue::S(format!("R#test-call#{user}")))
        .key("sk", AttributeValue::S(format!("H#{hour}")))
        .update_expression("ADD calls :one SET expires_at = :expires")
        .condition_expression("attribute_not_exists(calls) OR calls < :limit")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .expression_attribute_values(":limit", AttributeValue::N(TEST_CALLS_PER_HOUR.to_string()))
        .expression_attribute_values(
            ":expires",
            AttributeValue::N(((hour + 25) * 3600).to_string()),
        )
        .send()
        .await;
    match counted {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(format!(
            "test calls cannot be counted: {}",
            DisplayErrorContext(e)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::booking::company::{Company, CompanySettings};
    use std::sync::Arc;

    fn company(test_numbers: &[&str]) -> CompanyView {
        let mut settings: CompanySettings =
            serde_json::from_str(include_str!("../../../infra/local/companies/demo.json"))
                .expect("demo.json");
        settings.test_numbers = test_numbers.iter().map(|n| n.to_string()).collect();
        CompanyView {
            id: "demo".into(),
            name: "Salon".into(),
            time_zone: chrono_tz::Europe::Berlin,
            language: "de".into(),
            settings: Some(Arc::new(Company::from_settings(settings).expect("valid"))),
        }
    }

    #[test]
    fn staff_call_listed_numbers_admins_any_ordinary_one() {
        let staff = Viewer::Staff {
            user: "anna@salon.example".into(),
            company_id: "demo".into(),
        };
        let admin = Viewer::Admin {
            user: "ops@example.com".into(),
        };
        let c = company(&["+4917611112222"]);
        let number = |n: &str| PhoneNumber::parse(n).expect("number");
        assert!(may_call(&staff, &c, &number("0176 1111 2222")).is_ok());
        assert_eq!(
            may_call(&staff, &c, &number("+4917699998888")).map_err(|e| e.0),
            Err(StatusCode::FORBIDDEN)
        );
        assert!(may_call(&admin, &c, &number("+4917699998888")).is_ok());
        for never in ["+49900123456789", "+491805123456", "+35312345"] {
            assert_eq!(
                may_call(&admin, &c, &number(never)).map_err(|e| e.0),
                Err(StatusCode::BAD_REQUEST),
                "{never}"
            );
        }
        let without = company(&[]);
        assert!(may_call(&staff, &without, &number("+4917611112222")).is_err());
    }
}
