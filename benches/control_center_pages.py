#!/usr/bin/env python3
"""The control center's pages for a company with 10,000 calls, on the local stack.

    .venv/bin/python benches/control_center_pages.py [--calls 10000] [--runs 20] [--release]

10,000 calls of company `demo` over the last 30 days (and their daily statistics) are written
straight into the emulator's tables, then every page is requested `--runs` times (warm) as the
staff user of `demo` with a real Cognito ID token. Printed per page: the median time the client
waited, the function's own time (its `request answered` line), and the time the same DynamoDB
requests take the emulator when asked directly; the function's work beyond the emulator is the
difference. Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra" / "local"))
from stack import REGION, LocalStack  # noqa: E402

BERLIN = ZoneInfo("Europe/Berlin")


def client(stack, service):
    return boto3.client(service, endpoint_url=stack.endpoint, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test")


def seed(stack: LocalStack, n: int) -> str:
    """n calls of demo over 30 days; returns one call id of today."""
    ddb = client(stack, "dynamodb")
    calls = stack.description["resources"]["CallsTable"]["Ref"]
    stats_table = stack.description["resources"]["CallStatsTable"]["Ref"]
    rnd = random.Random(7)
    now = datetime.datetime.now(BERLIN)
    stats: dict[str, dict[str, int]] = {}
    items = []
    today_call = ""
    for i in range(n):
        start = now - datetime.timedelta(seconds=rnd.randrange(0, 30 * 86400))
        day = start.date().isoformat()
        ms = int(start.timestamp() * 1000)
        duration = rnd.randrange(20_000, 600_000)
        call_id = f"call_bench{i:022d}"
        if day == now.date().isoformat():
            today_call = call_id
        s = stats.setdefault(day, {"calls": 0, "connected": 0, "minutes": 0, "duration_ms": 0,
                                   "successful": 0, "sentiment_positive": 0, "booked": 0})
        s["calls"] += 1
        s["connected"] += 1
        s["duration_ms"] += duration
        s["minutes"] += (duration + 59_999) // 60_000
        s["successful"] += 1
        s["sentiment_positive"] += 1
        s["booked"] += i % 3 == 0
        items.append({"PutRequest": {"Item": {
            "call_id": {"S": call_id}, "company_id": {"S": "demo"}, "call_ts": {"N": str(ms)},
            "start_timestamp": {"N": str(ms)}, "call_status": {"S": "ended"},
            "from_number": {"S": f"+49176{rnd.randrange(10**7):07d}"}, "to_number": {"S": "+493012345678"},
            "direction": {"S": "inbound"}, "agent_id": {"S": "agent_demo"},
            "duration_ms": {"N": str(duration)}, "user_sentiment": {"S": "Positive"}, "call_successful": {"BOOL": True},
            "call_summary": {"S": "Der Anrufer hat einen Haarschnitt gebucht."},
            "transcript": {"S": "Agent: Salon Demo, guten Tag!\nUser: Einen Haarschnitt bitte.\n" * 20},
            "events_applied": {"SS": ["call_ended", "call_analyzed"]}, "version": {"N": "2"},
            "first_seen_ms": {"N": str(ms)}, "stats_day": {"S": day}, "disconnection_reason": {"S": "user_hangup"},
        }}})
    for i in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={calls: items[i:i + 25]})
    for day, s in stats.items():
        ddb.put_item(TableName=stats_table, Item={"company_id": {"S": "demo"}, "day": {"S": day},
                                                  **{k: {"N": str(v)} for k, v in s.items()}})
    return today_call


def token(stack: LocalStack) -> str:
    idp = client(stack, "cognito-idp")
    user, password = stack.users["staff"]
    client_id = stack.description["resources"]["ControlCenterUserPoolClient"]["Ref"]
    return idp.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=client_id,
                             AuthParameters={"USERNAME": user, "PASSWORD": password})["AuthenticationResult"]["IdToken"]


def answered_latencies(stack: LocalStack, path: str) -> list[int]:
    out = []
    for raw in (stack.logs / "functions.log").read_text(errors="replace").splitlines():
        if '"request answered"' not in raw or '"control_center"' not in raw:
            continue
        line = json.loads(raw)
        if line.get("span", {}).get("event", "").endswith(path):
            out.append(int(line["latency_ms"]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--release", action="store_true")
    args = ap.parse_args()
    stack = LocalStack.for_bench("cc", release=args.release)
    stack.start()
    try:
        call_id = seed(stack, args.calls)
        id_token = token(stack)
        base = stack.control_center_url()
        today = datetime.datetime.now(BERLIN).date()
        day_start = int(datetime.datetime.combine(today, datetime.time(), BERLIN).timestamp() * 1000)
        ddb = client(stack, "dynamodb")
        calls = stack.description["resources"]["CallsTable"]["Ref"]
        stats_table = stack.description["resources"]["CallStatsTable"]["Ref"]
        direct = {
            "": lambda: (ddb.query(TableName=stats_table, KeyConditionExpression="company_id = :c AND #d BETWEEN :a AND :b",
                                   ExpressionAttributeNames={"#d": "day"},
                                   ExpressionAttributeValues={":c": {"S": "demo"}, ":a": {"S": str(today)}, ":b": {"S": str(today)}}),
                         ddb.query(TableName=calls, IndexName="active-calls", KeyConditionExpression="active_company = :c",
                                   ExpressionAttributeValues={":c": {"S": "demo"}}),
                         ddb.query(TableName=calls, IndexName="company-calls", Limit=2, ScanIndexForward=False,
                                   KeyConditionExpression="company_id = :c AND call_ts BETWEEN :a AND :b",
                                   ExpressionAttributeValues={":c": {"S": "demo"}, ":a": {"N": "0"}, ":b": {"N": str(2**52)}})),
            "/calls": lambda: ddb.query(TableName=calls, IndexName="company-calls", Limit=100, ScanIndexForward=False,
                                        KeyConditionExpression="company_id = :c AND call_ts BETWEEN :a AND :b",
                                        ExpressionAttributeValues={":c": {"S": "demo"}, ":a": {"N": str(day_start)},
                                                                   ":b": {"N": str(day_start + 86_400_000)}}),
            "/analytics": lambda: ddb.query(TableName=stats_table, KeyConditionExpression="company_id = :c AND #d BETWEEN :a AND :b",
                                            ExpressionAttributeNames={"#d": "day"},
                                            ExpressionAttributeValues={":c": {"S": "demo"}, ":a": {"S": "2000-01-01"}, ":b": {"S": "2100-01-01"}}),
            f"/calls/{call_id}": lambda: ddb.get_item(TableName=calls, Key={"call_id": {"S": call_id}}, ConsistentRead=True),
        }
        print(f"{args.calls} calls of demo; median over {args.runs} warm requests each:")
        for path, query in direct.items():
            waited = []
            for i in range(args.runs + 1):
                req = urllib.request.Request(base + path, headers={"authorization": f"Bearer {id_token}"})
                t = time.perf_counter()
                with urllib.request.urlopen(req, timeout=60) as resp:
                    assert resp.status == 200, (path, resp.status)
                    resp.read()
                if i:  # the first warms the function
                    waited.append((time.perf_counter() - t) * 1000)
            emulator = []
            for _ in range(args.runs):
                t = time.perf_counter()
                query()
                emulator.append((time.perf_counter() - t) * 1000)
            time.sleep(1.5)  # the function's log lines reach the file
            own = answered_latencies(stack, path or "/admin/retell-control-center")[-args.runs:]
            own_med = statistics.median(own) if own else float("nan")
            print(f"  {path or '/':<45} client {statistics.median(waited):7.1f} ms   function {own_med:6.1f} ms   "
                  f"emulator (same DynamoDB requests) {statistics.median(emulator):6.1f} ms   "
                  f"function beyond the emulator {own_med - statistics.median(emulator):6.1f} ms")
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
