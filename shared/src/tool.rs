//! Retell custom functions ("tools" the agent calls mid-conversation): the request format, the
//! signature check, company resolution, and the reply rules, in one place. A function crate
//! implements [`Tool`] and nothing else (docs/custom-functions.md).
//!
//! Replies are always HTTP 200 JSON with a short `message` the agent can speak, in the company's
//! language: bad or impossible arguments are `success: false` with a message that helps the
//! agent ask again. Only a missing or wrong signature (401) and a body that is not JSON (400)
//! are HTTP errors.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};
use tracing::Instrument;

use crate::calendar::{Calendar, Calendars, CompanyCalendar};
use crate::company::{Company, CompanyDirectory, CompanyKey, Service};
pub use crate::http::json_response;
use crate::keys::{KeyHint, KeyProvider, SecretSource, VerifyError};
use crate::phone::{mask_phone, PhoneNumber};
use crate::signature::SignatureHeader;
use crate::spoken::{parse_date, parse_time};

/// Retell's cap on a function result.
pub const MAX_REPLY_CHARS: usize = 15_000;

/// A tool answers within this, whatever its calendar does: the caller hears the spoken
/// fallback instead of silence (API Gateway and Lambda add well under the remaining 0.5 s).
pub const REPLY_DEADLINE: std::time::Duration = std::time::Duration::from_millis(2500);

/// What Retell needs to offer a tool to the LLM: generated from code, so the definition in the
/// Retell dashboard and the implementation cannot drift apart (`<binary> --tool-definition`).
#[derive(Debug, Clone)]
pub struct ToolDefinition {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: Value,
}

impl ToolDefinition {
    /// The HTTP route of the tool (template.yaml must have it).
    pub fn path(&self) -> String {
        format!("/api/retell/functions/{}", self.name)
    }

    /// Retell's custom-function definition, with `url` filled in from the deployed base URL.
    pub fn retell_json(&self, base_url: &str) -> Value {
        json!({
            "type": "custom",
            "name": self.name,
            "description": self.description,
            "url": format!("{}{}", base_url.trim_end_matches('/'), self.path()),
            "speak_during_execution": false,
            "speak_after_execution": true,
            "parameters": self.parameters,
        })
    }
}

/// The call the tool runs in, as Retell sends it (absent for "args only" requests).
#[derive(Debug, Clone, Default)]
pub struct CallInfo {
    pub call_id: Option<String>,
    pub agent_id: Option<String>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
}

pub struct ToolContext<'a> {
    pub company: &'a Company,
    pub calendar: &'a CompanyCalendar,
    pub call: &'a CallInfo,
    pub now: DateTime<Utc>,
}

