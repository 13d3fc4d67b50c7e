use super::*;
use crate::calls::budget::ITEM_BUDGET_BYTES;
use crate::calls::event::CallEventError;
use serde_json::json;

const BERLIN: Tz = chrono_tz::Europe::Berlin;
const START: i64 = 1_704_974_400_000; // 2024-01-11 12:00 UTC

fn event(kind: EventKind, call: Value) -> CallEvent {
    let body = json!({"event": kind.as_str(), "call": call}).to_string();
    CallEvent::from_payload(
        kind,
        "acme",
        START + 1_000 * kind.rank() as i64,
        body.as_bytes(),
    )
    .expect("valid event")
}

fn started() -> CallEvent {
    event(
        EventKind::CallStarted,
        json!({"call_id": "call_1", "agent_id": "agent_1", "call_status": "ongoing",
               "from_number": "+49 176 1111 2222", "to_number": "+493012345678",
               "direction": "inbound", "call_type": "phone_call", "start_timestamp": START}),
    )
}

fn ended() -> CallEvent {
    event(
        EventKind::CallEnded,
        json!({"call_id": "call_1", "agent_id": "agent_1", "call_status": "ended",
               "from_number": "+4917611112222", "to_number": "+493012345678",
               "direction": "inbound", "start_timestamp": START, "end_timestamp": START + 300_000,
               "duration_ms": 300_000, "transcript": "Agent: Hallo\nUser: Termin bitte",
               "disconnection_reason": "user_hangup", "recording_url": "https://r/1.wav",
               "transcript_with_tool_calls": booking_log()}),
    )
}

fn booking_log() -> Value {
    json!([
        {"role": "tool_call_invocation", "tool_call_id": "t1", "name": "book_appointment", "arguments": "{}"},
        {"role": "tool_call_result", "tool_call_id": "t1",
         "content": "{\"success\":true,\"appointment_id\":\"apt_0123456789abcdef\"}"}
    ])
}

fn analyzed() -> CallEvent {
    event(
        EventKind::CallAnalyzed,
        json!({"call_id": "call_1", "agent_id": "agent_1", "call_status": "ended",
               "from_number": "+4917611112222", "start_timestamp": START,
               "end_timestamp": START + 300_000, "duration_ms": 300_000,
               "call_analysis": {"call_summary": "Booked a haircut", "user_sentiment": "Positive",
                                 "call_successful": true, "in_voicemail": false,
                                 "custom_analysis_data": {"appointment_booked": true}},
               "call_cost": {"combined_cost": 42.5}, "transcript_with_tool_calls": booking_log(),
               "latency": {"e2e": {"p50": 812.4, "p90": 1200.0}}}),
    )
}

fn fold(events: &[CallEvent]) -> (CallRecord, BTreeMap<String, CallStats>) {
    let mut record: Option<CallRecord> = None;
    let mut stats: BTreeMap<String, CallStats> = BTreeMap::new();
    for e in events {
        if let Some(applied) = CallRecord::apply(record.as_ref(), e, &BERLIN) {
            for d in applied.stats {
                let entry = stats.entry(d.day).or_default();
                *entry = entry.plus(d.delta);
            }
            let mut next = applied.record;
            next.version += 1;
            record = Some(next);
        }
    }
    stats.retain(|_, s| !s.is_zero());
    (record.expect("at least one event"), stats)
}

proptest::proptest! {
    /// Any sequence (permutation with repeats) of a call's events folds to the record the
    /// distinct events give in call order, with the same statistics.
    #[test]
    fn merge_is_order_and_duplicate_independent(order in proptest::collection::vec(0usize..3, 1..12)) {
        let all = [started(), ended(), analyzed()];
        let (got, got_stats) = fold(&order.iter().map(|i| all[*i].clone()).collect::<Vec<_>>());
        let mut distinct = order.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let (want, want_stats) = fold(&distinct.iter().map(|i| all[*i].clone()).collect::<Vec<_>>());
        proptest::prop_assert_eq!(got.fields, want.fields);
        proptest::prop_assert_eq!(got.events_applied, want.events_applied);
        proptest::prop_assert_eq!(got_stats, want_stats);
    }
}

