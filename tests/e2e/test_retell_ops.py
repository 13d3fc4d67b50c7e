"""The operator's side against the local stack and its Retell simulator: `retell-ops` commands,
a simulated appointment call played end to end through the stack the CLI synced, and calls whose
webhooks were dropped recovered by `import-calls` and by the reconcile Lambda, counted once."""

import datetime
import json
import os
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from zoneinfo import ZoneInfo
import retell
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
    assert {q["event"] for q in report["queues"]} == {"call_started", "call_ended", "call_analyzed", "messaging"}
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


# --- every command -------------------------------------------------------------------------------

COMMANDS = [[], ["test-connection"], ["health"], ["sync"], ["import-calls"], ["export-analytics"], ["backup"],
            ["simulate-call"], ["load-test"], ["metrics"],
            ["dlq"], *[["dlq", c] for c in ("list", "show", "redrive", "purge")], ["customers"],
            ["customers", "vip"],
            ["backup", "agents"], ["backup", "recordings"], ["backup", "calls"], ["backup", "tables"],
            ["backup", "list"], ["backup", "restore"], ["pause"], ["resume"], ["logs"], ["companies"],
            ["companies", "load"],
            ["agents"], *[["agents", c] for c in ("list", "get", "create", "update", "delete", "export", "import",
                                                 "diff", "publish", "reset")]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "retell-ops")
