//! One call: summary and analysis, the conversation, the tool calls with their answers, the
//! appointment it booked, the recording, Retell's cost and latency. Everything the caller said
//! is data and shown as text.

use axum::extract::{Form, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde_json::Value;
use shared::booking::phone::PhoneNumber;
use shared::calendar::ledger::CustomerRecord;
use shared::calls::record::CallRecord;
use shared::calls::tool_calls::ToolCall;
use shared::retell::CallId;

use super::{cost, duration, layout, pretty, Ctx, PageError};
use crate::{data, labels};

pub async fn page(ctx: Ctx, Path(call_id): Path<String>) -> Result<Response, PageError> {
    let app = ctx.app.clone();
    let lang = ctx.lang;
    let record = app
        .data
        .call(&ctx.viewer, &call_id)
        .await
        .map_err(|e| PageError::from_data(e, lang))?;
    let appointments = app
        .data
        .appointments_of(&record)
        .await
        .map_err(|e| PageError::from_data(e, lang))?;
    // The call's own company (an admin may look at any company's call): its time zone and the
    // names of its services.
    let call_company = app
        .data
        .company(&ctx.viewer, Some(&record.company_id))
        .await
        .ok();
    let tz = call_company
        .as_ref()
        .map(|c| c.time_zone)
        .unwrap_or(ctx.company.time_zone);
    // The customer (the other party, never the business's own line): their name and whether
    // they are a VIP of the call's company (staff can change it here). A failed read costs the
    // name and the button, not the page.
    let mut customer = None;
    if let (Some(company), Some(phone)) = (
        call_company.as_ref(),
        record
            .customer_number()
            .and_then(|n| PhoneNumber::parse(n).ok()),
    ) {
        match app.data.customer(company, &phone).await {
            Ok(found) => customer = found.map(|c| (phone, c)),
            Err(e) => tracing::warn!(reason = ?e, "customer record not readable"),
        }
    }
    // Who saw what the caller said (and could play the recording): the audit trail.
    app.audit(
        &record.company_id,
        &ctx.viewer,
        "viewed_call",
        record.call_id.as_str(),
        serde_json::json!({
            "transcript": record.fields.contains_key("transcript"),
            "recording": record.fields.contains_key("recording_url"),
        }),
    )
    .await;
    let markup = render(
        &ctx,
        &record,
        &appointments,
        tz,
        call_company.as_ref(),
        customer,
    );
    Ok(ctx.respond(markup))
}

#[derive(Debug, serde::Deserialize)]
pub struct VipForm {
    company: String,
    phone: String,
    vip: String,
    call_id: String,
}

/// Marks the caller of a call VIP or not, then shows the call again.
pub async fn set_vip(ctx: Ctx, Form(form): Form<VipForm>) -> Result<Response, PageError> {
    let app = ctx.app.clone();
    let lang = ctx.lang;
    let bad = |what: &str| {
        PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{} {what}", ctx.t("bad_request")),
        )
    };
    let phone = PhoneNumber::parse(&form.phone)
        .ok()
        .filter(|p| p.as_str() == form.phone)
        .ok_or_else(|| bad("phone"))?;
    let vip = match form.vip.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(bad("vip")),
    };
    let call_id = CallId::parse(&form.call_id).map_err(|_| bad("call_id"))?;
    // The tenant rule: a staff member names only their own company (another is "not found").
    let company = app
        .data
        .company(&ctx.viewer, Some(&form.company))
        .await
        .map_err(|e| PageError::from_data(e, lang))?;
    // Only the call's customer, of the call's own company: never the business's own number.
    let record = app
        .data
        .call(&ctx.viewer, call_id.as_str())
        .await
        .map_err(|e| PageError::from_data(e, lang))?;
    if record.company_id != company.id || record.customer_number() != Some(phone.as_str()) {
        tracing::warn!(company = %company.id, "VIP form for a number that is not the call's customer");
        return Err(bad("phone"));
    }
    app.data
        .set_vip(&company, &phone, vip)
        .await
        .map_err(|e| PageError::from_data(e, lang))?;
    tracing::info!(company = %company.id, customer = %phone.masked(), vip, "customer VIP set");
    Ok(Redirect::to(&ctx.link(&format!("/calls/{}", call_id.as_str()))).into_response())
}

