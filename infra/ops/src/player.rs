//! Plays Retell's side of a whole call against a stack, straight to its URLs: the signed
//! inbound-call webhook, the call webhooks and the agent's tool calls.

use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Utc, Weekday};
use chrono_tz::Tz;
use serde_json::{json, Value};

use shared::retell::EventKind;

use crate::target::Stack;

/// The scenarios of the seed's `retell:simulate-call`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallKind {
    /// An inbound caller books an appointment (check_availability, then book_appointment).
    Appointment,
    /// An inbound caller asks about opening hours and themselves (get_customer_info), books nothing.
    Question,
    /// An outbound call nobody answers: never connected, no transcript.
    NoAnswer,
    /// An outbound call a voicemail answers: the agent leaves a message.
    Voicemail,
}

impl CallKind {
    pub fn inbound(self) -> bool {
        matches!(self, CallKind::Appointment | CallKind::Question)
    }

    pub fn connected(self) -> bool {
        !matches!(self, CallKind::NoAnswer)
    }

    /// The webhook events Retell sends for such a call, in order.
    pub fn events(self) -> &'static [EventKind] {
        if self.connected() {
            &EventKind::ALL
        } else {
            &[EventKind::CallEnded, EventKind::CallAnalyzed]
        }
    }
}

/// Who calls whom: the company's agent and number, and the customer.
#[derive(Debug, Clone)]
pub struct Line {
    pub agent_id: String,
    pub company_number: String,
    pub customer: String,
    pub customer_name: String,
    /// A service as a caller names it (the company's first).
    pub service: String,
    pub time_zone: Tz,
    /// The appointment the caller asks for (`simulate-call --at`, in the company's zone):
    /// that time is booked, not the first free slot.
    pub wants_at: Option<chrono::NaiveDateTime>,
    /// The person the caller asks for by name (`--staff`).
    pub wants_staff: Option<String>,
}

/// One request the player sent and what came of it.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// `call_inbound`, `webhook call_started`, `tool book_appointment`, …
    pub endpoint: String,
    /// HTTP status, or why there was none (`timeout`, `connect`, …).
    pub status: Result<u16, String>,
    pub latency: Duration,
}

impl Attempt {
    pub fn ok(&self) -> bool {
        matches!(self.status, Ok(s) if (200..300).contains(&s))
    }
}

/// A tool call of the conversation and the stack's answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ToolExchange {
    pub name: String,
    pub args: Value,
    /// HTTP status (None: no answer).
    pub status: Option<u16>,
    /// The answer as JSON (None: none, or not JSON).
    pub reply: Option<Value>,
}

/// What playing one call did.
#[derive(Debug, Clone)]
pub struct PlayedCall {
    pub call_id: String,
    pub kind: CallKind,
    pub agent_id: String,
    pub start_ms: i64,
    pub attempts: Vec<Attempt>,
    pub tools: Vec<ToolExchange>,
    /// Events some delivery of which the stack answered 2xx.
    pub delivered: Vec<EventKind>,
    /// Events every delivery (and Retell's 3 retries) of which failed.
    pub undelivered: Vec<EventKind>,
    /// The appointment book_appointment said it booked.
    pub booked: Option<String>,
    /// The call as the last webhook carried it.
    pub call: Value,
}

/// Retell's own timeouts: 10 s for a webhook, the tool's `timeout_ms` (ours: 8 s) for a tool.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
const TOOL_TIMEOUT: Duration = Duration::from_millis(shared::tools::TOOL_TIMEOUT_MS);
/// Retell retries a webhook 3 times after a failed attempt.
const WEBHOOK_RETRIES: usize = 3;

/// Sends a call as Retell does: the same bodies, the `x-retell-signature` of the stack's key,
/// Retell's retries on a non-2xx webhook answer. It needs no phone and no Retell account, so
/// `simulate-call` and `load-test` run the same code against the local stack and a deployed one.
pub struct Player {
    http: reqwest::Client,
    key: String,
    stack: Stack,
    /// Pause between a failed webhook attempt and its retry.
    pub retry_delay: Duration,
}

