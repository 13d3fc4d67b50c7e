"""Operations against the local stack: processing paused while traffic flows (nothing stored,
nothing lost) and resumed; the daily backup run as its schedule runs it, restored into a fresh
stack with every item back; `logs`; `simulate-call --at --staff`."""

import json
import shutil
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from test_local_stack import aws, call_events, get_call, wait_for
from test_retell_ops import ops
from test_runbook import admin_token, get

from bootstrap import bootstrap


def send_call(stack, call_id):
    """A whole call's three webhooks, signed; each accepted."""
    for event in call_events(call_id, int(time.time() * 1000) - 120_000):
        body = json.dumps(event)
        code, text = stack.post_webhook(body, stack.sign(body))
        assert code in (200, 204), (code, text)


def fully_stored(stack, call_id):
    item = get_call(stack, call_id)
    return bool(item) and set(item.get("events_applied", {}).get("SS", [])) >= {
        "call_started", "call_ended", "call_analyzed"}


def check(report, what):
    return next(c for c in report["checks"] if c["what"] == what)


@pytest.fixture
def resumes_all(stack):
    """Whatever a test paused runs again after it, passed or not: the other tests need it."""
    yield
    ops(stack, "resume", "all", check=False)


def test_pausing_consumers_while_traffic_flows_stores_nothing_until_resumed_then_everything_once(stack, resumes_all):
    sent, stop = [], threading.Event()

    def traffic():
        while not stop.is_set():
            call_id = f"call_pause_{uuid.uuid4().hex[:12]}"
            send_call(stack, call_id)
            sent.append((time.time(), call_id))
            time.sleep(0.5)

    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(sent) >= 2 and fully_stored(stack, sent[0][1]), timeout=60)
        _, paused, _ = ops(stack, "pause", "consumers")
        assert [p["running"] for p in paused["paused"]] == ["paused"]
        assert {m["state"] for m in paused["paused"][0]["mappings"]} == {"Disabled"}
        # Batches already being delivered finish, as in Lambda; then nothing more is taken.
        time.sleep(4)
        quiet_from = time.time()
        time.sleep(8)
    finally:
        stop.set()
        thread.join(timeout=30)
    during = [c for t, c in sent if t > quiet_from]
    assert len(during) >= 5, sent
    assert all(get_call(stack, c) is None for c in during), "stored while paused"
    code, health, _ = ops(stack, "health", check=False)
    assert code == 1
    consumers = check(health, "consumers running")
    assert consumers["status"] == "failed" and "paused" in consumers["detail"]
    assert check(health, "messaging running")["status"] == "ok"
    queued = sum(q["visible"] + q["in_flight"] for q in health["queues"] if q["event"].startswith("call_"))
    assert queued >= 3 * len(during)

    resumed_at = time.time()
    _, resumed, _ = ops(stack, "resume", "consumers")
    assert [p["running"] for p in resumed["resumed"]] == ["running"] and resumed["queued"] >= 3 * len(during)
    wait_for(lambda: all(fully_stored(stack, c) for _, c in sent), timeout=180, interval=1)
    print(f"pause: {len(sent)} calls sent, {len(during)} while paused, {resumed['queued']} events queued, "
          f"all stored {time.time() - resumed_at:.1f} s after resume")
    # Once each: every event applied once, no call twice.
    for _, c in sent:
        item = get_call(stack, c)
        assert sorted(item["events_applied"]["SS"]) == ["call_analyzed", "call_ended", "call_started"]
    _, health, _ = ops(stack, "health", check=False)
    assert check(health, "consumers running")["status"] == "ok"


def test_pausing_the_schedules_turns_their_rules_off_and_resume_all_turns_everything_on(stack, resumes_all):
    _, paused, _ = ops(stack, "pause", "messaging", "reconcile")
    by_part = {p["part"]: p for p in paused["paused"]}
    assert set(by_part) == {"messaging", "reconcile"}
    assert {r["state"] for r in by_part["reconcile"]["rules"]} == {"DISABLED"}
    assert {m["state"] for m in by_part["messaging"]["mappings"]} == {"Disabled"}
    events = aws(stack, "events")
    assert events.describe_rule(Name=by_part["reconcile"]["rules"][0]["name"])["State"] == "DISABLED"
    code, health, _ = ops(stack, "health", check=False)
    assert code == 1 and check(health, "reconcile running")["status"] == "failed"
    # The overview says so, and how to undo it.
    token = admin_token(stack)
    overview = f"{stack.control_center_url()}/"
    status, page = get(overview, token)
    # (in the admin's language: German for the demo admin)
    assert status == 200 and "pausiert: messaging, reconcile" in page and "retell-ops resume messaging reconcile" in page
    _, resumed, _ = ops(stack, "resume", "all")
    assert {p["part"]: p["running"] for p in resumed["resumed"]} == {
        "consumers": "running", "messaging": "running", "reconcile": "running"}
    status, page = get(overview, token)
    assert status == 200 and "pausiert:" not in page and ">läuft<" in page
    # What is not a part is refused by the parser, and nothing was switched.
    code, _, err = ops(stack, "pause", "webhook", check=False)
    assert code == 2 and "webhook" in err