/// A call's page (no I/O: what the benchmark renders). `caller_vip`: the caller's number and
/// the customer's record: their name and whether they are a VIP of the call's company (`None`:
/// not known, no name and no button).
pub fn render(
    ctx: &Ctx,
    record: &CallRecord,
    appointments: &[shared::calendar::Appointment],
    tz: chrono_tz::Tz,
    call_company: Option<&crate::data::CompanyView>,
    customer: Option<(PhoneNumber, CustomerRecord)>,
) -> maud::Markup {
    let lang = ctx.lang;
    let service_name = |id: &str| -> String {
        call_company
            .and_then(|c| c.settings.as_ref())
            .and_then(|s| s.settings.services.iter().find(|svc| svc.id == id))
            .and_then(|svc| svc.names.first().cloned())
            .unwrap_or_else(|| id.to_owned())
    };
    // Who an appointment is with: the staff member's name (an id no longer listed as it is).
    let team = call_company
        .and_then(|c| c.settings.as_ref())
        .map(|s| &s.team)
        .filter(|t| t.is_staffed());
    let staff_name = |id: Option<&str>| -> String {
        match (team, id) {
            (Some(team), Some(id)) => team.member(id).map_or(id, |m| m.name.as_str()).to_owned(),
            _ => "–".to_owned(),
        }
    };
    let text = |k: &str| record.str(k).map(str::to_owned);
    let tool_calls = record
        .fields
        .get("transcript_with_tool_calls")
        .map(ToolCall::parse_all)
        .unwrap_or_default();
    let transfers: Vec<&Value> = record
        .fields
        .get("transfers")
        .and_then(Value::as_array)
        .map(|log| log.iter().collect())
        .unwrap_or_default();
    let body = html! {
        section.facts {
            dl {
                dt { (ctx.t("call_id")) } dd { code { (record.call_id.as_str()) } }
                dt { (ctx.t("company")) } dd { (record.company_id) }
                dt { (ctx.t("status")) } dd.status { (record.call_status().map(|s| labels::status(s, lang)).unwrap_or_else(|| "–".into())) }
                dt { (ctx.t("time")) } dd { (data::local_time(record.call_ts(), &tz, "%Y-%m-%d %H:%M:%S")) }
                dt { (ctx.t("direction")) } dd.direction { (record.str("direction").map(|d| labels::direction(d, lang)).unwrap_or_else(|| "–".into())) }
                dt { (ctx.t("customer")) } dd.customer {
                    @if let Some(name) = customer.as_ref().and_then(|(_, c)| c.name.as_deref()) {
                        (name) " · "
                    }
                    (record.customer_number().unwrap_or("–"))
                }
                @if let Some((phone, c)) = &customer {
                    @let vip = c.vip;
                    dt { "VIP" } dd.vip {
                        (if vip { ctx.t("yes") } else { ctx.t("no") }) " "
                        form.inline method="post" action=(ctx.link("/customers/vip")) {
                            input type="hidden" name="csrf" value=(ctx.csrf);
                            input type="hidden" name="company" value=(record.company_id);
                            input type="hidden" name="phone" value=(phone.as_str());
                            input type="hidden" name="call_id" value=(record.call_id.as_str());
                            input type="hidden" name="vip" value=(if vip { "false" } else { "true" });
                            button type="submit" { (if vip { ctx.t("vip_off") } else { ctx.t("vip_on") }) }
                        }
                    }
                }
                dt { (ctx.t("duration")) } dd { (record.int("duration_ms").map(duration).unwrap_or_else(|| "–".into())) }
                dt { (ctx.t("agent")) } dd { (text("agent_id").unwrap_or_else(|| "–".into())) }
                dt { (ctx.t("reason")) } dd.reason { (text("disconnection_reason").map(|r| labels::reason(&r, lang)).unwrap_or_else(|| "–".into())) }
                dt { (ctx.t("cost")) } dd { (record.fields.get("combined_cost").and_then(Value::as_f64)
                        .map(|c| cost(c, lang)).unwrap_or_else(|| "–".into())) }
                dt { (ctx.t("latency")) } dd { (latency(record)) }
            }
            @if record.fields.get("needs_follow_up").and_then(Value::as_bool) == Some(true) {
                p.warning role="alert" { (ctx.t("follow_up")) ": "
                    (pretty(record.fields.get("unresolved_writes").unwrap_or(&Value::Null))) }
            }
        }
        section.analysis {
            h2 { (ctx.t("summary")) }
            p { (text("call_summary").unwrap_or_else(|| "–".into())) }
            h2 { (ctx.t("analysis")) }
            dl {
                dt { (ctx.t("sentiment")) } dd { (text("user_sentiment").map(|s| labels::sentiment(&s, lang)).unwrap_or_else(|| "–".into())) }
                dt { (ctx.t("successful")) } dd { (match record.fields.get("call_successful").and_then(Value::as_bool) {
                    Some(true) => ctx.t("yes"), Some(false) => ctx.t("no"), None => "–" }) }
                @if let Some(custom) = record.fields.get("custom_analysis_data").and_then(Value::as_object) {
                    @for (k, v) in custom {
                        dt { (k) } dd { (match v { Value::String(s) => s.clone(), other => other.to_string() }) }
                    }
                }
            }
        }
        section.appointment {
            h2 { (ctx.t("appointment")) }
            @if appointments.is_empty() {
                p { (ctx.t("no_appointment")) }
            } @else {
                table {
                    thead { tr { th { (ctx.t("date")) } th { (ctx.t("time")) } th { (ctx.t("service")) }
                                 @if team.is_some() { th { (ctx.t("staff")) } }
                                 th { (ctx.t("customer")) } th { (ctx.t("status")) } } }
                    tbody { @for a in appointments { tr {
                        td { (a.date.to_string()) } td { (a.time.format("%H:%M").to_string()) }
                        td { (service_name(&a.service_id)) }
                        @if team.is_some() { td.staff { (staff_name(a.staff_id.as_deref())) } }
                        td { (a.customer_name.as_deref().unwrap_or("–")) }
                        td { (format!("{:?}", a.status).to_lowercase()) }
                    } } }
                }
            }
        }
        @if !transfers.is_empty() {
            section.transfers {
                h2 { (ctx.t("transfers")) }
                table {
                    thead { tr { th { (ctx.t("time")) } th { (ctx.t("status")) } th { (ctx.t("destination")) } } }
                    tbody { @for t in &transfers { tr {
                        td { (data::local_time(t.get("at_ms").and_then(Value::as_i64).unwrap_or(0), &tz, "%H:%M:%S")) }
                        td { (transfer_event_text(ctx, t.get("event").and_then(Value::as_str).unwrap_or(""))) }
                        td { (t.get("destination").and_then(Value::as_str).unwrap_or("–"))
                             @if let Some(option) = t.get("option").and_then(Value::as_str) { " (" (option) ")" } }
                    } } }
                }
            }
        }
        @if let Some(url) = text("recording_url").filter(|u| playable(ctx, u)) {
            section.recording {
                h2 { (ctx.t("recording")) }
                audio controls preload="none" src=(url) {}
            }
        }
        section.transcript {
            h2 { (ctx.t("transcript")) }
            (conversation(ctx, record))
        }
        section.tools {
            h2 { (ctx.t("tool_calls")) }
            @if tool_calls.is_empty() { p { "–" } }
            @for call in &tool_calls {
                details open {
                    summary { code { (call.name) } @if let Some(ok) = call.successful { " · " (if ok { "✓" } else { "✗" }) } }
                    h3 { "args" } pre { (pretty(&call.arguments)) }
                    h3 { (ctx.t("result")) } pre { (call.result.as_ref().map(pretty).unwrap_or_else(|| "–".into())) }
                }
            }
        }
    };
    let title = format!("{} {}", ctx.t("call"), record.call_id.as_str());
    layout(ctx, "calls", &title, body)
}