impl ToolContext<'_> {
    /// German or English, by the company's language.
    pub fn say(&self, de: impl Into<String>, en: impl Into<String>) -> String {
        if self.company.is_german() {
            de.into()
        } else {
            en.into()
        }
    }

    pub fn today(&self) -> NaiveDate {
        self.now.with_timezone(&self.company.time_zone).date_naive()
    }

    /// A reply the agent reads out when the call cannot go on as asked.
    pub fn refuse(&self, de: impl Into<String>, en: impl Into<String>) -> Value {
        json!({"success": false, "message": self.say(de, en)})
    }

    /// The spoken fallback when a dependency is down: never silence, never a 5xx.
    pub fn unavailable(&self, error: &dyn std::fmt::Display) -> Value {
        tracing::error!(%error, "calendar unavailable");
        self.refuse(
            "Ich kann gerade nicht auf den Kalender zugreifen. Darf ich Ihre Nummer notieren, damit wir Sie zurückrufen?",
            "I cannot reach the calendar right now. May I take your number so we can call you back?",
        )
    }

    pub fn date(&self, args: &Args, name: &str) -> Result<NaiveDate, Value> {
        let raw = args.text(name).ok_or_else(|| {
            self.refuse(
                "Für welchen Tag möchten Sie den Termin?",
                "For which day would you like the appointment?",
            )
        })?;
        let date = parse_date(raw, self.today()).map_err(|_| {
            self.refuse(
                format!("Ich habe das Datum „{raw}“ nicht verstanden. Welcher Tag wäre es, zum Beispiel „morgen“ oder „15. Januar“?"),
                format!("I did not understand the date \"{raw}\". Which day, for example \"tomorrow\" or \"January 15\"?"),
            )
        })?;
        if date < self.today() {
            return Err(self.refuse(
                format!(
                    "Der {} liegt in der Vergangenheit. Welcher Tag ab heute passt Ihnen?",
                    german_date(date)
                ),
                format!("{date} is in the past. Which day from today works for you?"),
            ));
        }
        Ok(date)
    }

    /// A time on `date`, read within business hours (so "halb drei" at a salon is 14:30).
    pub fn time(&self, args: &Args, name: &str, date: NaiveDate) -> Result<NaiveTime, Value> {
        let raw = args.text(name).ok_or_else(|| {
            self.refuse(
                "Um welche Uhrzeit hätten Sie gern den Termin?",
                "At what time would you like the appointment?",
            )
        })?;
        let weekday = chrono::Datelike::weekday(&date).num_days_from_monday() as usize;
        let hours = &self.company.schedule.weekly[weekday];
        parse_time(raw, |t| hours.iter().any(|iv| t >= iv.start && t < iv.end)).map_err(|_| {
            self.refuse(
                format!("Ich habe die Uhrzeit „{raw}“ nicht verstanden. Um wie viel Uhr, zum Beispiel „14 Uhr“?"),
                format!("I did not understand the time \"{raw}\". At what time, for example \"2 pm\"?"),
            )
        })
    }

    pub fn service(&self, args: &Args, name: &str) -> Result<&Service, Value> {
        let offered = || {
            self.company
                .settings
                .services
                .iter()
                .map(|s| s.display_name().to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(raw) = args.text(name) else {
            return Err(self.refuse(
                format!("Welche Leistung möchten Sie? Wir bieten: {}.", offered()),
                format!("Which service would you like? We offer: {}.", offered()),
            ));
        };
        self.company.service(raw).ok_or_else(|| {
            self.refuse(
                format!(
                    "„{raw}“ bieten wir leider nicht an. Möglich sind: {}.",
                    offered()
                ),
                format!("We do not offer \"{raw}\". Available: {}.", offered()),
            )
        })
    }

    /// The customer's phone: the argument if given, else the number the caller rang from.
    pub fn phone(&self, args: &Args, name: &str) -> Result<PhoneNumber, Value> {
        let raw = args
            .text(name)
            .or(self.call.from_number.as_deref())
            .ok_or_else(|| {
                self.refuse(
                    "Unter welcher Telefonnummer sind Sie erreichbar?",
                    "Which phone number can we reach you at?",
                )
            })?;
        PhoneNumber::parse(raw).map_err(|_| {
            self.refuse(
                "Die Telefonnummer habe ich nicht richtig verstanden. Können Sie sie bitte noch einmal Ziffer für Ziffer nennen?",
                "I did not get the phone number. Could you repeat it digit by digit?",
            )
        })
    }
}

impl ToolContext<'_> {
    /// Free slots on `date` and on the following days (up to `days` days in all), from one
    /// calendar read: the day itself first, then the next days that have room.
    pub async fn free_slots(
        &self,
        service: &Service,
        date: NaiveDate,
        days: u32,
    ) -> Result<Vec<crate::calendar::DaySlots>, crate::calendar::CalendarError> {
        self.calendar
            .free_slots(self.company, service, date, days, self.now)
            .await
    }
}