def invoke_scheduled(stack, function):
    """Runs `function` as its EventBridge schedule does (the pump's scheduled event)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event = {"version": "0", "id": f"test-{uuid.uuid4().hex}", "detail-type": "Scheduled Event",
             "source": "aws.events", "account": "123456789012", "time": now, "region": "eu-central-1",
             "resources": [], "detail": {}}
    req = urllib.request.Request(f"{stack.api}/2015-03-31/functions/{function}/invocations",
                                 data=json.dumps(event).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


TABLES = {"calls": "CallsTable", "statistics": "CallStatsTable", "appointments": "AppointmentsTable",
          "companies": "CompaniesTable", "audit": "AuditTable"}


def scan(stack_description, logical, db):
    table = stack_description["resources"][logical]["Ref"]
    items, start = [], None
    while True:
        page = db.scan(TableName=table, **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def live(items, ttl_attr, now):
    """Items whose time to live has not passed (a restore does not bring the others back)."""
    return [i for i in items if not (ttl_attr and ttl_attr in i and 0 < float(i[ttl_attr]["N"]) < now)]


def canonical(items):
    return sorted(json.dumps(i, sort_keys=True) for i in items)


def test_the_scheduled_backup_restores_into_a_fresh_stack_with_every_item_back(stack, tmp_path):
    ops(stack, "simulate-call", "--type", "appointment", "--customer", "+4915155501234")
    ops(stack, "privacy", "export", "--phone", "+4915155501234", "--company", "demo", "--out", str(tmp_path / "x.json"))
    s3, db = aws(stack, "s3"), aws(stack, "dynamodb")
    bucket = stack.description["resources"]["EventsBucket"]["Ref"]
    # A run past its retention, as an earlier day's run would be: the next run deletes it.
    old = {"stamp": "20200101T000000Z", "bucket": bucket, "created_at": "2020-01-01T00:00:00Z", "keep_days": 7,
           "keep_until": "2020-01-08T00:00:00Z", "tables": {}, "agents": []}
    s3.put_object(Bucket=bucket, Key="backups/tables/20200101T000000Z/manifest.json", Body=json.dumps(old))
    s3.put_object(Bucket=bucket, Key="backups/tables/20200101T000000Z/calls/x.gz", Body=b"x")

    now = time.time()
    before = {role: scan(stack.description, logical, db) for role, logical in TABLES.items()}
    started = time.time()
    report = invoke_scheduled(stack, "backup")
    print(f"backup: the scheduled run answered in {time.time() - started:.2f} s")
    place = report["place"]
    assert place.startswith(f"s3://{bucket}/backups/tables/") and report["expired"] == ["20200101T000000Z"]
    assert not s3.list_objects_v2(Bucket=bucket, Prefix="backups/tables/20200101T000000Z/").get("Contents")
    manifest = report["manifest"]
    assert set(manifest["tables"]) == set(TABLES)
    assert {"agents/agent_demo.json", "agents/agent_calcom_demo.json"} <= set(manifest["agents"])
    assert 1 <= manifest["keep_days"] <= 35
    agent = json.loads(s3.get_object(Bucket=bucket, Key=f"{place[len(f's3://{bucket}/'):]}/agents/agent_demo.json")["Body"].read())
    assert agent["agent"]["agent_id"] == "agent_demo" and agent["llm"]["llm_id"]
    wait_for(lambda: ops(stack, "backup", "list")[1]["backups"][-1]["state"] == "complete", timeout=120)
    assert ops(stack, "backup", "list")[1]["backups"][-1]["place"] == place

    # A fresh stack: the template's tables, empty, beside the test stack in the same emulator.
    prefix = f"fresh{uuid.uuid4().hex[:6]}-"
    fresh = bootstrap(stack.endpoint, prefix, {"RetellApiKey": stack.api_key}, "eu-central-1")
    fresh["endpoints"] = stack.description["endpoints"]
    state = Path(tempfile.mkdtemp(prefix="retell-fresh-"))
    (state / "stack.json").write_text(json.dumps(fresh))

    class Fresh:  # what `ops` needs of a stack
        state_dir = state
        bin_dir = stack.bin_dir

    try:
        assert all(not scan(fresh, logical, db) for logical in TABLES.values())
        _, dry, _ = ops(Fresh, "backup", "restore", "--from", place, "--dry-run")
        rows = {t["role"]: t for t in dry["tables"]}
        assert set(rows) == set(TABLES)
        assert all(r["already_there"] == 0 and r["unreadable"] == 0 for r in rows.values())
        assert all(not scan(fresh, logical, db) for logical in TABLES.values()), "a dry run wrote"

        started = time.time()
        _, done, _ = ops(Fresh, "backup", "restore", "--from", place)
        print(f"restore: {sum(t['brought_back'] for t in done['tables'])} items in {time.time() - started:.1f} s")
        done_rows = {t["role"]: t for t in done["tables"]}
        for role, logical in TABLES.items():
            ttl = db.describe_time_to_live(TableName=fresh["resources"][logical]["Ref"])["TimeToLiveDescription"]
            ttl_attr = ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None
            expected = live(before[role], ttl_attr, now)
            got = scan(fresh, logical, db)
            assert canonical(got) == canonical(expected), role
            assert done_rows[role]["brought_back"] == len(expected) == rows[role]["brought_back"], role
        assert done["missing_agents"] == []

        # Again: a stack whose tables hold items is refused, before anything is written...
        code, body, err = ops(Fresh, "backup", "restore", "--from", place, check=False)
        assert code == 1 and "holds items" in (err + json.dumps(body))
        # ...merged, the calls: everything is there already, nothing is written twice...
        _, again, _ = ops(Fresh, "backup", "restore", "--from", place, "--table", "calls", "--merge")
        assert [(t["role"], t["brought_back"], t["already_there"]) for t in again["tables"]] == [
            ("calls", 0, rows["calls"]["brought_back"])]
        # ...and appointments and companies are never merged (their deletions are decisions).
        for table in ("appointments", "companies"):
            code, body, err = ops(Fresh, "backup", "restore", "--from", place, "--table", table, "--merge", check=False)
            assert code == 1 and "not merged" in (err + json.dumps(body)), table
        for bad, needle in [(["--from", "s3://x/backups/tables/../../etc"], "not a backup"),
                            (["--from", place, "--table", "agents"], "--table"),
                            (["--from", f"s3://{bucket}/backups/tables/20190101T000000Z"], "")]:
            code, body, err = ops(Fresh, "backup", "restore", *bad, check=False)
            assert code != 0 and needle in (err + json.dumps(body)), (bad, err)
    finally:
        shutil.rmtree(state, ignore_errors=True)


def test_logs_shows_a_calls_lines_by_function_and_level_with_numbers_masked(stack):
    call_id = f"call_logs_{uuid.uuid4().hex[:12]}"
    send_call(stack, call_id)
    wait_for(lambda: fully_stored(stack, call_id), timeout=60)

    def lines():
        return ops(stack, "logs", "--call-id", call_id, "--since", "10m")[1]["lines"]

    found = wait_for(lambda: {l["function"] for l in lines()} >= {"webhook", "call-ended"} and lines(), timeout=60)
    assert all(l["call_id"] == call_id for l in found)
    assert "+4917611112222" not in json.dumps(found)
    only = ops(stack, "logs", "--call-id", call_id, "--function", "call-ended", "--since", "10m")[1]["lines"]
    assert only and {l["function"] for l in only} == {"call-ended"}
    warns = ops(stack, "logs", "--function", "webhook", "--level", "warn", "--since", "10m")[1]["lines"]
    assert all(l["level"] in ("WARN", "ERROR") for l in warns)
    for bad in (["--function", "nope"], ["--level", "loud"], ["--call-id", "x" * 5000], ["--since", "tomorrow"]):
        code, body, err = ops(stack, "logs", *bad, check=False)
        assert code != 0, bad


def test_simulate_call_books_the_time_and_person_asked_for(stack):
    import datetime
    from zoneinfo import ZoneInfo
    day = datetime.datetime.now(ZoneInfo("Europe/Berlin")).date() + datetime.timedelta(days=9)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    at = f"{day.isoformat()}T15:15"
    _, played, _ = ops(stack, "simulate-call", "--type", "appointment", "--at", at,
                       "--customer", "+4915155507777", "--company", "demo")
    booked = [t for t in played["tools"] if t["name"] == "book_appointment"]
    assert booked and booked[0]["args"]["time"] == "15:15" and booked[0]["args"]["date"] == day.isoformat()
    assert played["booking"] and played["ok"] is True
    code, body, err = ops(stack, "simulate-call", "--type", "question", "--at", at, check=False)
    assert code != 0 and "--at" in (err + json.dumps(body))
    for bad in ("2020-01-01T10:00", "tomorrow", "2026-12-15"):
        code, _, _ = ops(stack, "simulate-call", "--at", bad, check=False)
        assert code != 0, bad


def test_log_level_and_debug_functions_give_lambda_and_rust_log_the_same_level(stack):
    described = bootstrap(stack.endpoint, f"lvl{uuid.uuid4().hex[:6]}-",
                          {"RetellApiKey": "key_levels", "LogLevel": "TRACE", "DebugFunctions": "reconcile,call-ended"},
                          "eu-central-1")
    assert len(described["functions"]) == len(stack.description["functions"])
    for name, fn in described["functions"].items():
        want = "DEBUG" if name in ("reconcile", "call-ended") else "TRACE"
        assert fn["env"]["AWS_LAMBDA_LOG_LEVEL"] == want, name
        assert fn["env"]["RUST_LOG"].split(",")[0] == want.lower(), name
    # The stack under test: the default, INFO, everywhere.
    for name, fn in stack.description["functions"].items():
        assert (fn["env"]["AWS_LAMBDA_LOG_LEVEL"], fn["env"]["RUST_LOG"].split(",")[0]) == ("INFO", "info"), name