/// What a transfer log entry's event says (an event this page does not know shows its name).
fn transfer_event_text<'a>(ctx: &Ctx, event: &'a str) -> &'a str {
    match shared::retell::TransferEvent::parse(event) {
        Some(e) => ctx.t(e.as_str()),
        None => event,
    }
}

/// The transcript as a conversation: Retell's utterances (`transcript_object`), else the text's
/// `Agent:` / `User:` lines.
fn conversation(ctx: &Ctx, record: &CallRecord) -> Markup {
    let utterances: Vec<(String, String)> = match record
        .fields
        .get("transcript_object")
        .and_then(Value::as_array)
    {
        Some(list) if !list.is_empty() => list
            .iter()
            .filter_map(|u| {
                Some((
                    u.get("role")?.as_str()?.to_owned(),
                    u.get("content")?.as_str()?.to_owned(),
                ))
            })
            .collect(),
        _ => record
            .str("transcript")
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let (who, said) = line.split_once(':')?;
                let role = match who.trim() {
                    "Agent" => "agent",
                    "User" => "user",
                    _ => return None,
                };
                Some((role.to_owned(), said.trim().to_owned()))
            })
            .collect(),
    };
    html! {
        @if utterances.is_empty() { p { "–" } }
        ol.conversation {
            @for (role, said) in &utterances {
                li class=(if role == "agent" { "agent" } else { "user" }) {
                    span.who { (if role == "agent" { ctx.t("agent") } else { ctx.t("user") }) }
                    span.said { (said) }
                }
            }
        }
        @if record.transcript_truncated { p.note { "…" } }
    }
}

fn latency(record: &CallRecord) -> String {
    let e2e = record.fields.get("latency").and_then(|l| l.get("e2e"));
    match (
        e2e.and_then(|l| l.get("p50")).and_then(Value::as_f64),
        e2e.and_then(|l| l.get("p90")).and_then(Value::as_f64),
    ) {
        (Some(p50), Some(p90)) => format!("{p50:.0} ms (p50) · {p90:.0} ms (p90)"),
        (Some(p50), None) => format!("{p50:.0} ms (p50)"),
        _ => "–".into(),
    }
}

/// A recording the page may play: from where the stack fetches recordings (its CSP allows
/// nothing else, so any other URL would be a broken player).
fn playable(ctx: &Ctx, url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| ctx.app.config.recording_hosts.allows(&u))
}