impl Player {
    pub fn new(stack: &Stack, key: &str) -> Result<Self, String> {
        let http = shared::platform::http::client_builder()
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            key: key.to_owned(),
            stack: stack.clone(),
            retry_delay: Duration::from_secs(1),
        })
    }

    /// Plays a whole call. `duplicate`: every webhook is delivered a second time after it was
    /// answered, as Retell does when an answer reaches it too late. `day_offset`: how many days
    /// ahead an appointment caller asks for (at least 2).
    pub async fn play(
        &self,
        kind: CallKind,
        line: &Line,
        duplicate: bool,
        day_offset: u32,
    ) -> PlayedCall {
        let now = Utc::now();
        let call_id = format!("call_sim{}", random_hex(24));
        let (from, to, direction) = if kind.inbound() {
            (&line.customer, &line.company_number, "inbound")
        } else {
            (&line.company_number, &line.customer, "outbound")
        };
        let mut played = PlayedCall {
            call_id: call_id.clone(),
            kind,
            agent_id: line.agent_id.clone(),
            start_ms: now.timestamp_millis(),
            attempts: Vec::new(),
            tools: Vec::new(),
            delivered: Vec::new(),
            undelivered: Vec::new(),
            booked: None,
            call: Value::Null,
        };
        let mut variables = json!({});
        if kind.inbound() {
            // Retell asks the number's inbound webhook which agent takes the call; its answer
            // may name another agent and give the prompt its dynamic variables.
            let body = json!({"event": "call_inbound", "call_inbound": {
                "agent_id": line.agent_id, "from_number": from, "to_number": to}});
            let url = self.stack.inbound_url.clone();
            let (status, reply) = self
                .send(&mut played, "call_inbound", &url, &body, WEBHOOK_TIMEOUT)
                .await;
            if let (Some(200..=299), Some(answer)) = (status, reply) {
                let answer = answer.get("call_inbound").cloned().unwrap_or(Value::Null);
                if let Some(agent) = answer.get("override_agent_id").and_then(Value::as_str) {
                    played.agent_id = agent.to_owned();
                }
                if let Some(v) = answer.get("dynamic_variables").filter(|v| v.is_object()) {
                    variables = v.clone();
                }
            }
        }
        let mut call = json!({
            "call_id": call_id, "call_type": "phone_call", "agent_id": played.agent_id,
            "agent_version": 0, "direction": direction, "from_number": from, "to_number": to,
            "call_status": "ongoing", "start_timestamp": played.start_ms,
            "retell_llm_dynamic_variables": variables,
            "metadata": {"simulated_by": "retell-ops"},
        });
        let mut conversation = Conversation::default();
        if kind.connected() {
            self.webhook(&mut played, EventKind::CallStarted, &call, duplicate)
                .await;
            self.converse(&mut played, &mut call, &mut conversation, line, day_offset)
                .await;
        }
        let duration_ms = if kind.connected() {
            conversation.clock_ms + 1_500
        } else {
            0
        };
        let ended = call.as_object_mut().map(|c| {
            let (status, reason) = match kind {
                CallKind::NoAnswer => ("not_connected", "dial_no_answer"),
                CallKind::Voicemail => ("ended", "voicemail_reached"),
                _ => ("ended", "user_hangup"),
            };
            c.insert("call_status".into(), json!(status));
            c.insert("disconnection_reason".into(), json!(reason));
            c.insert("end_timestamp".into(), json!(played.start_ms + duration_ms));
            c.insert("duration_ms".into(), json!(duration_ms));
            conversation.write_into(c);
            if kind.connected() {
                c.insert("call_cost".into(), call_cost(duration_ms));
                c.insert("latency".into(), latency(&call_id));
            }
        });
        debug_assert!(ended.is_some());
        self.webhook(&mut played, EventKind::CallEnded, &call, duplicate)
            .await;
        let analysis = match kind {
            // As the default templates' post_call_analysis_data fills it (the funnel).
            CallKind::Appointment => json!({
            "call_summary": format!("Der Anrufer hat einen Termin für {} angefragt; der Agent hat die Verfügbarkeit geprüft und {}.",
                line.service, if played.booked.is_some() { "den Termin gebucht" } else { "keinen Termin gebucht" }),
            "user_sentiment": "Positive", "call_successful": played.booked.is_some(), "in_voicemail": false,
            "custom_analysis_data": if played.booked.is_some() {
                json!({"wanted_appointment": true, "no_booking_reason": "none", "lost_at_quote": ""})
            } else {
                json!({"wanted_appointment": true, "no_booking_reason": "no_suitable_time",
                       "lost_at_quote": conversation.last_agent_line()})
            }}),
            CallKind::Question => json!({
                "call_summary": "Der Anrufer hat nach den Öffnungszeiten gefragt.",
                "user_sentiment": "Neutral", "call_successful": true, "in_voicemail": false,
                "custom_analysis_data": {"wanted_appointment": false, "no_booking_reason": "none", "lost_at_quote": ""}}),
            CallKind::NoAnswer => json!({
                "call_summary": "Niemand hat abgenommen.", "user_sentiment": "Unknown",
                "call_successful": false, "in_voicemail": false, "custom_analysis_data": {}}),
            CallKind::Voicemail => json!({
                "call_summary": "Die Mailbox hat abgenommen; der Agent hat eine Nachricht hinterlassen.",
                "user_sentiment": "Neutral", "call_successful": false, "in_voicemail": true,
                "custom_analysis_data": {}}),
        };
        if let Some(c) = call.as_object_mut() {
            c.insert("call_analysis".into(), analysis);
        }
        self.webhook(&mut played, EventKind::CallAnalyzed, &call, duplicate)
            .await;
        played.call = call;
        played
    }

    /// The conversation of a connected call, tool calls included.
    async fn converse(
        &self,
        played: &mut PlayedCall,
        call: &mut Value,
        conversation: &mut Conversation,
        line: &Line,
        day_offset: u32,
    ) {
        let german_greeting = "Salon, guten Tag! Wie kann ich Ihnen helfen?";
        match played.kind {
            CallKind::Appointment => {
                conversation.say("agent", german_greeting);
                let mut day = match line.wants_at {
                    Some(at) => at.date(),
                    None => booking_day(Utc::now(), line.time_zone, day_offset.max(2)),
                };
                conversation.say(
                    "user",
                    &format!(
                        "Hallo, ich hätte gern einen Termin für {} am {}.",
                        line.service,
                        day.format("%d.%m.%Y")
                    ),
                );
                let mut args = json!({"service_id": line.service, "date": day.to_string()});
                if let Some(staff) = &line.wants_staff {
                    args["staff"] = json!(staff);
                }
                let reply = self
                    .tool(played, call, conversation, "check_availability", args)
                    .await;
                // The time asked for is booked as asked (the booking says if it is taken).
                let asked = line
                    .wants_at
                    .map(|at| (at.date(), at.format("%H:%M").to_string()));
                let Some((date, slot)) = asked.or_else(|| reply.as_ref().and_then(first_slot))
                else {
                    conversation.say("user", "Schade, dann melde ich mich noch einmal.");
                    return;
                };
                day = date;
                conversation.say(
                    "user",
                    &format!(
                        "Um {slot} Uhr passt es mir gut. Mein Name ist {}.",
                        line.customer_name
                    ),
                );
                let mut args = json!({"service_id": line.service, "date": day.to_string(),
                                  "time": slot, "customer_name": line.customer_name});
                if let Some(staff) = &line.wants_staff {
                    args["staff"] = json!(staff);
                }
                let reply = self
                    .tool(played, call, conversation, "book_appointment", args)
                    .await;
                played.booked = reply
                    .filter(|r| r.get("success").and_then(Value::as_bool) == Some(true))
                    .and_then(|r| r.get("appointment_id")?.as_str().map(str::to_owned));
                conversation.say("user", "Super, vielen Dank. Tschüss!");
                conversation.say("agent", "Gern geschehen, bis bald und auf Wiederhören!");
            }
            CallKind::Question => {
                conversation.say("agent", german_greeting);
                conversation.say(
                    "user",
                    "Hallo, wie lange haben Sie heute geöffnet? Und haben Sie meine Nummer schon?",
                );
                self.tool(played, call, conversation, "get_customer_info", json!({}))
                    .await;
                conversation.say("user", "Danke, das war alles. Tschüss!");
                conversation.say("agent", "Gern geschehen, auf Wiederhören!");
            }
            CallKind::Voicemail => {
                conversation.say(
                    "user",
                    "Hallo, hier ist die Mailbox. Bitte hinterlassen Sie eine Nachricht nach dem Ton.",
                );
                conversation.say(
                    "agent",
                    "Guten Tag, hier ist der Salon. Bitte rufen Sie uns zurück, um Ihren Termin zu bestätigen. Vielen Dank!",
                );
            }
            CallKind::NoAnswer => {}
        }
    }

    /// The customer as the stack's calendar knows them now (`get_customer_info` for the line's
    /// customer, in the envelope of `played`): how a booking is read back through the stack.
    pub async fn customer_info(&self, played: &PlayedCall, line: &Line) -> Option<Value> {
        let mut scratch = played.clone();
        let body = json!({"name": "get_customer_info", "args": {"phone": line.customer}, "call": played.call});
        let url = self.stack.tool_url("get_customer_info");
        let (status, reply) = self
            .send(
                &mut scratch,
                "tool get_customer_info",
                &url,
                &body,
                TOOL_TIMEOUT,
            )
            .await;
        reply.filter(|_| status == Some(200))
    }

    /// A tool call as Retell makes it: `{name, args, call}` signed, the call as it stands.
    async fn tool(
        &self,
        played: &mut PlayedCall,
        call: &mut Value,
        conversation: &mut Conversation,
        name: &str,
        args: Value,
    ) -> Option<Value> {
        let tool_call_id = random_hex(16);
        conversation.invoke(&tool_call_id, name, &args);
        if let Some(c) = call.as_object_mut() {
            conversation.write_into(c);
        }
        let body = json!({"name": name, "args": args, "call": call});
        let url = self.stack.tool_url(name);
        let (status, reply) = self
            .send(played, &format!("tool {name}"), &url, &body, TOOL_TIMEOUT)
            .await;
        let ok = matches!(status, Some(200..=299));
        conversation.result(&tool_call_id, reply.as_ref(), ok);
        played.tools.push(ToolExchange {
            name: name.to_owned(),
            args,
            status,
            reply: reply.clone(),
        });
        reply.filter(|_| ok)
    }

    /// A call webhook, retried as Retell retries it; `duplicate` sends it once more after.
    async fn webhook(
        &self,
        played: &mut PlayedCall,
        event: EventKind,
        call: &Value,
        duplicate: bool,
    ) {
        let body = json!({"event": event.as_str(), "call": call});
        let endpoint = format!("webhook {event}");
        let url = self.stack.webhook_url.clone();
        let mut delivered = false;
        for attempt in 0..=WEBHOOK_RETRIES {
            if attempt > 0 {
                tokio::time::sleep(self.retry_delay).await;
            }
            let (status, _) = self
                .send(played, &endpoint, &url, &body, WEBHOOK_TIMEOUT)
                .await;
            if matches!(status, Some(200..=299)) {
                delivered = true;
                break;
            }
        }
        if delivered && duplicate {
            self.send(played, &endpoint, &url, &body, WEBHOOK_TIMEOUT)
                .await;
        }
        if delivered {
            played.delivered.push(event);
        } else {
            played.undelivered.push(event);
        }
    }

    /// One signed POST; the attempt is recorded. The answer's status and JSON body.
    async fn send(
        &self,
        played: &mut PlayedCall,
        endpoint: &str,
        url: &str,
        body: &Value,
        timeout: Duration,
    ) -> (Option<u16>, Option<Value>) {
        let raw = body.to_string();
        let signature =
            wire::signature::sign(raw.as_bytes(), &self.key, Utc::now().timestamp_millis());
        let started = Instant::now();
        let answer = self
            .http
            .post(url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .header(shared::retell::auth::SIGNATURE_HEADER, signature)
            .body(raw)
            .send()
            .await;
        let (status, reply) = match answer {
            Ok(r) => {
                let status = r.status().as_u16();
                let reply = r
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
                (Ok(status), reply)
            }
            Err(e) if e.is_timeout() => (Err("timeout".to_owned()), None),
            Err(e) if e.is_connect() => (Err("connect".to_owned()), None),
            Err(_) => (Err("error".to_owned()), None),
        };
        played.attempts.push(Attempt {
            endpoint: endpoint.to_owned(),
            status: status.clone(),
            latency: started.elapsed(),
        });
        (status.ok(), reply)
    }
}