def test_every_command_has_help(stack, command):
    done = subprocess.run([str(stack.bin_dir / "retell-ops"), *command, "--help"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stderr
    assert "Usage: retell-ops" in done.stdout and "--json" in done.stdout and "--stack" in done.stdout


def ops_text(stack, *args, check=True):
    """`retell-ops --local ARGS` for people (no --json): (exit code, stdout, stderr)."""
    env = {**os.environ, "LOCAL_STATE_DIR": str(stack.state_dir), "NO_COLOR": "1"}
    env.pop("RETELL_API_KEY", None)
    done = subprocess.run([str(stack.bin_dir / "retell-ops"), "--local", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, f"retell-ops {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.returncode, done.stdout, done.stderr


def template_file(tmp_path, name, **agent):
    """The default template as a file of a new agent named `name` (with `agent` settings changed)."""
    text = (ROOT / "infra" / "ops" / "agents" / "default-de.yaml").read_text()
    text = text.replace("agent_name: Terminannahme (Standard)", f"agent_name: {name}")
    for key, value in agent.items():
        text = text.replace(f"  {key}: ", f"  {key}: {value}\n  # was: ", 1)
    path = tmp_path / f"{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(text)
    return path


def test_agents_create_list_get_update_publish_delete(stack, tmp_path):
    client = sdk(stack)
    name = f"E2E Neu {uuid.uuid4().hex[:6]}"
    path = template_file(tmp_path, name)
    _, created, _ = ops(stack, "agents", "create", str(path), "--publish")
    applied = created["applied"][0]
    agent_id = applied["agent_id"]
    try:
        assert applied["created"] is True and applied["published"] is True
        assert client.agent.retrieve(agent_id, version=0).is_published
        agent = client.agent.retrieve(agent_id)
        assert agent.agent_name == name and agent.webhook_url == stack.webhook_url()
        tools = {t.name: t for t in client.llm.retrieve(applied["llm_id"]).general_tools}
        assert tools["book_appointment"].url == stack.tool_url("book_appointment")

        _, listed, _ = ops(stack, "agents", "list")
        assert {"agent_id": agent_id, "agent_name": name} in [
            {k: a.get(k) for k in ("agent_id", "agent_name")} for a in listed["agents"]]
        _, got, _ = ops(stack, "agents", "get", agent_id)
        assert got["agent"]["agent_id"] == agent_id and got["llm"]["llm_id"] == applied["llm_id"]
        _, yaml_text, _ = ops_text(stack, "agents", "get", agent_id)
        assert f"agent_id: {agent_id}" in yaml_text and "- function: check_availability" in yaml_text
        _, exported, _ = ops(stack, "agents", "export", agent_id, "--format", "json", "--out", "-")
        assert exported["agent_id"] == agent_id and exported["agent"]["agent_name"] == name

        # update: the draft changes, the published version does not until `publish`.
        path.write_text(path.read_text().replace("voice_speed: 1.0", "voice_speed: 1.15"))
        _, updated, _ = ops(stack, "agents", "update", agent_id, str(path))
        assert updated["applied"][0]["changed"] == ["agent.voice_speed"]
        draft = client.agent.retrieve(agent_id)
        assert draft.voice_speed == 1.15 and not draft.is_published
        _, published, _ = ops(stack, "agents", "publish", agent_id)
        assert published["published_version"] == draft.version
        assert client.agent.retrieve(agent_id, version=draft.version).is_published
        _, again, _ = ops(stack, "agents", "publish", agent_id)  # the new draft equals it: publishable too
        assert again["ok"] is True

        # delete asks; without a terminal it needs --yes, and nothing is deleted without it.
        code, _, err = ops(stack, "agents", "delete", agent_id, check=False)
        assert code != 0 and "--yes" in err
        assert client.agent.retrieve(agent_id).agent_id == agent_id
        ops(stack, "agents", "delete", agent_id, "--yes")
        with pytest.raises(retell.NotFoundError):
            client.agent.retrieve(agent_id)
    finally:
        try:
            client.agent.delete(agent_id)
        except retell.NotFoundError:
            pass


def test_import_says_which_files_were_applied(stack, tmp_path):
    client = sdk(stack)
    first = tmp_path / "demo.yaml"
    ops(stack, "agents", "export", "agent_demo", "--out", str(first))
    first.write_text(first.read_text().replace("voice_speed: 1.0", "voice_speed: 1.05"))
    # A file of an agent deleted meanwhile: readable, but it cannot be applied.
    gone = template_file(tmp_path, f"E2E Weg {uuid.uuid4().hex[:6]}")
    _, created, _ = ops(stack, "agents", "create", str(gone))
    gone_id = created["applied"][0]["agent_id"]
    ops(stack, "agents", "export", gone_id, "--out", str(gone))
    client.agent.delete(gone_id)
    try:
        _, plan, _ = ops(stack, "agents", "import", str(first), "--dry-run")
        assert [c["field"] for c in plan["plans"][0]["changes"]] == ["agent.voice_speed"]
        assert client.agent.retrieve("agent_demo").voice_speed == 1.0  # a dry run changes nothing

        code, text, _ = ops_text(stack, "agents", "import", str(first), str(gone), check=False)
        assert code != 0
        assert f"applied: {first}" in text and f"not applied: {gone}" in text, text
        assert f"{gone} was not applied" in text and "does not exist at Retell" in text, text
        assert client.agent.retrieve("agent_demo").voice_speed == 1.05

        _, published, _ = ops(stack, "agents", "import", str(first), "--publish")
        assert published["applied"][0]["published"] is True
        version = client.agent.retrieve("agent_demo").version - 1
        assert client.agent.retrieve("agent_demo", version=version).voice_speed == 1.05
    finally:
        ops(stack, "agents", "reset", "agent_demo", "--yes")
    assert client.agent.retrieve("agent_demo").voice_speed == 1.0


def test_reset_returns_an_agent_to_a_file_or_to_the_template(stack, tmp_path):
    client = sdk(stack)
    path = tmp_path / "calcom.yaml"
    ops(stack, "agents", "export", "agent_calcom_demo", "--out", str(path))
    path.write_text(path.read_text().replace("voice_speed: 1.0", "voice_speed: 1.3"))
    code, _, err = ops(stack, "agents", "reset", "agent_calcom_demo", "--file", str(path), check=False)
    assert code != 0 and "--yes" in err  # it asks first
    ops(stack, "agents", "reset", "agent_calcom_demo", "--file", str(path), "--yes")
    assert client.agent.retrieve("agent_calcom_demo").voice_speed == 1.3
    ops(stack, "agents", "reset", "agent_calcom_demo", "--yes")
    agent = client.agent.retrieve("agent_calcom_demo")
    assert agent.voice_speed == 1.0 and agent.agent_name == "Salon Demo (Cal.com) Rezeption"  # its own name kept
    prompt = client.llm.retrieve(agent.response_engine.llm_id).general_prompt
    assert "{{current_date_spoken}}" in prompt and "{{company_name}}" in prompt


def failed_checks(report):
    return {c["what"]: c.get("detail") for c in report["checks"] if c["status"] == "failed"}


def test_sync_repairs_drifted_tools_and_numbers_that_test_connection_reports(stack):
    client = sdk(stack)
    tools = [t.model_dump(exclude_none=True) for t in client.llm.retrieve("llm_demo").general_tools]
    by_name = {t["name"]: t for t in tools}
    by_name["check_availability"]["url"] = "https://old.example.com/check"
    by_name["book_appointment"]["description"] = "alt"
    by_name["cancel_appointment"]["parameters"]["properties"]["reason_code"] = {"type": "string"}  # not in code
    client.llm.update("llm_demo", general_tools=tools)
    client.phone_number.update("+493012345678", inbound_webhook_url="https://old.example.com/inbound")

    code, report, _ = ops(stack, "test-connection", check=False)
    failed = failed_checks(report)
    assert code != 0 and report["ok"] is False
    assert set(failed) == {"LLM llm_demo tool check_availability", "LLM llm_demo tool book_appointment",
                           "LLM llm_demo tool cancel_appointment", "number …678 inbound_webhook_url"}, failed
    assert "parameters" in failed["LLM llm_demo tool cancel_appointment"]

    _, plan, _ = ops(stack, "sync", "--dry-run")
    changes = {(c["what"], c["id"]): c["field"] for c in plan["changes"]}
    assert changes == {("LLM tool", "llm_demo/check_availability"): "url",
                       ("LLM tool", "llm_demo/book_appointment"): "description",
                       ("LLM tool", "llm_demo/cancel_appointment"): "parameters",
                       ("number", "…678"): "inbound_webhook_url"}, plan
    ops(stack, "sync")
    _, report, _ = ops(stack, "test-connection")
    assert not failed_checks(report)
    fixed = {t.name: t for t in client.llm.retrieve("llm_demo").general_tools}
    assert "reason_code" not in fixed["cancel_appointment"].parameters.properties
    _, again, _ = ops(stack, "sync", "--dry-run")
    assert again["changes"] == [], again


def test_a_number_pinned_to_a_published_version_is_followed(stack):
    client = sdk(stack)
    number, agent_id = "+493012345679", "agent_calcom_demo"
    client.agent.update(agent_id, webhook_url="https://old.example.com/hook")
    old = client.agent.retrieve(agent_id).version
    client.agent.publish(agent_id, version=old)
    client.phone_number.update(number, inbound_agents=[{"agent_id": agent_id, "weight": 1, "agent_version": old}])
    try:
        pinned = f"number …679 → agent {agent_id} version {old}"
        code, report, _ = ops(stack, "test-connection", check=False)
        assert code != 0 and pinned in failed_checks(report), report

        # Without --publish the draft is fixed, but the version the number's calls get is not.
        code, synced, _ = ops(stack, "sync", check=False)
        assert code != 0 and synced["unresolved"] and "sync --publish" in synced["unresolved"][0], synced
        assert client.agent.retrieve(agent_id).webhook_url == stack.webhook_url()
        assert client.agent.retrieve(agent_id, version=old).webhook_url == "https://old.example.com/hook"

        _, synced, _ = ops(stack, "sync", "--publish")
        new = synced["published"][agent_id]
        assert new > old and client.agent.retrieve(agent_id, version=new).webhook_url == stack.webhook_url()
        assert client.phone_number.retrieve(number).inbound_agents[0].agent_version == new
        _, report, _ = ops(stack, "test-connection")
        assert f"number …679 → agent {agent_id} version {new}" in {c["what"] for c in report["checks"]}

        client.phone_number.update(number, inbound_agents=[
            {"agent_id": agent_id, "weight": 1, "agent_version": "latest_published"}])
        _, report, _ = ops(stack, "test-connection")
        assert not failed_checks(report)
    finally:
        client.phone_number.update(number, inbound_agents=[{"agent_id": agent_id, "weight": 1}])


def test_health_fails_while_an_event_waits_in_a_dead_letter_queue(stack):
    dlq = stack.description["resources"]["CallStartedDeadLetterQueue"]["QueueUrl"]
    sqs = aws(stack, "sqs")
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"probe": "health"}))
    try:
        code, report, _ = ops(stack, "health", check=False)
        started = next(q for q in report["queues"] if q["event"] == "call_started")
        assert code != 0 and report["ok"] is False and started["dead_letters"] >= 1, report
        assert "call_started dead-letter queue empty" in failed_checks(report)
        _, text, _ = ops_text(stack, "health", check=False)
        assert "❌ call_started dead-letter queue empty" in text and "dead letters" in text
    finally:
        for _ in range(5):
            for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", []):
                if json.loads(m["Body"]).get("probe") == "health":
                    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])


