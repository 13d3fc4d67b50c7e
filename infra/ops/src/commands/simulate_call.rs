//! `simulate-call`: one whole call played against the stack (signed webhooks, tool calls), then
//! read back from what the stack stored and checked.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::booking::phone::PhoneNumber;
use shared::calls::store::CallStore;
use shared::retell::CallId;

use crate::context::Context;
use crate::error::{err, CliError, CliResult};
use crate::output::{Check, Status};
use crate::player::{CallKind, PlayedCall};
use crate::simulate::{applied, line_for, names, player, settled};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long = "type", value_enum, default_value_t = CallKind::Appointment)]
    kind: CallKind,
    /// The customer's number (E.164; a national number is read as German).
    #[arg(long, default_value = "+4915112345678")]
    customer: String,
    /// The company called (default: the first with an agent, a number and a service).
    #[arg(long)]
    company: Option<String>,
    /// The appointment to book (`--type appointment`): YYYY-MM-DDTHH:MM in the company's time
    /// zone, instead of the first free slot.
    #[arg(long, value_name = "YYYY-MM-DDTHH:MM")]
    at: Option<String>,
    /// The person the caller asks for by name (`--type appointment`).
    #[arg(long, value_name = "NAME")]
    staff: Option<String>,
    /// How long to wait for the stack to store the call (seconds, at most a day).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    wait: u64,
}

