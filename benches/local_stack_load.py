#!/usr/bin/env python3
"""Sustained load on the local stack (`make dev`'s: moto through infra/local/aws_emulator.py,
cargo lambda watch behind the function gate, the SQS pump), then a check that nothing was lost.

    .venv/bin/python benches/local_stack_load.py [--calls 1700] [--senders 16] [--release]
    make bench-local

Whole calls as Retell sends them: call_started, call_ended, call_analyzed (calls of 5 s to 10 min,
transcripts of 15 bytes per second of call, a tenth never connected), every event delivered twice
(Retell retries), each delivery signed when it is sent, from --senders threads posting as
fast as they are answered. Calls start a few seconds apart in a virtual timeline, so each call's
events and their duplicates arrive interleaved with other calls', partly out of order. The
default, 1,700 calls = 10,200 posts, is the load under which the stack used to collapse.

Printed (figures: docs/performance.md): per minute the posts answered, their status and latency,
and the backlog in the three queues; overall latency percentiles and status counts; how long the
consumers needed to drain the backlog after the last post; and the check: every call stored once
with all three events applied, exact fields, and the daily statistics of every (company, day)
equal to the sums over the calls sent.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import http.client
import json
import math
import queue
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra" / "local"))
from stack import LocalStack  # noqa: E402

BERLIN = ZoneInfo("Europe/Berlin")  # the demo company's time zone (infra/local/companies/demo.json)
SENTIMENTS = ["Positive", "Negative", "Neutral"]


def make_calls(n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    today = datetime.datetime.now(BERLIN).date()
    calls = []
    for i in range(n):
        day = today - datetime.timedelta(days=i % 4)  # four days of statistics
        start = datetime.datetime.combine(day, datetime.time(9, 0), BERLIN) + datetime.timedelta(
            seconds=rnd.randrange(0, 8 * 3600))
        duration_ms = 0 if rnd.random() < 0.1 else rnd.randrange(5_000, 600_000)  # a tenth never connect
        calls.append({
            "call_id": f"call_load_{seed}_{i:05d}", "day": day.isoformat(),
            "start_ms": int(start.timestamp() * 1000), "duration_ms": duration_ms,
            "sentiment": rnd.choice(SENTIMENTS), "successful": rnd.random() < 0.7,
            "voicemail": rnd.random() < 0.05, "from": f"+49176{rnd.randrange(10**7):07d}",
        })
    return calls


def events(c: dict) -> list[dict]:
    base = {"call_id": c["call_id"], "agent_id": "agent_demo", "call_type": "phone_call", "direction": "inbound",
            "from_number": c["from"], "to_number": "+493012345678", "start_timestamp": c["start_ms"]}
    status = "ended" if c["duration_ms"] else "not_connected"
    # About 150 spoken words a minute: 15 bytes of transcript per second of call (4.5 KB on average).
    line = "Agent: Guten Tag, Salon Mitte, was kann ich für Sie tun? User: Einen Haarschnitt am Dienstag, bitte.\n"
    transcript = (line * (c["duration_ms"] * 15 // 1000 // len(line) + 1))[: c["duration_ms"] * 15 // 1000]
    ended = {**base, "call_status": status, "end_timestamp": c["start_ms"] + c["duration_ms"],
             "duration_ms": c["duration_ms"], "disconnection_reason": "user_hangup", "transcript": transcript}
    return [
        {"event": "call_started", "call": {**base, "call_status": "ongoing"}},
        {"event": "call_ended", "call": ended},
        {"event": "call_analyzed", "call": {**ended, "call_analysis": {
            "call_summary": f"Summary of {c['call_id']}", "user_sentiment": c["sentiment"],
            "call_successful": c["successful"], "in_voicemail": c["voicemail"]}}},
    ]


def schedule(calls: list[dict], copies: int, seed: int) -> list[str]:
    """Every delivery's body, in the order they are sent: call i starts at virtual second 2i; its
    events follow 3 and 6 s later, each retry up to 10 s after the first delivery."""
    rnd = random.Random(seed)
    timeline = []
    for i, c in enumerate(calls):
        for k, event in enumerate(events(c)):
            body = json.dumps(event, ensure_ascii=False)
            at = 2 * i + 3 * k + rnd.random()
            timeline += [(at + (rnd.uniform(0, 10) if copy else 0), body) for copy in range(copies)]
    timeline.sort(key=lambda t: t[0])
    return [body for _, body in timeline]


class Sender(threading.Thread):
    def __init__(self, stack: LocalStack, work: queue.Queue, results: list, timeout: float):
        super().__init__(daemon=True)
        self.stack, self.work, self.results, self.timeout = stack, work, results, timeout
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: str) -> int:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.stack.api_port, timeout=self.timeout)
            try:
                self.conn.request("POST", "/lambda-url/webhook/api/retell/webhook", body=body.encode(), headers={
                    "content-type": "application/json", "x-retell-signature": self.stack.sign(body)})
                resp = self.conn.getresponse()
                resp.read()
                return resp.status
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    return 599  # the connection broke twice
            except TimeoutError:
                self.conn.close()
                self.conn = None
                return 598  # no answer within --timeout
        return 599

    def run(self) -> None:
        while True:
            body = self.work.get()
            if body is None:
                return
            sent = time.time()
            status = self.post(body)
            self.results.append((sent, time.time() - sent, status))


def queue_backlog(sqs, urls: list[str]) -> int:
    total = 0
    for url in urls:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        total += int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux; NaN elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, math.ceil(p / 100 * len(values)) - 1)] if values else float("nan")


def verify(stack: LocalStack, calls: list[dict]) -> list[str]:
    """Every call once, exactly as sent; every statistics item the sum of its calls."""
    res = stack.description["resources"]
    db = boto3.client("dynamodb", endpoint_url=stack.endpoint, region_name="eu-central-1",
                      aws_access_key_id="t", aws_secret_access_key="t")
    problems: list[str] = []
    stored = {}
    for page in db.get_paginator("scan").paginate(TableName=res["CallsTable"]["Ref"], ConsistentRead=True):
        for item in page["Items"]:
            stored[item["call_id"]["S"]] = item
    if len(stored) != len(calls):
        problems.append(f"{len(stored)} call items for {len(calls)} calls")
    expected_stats: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    for c in calls:
        item = stored.get(c["call_id"])
        if item is None:
            problems.append(f"{c['call_id']} missing")
            continue
        want = {"events_applied": sorted(["call_started", "call_ended", "call_analyzed"]), "version": "3",
                "call_status": "ended" if c["duration_ms"] else "not_connected", "duration_ms": str(c["duration_ms"]),
                "user_sentiment": c["sentiment"], "call_successful": c["successful"],
                "call_summary": f"Summary of {c['call_id']}", "stats_day": c["day"], "from_number": c["from"]}
        got = {"events_applied": sorted(item.get("events_applied", {}).get("SS", [])),
               "version": item.get("version", {}).get("N"), "call_status": item.get("call_status", {}).get("S"),
               "duration_ms": item.get("duration_ms", {}).get("N"),
               "user_sentiment": item.get("user_sentiment", {}).get("S"),
               "call_successful": item.get("call_successful", {}).get("BOOL"),
               "call_summary": item.get("call_summary", {}).get("S"), "stats_day": item.get("stats_day", {}).get("S"),
               "from_number": item.get("from_number", {}).get("S")}
        if got != want:
            problems.append(f"{c['call_id']}: {({k: (got[k], want[k]) for k in want if got[k] != want[k]})}")
        s = expected_stats[(item["company_id"]["S"], c["day"])]
        s["calls"] += 1
        s["connected"] += c["duration_ms"] > 0
        s["duration_ms"] += c["duration_ms"]
        s["minutes"] += math.ceil(c["duration_ms"] / 60_000)
        s["successful" if c["successful"] else "unsuccessful"] += 1
        s["voicemail"] += c["voicemail"]
        s[f"sentiment_{c['sentiment'].lower()}"] += 1
    stats_items = {}
    for page in db.get_paginator("scan").paginate(TableName=res["CallStatsTable"]["Ref"], ConsistentRead=True):
        for item in page["Items"]:
            stats_items[(item["company_id"]["S"], item["day"]["S"])] = item
    if set(stats_items) != set(expected_stats):
        problems.append(f"statistics for {sorted(stats_items)}, expected {sorted(expected_stats)}")
    for key, want_counts in expected_stats.items():
        item = stats_items.get(key, {})
        for field, want_value in want_counts.items():
            got_value = int(item.get(field, {}).get("N", "0"))
            if got_value != want_value:
                problems.append(f"statistics {key} {field}: {got_value}, expected {want_value}")
    sqs = boto3.client("sqs", endpoint_url=stack.endpoint, region_name="eu-central-1",
                       aws_access_key_id="t", aws_secret_access_key="t")
    dead = queue_backlog(sqs, [v["QueueUrl"] for k, v in res.items() if k.endswith("DeadLetterQueue")])
    if dead:
        problems.append(f"{dead} messages in dead-letter queues")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1700)
    parser.add_argument("--copies", type=int, default=2, help="deliveries of every event (Retell retries)")
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=120, help="client timeout per post, seconds")
    parser.add_argument("--release", action="store_true", help="release builds of the functions")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop posting after this long (for a stack that cannot keep up); skips the check")
    parser.add_argument("--max-emulator-mb", type=float, default=8000,
                        help="stop posting when the emulator's memory passes this; skips the check")
    args = parser.parse_args()

    calls = make_calls(args.calls, args.seed)
    bodies = schedule(calls, args.copies, args.seed)
    stack = LocalStack(state_dir=Path(tempfile.mkdtemp(prefix="retell-load-")), prefix="load-",
                       release=args.release, reload=False)  # edits meanwhile do not restart the functions
    print(f"starting the local stack ({'release' if args.release else 'debug'} build; logs: {stack.logs}) ...",
          flush=True)
    stack.start()
    try:
        res = stack.description["resources"]
        sqs = boto3.client("sqs", endpoint_url=stack.endpoint, region_name="eu-central-1",
                           aws_access_key_id="t", aws_secret_access_key="t")
        queues = [v["QueueUrl"] for k, v in res.items() if "QueueUrl" in v and not k.endswith("DeadLetterQueue")]
        work: queue.Queue = queue.Queue()
        for body in bodies:
            work.put(body)
        results: list[tuple[float, float, int]] = []
        senders = [Sender(stack, work, results, args.timeout) for _ in range(args.senders)]
        for _ in senders:
            work.put(None)
        backlog: list[tuple[float, int]] = []
        emulator = next(p for name, p in stack.procs if name == "moto").pid
        memory: list[tuple[float, float]] = [(time.time(), rss_mb(emulator))]
        print(f"{len(bodies):,} posts ({args.calls:,} calls x 3 events x {args.copies}) from {args.senders} senders",
              flush=True)
        t0 = time.time()
        for s in senders:
            s.start()
        unsent, stopped = 0, ""
        while any(s.is_alive() for s in senders):
            backlog.append((time.time(), queue_backlog(sqs, queues)))
            memory.append((time.time(), rss_mb(emulator)))
            if args.max_minutes and time.time() - t0 > args.max_minutes * 60:
                stopped = stopped or f"after {args.max_minutes:g} minutes"
            if memory[-1][1] > args.max_emulator_mb:
                stopped = stopped or f"with the emulator at {memory[-1][1]:,.0f} MB"
            if stopped and not unsent:
                while True:  # drop what is left; the senders finish their current post
                    try:
                        unsent += work.get_nowait() is not None
                    except queue.Empty:
                        break
                for _ in senders:
                    work.put(None)
            time.sleep(5)
        posting_done = time.time()
        while not unsent:
            depth = queue_backlog(sqs, queues)
            backlog.append((time.time(), depth))
            memory.append((time.time(), rss_mb(emulator)))
            if depth == 0 or time.time() - posting_done > 900:
                break
            time.sleep(2)
        drained = time.time()

        print("\n| minute | posts answered | per second | 200 | other | p50 ms | p99 ms | queue backlog at end "
              "| emulator RSS at end |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        minutes = int((drained - t0) // 60) + 1
        for m in range(minutes):
            lo, hi = t0 + 60 * m, t0 + 60 * (m + 1)
            done = [r for r in results if lo <= r[0] + r[1] < hi]
            lat = [r[1] * 1000 for r in done]
            ok = sum(1 for r in done if r[2] == 200)
            depth = next((d for t, d in reversed(backlog) if t < hi), 0)
            rss = next((r for t, r in reversed(memory) if t < hi), float("nan"))
            print(f"| {m + 1} | {len(done):,} | {len(done) / min(60, max(1e-9, min(hi, drained) - lo)):.1f} | {ok:,} | "
                  f"{len(done) - ok:,} | {pct(lat, 50):.0f} | {pct(lat, 99):.0f} | {depth:,} | {rss:,.0f} MB |")
        lat = [r[1] * 1000 for r in results]
        statuses = collections.Counter(r[2] for r in results)
        print(f"\nposts: {len(results):,} in {posting_done - t0:.0f} s = {len(results) / (posting_done - t0):.1f}/s; "
              f"status {dict(sorted(statuses.items()))}")
        print(f"latency ms: p50 {pct(lat, 50):.0f}, p90 {pct(lat, 90):.0f}, p99 {pct(lat, 99):.0f}, "
              f"max {max(lat):.0f}, mean {statistics.mean(lat):.0f}")
        print(f"emulator memory: {memory[0][1]:,.0f} MB at the start, {max(r for _, r in memory):,.0f} MB at most")
        if unsent:
            print(f"stopped {stopped}: {unsent:,} posts not sent, "
                  f"queue backlog {backlog[-1][1]:,}; no check")
            return 1
        print(f"queues drained {drained - posting_done:.0f} s after the last post; "
              f"all {len(bodies):,} deliveries consumed {drained - t0:.0f} s after the first "
              f"= {len(bodies) / (drained - t0):.1f} deliveries/s end to end")
        print(f"function processes that died: {stack.function_deaths or 'none'}")
        problems = verify(stack, calls)
        if problems:
            print(f"\nCHECK FAILED ({len(problems)} problems):\n  " + "\n  ".join(problems[:30]))
            return 1
        print(f"\ncheck: all {len(calls):,} calls stored once with their three events; "
              f"the statistics of every (company, day) match the calls sent")
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
