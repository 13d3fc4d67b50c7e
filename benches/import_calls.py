#!/usr/bin/env python3
"""Importing missed calls at scale, on the local stack (`make dev`'s: moto through
infra/local/aws_emulator.py, the Retell simulator, the SQS pump and the consumers).

    .venv/bin/python benches/import_calls.py [--calls 10000] [--day 1000] [--release]

1. `--calls` ended and analysed calls go into the simulator with none of their webhooks delivered
   (`POST /sim/calls/bulk`, an agent no company lists: the key's company), then
   `retell-ops --local --json import-calls` over exactly their window. Printed: its wall time and
   maximum resident memory, and what it reported.
2. The consumers drain the queues; every call must then have call_ended and call_analyzed, and the
   company's daily statistics must have grown by exactly `--calls` (stored once, counted once).
3. The same import again: everything present, nothing queued (a reconcile run's steady state).
4. A busy company's day for the reconcile Lambda: `--day` more missed calls in its 6-hour window,
   one invocation (timed, with its summary), then a second one with nothing missing.

Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra" / "local"))
from stack import LocalStack  # noqa: E402

BERLIN = ZoneInfo("Europe/Berlin")  # DEFAULT_TIME_ZONE: the days of the default company's statistics


def post(url: str, body: dict | None = None, timeout: float = 600) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def api(stack: LocalStack, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(f"{stack.retell_url}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"content-type": "application/json",
                                          "authorization": f"Bearer {stack.api_key}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"null")


def iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def days(first_ms: int, last_ms: int) -> list[str]:
    first = datetime.datetime.fromtimestamp(first_ms / 1000, BERLIN).date()
    last = datetime.datetime.fromtimestamp(last_ms / 1000, BERLIN).date()
    return [(first + datetime.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def calls_counted(stack: LocalStack, company: str, day_list: list[str]) -> int:
    ddb = boto3.client("dynamodb", endpoint_url=stack.endpoint, region_name="eu-central-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    table = stack.description["resources"]["CallStatsTable"]["Ref"]
    total = 0
    for day in day_list:
        item = ddb.get_item(TableName=table, Key={"company_id": {"S": company}, "day": {"S": day}},
                            ConsistentRead=True).get("Item") or {}
        total += int(item.get("calls", {}).get("N", 0))
    return total


def new_agent(stack: LocalStack, name: str) -> str:
    llm = api(stack, "POST", "/create-retell-llm", {"general_prompt": "p"})
    agent = api(stack, "POST", "/create-agent", {"response_engine": {"type": "retell-llm", "llm_id": llm["llm_id"]},
                                                 "voice_id": "11labs-Anna", "agent_name": name})
    return agent["agent_id"]


def run_ops(stack: LocalStack, *args: str) -> tuple[float, int, dict]:
    """(seconds, max RSS in MB, JSON report) of one retell-ops run, measured by GNU time."""
    env = {**os.environ, "LOCAL_STATE_DIR": str(stack.state_dir), "NO_COLOR": "1",
           "XDG_STATE_HOME": str(stack.state_dir / "xdg")}
    env.pop("RETELL_API_KEY", None)
    done = subprocess.run(["/usr/bin/time", "-f", "time: %e %M", str(stack.bin_dir / "retell-ops"), "--local",
                           "--json", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"retell-ops {' '.join(args)} failed: {done.stderr}")
    seconds, rss_kb = done.stderr.strip().splitlines()[-1].split()[1:3]
    return float(seconds), int(rss_kb) // 1024, json.loads(done.stdout)


def wait_counted(stack: LocalStack, company: str, day_list: list[str], want: int, timeout: float) -> float:
    started = time.monotonic()
    while True:
        have = calls_counted(stack, company, day_list)
        if have == want:
            return time.monotonic() - started
        if have > want:
            raise SystemExit(f"counted {have} calls, expected {want}: a call was counted twice")
        if time.monotonic() - started > timeout:
            raise SystemExit(f"counted {have} calls after {timeout} s, expected {want}: calls were lost")
        time.sleep(2)


def wait_drained(stack: LocalStack, timeout: float = 3600) -> None:
    """Until the event queues are empty, and the dead-letter queues must be: call_analyzed events
    are stored after the call_ended ones the statistics count, and a run started before they are
    would rightly queue them again."""
    sqs = boto3.client("sqs", endpoint_url=stack.endpoint, region_name="eu-central-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    queues = {name: r["Ref"] for name, r in stack.description["resources"].items() if name.endswith("Queue")}
    urls = [u for name, u in queues.items() if "DeadLetter" not in name]
    started, quiet = time.monotonic(), 0
    while quiet < 3:
        attrs = [sqs.get_queue_attributes(QueueUrl=u, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"] for u in urls]
        busy = sum(int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])
                   for a in attrs)
        quiet = quiet + 1 if busy == 0 else 0
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{busy} messages still queued after {timeout} s")
        time.sleep(2)
    for name, url in queues.items():
        if "DeadLetter" in name:
            dead = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            assert dead["Attributes"]["ApproximateNumberOfMessages"] == "0", f"{name} holds messages"


def import_window(stack: LocalStack, args: argparse.Namespace, agent: str, company: str) -> None:
    """Steps 1-3: --calls missed calls imported, counted exactly once, found present again."""
    # 1. --calls missed calls, spread over the 20 hours before the last 6 (the reconcile
    #    window stays free for step 4).
    now = int(time.time()) * 1000
    spacing = 20 * 3_600_000 // args.calls
    start = now - 26 * 3_600_000
    post(f"{stack.retell_url}/sim/calls/bulk", {
        "count": args.calls, "agent_id": agent, "from_number": "+4917611112222",
        "to_number": "+493012345678", "start_timestamp_ms": start, "spacing_ms": spacing})
    last = start + (args.calls - 1) * spacing
    day_list = days(start, last)
    before = calls_counted(stack, company, day_list)
    window = ["--from", iso(start), "--to", iso(last + 1000)]
    print(f"{args.calls} missed calls in the simulator, {iso(start)} – {iso(last)}", flush=True)
    seconds, rss, report = run_ops(stack, "import-calls", *window, "--concurrency", str(args.concurrency))
    print(f"import-calls: {seconds:.1f} s ({args.calls / seconds:.1f} calls/s), max RSS {rss} MB; "
          f"listed {report['listed']}, imported {report['imported']}, present {report['present']}, "
          f"failed {report['failed']}, events queued {report['events_queued']}", flush=True)
    # 2. Stored once, counted once.
    drained = wait_counted(stack, company, day_list, before + args.calls, timeout=3600)
    print(f"consumers drained the queues {drained:.0f} s after the import ended; "
          f"statistics: exactly {args.calls} more calls", flush=True)
    wait_drained(stack)
    # 3. Nothing missing.
    seconds, rss, again = run_ops(stack, "import-calls", *window, "--concurrency", str(args.concurrency))
    print(f"import-calls again: {seconds:.1f} s, max RSS {rss} MB; imported {again['imported']}, "
          f"present {again['present']}", flush=True)
    assert again["imported"] == 0 and again["present"] == args.calls, again


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10_000, help="missed calls for import-calls (0: only the reconcile run)")
    parser.add_argument("--day", type=int, default=1_000, help="missed calls for the reconcile Lambda's run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--release", action="store_true")
    args = parser.parse_args()

    stack = LocalStack.for_bench("import", release=args.release)
    stack.start()
    try:
        company = "default"
        agent = new_agent(stack, "Bench Import")
        if args.calls > 0:
            import_window(stack, args, agent, company)
        # 4. A busy company's day for the reconcile Lambda.
        day_start = int(time.time()) * 1000 - 5 * 3_600_000
        day_spacing = 4 * 3_600_000 // args.day
        post(f"{stack.retell_url}/sim/calls/bulk", {
            "count": args.day, "agent_id": agent, "from_number": "+4917611112222",
            "to_number": "+493012345678", "start_timestamp_ms": day_start, "spacing_ms": day_spacing})
        day_days = days(day_start, day_start + args.day * day_spacing)
        before_day = calls_counted(stack, company, day_days)
        for first, label in ((True, "reconcile, a day's calls missing"), (False, "reconcile, nothing missing")):
            started = time.monotonic()
            summary = post(f"{stack.api}/2015-03-31/functions/reconcile/invocations", {}, timeout=900)
            seconds = time.monotonic() - started
            w = summary["window"]
            print(f"{label}: {seconds:.1f} s; listed {w['listed']}, imported {w['imported']}, "
                  f"present {w['present']}, failed {w['failed']}, timed out {summary['timed_out']}", flush=True)
            if first:
                wait_counted(stack, company, day_days, before_day + args.day, timeout=1800)
                wait_drained(stack)
        # Whatever the second run found, every call is counted once.
        wait_drained(stack)
        assert calls_counted(stack, company, day_days) == before_day + args.day, "a call was counted twice"
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