/// The transcript as Retell builds it: utterances with word timings, and the same with the tool
/// calls and their results between them.
#[derive(Default)]
struct Conversation {
    utterances: Vec<Value>,
    with_tools: Vec<Value>,
    clock_ms: i64,
}

impl Conversation {
    fn say(&mut self, role: &str, text: &str) {
        let mut words = Vec::new();
        for word in text.split_whitespace() {
            let start = self.clock_ms as f64 / 1000.0;
            words.push(json!({"word": word, "start": start, "end": start + 0.28}));
            self.clock_ms += 320;
        }
        self.clock_ms += 600;
        let utterance = json!({"role": role, "content": text, "words": words});
        self.utterances.push(utterance.clone());
        self.with_tools.push(utterance);
    }

    fn invoke(&mut self, tool_call_id: &str, name: &str, args: &Value) {
        self.with_tools.push(
            json!({"role": "tool_call_invocation", "tool_call_id": tool_call_id,
                                    "name": name, "arguments": args.to_string(), "type": "custom"}),
        );
    }

    fn result(&mut self, tool_call_id: &str, reply: Option<&Value>, ok: bool) {
        let content = reply.map(Value::to_string).unwrap_or_default();
        self.with_tools.push(
            json!({"role": "tool_call_result", "tool_call_id": tool_call_id,
                                    "content": content, "successful": ok}),
        );
        self.clock_ms += 1_200;
        // The agent reads the answer out.
        if let Some(message) = reply.and_then(|r| r.get("message")).and_then(Value::as_str) {
            let message = message.to_owned();
            self.say("agent", &message);
        }
    }

