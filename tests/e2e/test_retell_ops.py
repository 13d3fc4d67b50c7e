"""The operator's side against the local stack and its Retell simulator: `retell-ops` commands,
a simulated appointment call played end to end through the stack the CLI synced, and calls whose
webhooks were dropped recovered by `import-calls` and by the reconcile Lambda, counted once."""

import datetime
import json
import os
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest
from retell import Retell

from test_local_stack import aws, get_call, wait_for

ROOT = Path(__file__).resolve().parents[2]


def ops(stack, *args, key=None, check=True):
    """`retell-ops --local ARGS --json` against the test stack: (exit code, parsed JSON, stderr)."""
    env = {**os.environ, "LOCAL_STATE_DIR": str(stack.state_dir), "NO_COLOR": "1"}
    env.pop("RETELL_API_KEY", None)
    if key is not None:
        env["RETELL_API_KEY"] = key
    done = subprocess.run([str(stack.bin_dir / "retell-ops"), "--local", "--json", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    try:
        body = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        body = done.stdout
    if check:
        assert done.returncode == 0, f"retell-ops {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.returncode, body, done.stderr


def sim(stack, path, payload=None, timeout=120):
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(f"{stack.retell_url}{path}", data=data, method="POST" if data else "GET",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def sdk(stack):
    return Retell(api_key=stack.api_key, base_url=stack.retell_url, max_retries=0)


def stats(stack, company="demo"):
    table = stack.description["resources"]["CallStatsTable"]["Ref"]
    day = datetime.datetime.now(datetime.timezone.utc).astimezone().date().isoformat()
    item = aws(stack, "dynamodb").get_item(TableName=table, Key={"company_id": {"S": company}, "day": {"S": day}},
                                           ConsistentRead=True).get("Item") or {}
    return {k: int(v["N"]) for k, v in item.items() if "N" in v and k != "updated_at_ms"}


def events_applied(stack, call_id):
    item = get_call(stack, call_id)
    if not item:
        return set()
    return set(item.get("events_applied", {}).get("SS", []))


def play(stack, **call):
    body = {"direction": "inbound", "from_number": "+4917611112222", "to_number": "+493012345678",
            "wait": True, **call}
    return sim(stack, "/sim/calls", body, timeout=180)


def test_make_dev_wiring_passes_test_connection(stack):
    _, report, _ = ops(stack, "test-connection")
    assert report["ok"] is True, report
    failed = [c for c in report["checks"] if c["status"] == "failed"]
    assert not failed, failed
    whats = " ".join(c["what"] for c in report["checks"])
    assert "agent agent_demo" in whats and "check_availability" in whats and "number" in whats


def test_a_simulated_appointment_call_runs_end_to_end(stack):
    played = play(stack)
    call = played["call"]
    results = {r["name"]: r for r in played["tool_results"]}
    assert set(results) >= {"check_availability", "book_appointment"}, played["tool_results"]
    booked = json.loads(results["book_appointment"]["body"])
    assert booked["success"] is True, booked
    call_id = call["call_id"]
    wait_for(lambda: {"call_started", "call_ended", "call_analyzed"} <= events_applied(stack, call_id))
    item = get_call(stack, call_id)
    assert item["company_id"]["S"] == "demo"
    assert item["call_status"]["S"] == "ended"
    kinds = [e["role"] for e in call["transcript_with_tool_calls"]]
    assert "tool_call_invocation" in kinds and "tool_call_result" in kinds


def test_dropped_webhooks_are_recovered_by_import_calls_once(stack):
    before = stats(stack)
    played = play(stack, drop=["call_ended", "call_analyzed"])
    call_id = played["call"]["call_id"]
    wait_for(lambda: "call_started" in events_applied(stack, call_id))
    assert "call_ended" not in events_applied(stack, call_id)

    _, report, _ = ops(stack, "import-calls", "--from", "1 hour ago")
    assert report["ok"] is True and report["imported"] >= 1, report
    wait_for(lambda: {"call_ended", "call_analyzed"} <= events_applied(stack, call_id))
    wait_for(lambda: stats(stack).get("calls", 0) == before.get("calls", 0) + 1, timeout=60)

    # A second run finds everything present and changes no figure.
    _, again, _ = ops(stack, "import-calls", "--from", "1 hour ago")
    assert again["imported"] == 0 and again["failed"] == 0, again
    after = stats(stack)
    assert after["calls"] == before.get("calls", 0) + 1, (before, after)


def test_the_reconcile_lambda_recovers_a_call_retell_never_delivered(stack):
    before = stats(stack)
    played = play(stack, drop=["call_started", "call_ended", "call_analyzed"])
    call_id = played["call"]["call_id"]
    assert not events_applied(stack, call_id)
    req = urllib.request.Request(f"{stack.api}/2015-03-31/functions/reconcile/invocations", data=b"{}",
                                 method="POST", headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        summary = json.loads(resp.read())
    assert summary["window"]["imported"] >= 1 and not summary["errors"], summary
    wait_for(lambda: {"call_ended", "call_analyzed"} <= events_applied(stack, call_id))
    wait_for(lambda: stats(stack).get("calls", 0) == before.get("calls", 0) + 1, timeout=60)


def test_agents_as_code_export_diff_import_is_idempotent(stack, tmp_path):
    path = tmp_path / "demo.yaml"
    ops(stack, "agents", "export", "agent_demo", "--out", str(path))
    text = path.read_text()
    assert "agent_id: agent_demo" in text and "function: book_appointment" in text

    _, plan, _ = ops(stack, "agents", "diff", str(path))
    assert plan["plans"][0]["changes"] == [], plan

    path.write_text(text.replace("voice_speed: 1.0", "voice_speed: 1.1"))
    _, plan, _ = ops(stack, "agents", "diff", str(path))
    assert [c["field"] for c in plan["plans"][0]["changes"]] == ["agent.voice_speed"], plan
    ops(stack, "agents", "import", str(path))
    assert sdk(stack).agent.retrieve("agent_demo").voice_speed == 1.1
    _, plan, _ = ops(stack, "agents", "diff", str(path))
    assert plan["plans"][0]["changes"] == [], plan
    ops(stack, "agents", "reset", "agent_demo", "--yes")
    assert sdk(stack).agent.retrieve("agent_demo").voice_speed == 1.0


def test_a_bad_agent_file_changes_nothing_and_names_its_line(stack, tmp_path):
    good = tmp_path / "good.yaml"
    ops(stack, "agents", "export", "agent_calcom_demo", "--out", str(good))
    good.write_text(good.read_text().replace("voice_speed: 1.0", "voice_speed: 1.2"))
    bad = tmp_path / "bad.yaml"
    lines = good.read_text().splitlines()
    at = next(i for i, l in enumerate(lines) if l.strip().startswith("- function: cancel_appointment"))
    lines[at] = lines[at].replace("cancel_appointment", "order_pizza")
    bad.write_text("\n".join(lines) + "\n")
    code, _, err = ops(stack, "agents", "import", str(good), str(bad), check=False)
    assert code != 0
    assert f"{bad}:{at + 1}:" in err and "unknown tool" in err and "nothing was applied" in err, err
    assert sdk(stack).agent.retrieve("agent_calcom_demo").voice_speed == 1.0


def test_sync_points_a_drifted_agent_back_and_is_idempotent(stack):
    client = sdk(stack)
    client.agent.update("agent_calcom_demo", webhook_url="https://old.example.com/hook")
    _, plan, _ = ops(stack, "sync", "--dry-run")
    assert [c["id"] for c in plan["changes"]] == ["agent_calcom_demo"], plan
    assert client.agent.retrieve("agent_calcom_demo").webhook_url == "https://old.example.com/hook"
    ops(stack, "sync")
    assert client.agent.retrieve("agent_calcom_demo").webhook_url == stack.webhook_url()
    _, again, _ = ops(stack, "sync", "--dry-run")
    assert again["changes"] == [], again


def test_health_reports_queues_and_retell_concurrency(stack):
    code, report, _ = ops(stack, "health", check=False)
    assert {q["event"] for q in report["queues"]} == {"call_started", "call_ended", "call_analyzed"}
    assert report["retell_concurrency"]["limit"] is not None
    dead = sum(q["dead_letters"] for q in report["queues"])
    assert report["ok"] is (dead == 0) and (code == 0) is report["ok"], report


def test_a_wrong_retell_key_is_reported_clearly(stack):
    code, _, err = ops(stack, "agents", "list", key="key_wrong", check=False)
    assert code != 0 and "refused the API key" in err, err


@pytest.mark.parametrize("content,needle", [
    ("{not json", "1:"),
    ('{"company_id": "x"}', "missing field"),
])
def test_companies_load_refuses_a_bad_file(stack, tmp_path, content, needle):
    path = tmp_path / "company.json"
    path.write_text(content)
    code, _, err = ops(stack, "companies", "load", str(path), check=False)
    assert code != 0 and needle in err, err
