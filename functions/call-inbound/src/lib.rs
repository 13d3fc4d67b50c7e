//! `call-inbound`: Retell's inbound call webhook (POST /api/retell/inbound, 10 s timeout).
//! Finds the company by the called number and answers with the agent to use and dynamic
//! variables for its prompt: today's date, weekday and time in the company's time zone,
//! tomorrow's date, and the caller's name if known. The agent then never has to guess dates.

use chrono::{DateTime, Duration, Utc};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};
use shared::booking::company::Company;
use shared::booking::directory::CompanyKey;
use shared::booking::person::PersonName;
use shared::booking::phone::PhoneNumber;
use shared::booking::routing::{route, Routing};
use shared::booking::spoken::german_date;
use shared::calendar::ledger::CustomerRecord;
use shared::calendar::AppointmentLedger;
use shared::platform::aws::AwsClients;
use shared::platform::config::ToolConfig;
use shared::platform::http::json_response;
use shared::retell::auth::{AuthError, RequestAuth, SIGNATURE_HEADER};
use shared::retell::keys::SecretSource;
use shared::retell::keys::SecretsManagerSource;
use shared::retell::signature::SignatureHeader;
use tracing::Instrument;

pub struct InboundCall<S> {
    pub auth: RequestAuth<S>,
    /// Only for the caller's name: customers live in the appointments table whatever the
    /// company's calendar backend, so no Cal.com client (or its secret) is needed here.
    pub ledger: AppointmentLedger,
}

impl InboundCall<SecretsManagerSource> {
    /// The inbound webhook as its Lambda runs it (`main` and the tests build it here).
    pub fn build(config: &ToolConfig, aws: &AwsClients) -> Self {
        InboundCall {
            auth: RequestAuth::build(&config.auth, aws),
            ledger: AppointmentLedger::new(aws.dynamodb.clone(), config.appointments_table.clone()),
        }
    }
}

/// The prompt variables for a call to `company` at `now` (all strings, as Retell requires).
pub fn dynamic_variables(
    company: &Company,
    now: DateTime<Utc>,
    caller_name: Option<&str>,
) -> Map<String, Value> {
    let local = now.with_timezone(&company.time_zone);
    let today = local.date_naive();
    let tomorrow = today + Duration::days(1);
    let weekday = |d: chrono::NaiveDate| {
        let spoken = german_date(d);
        if company.is_german() {
            spoken.split(',').next().unwrap_or_default().to_owned()
        } else {
            shared::booking::spoken::english_weekday(d).to_owned()
        }
    };
    let mut vars = Map::new();
    let mut put = |k: &str, v: String| {
        vars.insert(k.to_owned(), Value::String(v));
    };
    put("company_name", company.settings.name.clone());
    // Said first (AI Act Art. 50): the company's sentence, or the built-in one saying whether
    // the call is recorded.
    put("disclosure", company.settings.disclosure());
    put("current_date", today.to_string());
    put("current_weekday", weekday(today));
    put("current_time", local.format("%H:%M").to_string());
    put("current_date_spoken", spoken_date(company, today));
    put("tomorrow_date", tomorrow.to_string());
    put("tomorrow_weekday", weekday(tomorrow));
    put("time_zone", company.settings.time_zone.clone());
    put("customer_known", caller_name.is_some().to_string());
    // Always set: Retell leaves a variable it was not given as `{{customer_name}}` in the prompt.
    put("customer_name", caller_name.unwrap_or_default().to_owned());
    // Who callers can ask for, and who is in today (empty for a company without staff).
    let and = if company.is_german() { "und" } else { "and" };
    let team = &company.team;
    put(
        "staff_names",
        spoken_list(
            team.members
                .iter()
                .filter(|m| !m.is_implicit())
                .map(|m| m.name.as_str()),
            and,
        ),
    );
    put(
        "staff_today",
        spoken_list(team.working_on(today).map(|m| m.name.as_str()), and),
    );
    vars
}

/// "Anna, Ben und Clara".
fn spoken_list<'a>(names: impl Iterator<Item = &'a str>, and: &str) -> String {
    let names: Vec<&str> = names.collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} {and} {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_owned(),
        None => String::new(),
    }
}

/// A date as the agent says it, in the company's language ("Montag, 30. November").
fn spoken_date(company: &Company, day: chrono::NaiveDate) -> String {
    if company.is_german() {
        german_date(day)
    } else {
        day.format("%A, %B %-d").to_string()
    }
}

