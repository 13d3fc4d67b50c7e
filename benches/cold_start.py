#!/usr/bin/env python3
"""A function's init time, as Lambda's "Init Duration" counts it: from starting the process to its
first request for work (`GET /2018-06-01/runtime/invocation/next` on the runtime API), with a
stand-in runtime API on this machine and no network behind the AWS endpoint (init must not
need one).

    .venv/bin/python benches/cold_start.py target/release/control-center [--runs 30]

The environment is the one template.yaml gives the control center, with placeholder values.
Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import http.server
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

ENV = {
    "AWS_REGION": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_LAMBDA_FUNCTION_NAME": "control-center",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_FORMAT": "JSON",
    "USER_POOL_ID": "eu-central-1_pool",
    "USER_POOL_CLIENT_ID": "client",
    "PUBLIC_BASE_URL": "https://api.example.com",
    "RETELL_SECRET_ID": "secret",
    "DEFAULT_COMPANY_ID": "default",
    "COMPANIES_TABLE": "companies",
    "CALLS_TABLE": "calls",
    "CALL_STATS_TABLE": "stats",
    "APPOINTMENTS_TABLE": "appointments",
    "EVENTS_BUCKET": "events",
    "CALL_STARTED_QUEUE_URL": "https://sqs/q1",
    "CALL_ENDED_QUEUE_URL": "https://sqs/q2",
    "CALL_ANALYZED_QUEUE_URL": "https://sqs/q3",
    "CALL_STARTED_DLQ_URL": "https://sqs/d1",
    "CALL_ENDED_DLQ_URL": "https://sqs/d2",
    "CALL_ANALYZED_DLQ_URL": "https://sqs/d3",
    "LOG_GROUPS": "webhook=/aws/lambda/webhook",
    "RUST_LOG": "info",
}


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    first_next: threading.Event
    at: list

    def do_GET(self):  # noqa: N802 - the runtime API's verb
        if self.path.endswith("/runtime/invocation/next"):
            self.server.at.append(time.perf_counter())  # type: ignore[attr-defined]
            self.server.first_next.set()  # type: ignore[attr-defined]
            time.sleep(5)  # hold the long poll; the process is killed before an answer
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args):
        pass


def one_run(binary: str) -> float:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    server.first_next = threading.Event()  # type: ignore[attr-defined]
    server.at = []  # type: ignore[attr-defined]
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**ENV, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
           "PATH": os.environ.get("PATH", "")}
    started = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not server.first_next.wait(10):
            err = proc.stderr.read().decode() if proc.poll() is not None else ""
            raise SystemExit(f"{binary} never asked for work: {err}")
        return (server.at[0] - started) * 1000
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    one_run(args.binary)  # warm the page cache: Lambda's image is local too
    times = sorted(one_run(args.binary) for _ in range(args.runs))
    print(f"{args.binary}: init (process start to first /next) over {args.runs} runs: "
          f"median {statistics.median(times):.1f} ms, p90 {times[int(len(times) * 0.9) - 1]:.1f} ms, "
          f"min {times[0]:.1f} ms, max {times[-1]:.1f} ms; size {os.path.getsize(args.binary):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
