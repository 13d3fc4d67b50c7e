#!/usr/bin/env python3
"""The webhook's per-request work done the way the Python ecosystem does it: the official
retell-sdk's `verify` plus `json.loads` plus a routing lookup, on the same bodies as the
criterion bench (shared/benches/webhook_ingest.rs). Prints both and the ratio.

Run after `cargo bench -p retell-shared --bench webhook_ingest` (make bench does both).
"""

import json
import platform
import time
import timeit
from pathlib import Path

from retell.lib.webhook_auth import symmetric

KEY = "key_bench_0123456789abcdef"
ROOT = Path(__file__).resolve().parents[1]
ROUTES = {"call_started", "call_ended", "call_analyzed"}


def body(size: int) -> str:
    line = "User: Ich hätte gern einen Termin am Dienstag um halb drei.\n"
    transcript = ""
    # Same recipe as the Rust bench (lengths in UTF-8 bytes).
    while len(transcript.encode()) + 400 < size:
        transcript += line
    return json.dumps({"event": "call_ended", "call": {
        "call_id": "call_bench_0001", "agent_id": "agent_demo", "call_status": "ended",
        "from_number": "+4917611112222", "to_number": "+493012345678",
        "start_timestamp": 1700000000000, "end_timestamp": 1700000300000,
        "transcript": transcript}}, ensure_ascii=False, separators=(",", ":"))


def python_path(b: str, sig: str) -> bool:
    if not symmetric["verify"](b, KEY, sig):
        return False
    event = json.loads(b)
    return event["event"] in ROUTES and bool(event["call"]["call_id"])


def rust_ns(label: str):
    est = ROOT / "target" / "criterion" / "verify_parse_route" / label / "new" / "estimates.json"
    if not est.exists():
        return None
    return json.loads(est.read_text())["mean"]["point_estimate"]


def main() -> None:
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    print(f"{'body':>6} {'bytes':>9} {'python µs':>11} {'rust µs':>9} {'speed-up':>9}")
    for label, size in [("10KB", 10_000), ("200KB", 200_000), ("2MB", 2_000_000)]:
        b = body(size)
        sig = symmetric["sign"](b, KEY, int(time.time() * 1000))
        assert python_path(b, sig)
        runs = max(5, int(2_000_000 / size))
        best = min(timeit.repeat(lambda: python_path(b, sig), number=runs, repeat=5)) / runs
        py_us = best * 1e6
        rust = rust_ns(label)
        if rust is None:
            print(f"{label:>6} {len(b.encode()):>9} {py_us:>11.1f} {'-':>9} {'-':>9}")
        else:
            print(f"{label:>6} {len(b.encode()):>9} {py_us:>11.1f} {rust / 1e3:>9.1f} {py_us * 1e3 / rust:>8.1f}x")


if __name__ == "__main__":
    main()