    /// What the agent said last (where a call without a booking ended).
    fn last_agent_line(&self) -> String {
        self.utterances
            .iter()
            .rev()
            .find(|u| u["role"] == "agent")
            .and_then(|u| u["content"].as_str())
            .unwrap_or_default()
            .to_owned()
    }

    fn write_into(&self, call: &mut serde_json::Map<String, Value>) {
        let text: String = self
            .utterances
            .iter()
            .map(|u| {
                let who = if u["role"] == "agent" {
                    "Agent"
                } else {
                    "User"
                };
                format!("{who}: {}\n", u["content"].as_str().unwrap_or_default())
            })
            .collect();
        call.insert("transcript".into(), json!(text));
        call.insert("transcript_object".into(), json!(self.utterances));
        call.insert("transcript_with_tool_calls".into(), json!(self.with_tools));
    }
}

/// The first free slot of a check_availability answer: on the day asked, else the next open day.
fn first_slot(reply: &Value) -> Option<(chrono::NaiveDate, String)> {
    let pick = |day: &Value| -> Option<(chrono::NaiveDate, String)> {
        let date = day.get("date")?.as_str()?.parse().ok()?;
        let slot = day.get("slots")?.as_array()?.first()?.as_str()?;
        Some((date, slot.to_owned()))
    };
    pick(reply).or_else(|| reply.get("next_days")?.as_array()?.iter().find_map(pick))
}