impl ToolContext<'_> {
    /// The caller's own booked, upcoming appointment named by `appointment_id` or `date` (or
    /// their only one). Ownership is by phone: another customer's appointment is "not found".
    pub async fn own_appointment(
        &self,
        args: &Args,
    ) -> Result<crate::calendar::Appointment, Value> {
        let phone = self.phone(args, "phone")?;
        let not_found = || {
            self.refuse(
                "Ich finde zu Ihrer Telefonnummer keinen passenden Termin. Unter welcher Nummer haben Sie gebucht?",
                "I cannot find a matching appointment for your phone number. Which number did you book with?",
            )
        };
        if let Some(id) = args.text("appointment_id") {
            return match self.calendar.appointment(self.company, id).await {
                Ok(Some(a)) if a.customer_phone == phone.as_str() && a.status == "booked" => Ok(a),
                Ok(_) => Err(not_found()),
                Err(e) => Err(self.unavailable(&e)),
            };
        }
        let date = match args.text("date") {
            Some(_) => Some(self.date(args, "date")?),
            None => None,
        };
        let all = self
            .calendar
            .customer_appointments(self.company, &phone)
            .await
            .map_err(|e| self.unavailable(&e))?;
        let mut matching: Vec<_> = all
            .into_iter()
            .filter(|a| {
                a.status == "booked" && a.start >= self.now && date.is_none_or(|d| a.date == d)
            })
            .collect();
        match matching.len() {
            0 => Err(not_found()),
            1 => Ok(matching.remove(0)),
            _ => {
                let list: Vec<String> = matching
                    .iter()
                    .map(|a| {
                        self.say(
                            format!("{} um {} Uhr", german_date(a.date), hhmm(a.time)),
                            format!("{} at {}", a.date, hhmm(a.time)),
                        )
                    })
                    .collect();
                Err(json!({"success": false,
                    "appointments": matching.iter().map(|a| json!({"appointment_id": a.appointment_id, "date": a.date.to_string(), "time": hhmm(a.time), "service_id": a.service_id})).collect::<Vec<_>>(),
                    "message": self.say(format!("Sie haben mehrere Termine: {}. Welchen meinen Sie?", list.join(", ")),
                                        format!("You have several appointments: {}. Which one do you mean?", list.join(", ")))}))
            }
        }
    }
}

/// "HH:MM" for replies.
pub fn hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

/// "15. Januar" style date for German messages.
pub fn german_date(date: NaiveDate) -> String {
    const MONTHS: [&str; 12] = [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ];
    const DAYS: [&str; 7] = [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ];
    use chrono::Datelike;
    format!(
        "{}, {}. {}",
        DAYS[date.weekday().num_days_from_monday() as usize],
        date.day(),
        MONTHS[date.month0() as usize]
    )
}

/// A tool's arguments.
#[derive(Debug, Clone, Default)]
pub struct Args(pub Map<String, Value>);