def berlin_day(ms):
    from zoneinfo import ZoneInfo
    return datetime.datetime.fromtimestamp(ms / 1000, ZoneInfo("Europe/Berlin")).date().isoformat()


def day_stats(stack, company, day, figure="calls"):
    table = stack.description["resources"]["CallStatsTable"]["Ref"]
    item = aws(stack, "dynamodb").get_item(TableName=table, Key={"company_id": {"S": company}, "day": {"S": day}},
                                           ConsistentRead=True).get("Item") or {}
    return int(item.get(figure, {}).get("N", 0))


def test_an_interrupted_import_resumes_without_double_counting(stack, tmp_path):
    client = sdk(stack)
    # Calls of an agent no company lists: they belong to the key's company ("default").
    llm = client.llm.create(general_prompt="p")
    agent = client.agent.create(response_engine={"type": "retell-llm", "llm_id": llm.llm_id},
                                voice_id="11labs-Anna", agent_name="E2E Import")
    start = (int(time.time()) - 7200) * 1000
    count = 60
    sim(stack, "/sim/calls/bulk", {"count": count, "agent_id": agent.agent_id, "from_number": "+4917611112222",
                                   "to_number": "+493012345678", "start_timestamp_ms": start, "spacing_ms": 1000})
    window = ["--from", iso(start), "--to", iso(start + count * 1000), "--page-size", "20"]
    days = {berlin_day(start), berlin_day(start + count * 1000)}
    before = sum(day_stats(stack, "default", d) for d in days)
    env = {**os.environ, "LOCAL_STATE_DIR": str(stack.state_dir), "NO_COLOR": "1", "XDG_STATE_HOME": str(tmp_path)}
    env.pop("RETELL_API_KEY", None)
    checkpoint = tmp_path / "retell-ops" / f"import-{stack.description['resources']['CallsTable']['Ref']}.json"
    try:
        sim(stack, "/sim/faults", {"rate_limit_per_second": 6})  # slow enough to be cut off part way
        run = subprocess.Popen([str(stack.bin_dir / "retell-ops"), "--local", "--json", "import-calls", *window,
                                "--concurrency", "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        wait_for(lambda: checkpoint.exists() and json.loads(checkpoint.read_text()).get("checkpoint"),
                 timeout=120, interval=0.05)
        run.kill()  # the operator's laptop went to sleep
        run.wait()
        saved = json.loads(checkpoint.read_text())
        assert 0 < saved["done"]["listed"] < count, saved
        sim(stack, "/sim/faults", {"reset": True})

        env_resume = {**env}
        done = subprocess.run([str(stack.bin_dir / "retell-ops"), "--local", "--json", "import-calls", "--resume",
                               "--page-size", "20"], cwd=ROOT, env=env_resume, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["resumed"] is True and report["listed"] == count and report["failed"] == 0, report
        assert report["imported"] + report["present"] == count
        assert not checkpoint.exists()  # a finished run leaves no checkpoint

        # Every call stored once, each counted once, whoever queued it and however often.
        ids = [c.call_id for c in client.call.list(limit=1000, filter_criteria={
            "agent": [{"agent_id": agent.agent_id}]}).items]
        assert len(ids) == count
        wait_for(lambda: all({"call_ended", "call_analyzed"} <= events_applied(stack, i) for i in ids), timeout=180)
        wait_for(lambda: sum(day_stats(stack, "default", d) for d in days) == before + count, timeout=60)
        _, again, _ = ops(stack, "import-calls", *window)
        assert (again["listed"], again["imported"], again["present"]) == (count, 0, count), again
        assert sum(day_stats(stack, "default", d) for d in days) == before + count
    finally:
        sim(stack, "/sim/faults", {"reset": True})
        client.agent.delete(agent.agent_id)


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_reconcile_lambda_completes_a_call_stuck_ongoing_for_hours(stack):
    began = int(time.time() * 1000) - 8 * 3_600_000  # outside the 6-hour window the job lists
    played = play(stack, drop=["call_ended", "call_analyzed"], start_timestamp_ms=began)
    call_id = played["call"]["call_id"]
    wait_for(lambda: "call_started" in events_applied(stack, call_id))
    assert get_call(stack, call_id)["call_status"]["S"] == "ongoing"
    day = berlin_day(began)
    calls, connected = day_stats(stack, "demo", day), day_stats(stack, "demo", day, "connected")
    req = urllib.request.Request(f"{stack.api}/2015-03-31/functions/reconcile/invocations", data=b"{}",
                                 method="POST", headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        summary = json.loads(resp.read())
    assert summary["stuck"]["imported"] >= 1 and not summary["errors"] and not summary["timed_out"], summary
    wait_for(lambda: {"call_ended", "call_analyzed"} <= events_applied(stack, call_id))
    assert get_call(stack, call_id)["call_status"]["S"] == "ended"
    # Counted once (at its start); its end adds the talk time.
    wait_for(lambda: day_stats(stack, "demo", day, "connected") == connected + 1)
    assert day_stats(stack, "demo", day) == calls
    assert "active_company" not in get_call(stack, call_id)  # off the active-calls index


def test_companies_load_writes_every_file(stack):
    table = stack.description["resources"]["CompaniesTable"]["Ref"]
    files = sorted(str(p) for p in (stack.state_dir / "companies").glob("*.json"))
    _, loaded, _ = ops(stack, "companies", "load", *files, "--table", table)
    assert loaded["ok"] is True and set(loaded["loaded"]) == {"demo", "salon-calcom"}, loaded
    for pk in ("company#demo", "agent#agent_demo", "number#+493012345678", "company#salon-calcom"):
        assert aws(stack, "dynamodb").get_item(TableName=table, Key={"pk": {"S": pk}}).get("Item"), pk


def test_a_deployed_stack_is_found_by_its_cloudformation_outputs(stack):
    """`--stack NAME` against CloudFormation (the emulator's): a stack whose outputs are the local
    stack's resources, so the deployed code path operates real queues, tables and the secret."""
    res = stack.description["resources"]
    outputs = {
        "WebhookUrl": stack.webhook_url(), "InboundWebhookUrl": stack.inbound_url(), "FunctionsBaseUrl": stack.api,
        "WebhookKeysSecretArn": res["RetellWebhookKeys"]["Ref"], "CallsTableName": res["CallsTable"]["Ref"],
        "CallStatsTableName": res["CallStatsTable"]["Ref"], "CompaniesTableName": res["CompaniesTable"]["Ref"],
        "EventsBucketName": res["EventsBucket"]["Ref"],
        **{f"{q}Url": res[q]["QueueUrl"] for e in ("CallStarted", "CallEnded", "CallAnalyzed", "Messaging")
           for q in (f"{e}Queue", f"{e}DeadLetterQueue")},
    }
    name = f"e2e-ops-{uuid.uuid4().hex[:6]}"
    template = {"Parameters": {"DefaultCompanyId": {"Type": "String"}},
                "Resources": {"Anchor": {"Type": "AWS::SQS::Queue", "Properties": {}}},
                "Outputs": {k: {"Value": v} for k, v in outputs.items()}}
    aws(stack, "cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template),
                                              Parameters=[{"ParameterKey": "DefaultCompanyId",
                                                           "ParameterValue": "default"}])
    env = {**os.environ, **stack.aws_env(), "RETELL_BASE_URL": stack.retell_url, "NO_COLOR": "1"}
    env.pop("RETELL_API_KEY", None)

    def deployed(*args):
        done = subprocess.run([str(stack.bin_dir / "retell-ops"), "--stack", name, "--json", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=300)
        return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr

    code, report, err = deployed("health")
    assert report is not None, err
    assert report["stack"] == f"stack {name} (eu-central-1)" and f"→ stack {name}" not in report["stack"]
    assert {q["event"] for q in report["queues"]} == {"call_started", "call_ended", "call_analyzed", "messaging"}
    assert report["retell_concurrency"]["limit"] is not None  # the key came from the stack's secret
    checks = {c["what"]: c for c in report["checks"]}
    assert checks["alarms"]["detail"] == "the stack has no CloudWatch alarms"
    # The oldest message's age is asked of CloudWatch. The Rust SDK speaks CloudWatch's CBOR
    # protocol, which the emulator does not, so here the check can only say it could not tell.
    drains = checks["call_started queue drains"]
    assert drains["status"] == "ok" or "expected map" in drains["detail"], drains
    code, agents, err = deployed("agents", "list")
    assert code == 0 and "agent_demo" in {a["agent_id"] for a in agents["agents"]}, err

    done = subprocess.run([str(stack.bin_dir / "retell-ops"), "--stack", "no-such-stack", "health"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "stack no-such-stack" in done.stderr, done.stderr


# --- export-analytics ----------------------------------------------------------------------------

def test_export_analytics_writes_the_calls_and_the_days_as_csv_and_json(stack, tmp_path):
    import csv
    import io

    played = play(stack)
    call_id = played["call"]["call_id"]
    wait_for(lambda: {"call_started", "call_ended", "call_analyzed"} <= events_applied(stack, call_id))

    # CSV on stdout, the summary on stderr.
    _, text, err = ops_text(stack, "export-analytics", "--company", "demo", "--from", "2 hours ago")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert "exported" in err and "1 company" in err, err
    mine = [r for r in rows if r["call_id"] == call_id]
    assert len(mine) == 1, rows
    assert mine[0]["company_id"] == "demo" and mine[0]["call_status"] == "ended"
    assert mine[0]["from_number"] == "+4917611112222" and int(mine[0]["duration_ms"]) > 0
    assert all(r["company_id"] == "demo" for r in rows)
    assert len({r["call_id"] for r in rows}) == len(rows), "a call exported twice"

    # JSON into a file, every company, a summary that says how many.
    out = tmp_path / "calls.json"
    _, summary, _ = ops(stack, "export-analytics", "--format", "json", "--from", "2 hours ago", "--out", str(out))
    exported = json.loads(out.read_text())
    assert summary["rows"] == len(exported) and "demo" in summary["companies"], summary
    assert [c for c in exported if c["call_id"] == call_id][0]["call_successful"] in (True, False)

    # The days: exactly the statistics table's figures.
    _, text, _ = ops_text(stack, "export-analytics", "days", "--company", "demo", "--from", "today")
    days = {r["day"]: r for r in csv.DictReader(io.StringIO(text))}
    today = berlin_day(played["call"]["start_timestamp"])
    assert int(days[today]["calls"]) == day_stats(stack, "demo", today) >= 1, days
    booked_by_staff = {name: day_stats(stack, "demo", today, f"booked_staff:{name}") for name in ("Anna", "Ben", "Clara")}
    assert days[today]["booked_by_staff"] == "; ".join(f"{n}={c}" for n, c in booked_by_staff.items() if c), days[today]

    # Bad input is refused with the reason and writes nothing.
    for args, needle in ((["--from", "now", "--to", "1d"], "must be before"),
                         (["--time-zone", "Mars/Olympus"], "unknown time zone"),
                         (["--from", "next tuesday"], "--from"),
                         (["--company", "deom"], "no company"),
                         (["--company", "x" * 100_000], "no company")):
        target = tmp_path / "refused.csv"
        code, _, err = ops_text(stack, "export-analytics", *args, "--out", str(target), check=False)
        assert code != 0 and needle in err, (args, code, err)
        assert not target.exists()


# --- backup agents -------------------------------------------------------------------------------

def test_backup_agents_writes_files_that_import_would_not_change(stack, tmp_path):
    _, report, _ = ops(stack, "backup", "agents", "--to", str(tmp_path))
    folder = Path(report["to"])
    assert folder.parent == tmp_path and folder.name.startswith("agents-"), report
    assert {"agent_demo.yaml", "agent_calcom_demo.yaml"} <= set(report["files"]), report
    assert sorted(p.name for p in folder.iterdir()) == sorted(report["files"] + ["manifest.json"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["files"] == report["files"], manifest
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    # A backup is a file agents-as-code takes back as it is: nothing to change.
    _, plan, _ = ops(stack, "agents", "diff", str(folder / "agent_demo.yaml"))
    assert plan["plans"][0]["changes"] == [], plan

    # To S3: the same files below the prefix, a folder per run.
    bucket = stack.description["resources"]["EventsBucket"]["Ref"]
    _, report, _ = ops(stack, "backup", "agents", "--format", "json", "--to", f"s3://{bucket}/backups/")
    assert report["to"].startswith(f"s3://{bucket}/backups/agents-"), report
    prefix = report["to"][len(f"s3://{bucket}/"):]
    s3 = aws(stack, "s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")["Contents"]}
    assert keys == {f"{prefix}/{name}" for name in report["files"] + ["manifest.json"]}, keys
    body = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/agent_demo.json")["Body"].read())
    assert body["agent_id"] == "agent_demo" and body["tools"], body

    for to, needle in (("s3:///nowhere", "not an s3://bucket"), ("S3://bucket/x", "a folder or s3://")):
        code, _, err = ops_text(stack, "backup", "agents", "--to", to, check=False)
        assert code != 0 and needle in err, (to, err)


# --- simulate-call and load-test ----------------------------------------------------------------

@pytest.mark.parametrize("kind,status,reason,tools,booked", [
    ("appointment", "ended", "user_hangup", ["check_availability", "book_appointment"], True),
    ("question", "ended", "user_hangup", ["get_customer_info"], False),
    ("no-answer", "not_connected", "dial_no_answer", [], False),
    ("voicemail", "ended", "voicemail_reached", [], False),
])
def test_simulate_call_plays_each_type_and_reads_back_what_was_stored(stack, kind, status, reason, tools, booked):
    customer = f"+49151{uuid.uuid4().int % 10**8:08d}"
    day = datetime.datetime.now(ZoneInfo("Europe/Berlin")).date().isoformat()
    before = day_stats(stack, "demo", day)
    booked_before = day_stats(stack, "demo", day, "booked")
    staff_before = {name: day_stats(stack, "demo", day, f"booked_staff:{name}") for name in ("Anna", "Ben", "Clara")}
    _, report, _ = ops(stack, "simulate-call", "--type", kind, "--customer", customer)
    assert report["ok"] is True and report["type"] == kind and report["company_id"] == "demo", report
    record = report["record"]
    assert record["call_status"] == status and record["disconnection_reason"] == reason, record
    events = {"call_ended", "call_analyzed"} | ({"call_started"} if kind != "no-answer" else set())
    assert set(record["events_applied"]) == events
    assert [t["name"] for t in report["tools"]] == tools
    assert all(t["status"] == 200 and t["reply"]["message"] for t in report["tools"]), report["tools"]
    assert report["customer"] != customer and customer[-4:] not in report["customer"]  # masked
    item = get_call(stack, report["call_id"])
    assert item["company_id"]["S"] == "demo" and item["call_status"]["S"] == status
    assert day_stats(stack, "demo", day) == before + 1
    if booked:
        appointment = report["booking"]["appointment_id"]
        assert record["booked_appointments"] == [appointment]
        assert report["booking"]["calendar"]["appointment_id"] == appointment
        assert day_stats(stack, "demo", day, "booked") == booked_before + 1
        # The day's bookings per staff member: the one the booking named, once.
        staff = next(t["reply"]["staff"] for t in report["tools"] if t["name"] == "book_appointment")
        after = {name: day_stats(stack, "demo", day, f"booked_staff:{name}") for name in staff_before}
        assert after == {**staff_before, staff: staff_before[staff] + 1}, (staff, staff_before, after)
    else:
        assert record["booked_appointments"] == [] and report["booking"] is None
    if kind == "voicemail":
        assert record["call_analysis"]["in_voicemail"] is True


def test_simulate_call_fails_when_the_stack_refuses_the_call(stack):
    code, report, _ = ops(stack, "simulate-call", "--type", "question", "--wait", "3", key="key_not_the_stacks",
                          check=False)
    assert code != 0 and report["ok"] is False
    failed = {c["what"]: c.get("detail", "") for c in report["checks"] if c["status"] == "failed"}
    assert "webhooks accepted" in failed and "401" in failed["webhooks accepted"], report["checks"]
    assert "call stored" in failed and report["record"] is None


def test_simulate_call_refuses_a_bad_number_or_company(stack):
    code, report, _ = ops(stack, "simulate-call", "--customer", "not a number", check=False)
    assert code != 0 and "--customer" in report["error"]
    code, report, _ = ops(stack, "simulate-call", "--company", "nobody", check=False)
    assert code != 0 and "no company" in report["error"]


def test_load_test_reports_latency_and_verifies_every_call_once(stack):
    _, report, _ = ops(stack, "load-test", "--calls", "40", "--duration", "8", "--concurrency", "8",
                       "--duplicate-every", "4")
    assert report["ok"] is True, report["checks"]
    v = report["verification"]
    assert v["played"] == 40 and v["stored"] == 40 and v["counted_calls"] == 40
    assert not v["missing"] and not v["incomplete"] and not v["statistics_differences"]
    endpoints = report["endpoints"]
    assert {"call_inbound", "webhook call_started", "webhook call_ended", "webhook call_analyzed",
            "tool check_availability", "tool book_appointment", "tool get_customer_info"} <= set(endpoints)
    # 1 call in 4 has each webhook delivered twice: 10 calls, 2 or 3 events each, one extra request per event.
    assert endpoints["webhook call_ended"]["requests"] == 40 + 10
    for figures in endpoints.values():
        assert 0 < figures["p50_ms"] <= figures["p90_ms"] <= figures["p99_ms"] <= figures["max_ms"]
        assert figures["errors"] == 0
    assert report["errors"] == [] and report["bookings"] > 0


@pytest.mark.parametrize("fault,needle", [("lost", "missing"), ("double", "counted")])
def test_load_test_verification_catches_a_lost_or_double_counted_call(stack, fault, needle):
    code, report, _ = ops(stack, "load-test", "--calls", "6", "--duration", "1", "--inject", fault,
                          "--drain", "10", check=False)
    assert code != 0 and report["ok"] is False
    failed = [c for c in report["checks"] if c["status"] == "failed"]
    assert failed, report["checks"]
    v = report["verification"]
    if fault == "lost":
        assert len(v["missing"]) == 1 and v["counted_calls"] == 5 and v["played"] == 6
    else:
        assert v["missing"] == [] and v["counted_calls"] == 7 and v["played"] == 6
        assert any("calls: counted" in d for d in v["statistics_differences"])
    assert any(needle in c.get("detail", "") for c in failed), failed


def test_metrics_shows_the_key_metrics_from_cloudwatch_and_the_calls(stack):
    _, played, _ = ops(stack, "simulate-call", "--type", "appointment",
                       "--customer", f"+49151{uuid.uuid4().int % 10**8:08d}")
    assert played["ok"] is True

    def report():
        _, r, _ = ops(stack, "metrics", "--period", "1h", check=False)
        apis = {a["api"]: a for a in r["apis"]}
        return r if (apis["webhook"]["requests"] or 0) >= 3 and (apis["tools"]["requests"] or 0) >= 2 else None

    r = wait_for(report, timeout=30)
    key = {m["metric"].split(" (")[0]: m for m in r["key_metrics"]}
    assert set(key) == {"API response time", "Webhook success rate", "Call completion rate", "Agent response time"}
    assert key["API response time"]["target"] == "< 200 ms" and key["API response time"]["alert"] == "> 500 ms"
    assert 0 < key["API response time"]["value"] < 10_000
    assert 0 < key["Webhook success rate"]["value"] <= 100
    assert 0 < key["Call completion rate"]["value"] <= 100
    assert 0 < key["Agent response time"]["value"] < 10_000
    apis = {a["api"]: a for a in r["apis"]}
    assert apis["tools"]["p50_ms"] <= apis["tools"]["p95_ms"]
    assert r["calls"]["calls"] >= 1 and r["calls"]["booked"] >= 1
    assert r["tools"]["book_appointment"]["success"] >= 1
    code, one, _ = ops(stack, "metrics", "--period", "24h", "--company", "salon-calcom", check=False)
    assert one["calls"]["companies"] == ["salon-calcom"]
    code, bad, _ = ops(stack, "metrics", "--company", "nobody", check=False)
    assert code != 0 and "no company" in bad["error"]
    _, text, _ = ops_text(stack, "metrics", check=False)
    assert "Key metrics" in text and "Webhook success rate" in text and "< 200 ms" in text


# --- backup recordings and calls -----------------------------------------------------------------

class RecordingStore:
    """A local file server standing in for Retell's recording storage: serves WAV files by
    name (with a signed-looking query string, as Retell's URLs have) and counts the fetches."""

    def __init__(self):
        import http.server
        import threading
        store = self
        self.files: dict[str, bytes] = {}
        self.fetches: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                name = self.path.split("?")[0].lstrip("/")
                store.fetches.append(name)
                body = store.files.get(name)
                self.send_response(200 if body is not None else 404)
                self.send_header("content-type", "audio/wav")
                self.send_header("content-length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name):
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}?X-Amz-Signature=abc"


def recording_keys(stack, company="demo"):
    bucket = stack.description["resources"]["EventsBucket"]["Ref"]
    s3 = aws(stack, "s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"recordings/{company}/")
    return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}


def ended_call(stack, call_id, start_ms, **fields):
    """A call delivered whole (started, ended with `fields`, analyzed) through the signed webhook."""
    from test_local_stack import call_events
    events = call_events(call_id, start_ms)
    for event in events[1:]:
        event["call"].update(fields)
    for event in events:
        body = json.dumps(event)
        status, text = stack.post_webhook(body, stack.sign(body))
        assert status == 200, text
    wait_for(lambda: {"call_started", "call_ended", "call_analyzed"} <= events_applied(stack, call_id))


def test_the_call_analyzed_consumer_copies_a_simulated_calls_recording(stack):
    played = play(stack)
    call_id = played["call"]["call_id"]
    day = berlin_day(played["call"]["start_timestamp"])
    key = f"recordings/demo/{day}/{call_id}.wav"
    size = wait_for(lambda: recording_keys(stack).get(key), timeout=60)
    with urllib.request.urlopen(played["call"]["recording_url"], timeout=10) as resp:
        assert size == len(resp.read())


def put_recording(stack, name, data: bytes) -> str:
    """A recording file in the simulator (Retell's storage here): its URL."""
    req = urllib.request.Request(f"{stack.retell_url}/sim/recordings/{name}", data=data, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["url"] + "?X-Amz-Signature=abc"


def test_backup_recordings_copies_as_each_calls_storage_setting_allows_and_only_once(stack):
    tag = uuid.uuid4().hex[:8]
    full, scrubbed = b"RIFF" + os.urandom(3000), b"RIFF" + os.urandom(2000)
    urls = {name: put_recording(stack, f"{tag}-{name}.wav", data)
            for name, data in (("full", full), ("scrubbed", scrubbed), ("never", b"RIFF" + b"\0" * 10))}
    elsewhere = RecordingStore()  # not where the stack fetches recordings from
    elsewhere.files = {"full.wav": full}
    # Two days ago, so neither the consumer's copy of today's calls nor other tests' calls mix in.
    start = int(time.time() * 1000) - 2 * 86_400_000
    day = berlin_day(start)
    calls = {
        "everything": dict(recording_url=urls["full"], data_storage_setting="everything"),
        "except_pii": dict(recording_url=urls["full"], scrubbed_recording_url=urls["scrubbed"],
                           data_storage_setting="everything_except_pii"),
        "basic": dict(recording_url=urls["never"], data_storage_setting="basic_attributes_only"),
        "opted_out": dict(recording_url=urls["never"], opt_out_sensitive_data_storage=True),
        "gone": dict(recording_url=urls["full"].replace(f"{tag}-full.wav", f"{tag}-missing.wav")),
        "elsewhere": dict(recording_url=elsewhere.url("full.wav")),
        "metadata": dict(recording_url="http://169.254.169.254/latest/meta-data/iam/x.wav"),
    }
    ids = {}
    for i, (name, recording) in enumerate(calls.items()):
        played = play(stack, start_timestamp_ms=start + i * 1000, recording=recording,
                      script=[{"user": "Hallo"}, {"agent": "Guten Tag"}])
        ids[name] = played["call"]["call_id"]
    for call_id in ids.values():
        wait_for(lambda c=call_id: {"call_ended", "call_analyzed"} <= events_applied(stack, c))
    # The consumer copies what it may as each call is analyzed, from the simulator only.
    assert elsewhere.fetches == [], "a recording URL on another host is never fetched"

    code, report, _ = ops(stack, "backup", "recordings", "--date", day, "--company", "demo", check=False)
    assert code != 0 and report["ok"] is False  # the one that is gone, and the two not allowed
    keys = recording_keys(stack)
    base = f"recordings/demo/{day}/"
    assert keys.get(base + ids["everything"] + ".wav") == len(full)
    assert keys.get(base + ids["except_pii"] + ".wav") == len(scrubbed)
    for name in ("basic", "opted_out", "gone", "elsewhere", "metadata"):
        assert base + ids[name] + ".wav" not in keys, name
    failed = " ".join(report["failed"])
    for name in ("gone", "elsewhere", "metadata"):
        assert ids[name] in failed, (name, failed)
    assert "not one recordings are fetched from" in failed and "X-Amz-Signature" not in json.dumps(report)
    assert elsewhere.fetches == []
    assert sum(report["not_copied"].values()) >= 2

    # Again: nothing copied twice (the copies are there), the failures still reported.
    code, again, _ = ops(stack, "backup", "recordings", "--date", day, "--company", "demo", check=False)
    assert code != 0 and again["copied"] == 0 and again["already_there"] >= 2
    code, report, _ = ops(stack, "backup", "recordings", "--date", "someday", check=False)
    assert code != 0 and "--date" in report["error"]


def test_backup_calls_exports_tables_that_import_table_restores(stack):
    _, played, _ = ops(stack, "simulate-call", "--type", "question", "--customer", "+4915155550000")
    call_id = played["call_id"]
    _, report, _ = ops(stack, "backup", "calls", "--wait", "120")
    assert report["ok"] is True and report["how"] == "export"
    tables = {t["what"]: t for t in report["tables"]}
    assert set(tables) == {"calls", "statistics"} and all(t["status"] == "completed" for t in tables.values())
    calls_table = stack.description["resources"]["CallsTable"]["Ref"]
    assert tables["calls"]["table"] == calls_table and tables["calls"]["items"] >= 1

    # The documented restore: ImportTable from the export into a new table.
    location = tables["calls"]["location"]
    assert location.startswith("s3://")
    bucket, prefix = location[len("s3://"):].split("/", 1)
    db = aws(stack, "dynamodb")
    described = db.describe_table(TableName=calls_table)["Table"]
    restored = f"restored-calls-{uuid.uuid4().hex[:8]}"
    keys = {k["AttributeName"] for k in described["KeySchema"]}
    started = db.import_table(
        S3BucketSource={"S3Bucket": bucket, "S3KeyPrefix": prefix}, InputFormat="DYNAMODB_JSON",
        InputCompressionType="GZIP",
        TableCreationParameters={
            "TableName": restored, "KeySchema": described["KeySchema"], "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [a for a in described["AttributeDefinitions"] if a["AttributeName"] in keys]})
    arn = started["ImportTableDescription"]["ImportArn"]
    wait_for(lambda: db.describe_import(ImportArn=arn)["ImportTableDescription"]["ImportStatus"] == "COMPLETED",
             timeout=60)
    original = get_call(stack, call_id)
    imported = db.describe_import(ImportArn=arn)["ImportTableDescription"]
    assert imported["ImportedItemCount"] == tables["calls"]["items"], imported
    copy = db.get_item(TableName=restored, Key={"call_id": {"S": call_id}})["Item"]
    assert copy == original

    # On demand: DynamoDB's own backup, restored with RestoreTableFromBackup.
    _, report, _ = ops(stack, "backup", "calls", "--on-demand", "--wait", "60")
    assert report["ok"] is True and report["how"] == "on-demand"
    backup_arn = {t["what"]: t for t in report["tables"]}["calls"]["arn"]
    again = f"restored-calls-{uuid.uuid4().hex[:8]}"
    db.restore_table_from_backup(TargetTableName=again, BackupArn=backup_arn)
    wait_for(lambda: db.describe_table(TableName=again)["Table"]["TableStatus"] == "ACTIVE", timeout=60)
    assert db.get_item(TableName=again, Key={"call_id": {"S": call_id}})["Item"] == original
    code, bad, _ = ops(stack, "backup", "calls", "--to", "/tmp/x", check=False)
    assert code != 0 and "s3://" in bad["error"]


# --- dead letters ----------------------------------------------------------------------------------

def claim_checked_call_ended(stack, prefix, queue):
    """A call_ended of company demo queued on `queue` as a claim check whose archived body is
    not there (yet): a consumer fails on it every time. -> (call_id, start, body, key)."""
    from test_local_stack import call_events
    call_id = f"{prefix}_{uuid.uuid4().hex[:12]}"
    start = int(time.time() * 1000) - 60_000
    ended = call_events(call_id, start)[1]
    key = f"calls/demo/{call_id}/call_ended.json"
    envelope = {"v": 1, "event": "call_ended", "call_id": call_id, "company_id": "demo",
                "received_at_ms": start + 95_000, "payload_ref": key}
    aws(stack, "sqs").send_message(QueueUrl=stack.description["resources"][queue]["QueueUrl"],
                                   MessageBody=json.dumps(envelope))
    return call_id, start, ended, key


def test_a_poisoned_event_is_listed_with_its_error_fixed_redriven_and_counted_once(stack):
    from test_local_stack import call_events
    res = stack.description["resources"]
    s3 = aws(stack, "s3")
    # After five receives SQS moves it to the dead-letter queue.
    call_id, start, ended, key = claim_checked_call_ended(stack, "call_dlq", "CallEndedQueue")

    def listed():
        _, r, _ = ops(stack, "dlq", "list", "--event", "call_ended")
        mine = [d for d in r["dead_letters"] if d["call_id"] == call_id]
        return mine[0] if mine and mine[0]["last_error"] else None

    letter = wait_for(listed, timeout=150, interval=3)
    assert letter["event"] == "call_ended" and letter["company_id"] == "demo" and letter["queue"] == "call_ended"
    assert letter["receive_count"] >= 5 and letter["age_s"] >= 0
    assert "archive" in letter["last_error"].lower() or "s3" in letter["last_error"].lower(), letter
    _, shown, _ = ops(stack, "dlq", "show", letter["message_id"])
    assert shown["dead_letter"]["call_id"] == call_id and shown["envelope"]["payload_ref"] == key
    code, missing, _ = ops(stack, "dlq", "show", "no-such-message", check=False)
    assert code != 0 and "no message" in missing["error"]

    # Fixed: the body is archived; and meanwhile the same event also arrived through the webhook.
    bucket = res["EventsBucket"]["Ref"]
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(ended).encode())
    day = berlin_day(start)
    before = day_stats(stack, "demo", day)
    for event in call_events(call_id, start)[:2]:
        body = json.dumps(event)
        assert stack.post_webhook(body, stack.sign(body))[0] == 200
    wait_for(lambda: {"call_started", "call_ended"} <= events_applied(stack, call_id))
    assert day_stats(stack, "demo", day) == before + 1

    _, moved, _ = ops(stack, "dlq", "redrive", letter["message_id"])
    assert moved["ok"] is True and [m["message_id"] for m in moved["redriven"]] == [letter["message_id"]]
    _, r, _ = ops(stack, "dlq", "list", "--event", "call_ended")
    assert not [d for d in r["dead_letters"] if d["call_id"] == call_id]
    time.sleep(5)  # the consumer takes the redriven copy: a duplicate, skipped
    item = get_call(stack, call_id)
    assert item["version"]["N"] == "2" and day_stats(stack, "demo", day) == before + 1
    code, again, _ = ops(stack, "dlq", "redrive", letter["message_id"], check=False)
    assert code != 0 and again["not_found"] == [letter["message_id"]]


def test_dlq_purge_asks_first_and_then_empties_the_queue(stack):
    dlq = stack.description["resources"]["CallStartedDeadLetterQueue"]["QueueUrl"]
    sqs = aws(stack, "sqs")
    sqs.send_message(QueueUrl=dlq, MessageBody="not an envelope")
    code, refused, _ = ops(stack, "dlq", "purge", "--event", "call_started", check=False)
    assert code != 0 and "--yes" in refused["error"]
    _, listed, _ = ops(stack, "dlq", "list", "--event", "call_started")
    assert any(d["event"] is None and d["body_bytes"] == len("not an envelope") for d in listed["dead_letters"])
    _, purged, _ = ops(stack, "dlq", "purge", "--event", "call_started", "--yes")
    assert purged["ok"] is True and purged["purged"]["call_started"] >= 1
    _, listed, _ = ops(stack, "dlq", "list", "--event", "call_started")
    assert listed["dead_letters"] == []
    code, bad, _ = ops(stack, "dlq", "list", "--event", "call_exploded", check=False)
    assert code != 0 and "--event" in bad["error"]


# --- routing ----------------------------------------------------------------------------------------

def test_a_caller_marked_vip_is_answered_as_a_vip_with_the_opening_state(stack):
    from test_local_stack import post_signed
    caller = f"+49151{uuid.uuid4().int % 10**8:08d}"

    def answer():
        status, body = post_signed(stack, "/lambda-url/call-inbound/api/retell/inbound",
                                   {"event": "call_inbound",
                                    "call_inbound": {"from_number": caller, "to_number": "+493012345678"}})
        assert status == 200, body
        return body["call_inbound"]["dynamic_variables"]

    assert answer()["is_vip"] == "false"
    _, marked, _ = ops(stack, "customers", "vip", caller, "--company", "demo")
    assert marked["ok"] is True and marked["vip"] is True and caller not in json.dumps(marked)
    variables = answer()
    assert variables["is_vip"] == "true"
    assert variables["business_open"] in ("true", "false")
    assert (variables["next_opening"] == "") == (variables["business_open"] == "true")
    # The demo company names no transfer number: never offered.
    assert variables["transfer_available"] == "false" and variables["transfer_number"] == ""
    ops(stack, "customers", "vip", caller, "--company", "demo", "--off")
    assert answer()["is_vip"] == "false"
    code, bad, _ = ops(stack, "customers", "vip", "12", "--company", "demo", check=False)
    assert code != 0 and "E.164" in bad["error"]
    code, bad, _ = ops(stack, "customers", "vip", caller, "--company", "nobody", check=False)
    assert code != 0 and "no company" in bad["error"]


def transfer_log(stack, call_id):
    """The call's transfer log as stored: [{"event", "at_ms", "destination"?, ...}]."""
    item = get_call(stack, call_id) or {}
    out = []
    for entry in item.get("transfers", {}).get("L", []):
        fields = entry["M"]
        out.append({k: (v.get("S") if "S" in v else int(v["N"])) for k, v in fields.items()})
    return out


def test_a_transfer_to_staff_is_logged_on_the_call(stack):
    from test_local_stack import post_signed
    # The Cal.com demo salon's line is staffed around the clock in the demo data (closures
    # aside): the inbound webhook's routing decides, and the log must follow it.
    played = play(stack, to_number="+493012345679", script=[
        {"agent": "Salon Demo, guten Tag!"},
        {"user": "Kann ich bitte jemanden aus dem Team sprechen?"},
        {"tool": "transfer_to_staff", "args": {}}])
    call = played["call"]
    call_id = call["call_id"]
    variables = call["retell_llm_dynamic_variables"]
    staffed = variables["transfer_available"] == "true"
    expected = (["transfer_started", "transfer_bridged", "transfer_ended"] if staffed
                else ["transfer_started", "transfer_cancelled"])
    wait_for(lambda: len(transfer_log(stack, call_id)) == len(expected)
             and {"call_started", "call_ended", "call_analyzed"} <= events_applied(stack, call_id))
    log = transfer_log(stack, call_id)
    assert sorted(e["event"] for e in log) == sorted(expected), log
    item = get_call(stack, call_id)
    if staffed:
        assert variables["transfer_number"] == "+493012345600"
        assert all(e["destination"] == "+493012345600" for e in log), log
        assert log[-1]["event"] == "transfer_ended", "the transferred leg ends last"
        assert item["disconnection_reason"]["S"] == "call_transfer"
    else:
        assert all("destination" not in e for e in log), log
        assert item["disconnection_reason"]["S"] != "call_transfer"

    # Retell's retry of a transfer event adds nothing; another attempt in the call adds one.
    retry = {"event": "transfer_cancelled", "transfer_destination": "+493012345600",
             "call": {"call_id": call_id, "agent_id": call["agent_id"], "call_status": "ongoing"}}
    for _ in range(2):
        status, body = post_signed(stack, "/lambda-url/webhook/api/retell/webhook", retry)
        assert (status, body) == (200, {"status": "accepted"})
    wait_for(lambda: len(transfer_log(stack, call_id)) == len(expected) + 1)
    time.sleep(3)  # the duplicate, had it counted, would be in by now
    assert len(transfer_log(stack, call_id)) == len(expected) + 1
    assert item["call_status"]["S"] == get_call(stack, call_id)["call_status"]["S"] == "ended"