pub async fn run(ctx: &Context, args: Args) -> CliResult {
    let kind = args.kind;
    let company = args.company.as_deref();
    let wait = Duration::from_secs(args.wait);
    let customer = PhoneNumber::parse(&args.customer).map_err(|e| {
        CliError::Usage(format!(
            "--customer: {e} (an E.164 number such as +4915112345678)"
        ))
    })?;
    if (args.at.is_some() || args.staff.is_some()) && kind != CallKind::Appointment {
        return Err(CliError::Usage(
            "--at and --staff are for --type appointment".into(),
        ));
    }
    let (company_id, mut line) = line_for(ctx, company, customer.as_str()).await?;
    if let Some(at) = &args.at {
        line.wants_at = Some(appointment_time(at, line.time_zone, chrono::Utc::now())?);
    }
    if let Some(staff) = &args.staff {
        line.wants_staff = Some(staff_name(staff)?);
    }
    let player = player(ctx)?;
    let out = &ctx.out;
    out.line(&format!(
        "Playing a{} {} call: {} {} company {company_id} ({})",
        if kind.inbound() {
            "n inbound"
        } else {
            "n outbound"
        },
        clap::ValueEnum::to_possible_value(&kind)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default(),
        customer.masked(),
        if kind.inbound() {
            "calls"
        } else {
            "is called by"
        },
        line.agent_id
    ));
    let played = player.play(kind, &line, false, 2).await;
    let mut checks = Vec::new();
    checks.push(Check::from_bool(
        "webhooks accepted",
        played.undelivered.is_empty(),
        if played.undelivered.is_empty() {
            names(&played.delivered)
        } else {
            format!(
                "not accepted after Retell's retries: {} ({})",
                names(&played.undelivered),
                failures(&played)
            )
        },
    ));
    for t in &played.tools {
        let message = t
            .reply
            .as_ref()
            .and_then(|r| r.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("(no answer)");
        checks.push(Check::from_bool(
            format!("tool {}", t.name),
            t.status == Some(200),
            format!(
                "HTTP {}: {message}",
                t.status.map_or("none".to_owned(), |s| s.to_string())
            ),
        ));
    }

    // The consumers work from queues: wait for every accepted event to be applied.
    let store = ctx.call_store();
    let deadline = Instant::now() + wait;
    let record = loop {
        match settled(&store, &played).await? {
            Some(r) => break Some(r),
            None if Instant::now() >= deadline => break None,
            None => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    let record = match (
        record,
        store
            .load(&CallId::parse(&played.call_id).map_err(err)?)
            .await,
    ) {
        (Some(r), _) => {
            checks.push(Check::from_bool(
                "call stored",
                r.company_id == company_id,
                format!(
                    "{} in company {}, events {}",
                    played.call_id,
                    r.company_id,
                    applied(&r)
                ),
            ));
            Some(r)
        }
        (None, Ok(Some(partial))) => {
            checks.push(Check::failed(
                "call stored",
                format!(
                    "after {} s only events {} of {} are applied",
                    wait.as_secs(),
                    applied(&partial),
                    names(&played.delivered)
                ),
            ));
            Some(partial)
        }
        (None, Ok(None)) => {
            checks.push(Check::failed(
                "call stored",
                format!("no record of {} after {} s", played.call_id, wait.as_secs()),
            ));
            None
        }
        (None, Err(e)) => {
            checks.push(Check::failed("call stored", e.to_string()));
            None
        }
    };
    let expected_status = if kind.connected() {
        "ended"
    } else {
        "not_connected"
    };
    if let Some(r) = &record {
        checks.push(Check::from_bool(
            "call status",
            r.call_status() == Some(expected_status),
            format!(
                "{} ({})",
                r.call_status().unwrap_or("none"),
                r.str("disconnection_reason").unwrap_or("no reason")
            ),
        ));
    }

    let mut booking = Value::Null;
    if kind == CallKind::Appointment {
        match &played.booked {
            None => checks.push(Check::failed(
                "appointment booked",
                "book_appointment booked nothing",
            )),
            Some(id) => {
                checks.push(Check::ok("appointment booked", Some(id.clone())));
                let on_record = record
                    .as_ref()
                    .is_some_and(|r| r.booked_appointments().contains(id));
                checks.push(Check::from_bool(
                    "booking on the call record",
                    on_record,
                    if on_record {
                        id.clone()
                    } else {
                        "the stored call names no such booking".into()
                    },
                ));
                // Read back through the stack's own calendar, as the agent would.
                let readback = player.customer_info(&played, &line).await;
                let upcoming = readback
                    .as_ref()
                    .and_then(|r| r.get("upcoming"))
                    .and_then(Value::as_array)
                    .and_then(|a| {
                        a.iter()
                            .find(|u| u.get("appointment_id").and_then(Value::as_str) == Some(id))
                    })
                    .cloned();
                checks.push(Check::from_bool(
                    "booking in the calendar",
                    upcoming.is_some(),
                    match &upcoming {
                        Some(u) => format!(
                            "{} {} {}",
                            u["date"].as_str().unwrap_or(""),
                            u["time"].as_str().unwrap_or(""),
                            u["service_id"].as_str().unwrap_or("")
                        ),
                        None => "get_customer_info does not list it".into(),
                    },
                ));
                booking = json!({"appointment_id": id, "calendar": upcoming});
            }
        }
    }

    let ok = checks.iter().all(|c| c.status != Status::Failed);
    if let Some(r) = &record {
        out.line(&format!("\n{}", out.bold("Stored call")));
        // The record keeps Retell's call_analysis fields at its top level.
        let field = |k: &str| {
            r.fields
                .get(k)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        };
        let rows = [
            ("call_id", played.call_id.clone()),
            ("company", r.company_id.clone()),
            ("status", r.call_status().unwrap_or("").to_owned()),
            (
                "disconnection",
                r.str("disconnection_reason").unwrap_or("").to_owned(),
            ),
            (
                "duration",
                format!("{} ms", r.int("duration_ms").unwrap_or(0)),
            ),
            ("sentiment", field("user_sentiment").unwrap_or_default()),
            ("successful", field("call_successful").unwrap_or_default()),
            ("summary", field("call_summary").unwrap_or_default()),
            ("day", r.stats_day.clone()),
        ];
        out.table(
            &["field", "value"],
            &rows
                .iter()
                .map(|(k, v)| vec![k.to_string(), v.clone()])
                .collect::<Vec<_>>(),
        );
    }
    if !played.tools.is_empty() {
        out.line(&format!("\n{}", out.bold("Tool answers")));
    }
    for t in &played.tools {
        out.line(&format!(
            "{} {} → {}",
            t.name,
            t.args,
            t.reply
                .as_ref()
                .and_then(|r| r.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("(no answer)")
        ));
    }
    out.line("");
    for c in &checks {
        out.check(c);
    }
    out.json_value(&json!({
        "ok": ok, "call_id": played.call_id, "type": kind, "company_id": company_id,
        "customer": customer.masked(),
        "record": record.as_ref().map(|r| json!({
            "company_id": r.company_id, "call_status": r.call_status(),
            "disconnection_reason": r.str("disconnection_reason"), "duration_ms": r.int("duration_ms"),
            "events_applied": r.events_applied.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            "stats_day": r.stats_day,
            "call_analysis": (["call_summary", "user_sentiment", "call_successful", "in_voicemail"]
                .iter().map(|k| (k.to_string(), r.fields.get(*k).cloned().unwrap_or(Value::Null)))
                .collect::<serde_json::Map<_, _>>()),
            "booked_appointments": r.booked_appointments(),
        })),
        "tools": played.tools, "booking": booking, "checks": checks,
    }));
    Ok(ok.into())
}

/// The failed attempts of a call, counted by endpoint and status.
fn failures(played: &PlayedCall) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for a in played.attempts.iter().filter(|a| !a.ok()) {
        let status = match &a.status {
            Ok(s) => format!("HTTP {s}"),
            Err(e) => e.clone(),
        };
        *counts
            .entry(format!("{} {status}", a.endpoint))
            .or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--staff`: a name as a caller would say it (the tool finds the person or refuses).
fn staff_name(text: &str) -> Result<String, CliError> {
    let name = text.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(CliError::Usage(format!(
            "--staff {}: a person's name",
            crate::output::shown(text)
        )));
    }
    Ok(name.to_owned())
}

/// `--at`: a wall-clock time in the company's zone, from now up to a year ahead.
fn appointment_time(
    text: &str,
    zone: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::NaiveDateTime, CliError> {
    use chrono::TimeZone;
    let bad = |why: &str| {
        CliError::Usage(format!(
            "--at {}: {why} (YYYY-MM-DDTHH:MM in the company's time zone, e.g. 2026-12-15T14:00)",
            crate::output::shown(text)
        ))
    };
    let at = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M")
        .map_err(|_| bad("not a date and time"))?;
    let instant = zone
        .from_local_datetime(&at)
        .earliest()
        .ok_or_else(|| bad("does not exist in the company's time zone"))?;
    if instant <= now {
        return Err(bad("in the past"));
    }
    if instant > now + chrono::Duration::days(365) {
        return Err(bad("more than a year ahead"));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::{appointment_time, staff_name};

    #[test]
    fn a_staff_name_is_a_short_line_of_text() {
        assert_eq!(staff_name(" Anna ").unwrap(), "Anna");
        let long = "A".repeat(1 << 20);
        for bad in ["", "   ", "An\nna", "Anna\0", "\u{1b}[31m", long.as_str()] {
            assert!(staff_name(bad).is_err(), "{bad:.20?}");
        }
    }

    #[test]
    fn an_appointment_time_is_read_in_the_company_zone_and_bounded() {
        let now = "2026-12-06T12:00:00Z".parse().unwrap();
        let berlin = chrono_tz::Europe::Berlin;
        assert_eq!(
            appointment_time("2026-12-15T14:00", berlin, now)
                .unwrap()
                .to_string(),
            "2026-12-15 14:00:00"
        );
        for bad in [
            "2026-12-15",
            "2026-12-15 14:00",
            "2026-12-05T14:00",
            "2028-12-15T14:00",
            "2027-03-28T02:30", // the spring-forward gap in Berlin
            "",
            "2026-13-01T10:00",
        ] {
            assert!(appointment_time(bad, berlin, now).is_err(), "{bad}");
        }
    }
}