/// A weekday `offset` days (or a little more) after today in the company's zone.
pub fn booking_day(now: DateTime<Utc>, zone: Tz, offset: u32) -> chrono::NaiveDate {
    let mut day = now.with_timezone(&zone).date_naive() + chrono::Days::new(u64::from(offset));
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        day = day + chrono::Days::new(1);
    }
    day
}

/// A plausible Retell bill (cents; unit prices per second), as the simulator bills.
fn call_cost(duration_ms: i64) -> Value {
    let seconds = duration_ms as f64 / 1000.0;
    let products = [
        ("retell_platform", 0.0833),
        ("elevenlabs_tts", 0.1167),
        ("gpt_4.1", 0.075),
        ("retell_telephony", 0.025),
    ];
    let costs: Vec<Value> = products
        .iter()
        .map(|(p, u)| json!({"product": p, "unit_price": u, "cost": (u * seconds * 1e4).round() / 1e4}))
        .collect();
    let combined: f64 = products.iter().map(|(_, u)| u * seconds).sum();
    json!({"product_costs": costs, "combined_cost": (combined * 1e4).round() / 1e4,
           "total_duration_seconds": seconds})
}

/// Retell's latency figures (ms), varied per call.
fn latency(call_id: &str) -> Value {
    let spread = (call_id.bytes().map(u64::from).sum::<u64>() % 400) as f64;
    let e2e = 800.0 + spread;
    let stats = |base: f64| {
        json!({"p50": base, "p90": base * 1.3, "p95": base * 1.4, "p99": base * 1.6,
                                   "max": base * 1.8, "min": base * 0.6, "num": 4})
    };
    json!({"e2e": stats(e2e), "llm": stats(e2e * 0.45), "tts": stats(e2e * 0.25)})
}