impl Args {
    /// A non-empty string argument (numbers are accepted as their text).
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.0.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim()),
            _ => None,
        }
    }

    pub fn number(&self, name: &str) -> Option<f64> {
        match self.0.get(name) {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

pub trait Tool: Send + Sync + 'static {
    /// The function name the agent calls (snake_case), also the last segment of its route.
    const NAME: &'static str;

    fn definition(&self) -> ToolDefinition;

    /// The reply; `message` is what the agent says.
    fn run(&self, ctx: &ToolContext<'_>, args: &Args) -> impl Future<Output = Value> + Send;
}

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
    pub keys: KeyProvider<S>,
    pub companies: CompanyDirectory,
    pub calendars: Calendars,
}

impl<T: Tool, S: SecretSource + Send + Sync> ToolService<T, S> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let span = crate::event_span!("tool");
        span.record("event", T::NAME);
        self.respond(request).instrument(span).await
    }

    async fn respond(&self, request: Request) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let body: &[u8] = body.as_ref();
        let span = tracing::Span::current();
        let parsed = parse_request(body);
        let query = parts.uri.query().unwrap_or_default();
        // Who the request claims to be picks the key; the signature has to prove it.
        let key = parsed
            .as_ref()
            .ok()
            .and_then(|(_, call)| company_key(call, &parts.headers, query));
        let hint = match &key {
            Some(CompanyKey::Agent(agent)) => KeyHint::agent(Some(agent)),
            Some(CompanyKey::Id(company)) => KeyHint::company(company),
            _ => KeyHint::default(),
        };
        let now = Utc::now();
        if let Err(rejection) = verify_request(&self.keys, &parts.headers, body, hint, now).await {
            return rejection;
        }
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
        let company = match key {
            Some(key) => self.companies.find(&key).await.map_err(|e| e.to_string()),
            None => Err("no agent_id, to_number or company given".to_owned()),
        };
        let company: Arc<Company> = match company {
            Ok(c) => c,
            Err(error) => {
                tracing::error!(%error, "company not resolved");
                return json_response(
                    200,
                    &json!({"success": false, "message": "Entschuldigung, hier liegt ein technisches Problem vor. Bitte rufen Sie später noch einmal an."}),
                );
            }
        };
        span.record("company", company.id());
        let calendar = self.calendars.for_company(&company);
        let ctx = ToolContext {
            company: &company,
            calendar: &calendar,
            call: &call,
            now,
        };
        let reply = match tokio::time::timeout(REPLY_DEADLINE, self.tool.run(&ctx, &args)).await {
            Ok(reply) => cap_reply(reply),
            Err(_) => ctx.unavailable(&"no answer within the reply deadline"),
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

/// Checks `x-retell-signature` like the webhook does; the rejection is the response to send
/// (401, or 503 if the keys cannot be read), already logged with its reason.
pub async fn verify_request<S: SecretSource>(
    keys: &KeyProvider<S>,
    headers: &lambda_http::http::HeaderMap,
    body: &[u8],
    hint: KeyHint<'_>,
    now: DateTime<Utc>,
) -> Result<(), Response<Body>> {
    let reject = |reason: &'static str| {
        tracing::warn!(status = 401, reason, "request rejected");
        json_response(401, &json!({"error": reason}))
    };
    let Some(header) = headers
        .get("x-retell-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(reject("signature_missing"));
    };
    let header = SignatureHeader::parse(header).map_err(|e| reject(e.reason()))?;
    match keys
        .verify(body, &header, hint, now.timestamp_millis())
        .await
    {
        Ok(_) => Ok(()),
        Err(VerifyError::Signature(e)) => Err(reject(e.reason())),
        Err(VerifyError::Keys(e)) => {
            tracing::error!(status = 503, reason = "keys_unavailable", error = %e, "request failed");
            Err(json_response(503, &json!({"error": "keys_unavailable"})))
        }
    }
}

/// Which company a call belongs to: the agent, else the called number, else (args-only calls)
/// `x-company-id` / `?company_id=` or `x-agent-id` / `?agent_id=`.
pub fn company_key(
    call: &CallInfo,
    headers: &lambda_http::http::HeaderMap,
    query: &str,
) -> Option<CompanyKey> {
    if let Some(agent) = &call.agent_id {
        return Some(CompanyKey::Agent(agent.clone()));
    }
    if let Some(number) = call
        .to_number
        .as_deref()
        .and_then(|n| PhoneNumber::parse(n).ok())
    {
        return Some(CompanyKey::Number(number.as_str().to_owned()));
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
        return Some(CompanyKey::Id(id));
    }
    header("x-agent-id")
        .or_else(|| param("agent_id"))
        .map(CompanyKey::Agent)
}

