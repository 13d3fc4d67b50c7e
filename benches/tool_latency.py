#!/usr/bin/env python3
"""The agent's tools through the local stack's front door, against the same requests straight
to `cargo lambda watch`: what the function gate adds.

    .venv/bin/python benches/tool_latency.py [--calls 300] [--release]

Starts the stack `make dev` starts (debug build unless --release), warms every path up, then
sends `--calls` signed `check_availability` and `book_appointment` calls (each booking a time of
its own) one after another on a kept-alive connection, through the gate (`LOCAL_API_PORT`) and
straight to cargo lambda (`LOCAL_LAMBDA_PORT`), alternating so both see the same machine. Also
times the emulator alone, from Python (boto3, itself ~1-2 ms a request), for the one Query
`check_availability` makes and one TransactWriteItems of a booking's shape, interleaved with the
tool calls so both see the same machine. Prints p50, p90, p99 and max per path. Figures:
docs/performance.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import hashlib
import hmac
import http.client
import json
import statistics
import sys
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
    stack = LocalStack.for_bench("tools", release=args.release)
    stack.start()
    try:
        gate, direct = Client(stack.api_port), Client(stack.lambda_port)
        check = "/lambda-url/check-availability/api/retell/functions/check_availability"
        book = "/lambda-url/book-appointment/api/retell/functions/book_appointment"
        call = {"call_id": "call_bench_tools", "agent_id": "agent_demo", "from_number": "+4917600000001"}
        days = weekdays(2 * args.calls // 11 + 4)
        slots = [(d, f"{h:02d}:{m:02d}") for d in days for h in (9, 10, 11, 14, 15, 16) for m in (0, 30)
                 if not (h == 16 and m == 30)]
        results: dict[str, list[float]] = {k: [] for k in ("check gate", "check direct", "book gate", "book direct",
                                                           "emulator query", "emulator transaction")}
        ddb = boto3.client("dynamodb", endpoint_url=stack.endpoint, region_name=REGION,
                           aws_access_key_id="test", aws_secret_access_key="test")
        table = stack.description["resources"]["AppointmentsTable"]["Ref"]

        def emulator_query(day: datetime.date) -> None:
            """check_availability's one Query: the company's lock items of two weeks from `day`."""
            start_ms = int(datetime.datetime.combine(day, datetime.time(), BERLIN).timestamp() * 1000)
            started = time.perf_counter()
            ddb.query(TableName=table, KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                      ExpressionAttributeValues={":p": {"S": "C#demo"}, ":a": {"S": f"L#{start_ms:013d}"},
                                                 ":b": {"S": f"L#{start_ms + 14 * 86_400_000:013d}"}},
                      ConsistentRead=True)
            results["emulator query"].append((time.perf_counter() - started) * 1000)

        def emulator_transaction(i: int) -> None:
            """A booking's one TransactWriteItems (appointment, lock, customer), in a partition of
            its own so it never touches the salon's calendar."""
            pk = {"S": "C#bench-emulator"}
            started = time.perf_counter()
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": pk, "sk": {"S": f"A#{i}"}, "status": {"S": "booked"}},
                         "ConditionExpression": "attribute_not_exists(sk)"}},
                {"Put": {"TableName": table, "Item": {"pk": pk, "sk": {"S": f"L#{i:013d}"}, "appointment_id": {"S": str(i)}},
                         "ConditionExpression": "attribute_not_exists(sk)"}},
                {"Update": {"TableName": table, "Key": {"pk": pk, "sk": {"S": f"U#+49176{i:08d}"}},
                            "UpdateExpression": "SET phone = :p", "ExpressionAttributeValues": {":p": {"S": "x"}}}},
            ])
            results["emulator transaction"].append((time.perf_counter() - started) * 1000)

        # Warm: cargo lambda starts up to LOCAL_FUNCTION_CONCURRENCY processes of a function as
        # invocations wait (and, counting none as idle, more while any wait at all); each start is
        # a `cargo run` that takes a core for a second. Bursts of simultaneous calls start them all
        # now, so the figures below are of a warm stack, as Lambda's warm environments are.
        warm_body = json.dumps({"name": "check_availability", "call": call,
                                "args": {"date": days[0].isoformat(), "service_id": "haircut"}}).encode()
        for _ in range(3):
            with concurrent.futures.ThreadPoolExecutor(stack.function_concurrency) as pool:
                for path in (check, book):
                    list(pool.map(lambda _: Client(stack.api_port).post(path, warm_body, stack.api_key),
                                  range(stack.function_concurrency)))
            time.sleep(3)
        for client in (gate, direct):
            client.post(check, warm_body, stack.api_key)
        # check_availability first, on the seeded calendar (the next two weeks of a salon's day),
        # then the bookings (each a time of its own), so the checks do not read the bench's bookings.
        paths = lambda i: (("gate", gate), ("direct", direct)) if i % 2 else (("direct", direct), ("gate", gate))  # noqa: E731
        for i in range(args.calls):
            for name, client in paths(i):
                body = json.dumps({"name": "check_availability", "call": call,
                                   "args": {"date": days[i % 10].isoformat(), "service_id": "haircut"}}).encode()
                took, _ = client.post(check, body, stack.api_key)
                results[f"check {name}"].append(took)
            emulator_query(days[i % 10])
        for i in range(args.calls):
            for name, client in paths(i):
                d, t = slots.pop()
                body = json.dumps({"name": "book_appointment", "call": {**call, "from_number": f"+49176{i:08d}"},
                                   "args": {"date": d.isoformat(), "time": t, "service_id": "beard",
                                            "customer_name": "Bench"}}).encode()
                took, reply = client.post(book, body, stack.api_key)
                if reply.get("success") is not True:
                    raise RuntimeError(f"not booked: {reply}")
                results[f"book {name}"].append(took)
            emulator_transaction(i)
        print("| path | requests | p50 ms | p90 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, ms in results.items():
            print(summary(name, ms))
        gate_share = [g - d for g, d in zip(sorted(results["check gate"]), sorted(results["check direct"]))]
        print(f"gate's share, check_availability, p50: {statistics.median(gate_share):.2f} ms")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