fn transfer(event: crate::retell::TransferEvent, at: i64) -> crate::calls::transfer::Transfer {
    let body = json!({"event": event.as_str(), "transfer_destination": "+493099999",
        "call": {"call_id": "call_1", "agent_id": "agent_1", "call_status": "ongoing",
                 "from_number": "+4917611112222", "start_timestamp": START,
                 "transcript": format!("bis {at}")}})
    .to_string();
    crate::calls::transfer::Transfer::from_payload(event, "acme", START + at, body.as_bytes())
        .expect("valid transfer")
}

/// A call event or a transfer event, applied as the consumer would.
fn apply_any(
    record: Option<&CallRecord>,
    e: &Result<CallEvent, crate::calls::transfer::Transfer>,
) -> Option<Applied> {
    match e {
        Ok(call) => CallRecord::apply(record, call, &BERLIN),
        Err(t) => CallRecord::apply_transfer(record, t, &BERLIN),
    }
}

proptest::proptest! {
    /// Transfer events mixed with the call's events, in any order and repeated: the same
    /// record and statistics as the distinct events in call order, each transfer logged once.
    #[test]
    fn transfers_merge_order_and_duplicate_independent(order in proptest::collection::vec(0usize..6, 1..16)) {
        use crate::retell::TransferEvent as T;
        let all = [Ok(started()), Ok(ended()), Ok(analyzed()),
                   Err(transfer(T::Started, 10)), Err(transfer(T::Bridged, 20)), Err(transfer(T::Ended, 30))];
        let fold_any = |idx: &[usize]| {
            let mut record: Option<CallRecord> = None;
            let mut stats: BTreeMap<String, CallStats> = BTreeMap::new();
            for i in idx {
                if let Some(applied) = apply_any(record.as_ref(), &all[*i]) {
                    for d in applied.stats {
                        let entry = stats.entry(d.day).or_default();
                        *entry = entry.plus(d.delta);
                    }
                    record = Some(applied.record);
                }
            }
            stats.retain(|_, s| !s.is_zero());
            (record.expect("one event at least"), stats)
        };
        let (got, got_stats) = fold_any(&order);
        let mut distinct = order.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let (want, want_stats) = fold_any(&distinct);
        proptest::prop_assert_eq!(&got.fields, &want.fields);
        proptest::prop_assert_eq!(got_stats, want_stats);
        let logged = got.fields.get("transfers").and_then(Value::as_array).map_or(0, Vec::len);
        proptest::prop_assert_eq!(logged, distinct.iter().filter(|i| **i >= 3).count());
    }
}

#[test]
fn a_transfer_before_the_call_events_is_kept_and_counts_the_call_once() {
    use crate::retell::TransferEvent as T;
    let first =
        CallRecord::apply_transfer(None, &transfer(T::Started, 10), &BERLIN).expect("applied");
    assert_eq!(first.record.call_status(), Some("ongoing"));
    assert_eq!(first.record.active_company(), Some("acme"));
    assert_eq!(first.stats.len(), 1);
    assert_eq!(first.stats[0].delta.calls, 1);
    let again = CallRecord::apply_transfer(Some(&first.record), &transfer(T::Started, 10), &BERLIN);
    assert!(again.is_none(), "a redelivery changes nothing");
    let with_start = CallRecord::apply(Some(&first.record), &started(), &BERLIN).expect("applied");
    assert!(with_start.stats.is_empty(), "the call was counted already");
    let log = &with_start.record.fields["transfers"];
    assert_eq!(log[0]["event"], json!("transfer_started"));
    assert_eq!(log[0]["destination"], json!("+493099999"));
    assert_eq!(log[0]["at_ms"], json!(START + 10));
    // A call payload cannot fake the log.
    let fake = event(
        EventKind::CallEnded,
        json!({"call_id": "call_1", "transfers": [{"event": "transfer_bridged"}]}),
    );
    assert!(!fake.fields.contains_key("transfers"));
}

#[test]
fn a_runaway_transfer_log_keeps_the_latest_entries() {
    use crate::retell::TransferEvent as T;
    let mut record: Option<CallRecord> = None;
    for at in 0..(MAX_TRANSFER_ENTRIES as i64 + 5) {
        let applied =
            CallRecord::apply_transfer(record.as_ref(), &transfer(T::Started, at), &BERLIN)
                .expect("a new attempt");
        record = Some(applied.record);
    }
    let record = record.expect("record");
    let log = record.fields["transfers"].as_array().expect("list");
    assert_eq!(log.len(), MAX_TRANSFER_ENTRIES);
    assert_eq!(log[0]["at_ms"], json!(START + 5));
}