/// A tool Lambda: clients built once, then the runtime loop. `--tool-definition` prints the
/// Retell definition instead (`make tools`).
pub async fn run_lambda<T: Tool>(tool: T) -> Result<(), lambda_http::Error> {
    use crate::config::Env;
    if std::env::args().any(|a| a == "--tool-definition") {
        let base = std::env::var("API_BASE_URL").unwrap_or_else(|_| "https://YOUR-API".into());
        println!(
            "{}",
            serde_json::to_string_pretty(&tool.definition().retell_json(&base))?
        );
        return Ok(());
    }
    crate::telemetry::init();
    let env = Env::from_process();
    let aws = crate::aws::AwsClients::from_env().await;
    let service = Arc::new(ToolService {
        tool,
        keys: KeyProvider::new(
            crate::keys::SecretsManagerSource::new(
                aws.secrets.clone(),
                env.required("RETELL_SECRET_ID")?,
            ),
            env.optional("DEFAULT_COMPANY_ID")
                .unwrap_or_else(|| "default".into()),
            crate::keys::DEFAULT_REFRESH_INTERVAL,
        ),
        companies: CompanyDirectory::new(
            aws.dynamodb.clone(),
            env.required("COMPANIES_TABLE")?,
            crate::company::COMPANY_CACHE_TTL,
        ),
        calendars: Calendars::new(
            crate::calendar::NativeCalendar::new(
                aws.dynamodb.clone(),
                env.required("APPOINTMENTS_TABLE")?,
            ),
            aws.secrets.clone(),
        ),
    });
    lambda_http::run(lambda_http::service_fn(move |request: Request| {
        let service = service.clone();
        async move { Ok::<_, lambda_http::Error>(service.handle(request).await) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_with_and_without_the_envelope() {
        let (args, call) = parse_request(
            br#"{"name":"check_availability","args":{"date":"morgen"},"call":{"call_id":"c1","agent_id":"agent_demo","from_number":"+4917611112222"}}"#,
        )
        .expect("valid");
        assert_eq!(args.text("date"), Some("morgen"));
        assert_eq!(call.agent_id.as_deref(), Some("agent_demo"));
        let (args, call) =
            parse_request(br#"{"date":"morgen","service_id":"haircut"}"#).expect("valid");
        assert_eq!(args.text("service_id"), Some("haircut"));
        assert!(call.call_id.is_none());
        assert!(parse_request(b"[1]").is_err());
    }

    #[test]
    fn company_from_agent_number_header_or_query() {
        let headers = lambda_http::http::HeaderMap::new();
        let call = CallInfo {
            agent_id: Some("agent_demo".into()),
            to_number: Some("+493012345678".into()),
            ..CallInfo::default()
        };
        assert_eq!(
            company_key(&call, &headers, ""),
            Some(CompanyKey::Agent("agent_demo".into()))
        );
        let call = CallInfo {
            to_number: Some("030 12345678".into()),
            ..CallInfo::default()
        };
        assert_eq!(
            company_key(&call, &headers, ""),
            Some(CompanyKey::Number("+493012345678".into()))
        );
        assert_eq!(
            company_key(&CallInfo::default(), &headers, "company_id=demo"),
            Some(CompanyKey::Id("demo".into()))
        );
        let mut headers = lambda_http::http::HeaderMap::new();
        headers.insert(
            "x-agent-id",
            lambda_http::http::HeaderValue::from_static("agent_x"),
        );
        assert_eq!(
            company_key(&CallInfo::default(), &headers, ""),
            Some(CompanyKey::Agent("agent_x".into()))
        );
        assert_eq!(
            company_key(
                &CallInfo::default(),
                &lambda_http::http::HeaderMap::new(),
                ""
            ),
            None
        );
    }

    #[test]
    fn replies_are_capped() {
        let slots: Vec<String> = (0..5000)
            .map(|i| format!("{:02}:{:02}", i % 24, i % 60))
            .collect();
        let reply = cap_reply(json!({"available": true, "slots": slots, "message": "ok"}));
        assert!(reply.to_string().chars().count() <= MAX_REPLY_CHARS);
        assert!(!reply["slots"].as_array().map(Vec::is_empty).unwrap_or(true));
    }

    #[test]
    fn german_dates_read_naturally() {
        let d = NaiveDate::from_ymd_opt(2025, 1, 14).unwrap_or_default();
        assert_eq!(german_date(d), "Dienstag, 14. Januar");
    }
}
