#!/usr/bin/env python3
"""The agent's tools through the local stack's front door, against the same requests straight
to `cargo lambda watch`: what the function gate adds.

    .venv/bin/python benches/tool_latency.py [--calls 300] [--release]

Starts the stack `make dev` starts (debug build unless --release), warms every path up, then
sends `--calls` signed `check_availability` and `book_appointment` calls (each booking a time of
its own) one after another on a kept-alive connection, through the gate (`LOCAL_API_PORT`) and
straight to cargo lambda (`LOCAL_LAMBDA_PORT`), alternating so both see the same machine. Also
times the one DynamoDB Query `check_availability` makes, asked of the emulator directly. Prints
p50, p90, p99 and max per path. Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import hmac
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra" / "local"))
from stack import REGION, LocalStack  # noqa: E402

BERLIN = ZoneInfo("Europe/Berlin")


def signature(key: str, body: bytes) -> str:
    ts = str(int(time.time() * 1000))
    return f"v={ts},d={hmac.new(key.encode(), body + ts.encode(), hashlib.sha256).hexdigest()}"


class Client:
    """One kept-alive connection to a port, timing each request."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: bytes, key: str) -> tuple[float, dict]:
        started = time.perf_counter()
        self.conn.request("POST", path, body=body, headers={
            "content-type": "application/json", "x-retell-signature": signature(key, body)})
        resp = self.conn.getresponse()
        payload = resp.read()
        took = (time.perf_counter() - started) * 1000
        if resp.status != 200:
            raise RuntimeError(f"{path}: {resp.status} {payload[:200]!r}")
        return took, json.loads(payload)


def weekdays(count: int) -> list[datetime.date]:
    day = datetime.datetime.now(BERLIN).date() + datetime.timedelta(days=2)
    out = []
    while len(out) < count:
        if day.weekday() < 5 and not (day.month == 12 and 24 <= day.day <= 26):
            out.append(day)
        day += datetime.timedelta(days=1)
    return out


def summary(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    pct = lambda p: ms[min(len(ms) - 1, int(p * len(ms)))]  # noqa: E731
    return (f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {pct(0.90):.1f} | {pct(0.99):.1f} "
            f"| {ms[-1]:.1f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--release", action="store_true")
    args = ap.parse_args()
    stack = LocalStack(api_key="key_bench_tools", state_dir=Path(tempfile.mkdtemp(prefix="retell-bench-tools-")),
                       prefix="bt-", release=args.release, reload=False)
    stack.start()
    try:
        gate, direct = Client(stack.api_port), Client(stack.lambda_port)
        check = "/lambda-url/check-availability/api/retell/functions/check_availability"
        book = "/lambda-url/book-appointment/api/retell/functions/book_appointment"
        call = {"call_id": "call_bench_tools", "agent_id": "agent_demo", "from_number": "+4917600000001"}
        days = weekdays(2 * args.calls // 11 + 4)
        slots = [(d, f"{h:02d}:{m:02d}") for d in days for h in (9, 10, 11, 14, 15, 16) for m in (0, 30)
                 if not (h == 16 and m == 30)]
        results: dict[str, list[float]] = {k: [] for k in ("check gate", "check direct", "book gate", "book direct")}
        # Warm: both paths, both tools, until each answers in well under a second.
        for _ in range(5):
            for client in (gate, direct):
                body = json.dumps({"name": "check_availability", "call": call,
                                   "args": {"date": days[0].isoformat(), "service_id": "haircut"}}).encode()
                client.post(check if client is gate else check, body, stack.api_key)
        for i in range(args.calls):
            for name, client in (("gate", gate), ("direct", direct)) if i % 2 else (("direct", direct), ("gate", gate)):
                day = days[i % len(days)].isoformat()
                body = json.dumps({"name": "check_availability", "call": call,
                                   "args": {"date": day, "service_id": "haircut"}}).encode()
                took, reply = client.post(check, body, stack.api_key)
                results[f"check {name}"].append(took)
                d, t = slots.pop()
                body = json.dumps({"name": "book_appointment", "call": {**call, "from_number": f"+49176{i:08d}"},
                                   "args": {"date": d.isoformat(), "time": t, "service_id": "beard",
                                            "customer_name": "Bench"}}).encode()
                took, reply = client.post(book, body, stack.api_key)
                if reply.get("success") is not True:
                    raise RuntimeError(f"not booked: {reply}")
                results[f"book {name}"].append(took)
        ddb = boto3.client("dynamodb", endpoint_url=stack.endpoint, region_name=REGION,
                           aws_access_key_id="test", aws_secret_access_key="test")
        table = stack.description["resources"]["AppointmentsTable"]["Ref"]
        query_ms = []
        for _ in range(args.calls):
            started = time.perf_counter()
            ddb.query(TableName=table, KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                      ExpressionAttributeValues={":p": {"S": "C#demo"}, ":a": {"S": "L#0"}, ":b": {"S": "L#9"}},
                      ConsistentRead=True)
            query_ms.append((time.perf_counter() - started) * 1000)
        print("| path | requests | p50 ms | p90 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, ms in results.items():
            print(summary(name, ms))
        print(summary("emulator: the Query check_availability makes (boto3)", query_ms))
        gate_share = [g - d for g, d in zip(sorted(results["check gate"]), sorted(results["check direct"]))]
        print(f"gate's share, check_availability, p50: {statistics.median(gate_share):.2f} ms")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