/// The routing decision as prompt variables: `is_vip`, `business_open`, `next_opening` (spoken;
/// empty while open), `transfer_available` and `transfer_number` (empty unless staffed now).
pub fn routing_variables(company: &Company, routing: &Routing) -> Map<String, Value> {
    let next = routing.next_opening.map(|t| {
        let (day, time) = (spoken_date(company, t.date_naive()), t.format("%H:%M"));
        if company.is_german() {
            format!("{day} um {time} Uhr")
        } else {
            format!("{day} at {time}")
        }
    });
    let mut vars = Map::new();
    let mut put = |k: &str, v: String| {
        vars.insert(k.to_owned(), Value::String(v));
    };
    put("is_vip", routing.vip.to_string());
    put("business_open", routing.open_now.to_string());
    put("next_opening", next.unwrap_or_default());
    put(
        "transfer_available",
        routing.transfer_number.is_some().to_string(),
    );
    put(
        "transfer_number",
        routing.transfer_number.clone().unwrap_or_default(),
    );
    vars
}

impl<S: SecretSource + Send + Sync> InboundCall<S> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let span = shared::event_span!("inbound");
        span.record("event", "call_inbound");
        shared::platform::telemetry::answered("inbound", "call-inbound", self.respond(request))
            .instrument(span)
            .await
    }

    async fn respond(&self, request: Request) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let body: &[u8] = body.as_ref();
        let payload: Option<Value> = serde_json::from_slice(body).ok();
        let inbound = payload.as_ref().and_then(Inbound::of);
        let text = |k: &str| inbound.as_ref().and_then(|i| i.text(k));
        let now = Utc::now();
        let to = text("to_number").and_then(|n| PhoneNumber::parse(n).ok());
        let claim = to
            .as_ref()
            .map(|n| CompanyKey::Number(n.as_str().to_owned()));
        let signature = parts
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok());
        let wrapper = inbound.as_ref().map_or(CALL, |i| i.kind);
        if let Some(i) = &inbound {
            tracing::Span::current().record("event", i.kind);
        }
        let authenticated = async {
            let header = SignatureHeader::from_request(signature)?;
            self.auth
                .authenticate(body, &header, claim.as_ref(), now.timestamp_millis())
                .await
        };
        let sender = match authenticated.await {
            Ok(sender) => sender,
            Err(AuthError::Signature(e)) => {
                tracing::warn!(
                    status = 401,
                    reason = e.reason(),
                    "inbound webhook rejected"
                );
                return json_response(401, &json!({"error": e.reason()}));
            }
            Err(error) if error.status() == 401 => {
                tracing::warn!(
                    status = 401,
                    reason = error.reason(),
                    "inbound webhook rejected"
                );
                return json_response(401, &json!({"error": error.reason()}));
            }
            Err(error) => {
                // Fail open: Retell connects the number's own agent.
                tracing::error!(reason = error.reason(), %error, "inbound webhook answered without settings");
                return json_response(200, &json!({ wrapper: {} }));
            }
        };
        let Some(inbound) = inbound else {
            tracing::warn!(
                status = 400,
                reason = "not_inbound",
                "inbound webhook rejected: neither call_inbound nor chat_inbound"
            );
            return json_response(400, &json!({"error": "not_inbound"}));
        };
        let Some(to) = to else {
            tracing::warn!(
                status = 400,
                reason = "missing_to_number",
                "inbound webhook rejected"
            );
            return json_response(400, &json!({"error": "missing_to_number"}));
        };
        let Some(company) = sender.company else {
            // Fail open: Retell connects the number's own agent.
            tracing::error!(to = %to.masked(), "no company for the called number");
            return json_response(200, &json!({ wrapper: {} }));
        };
        tracing::Span::current().record("company", company.id());
        let caller = inbound
            .text("from_number")
            .and_then(|n| PhoneNumber::parse(n).ok());
        let customer = match &caller {
            Some(phone) => self
                .ledger
                .customer(&company, phone)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "caller lookup failed; answering without the name");
                    CustomerRecord::default()
                }),
            None => CustomerRecord::default(),
        };
        // Only a name as names are written reaches the prompt (`PersonName`): a stored value
        // with braces or line breaks could carry instructions to the agent.
        let name = customer.name.as_deref().and_then(|n| {
            PersonName::parse(n)
                .map_err(
                    |e| tracing::warn!(error = %e, "stored customer name left out of the prompt"),
                )
                .ok()
        });
        let routing = route(&company, caller.as_ref(), customer.vip, now);
        let mut answer = Map::new();
        // Our agents are voice agents: an SMS chat keeps the number's own SMS agent. An agent
        // the number already routes to is not overridden, so the version it pins stays.
        if let (CALL, Some(agent)) = (inbound.kind, &routing.agent_id) {
            if inbound.text("agent_id") != Some(agent.as_str()) {
                answer.insert("override_agent_id".into(), Value::String(agent.clone()));
            }
        }
        let mut variables = dynamic_variables(&company, now, name.as_ref().map(|n| n.as_str()));
        variables.extend(routing_variables(&company, &routing));
        answer.insert("dynamic_variables".into(), Value::Object(variables));
        answer.insert("metadata".into(), json!({"company_id": company.id()}));
        tracing::info!(
            caller_known = name.is_some(),
            vip = routing.vip,
            open = routing.open_now,
            transfer_available = routing.transfer_number.is_some(),
            "inbound webhook answered"
        );
        json_response(200, &json!({ inbound.kind: answer }))
    }
}

