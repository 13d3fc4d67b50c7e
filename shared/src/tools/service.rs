//! One tool behind one HTTP route: the request format, authentication (the one path in
//! [`crate::retell::auth`]), the reply deadline and cap.

use std::sync::Arc;

use chrono::Utc;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};
use tracing::Instrument;

use super::{Args, CallInfo, Tool, ToolContext, MAX_REPLY_CHARS, REPLY_DEADLINE};
use crate::booking::directory::CompanyKey;
use crate::booking::phone::{mask_phone, PhoneNumber};
use crate::calendar::unresolved::{JournaledCalendar, WriteJournal};
use crate::calendar::{Calendars, NativeCalendar};
use crate::platform::aws::AwsClients;
use crate::platform::config::ToolConfig;
use crate::platform::http::json_response;
use crate::retell::auth::{AuthError, RequestAuth, SIGNATURE_HEADER};
use crate::retell::keys::{SecretSource, SecretsManagerSource};
use crate::retell::signature::SignatureHeader;

/// A parsed request: `{"name", "args", "call"}`, or the args alone at the root.
pub fn parse_request(body: &[u8]) -> Result<(Args, CallInfo), serde_json::Error> {
    let mut root: Map<String, Value> = serde_json::from_slice(body)?;
    let call = match root.get("call") {
        Some(Value::Object(call)) => {
            let text = |k: &str| call.get(k).and_then(Value::as_str).map(str::to_owned);
            CallInfo {
                call_id: text("call_id"),
                agent_id: text("agent_id"),
                from_number: text("from_number"),
                to_number: text("to_number"),
            }
        }
        _ => CallInfo::default(),
    };
    let args = match root.remove("args") {
        Some(Value::Object(args)) => args,
        _ => root,
    };
    Ok((Args(args), call))
}

/// Keeps a reply under Retell's cap by shortening its longest list.
pub fn cap_reply(mut reply: Value) -> Value {
    while reply.to_string().chars().count() > MAX_REPLY_CHARS {
        let Some(obj) = reply.as_object_mut() else {
            break;
        };
        let longest = obj
            .iter()
            .filter_map(|(k, v)| v.as_array().map(|a| (k.clone(), a.len())))
            .max_by_key(|(_, len)| *len);
        match longest {
            Some((key, len)) if len > 1 => {
                if let Some(Value::Array(a)) = obj.get_mut(&key) {
                    a.truncate(len / 2);
                }
            }
            _ => break,
        }
    }
    reply
}

/// One tool behind one HTTP route: signature, company, arguments, reply.
pub struct ToolService<T, S> {
    pub tool: T,
    pub auth: RequestAuth<S>,
    pub calendars: Calendars,
}

/// What the caller hears when nothing can be said for sure: the language is unknown until the
/// company is, so both.
fn technical_problem() -> Value {
    json!({"success": false, "message": "Entschuldigung, hier liegt ein technisches Problem vor. Bitte rufen Sie später noch einmal an. / Sorry, there is a technical problem. Please call again later."})
}

impl<T: Tool> ToolService<T, SecretsManagerSource> {
    /// The service as its Lambda runs it, from its configuration and the container's clients:
    /// the Lambda and the tests build it here.
    pub fn build(tool: T, config: &ToolConfig, aws: &AwsClients) -> Self {
        ToolService {
            tool,
            auth: RequestAuth::build(&config.auth, aws),
            calendars: Calendars::new(
                NativeCalendar::new(aws.dynamodb.clone(), config.appointments_table.clone()),
                aws.secrets.clone(),
            )
            .allowing_loopback(config.loopback_calendars)
            .watched_by(config.messaging_queue_url.as_ref().and_then(|url| {
                crate::messaging::outbox::Outbox::new(&aws.sdk, url)
                    .map_err(|e| tracing::error!(error = %e, "messaging queue client not built"))
                    .ok()
                    .map(|o| Arc::new(o) as Arc<dyn crate::calendar::AppointmentWatcher>)
            })),
        }
    }
}