fn random_hex(len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_slot_is_on_the_day_asked_or_the_next_open_day() {
        let day = json!({"date": "2026-12-01", "slots": ["09:00", "09:15"]});
        assert_eq!(
            first_slot(&day),
            Some(("2026-12-01".parse().unwrap(), "09:00".to_owned()))
        );
        let full = json!({"date": "2026-12-01", "slots": [],
                          "next_days": [{"date": "2026-12-02", "slots": []}, {"date": "2026-12-03", "slots": ["14:00"]}]});
        assert_eq!(
            first_slot(&full),
            Some(("2026-12-03".parse().unwrap(), "14:00".to_owned()))
        );
        assert_eq!(first_slot(&json!({"success": false, "message": "…"})), None);
        assert_eq!(first_slot(&json!({"date": 5, "slots": [1]})), None);
    }

    #[test]
    fn booking_days_are_weekdays_in_the_company_zone() {
        // Friday 23:30 UTC is Saturday in Berlin: two days ahead is Monday.
        let now: DateTime<Utc> = "2026-11-27T23:30:00Z".parse().unwrap();
        let day = booking_day(now, chrono_tz::Europe::Berlin, 2);
        assert_eq!(day.to_string(), "2026-11-30");
        assert_eq!(
            booking_day(now, chrono_tz::UTC, 2).to_string(),
            "2026-11-30"
        );
        assert_eq!(
            booking_day(now, chrono_tz::UTC, 5).to_string(),
            "2026-12-02"
        );
    }

    #[test]
    fn a_conversation_keeps_tool_calls_between_utterances() {
        let mut c = Conversation::default();
        c.say("agent", "Guten Tag");
        c.invoke("t1", "check_availability", &json!({"date": "2026-12-01"}));
        c.result("t1", Some(&json!({"message": "Frei wäre 10:00."})), true);
        let mut call = serde_json::Map::new();
        c.write_into(&mut call);
        let roles: Vec<&str> = call["transcript_with_tool_calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["role"].as_str().unwrap())
            .collect();
        assert_eq!(
            roles,
            ["agent", "tool_call_invocation", "tool_call_result", "agent"]
        );
        assert_eq!(
            call["transcript"],
            "Agent: Guten Tag\nAgent: Frei wäre 10:00.\n"
        );
        let calls =
            shared::calls::tool_calls::ToolCall::parse_all(&call["transcript_with_tool_calls"]);
        assert_eq!(calls.len(), 1);
        assert_eq!(
            calls[0].result.as_ref().unwrap()["message"],
            "Frei wäre 10:00."
        );
    }
}