#[test]
fn normalises_retell_and_seed_shapes() {
    let e = analyzed();
    assert_eq!(e.fields["call_summary"], json!("Booked a haircut"));
    assert_eq!(e.fields["user_sentiment"], json!("Positive"));
    assert_eq!(e.fields["combined_cost"], json!(42.5));
    assert!(!e.fields.contains_key("call_analysis"));
    assert_eq!(e.payload_ref, "calls/acme/call_1/call_analyzed.json");

    let seed = event(
        EventKind::CallEnded,
        json!({"call_id": "call_abc123", "agent_id": "agent_123",
               "customer_number": "+49123456789", "start_timestamp": 1704974400000i64,
               "end_timestamp": 1704974700000i64, "duration_seconds": 300,
               "transcript": "...", "summary": "Customer booked appointment for haircut",
               "custom_data": {"appointment_date": "2024-01-15", "appointment_time": "14:00"}}),
    );
    assert_eq!(seed.fields["from_number"], json!("+49123456789"));
    assert_eq!(seed.fields["duration_ms"], json!(300_000));
    assert_eq!(
        seed.fields["call_summary"],
        json!("Customer booked appointment for haircut")
    );
    assert_eq!(
        seed.fields["custom_data"]["appointment_time"],
        json!("14:00")
    );
    assert!(!seed.fields.contains_key("customer_number"));
}

#[test]
fn phones_become_e164_or_are_kept_aside() {
    assert_eq!(started().fields["from_number"], json!("+4917611112222"));
    let web = event(
        EventKind::CallStarted,
        json!({"call_id": "call_w", "from_number": "anonymous", "call_status": "ongoing"}),
    );
    assert!(!web.fields.contains_key("from_number"));
    assert_eq!(web.fields["from_number_raw"], json!("anonymous"));
}