impl<T: Tool, S: SecretSource + Send + Sync> ToolService<T, S> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let span = crate::event_span!("tool");
        span.record("event", T::NAME);
        crate::platform::telemetry::answered("tools", T::NAME, self.respond(request))
            .instrument(span)
            .await
    }

    async fn respond(&self, request: Request) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let body: &[u8] = body.as_ref();
        let span = tracing::Span::current();
        let parsed = parse_request(body);
        let query = parts.uri.query().unwrap_or_default();
        // Who the request claims to be picks the key; the signature has to prove it.
        let claim = parsed
            .as_ref()
            .ok()
            .map(|(_, call)| company_key(call, &parts.headers, query));
        let (claim, signed_claim) = match claim {
            Some(Claim::Signed(key)) => (Some(key), true),
            Some(Claim::Unsigned(key)) => (key, false),
            None => (None, true),
        };
        let signature = parts
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok());
        let now = Utc::now();
        // Everything, authentication included, is inside the deadline: the caller hears an
        // answer, never silence.
        let deadline = tokio::time::Instant::now() + REPLY_DEADLINE;
        let now_ms = now.timestamp_millis();
        let authenticated = async {
            let header = SignatureHeader::from_request(signature)?;
            if signed_claim {
                self.auth
                    .authenticate(body, &header, claim.as_ref(), now_ms)
                    .await
            } else {
                self.auth
                    .authenticate_unsigned_claim(body, &header, claim.as_ref(), now_ms)
                    .await
            }
        };
        let sender = match tokio::time::timeout_at(deadline, authenticated).await {
            Ok(Ok(sender)) => sender,
            Ok(Err(e @ (AuthError::Signature(_) | AuthError::UnsignedClaim))) => {
                tracing::warn!(status = 401, reason = e.reason(), "tool call rejected");
                return json_response(401, &json!({"error": e.reason()}));
            }
            Ok(Err(e)) => {
                tracing::error!(status = 503, reason = e.reason(), error = %e, "tool call failed");
                return json_response(503, &json!({"error": e.reason()}));
            }
            Err(_) => {
                tracing::error!(
                    reason = "deadline",
                    "no answer from AWS while authenticating"
                );
                return json_response(200, &technical_problem());
            }
        };
        let (args, call) = match parsed {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(status = 400, reason = "malformed_json", error = %e, "tool call rejected");
                return json_response(400, &json!({"error": "malformed_json"}));
            }
        };
        if let Some(id) = &call.call_id {
            span.record("call_id", id.as_str());
        }
        span.record("company", sender.company_id.as_str());
        let Some(company) = sender.company else {
            tracing::error!(
                reason = "company_not_found",
                "no company for the agent, number or company id given"
            );
            return json_response(200, &technical_problem());
        };
        let calendar = self.calendars.for_company(&company);
        let journal = WriteJournal::default();
        let calendar = JournaledCalendar::new(&calendar, &journal);
        let ctx = ToolContext {
            company: &company,
            calendar: &calendar,
            call: &call,
            now,
        };
        let reply = tokio::time::timeout_at(deadline, self.tool.run(&ctx, &args))
            .await
            .map(|reply| reply.unwrap_or_else(|refusal| refusal));
        // A write that may have committed: say that its outcome is being checked, never that
        // it failed or succeeded (`crate::calendar::unresolved`).
        let reply = match (journal.unsettled(), reply) {
            (Some(write), _) => ctx.unknown_outcome(&write, T::NAME),
            (None, Ok(reply)) => cap_reply(reply),
            (None, Err(_)) => ctx.unavailable(&"no answer within the reply deadline"),
        };
        let success = reply
            .get("success")
            .or_else(|| reply.get("available"))
            .and_then(|v| v.as_bool());
        tracing::info!(
            success,
            caller = call
                .from_number
                .as_deref()
                .map(mask_phone)
                .unwrap_or_default(),
            "tool call answered"
        );
        json_response(200, &reply)
    }
}

/// Where a tool call names its company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// In the signed body: the call's agent or the number called.
    Signed(CompanyKey),
    /// Outside it (headers, the query string) or not at all: args-only calls. Accepted only
    /// for a company with a key of its own ([`RequestAuth::authenticate_unsigned_claim`]).
    ///
    /// [`RequestAuth::authenticate_unsigned_claim`]: crate::retell::auth::RequestAuth::authenticate_unsigned_claim
    Unsigned(Option<CompanyKey>),
}

/// Which company a call belongs to: the agent, else the called number, else (args-only calls)
/// `x-company-id` / `?company_id=` or `x-agent-id` / `?agent_id=`.
pub fn company_key(call: &CallInfo, headers: &lambda_http::http::HeaderMap, query: &str) -> Claim {
    if let Some(agent) = &call.agent_id {
        return Claim::Signed(CompanyKey::Agent(agent.clone()));
    }
    if let Some(number) = call
        .to_number
        .as_deref()
        .and_then(|n| PhoneNumber::parse(n).ok())
    {
        return Claim::Signed(CompanyKey::Number(number.as_str().to_owned()));
    }
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(id) = header("x-company-id").or_else(|| param("company_id")) {
        return Claim::Unsigned(Some(CompanyKey::Id(id)));
    }
    Claim::Unsigned(
        header("x-agent-id")
            .or_else(|| param("agent_id"))
            .map(CompanyKey::Agent),
    )
}