/// Retell's wrapper of an inbound voice call.
const CALL: &str = "call_inbound";
/// Retell's wrapper of an inbound SMS (a number's `inbound_sms_webhook_url`).
const CHAT: &str = "chat_inbound";

/// The inbound request: a call (`call_inbound`) or an SMS chat (`chat_inbound`), each answered
/// under its own wrapper.
struct Inbound<'a> {
    kind: &'static str,
    fields: &'a Map<String, Value>,
}

impl<'a> Inbound<'a> {
    fn of(payload: &'a Value) -> Option<Self> {
        [CALL, CHAT].into_iter().find_map(|kind| {
            payload
                .get(kind)
                .and_then(Value::as_object)
                .map(|fields| Inbound { kind, fields })
        })
    }

    fn text(&self, key: &str) -> Option<&'a str> {
        self.fields.get(key).and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use shared::booking::company::CompanySettings;

    #[test]
    fn variables_are_in_the_companys_local_time() {
        let settings: CompanySettings =
            serde_json::from_str(include_str!("../../../infra/local/companies/demo.json"))
                .expect("demo.json");
        let company = Company::from_settings(settings).expect("valid");
        // 22:30 UTC on Sunday 30 March 2025 is already Monday 00:30 in Berlin (CEST).
        let now = Utc
            .with_ymd_and_hms(2025, 3, 30, 22, 30, 0)
            .single()
            .expect("valid");
        let vars = dynamic_variables(&company, now, Some("Frau Weber"));
        assert_eq!(vars["current_date"], json!("2025-03-31"));
        assert_eq!(vars["current_weekday"], json!("Montag"));
        assert_eq!(vars["current_time"], json!("00:30"));
        assert_eq!(vars["current_date_spoken"], json!("Montag, 31. März"));
        assert_eq!(vars["tomorrow_date"], json!("2025-04-01"));
        assert_eq!(vars["tomorrow_weekday"], json!("Dienstag"));
        assert_eq!(vars["customer_name"], json!("Frau Weber"));
        assert_eq!(
            vars["disclosure"],
            json!("Sie sprechen mit einem KI-Assistenten; das Gespräch wird aufgezeichnet.")
        );
        assert_eq!(vars["staff_names"], json!("Anna, Ben und Clara"));
        assert_eq!(vars["staff_today"], json!("Anna, Ben und Clara"));
        // Saturday 5 April 2025: Ben is off on Saturdays.
        let saturday = Utc
            .with_ymd_and_hms(2025, 4, 5, 9, 0, 0)
            .single()
            .expect("valid");
        let sat = dynamic_variables(&company, saturday, None);
        assert_eq!(sat["staff_today"], json!("Anna und Clara"));
        // Sunday: closed, nobody in.
        let sunday = Utc
            .with_ymd_and_hms(2025, 4, 6, 9, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(
            dynamic_variables(&company, sunday, None)["staff_today"],
            json!("")
        );
        let unknown = dynamic_variables(&company, now, None);
        assert_eq!(unknown["customer_known"], json!("false"));
        assert_eq!(unknown["customer_name"], json!(""));
        assert!(
            vars.values().all(Value::is_string),
            "Retell takes string variables only"
        );
    }

    #[test]
    fn routing_variables_say_closed_until_when_and_who_to_transfer_to() {
        let settings: CompanySettings =
            serde_json::from_str(include_str!("../../../infra/local/companies/demo.json"))
                .expect("demo.json");
        let company = Company::from_settings(settings).expect("valid");
        let tz = company.time_zone;
        let closed = Routing {
            agent_id: None,
            vip: true,
            transfer_number: None,
            open_now: false,
            next_opening: Some(
                tz.with_ymd_and_hms(2026, 12, 1, 9, 0, 0)
                    .single()
                    .expect("valid"),
            ),
        };
        let vars = routing_variables(&company, &closed);
        assert_eq!(vars["is_vip"], json!("true"));
        assert_eq!(vars["business_open"], json!("false"));
        assert_eq!(
            vars["next_opening"],
            json!("Dienstag, 1. Dezember um 09:00 Uhr")
        );
        assert_eq!(vars["transfer_available"], json!("false"));
        assert_eq!(vars["transfer_number"], json!(""));
        let open = Routing {
            open_now: true,
            next_opening: None,
            transfer_number: Some("+493099999999".into()),
            ..closed
        };
        let vars = routing_variables(&company, &open);
        assert_eq!(vars["next_opening"], json!(""));
        assert_eq!(vars["transfer_number"], json!("+493099999999"));
        assert!(vars.values().all(Value::is_string));
    }
}