#[test]
fn rejects_payloads_that_are_not_this_event() {
    let bad = |body: &str| CallEvent::from_payload(EventKind::CallEnded, "a", 0, body.as_bytes());
    assert!(matches!(bad("{"), Err(CallEventError::InvalidJson(_))));
    assert!(matches!(
        bad(r#"{"event":"call_started","call":{"call_id":"c"}}"#),
        Err(CallEventError::WrongEvent { .. })
    ));
    assert_eq!(
        bad(r#"{"event":"call_ended"}"#),
        Err(CallEventError::MissingCall)
    );
    assert_eq!(
        bad(r#"{"event":"call_ended","call":{}}"#),
        Err(CallEventError::MissingCallId)
    );
    assert!(matches!(
        bad(r#"{"event":"call_ended","call":{"call_id":"a b"}}"#),
        Err(CallEventError::InvalidCallId(_))
    ));
}

#[test]
fn payload_cannot_overwrite_bookkeeping() {
    let e = event(
        EventKind::CallStarted,
        json!({"call_id": "c", "company_id": "evil", "version": 99, "events_applied": [],
               "needs_follow_up": false, "call_analysis": {"unresolved_writes": []}}),
    );
    assert!(!e.fields.contains_key("company_id"));
    assert!(!e.fields.contains_key("needs_follow_up"));
    assert!(!e.fields.contains_key("unresolved_writes"));
    assert!(!e.fields.contains_key("version"));
    let applied = CallRecord::apply(None, &e, &BERLIN).expect("new");
    assert_eq!(applied.record.company_id, "acme");
}

#[test]
fn in_order_gives_the_full_record_and_stats() {
    let (record, stats) = fold(&[started(), ended(), analyzed()]);
    assert_eq!(record.call_status(), Some("ended"));
    assert_eq!(record.str("call_summary"), Some("Booked a haircut"));
    assert_eq!(record.str("disconnection_reason"), Some("user_hangup"));
    assert_eq!(record.int("duration_ms"), Some(300_000));
    assert_eq!(record.active_company(), None);
    assert_eq!(record.payload_refs.len(), 3);
    assert_eq!(stats.len(), 1);
    let day = &stats["2024-01-11"];
    assert_eq!(day.calls, 1);
    assert_eq!(day.minutes, 5);
    assert_eq!(day.successful, 1);
    assert_eq!(day.sentiment_positive, 1);
    assert_eq!(day.completed, 1);
    assert_eq!(day.booked, 1);
    assert_eq!(record.booked_appointments(), vec!["apt_0123456789abcdef"]);
    assert_eq!(day.cost_cents, 43);
    assert_eq!((day.latency_calls, day.latency_e2e_ms), (1, 812));
    // 12:00 UTC is 13:00 in Berlin; five minutes long is the 5-10 min bucket.
    assert_eq!(day.by_hour[13], 1);
    assert_eq!(day.by_hour.iter().sum::<i64>(), 1);
    assert_eq!(day.by_duration, [0, 0, 0, 1, 0]);
}

#[test]
fn a_booking_stays_counted_once_when_the_tool_log_is_trimmed_away() {
    // A long call: its word-level fields do not fit the item, but what it booked does.
    let words: Vec<Value> = (0..40_000)
        .map(|i| json!({"word": "Termin", "start": i, "end": i + 1}))
        .collect();
    let mut long_ended = ended();
    long_ended.fields.insert(
        "transcript_object".into(),
        json!([{"role": "user", "words": words}]),
    );
    let (record, stats) = fold(&[started(), long_ended, analyzed()]);
    assert!(record.trimmed_fields.contains("transcript_object"));
    assert_eq!(stats["2024-01-11"].booked, 1);
    assert_eq!(record.booked_appointments(), vec!["apt_0123456789abcdef"]);
}

#[test]
fn calls_that_did_not_run_their_course_are_not_completed() {
    for (status, reason, completed) in [
        ("ended", "agent_hangup", 1),
        ("ended", "error_llm_websocket_open", 0),
        ("ended", "dial_no_answer", 0),
        ("not_connected", "dial_busy", 0),
        ("error", "user_hangup", 0),
    ] {
        let e = event(
            EventKind::CallEnded,
            json!({"call_id": "c", "call_status": status, "disconnection_reason": reason,
                   "start_timestamp": START}),
        );
        let (_, stats) = fold(&[e]);
        assert_eq!(
            stats["2024-01-11"].completed, completed,
            "{status} {reason}"
        );
    }
}

#[test]
fn a_record_from_before_hours_were_counted_adds_its_hour_when_it_changes() {
    let (mut legacy, _) = fold(&[started()]);
    legacy.stats_hour = None; // as stored before this version
    let applied = CallRecord::apply(Some(&legacy), &ended(), &BERLIN).expect("new event");
    let delta = applied.stats[0].delta;
    assert_eq!(delta.by_hour[13], 1, "the hour the old count lacked");
    assert_eq!(delta.calls, 0);
}

#[test]
fn analyzed_first_then_started_still_ends_ended() {
    let (record, _) = fold(&[analyzed(), started()]);
    assert_eq!(record.call_status(), Some("ended"));
    assert_eq!(record.active_company(), None);
    // call_started's fields that analyzed lacked are still filled in.
    assert_eq!(record.str("call_type"), Some("phone_call"));
}

#[test]
fn events_without_a_status_say_how_far_the_call_got() {
    let tz = chrono_tz::Europe::Berlin;
    let bare = |kind, extra: Value| {
        let mut call =
            json!({"call_id": "c_bare", "agent_id": "a", "start_timestamp": 1_704_974_400_000i64});
        if let (Some(c), Some(e)) = (call.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        event(kind, call)
    };
    let ended = bare(EventKind::CallEnded, json!({}));
    let applied = CallRecord::apply(None, &ended, &tz).expect("applied");
    assert_eq!(applied.record.call_status(), Some("ended"));
    assert_eq!(applied.record.active_company(), None);
    // A later started never moves it back.
    let started = bare(EventKind::CallStarted, json!({"call_status": "ongoing"}));
    let after = CallRecord::apply(Some(&applied.record), &started, &tz).expect("applied");
    assert_eq!(after.record.call_status(), Some("ended"));
    // A status Retell sent wins over a derived one, in either order.
    let errored = bare(EventKind::CallEnded, json!({"call_status": "error"}));
    let analyzed = bare(EventKind::CallAnalyzed, json!({}));
    for order in [[&errored, &analyzed], [&analyzed, &errored]] {
        let mut record = None;
        for e in order {
            record = CallRecord::apply(record.as_ref(), e, &tz).map(|a| a.record);
        }
        assert_eq!(
            record
                .and_then(|r| r.call_status().map(str::to_owned))
                .as_deref(),
            Some("error")
        );
    }
    let started_bare = bare(EventKind::CallStarted, json!({}));
    let applied = CallRecord::apply(None, &started_bare, &tz).expect("applied");
    assert_eq!(applied.record.call_status(), Some("ongoing"));
}

#[test]
fn started_alone_is_active() {
    let (record, stats) = fold(&[started()]);
    assert_eq!(record.active_company(), Some("acme"));
    assert_eq!(stats["2024-01-11"].calls, 1);
    assert_eq!(stats["2024-01-11"].connected, 0);
}

#[test]
fn duplicates_are_no_ops() {
    let (once, stats_once) = fold(&[started(), ended(), analyzed()]);
    let (twice, stats_twice) = fold(&[
        started(),
        ended(),
        ended(),
        analyzed(),
        started(),
        analyzed(),
    ]);
    assert_eq!(once.fields, twice.fields);
    assert_eq!(stats_once, stats_twice);
}

#[test]
fn never_connected_call_keeps_its_reason() {
    let no_answer = event(
        EventKind::CallEnded,
        json!({"call_id": "call_2", "call_status": "not_connected",
               "disconnection_reason": "dial_no_answer", "direction": "outbound",
               "end_timestamp": START}),
    );
    let (record, stats) = fold(&[no_answer]);
    assert_eq!(record.call_status(), Some("not_connected"));
    assert_eq!(record.str("disconnection_reason"), Some("dial_no_answer"));
    assert_eq!(record.call_ts(), START);
    assert_eq!(stats["2024-01-11"].calls, 1);
    assert_eq!(stats["2024-01-11"].connected, 0);
}

#[test]
fn stats_day_is_company_local() {
    // 23:30 UTC on 2024-01-11 is already the 12th in Berlin.
    let late = event(
        EventKind::CallStarted,
        json!({"call_id": "c", "call_status": "ongoing", "start_timestamp": START + 11 * 3_600_000 + 1_800_000}),
    );
    let (record, stats) = fold(&[late]);
    assert_eq!(record.stats_day, "2024-01-12");
    assert!(stats.contains_key("2024-01-12"));
}

#[test]
fn stats_move_when_a_later_event_reveals_the_real_day() {
    // call_ended without start_timestamp is first seen days later; call_started then
    // supplies the real start, and the count moves to that day.
    let ended_late = CallEvent::from_payload(
        EventKind::CallEnded,
        "acme",
        START + 5 * 86_400_000,
        json!({"event": "call_ended", "call": {"call_id": "c", "call_status": "ended"}})
            .to_string()
            .as_bytes(),
    )
    .expect("valid");
    let (_, stats) = fold(&[ended_late, started()]);
    assert_eq!(stats.len(), 1, "{stats:?}");
    assert_eq!(stats["2024-01-11"].calls, 1);
}

#[test]
fn oversized_records_are_trimmed_to_budget() {
    let words: Vec<Value> = (0..40_000)
        .map(|i| json!({"word": "Termin", "start": i, "end": i + 1}))
        .collect();
    let big = event(
        EventKind::CallEnded,
        json!({"call_id": "call_big", "call_status": "ended", "transcript": "wort ".repeat(200_000),
               "transcript_object": [{"role": "user", "words": words}]}),
    );
    let applied = CallRecord::apply(None, &big, &BERLIN).expect("new");
    let r = applied.record;
    assert!(r.approximate_size() <= ITEM_BUDGET_BYTES);
    assert!(r.transcript_truncated);
    assert!(r.trimmed_fields.contains("transcript_object"));
    assert!(r.str("transcript").is_some_and(|t| t.len() > 100_000));
    assert_eq!(r.call_status(), Some("ended"));
}

/// Bookings per staff member by day, as the statistics table would add them up.
fn fold_staff(events: &[CallEvent]) -> BTreeMap<String, StaffBookings> {
    let mut record: Option<CallRecord> = None;
    let mut days: BTreeMap<String, StaffBookings> = BTreeMap::new();
    for e in events {
        if let Some(applied) = CallRecord::apply(record.as_ref(), e, &BERLIN) {
            for d in applied.stats {
                let day = days.entry(d.day).or_default();
                for (name, n) in d.staff {
                    *day.entry(name).or_default() += n;
                }
            }
            let mut next = applied.record;
            next.version += 1;
            record = Some(next);
        }
    }
    for day in days.values_mut() {
        day.retain(|_, n| *n != 0);
    }
    days.retain(|_, d| !d.is_empty());
    days
}

#[test]
fn bookings_count_once_per_staff_member_in_any_order() {
    let staffed = |kind: EventKind, extra: Value| {
        let mut call = json!({"call_id": "c", "agent_id": "a", "start_timestamp": START,
        "transcript_with_tool_calls": [
            {"role": "tool_call_invocation", "tool_call_id": "t1", "name": "book_appointment", "arguments": "{}"},
            {"role": "tool_call_result", "tool_call_id": "t1",
             "content": "{\"success\":true,\"appointment_id\":\"apt_0123456789abcdef\",\"staff\":\"Anna\"}"},
            {"role": "tool_call_invocation", "tool_call_id": "t2", "name": "book_appointment", "arguments": "{}"},
            {"role": "tool_call_result", "tool_call_id": "t2",
             "content": "{\"success\":false,\"staff\":\"Ben\"}"},
            {"role": "tool_call_invocation", "tool_call_id": "t3", "name": "book_appointment", "arguments": "{}"},
            {"role": "tool_call_result", "tool_call_id": "t3",
             "content": "{\"success\":true,\"appointment_id\":\"apt_00000000000000ff\",\"staff\":\"Anna\"}"}
        ]});
        if let (Some(call), Some(extra)) = (call.as_object_mut(), extra.as_object()) {
            call.extend(extra.clone());
        }
        event(kind, call)
    };
    let all = [
        staffed(EventKind::CallStarted, json!({"call_status": "ongoing"})),
        staffed(
            EventKind::CallEnded,
            json!({"call_status": "ended", "duration_ms": 60_000}),
        ),
        staffed(EventKind::CallAnalyzed, json!({"call_status": "ended"})),
    ];
    let want: BTreeMap<String, StaffBookings> =
        [("2024-01-11".to_owned(), [("Anna".to_owned(), 2)].into())].into();
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let events: Vec<CallEvent> = order
            .iter()
            .flat_map(|i| [all[*i].clone(), all[*i].clone()])
            .collect();
        assert_eq!(fold_staff(&events), want, "order {order:?}");
    }
    let (record, _) = fold(&all);
    assert_eq!(record.staff_bookings(), [("Anna".to_owned(), 2)].into());
    // A payload cannot bring its own count.
    let forged = event(
        EventKind::CallStarted,
        json!({"call_id": "c", "agent_id": "a", "start_timestamp": START, "booked_staff": ["Mallory"]}),
    );
    assert!(fold_staff(&[forged]).is_empty());
}

#[test]
fn the_staff_asked_for_are_kept_once_each_and_cannot_be_faked() {
    let asked = |id: &str, name: &str| {
        [
            json!({"role": "tool_call_invocation", "tool_call_id": id, "name": "check_availability", "arguments": "{}"}),
            json!({"role": "tool_call_result", "tool_call_id": id,
                   "content": json!({"available": false, "staff_asked": name}).to_string()}),
        ]
    };
    let log: Vec<Value> = [asked("t1", "Ben"), asked("t2", "Anna"), asked("t3", "Ben")]
        .into_iter()
        .flatten()
        .collect();
    let e = event(
        EventKind::CallEnded,
        json!({"call_id": "call_1", "agent_id": "agent_1", "call_status": "ended",
               "start_timestamp": START, "end_timestamp": START + 60_000,
               "transcript_with_tool_calls": log}),
    );
    let (record, _) = fold(&[started(), e]);
    assert_eq!(record.fields["asked_staff"], json!(["Ben", "Anna"]));
    // A payload that names the field itself is not believed.
    let faked = event(
        EventKind::CallEnded,
        json!({"call_id": "call_1", "agent_id": "agent_1", "call_status": "ended",
               "start_timestamp": START, "asked_staff": ["Mallory"]}),
    );
    let (record, _) = fold(&[started(), faked]);
    assert!(
        !record.fields.contains_key("asked_staff"),
        "{:?}",
        record.fields
    );
}
