#!/usr/bin/env python3
"""The local stack's front door for functions: forwards every request on 127.0.0.1:LISTEN to
`cargo lambda watch` on 127.0.0.1:UPSTREAM and gives each invocation TIMEOUT seconds, like
Lambda's function timeout, answering 504 after that. Like Lambda's, the limit leaves out the
cold start: while cargo lambda is still building the function (`cargo run --bin <function>`, after
an edit or waiting for another cargo's lock), its invocations wait for it.

Why not `cargo lambda watch --timeout`: cargo-lambda (1.9.2) applies that timeout to every
request its server handles, including the runtime API's `GET .../invocation/next` on which each
function process waits for its next event. After TIMEOUT seconds without traffic that long poll
is cut with a 408, the function's runtime panics ("missing lambda-runtime-aws-request-id
header") and exits, and cargo lambda does not start it again until a source file changes: the
stack stopped serving after one idle minute. Functions reach the runtime API on UPSTREAM
directly, so this timeout applies to invocations only and functions may idle forever.

cargo-lambda 1.9.2 also loses a function's answer now and then: about one large answer in a few
hundred (the control center's 52 KB htmx.min.js, never its 6 KB stylesheet) comes back as its own
bare 500 (`CARGO_LAMBDA_LOST_ANSWER`) although the function answered 200. Lambda does not do
that, so a GET or HEAD (safe to repeat) that gets it is invoked again, at most twice; any other
method gets it passed on, and every case is written to the gate's log.

    function_gate.py --listen 9000 --upstream 9100 --timeout 60   (0: no timeout)
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import select
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FUNCTION_IN_PATH = re.compile(r"^/(?:lambda-url|2015-03-31/functions)/([^/?]+)")
# What cargo-lambda answers for any of its own errors (our functions never answer this body).
CARGO_LAMBDA_LOST_ANSWER = b'{"type":"https://httpstatuses.com/500","status":500,"title":"Internal Server Error"}'
REPEATABLE = {"GET", "HEAD"}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
              "upgrade", "content-length", "expect"}


class Gate(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, listen: int, upstream: int, timeout: float | None):
        super().__init__(("127.0.0.1", listen), Handler)
        self.upstream = upstream
        self.invocation_timeout = timeout
        self.local = threading.local()

    def connection(self, fresh: bool = False) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's keep-alive connection to cargo lambda (and whether it is reused)."""
        conn = getattr(self.local, "conn", None)
        if conn is not None and not fresh:
            return conn, True
        if conn is not None:
            conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream)
        self.local.conn = conn
        return conn, False

    def drop_connection(self) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
            self.local.conn = None


def being_built(function: str) -> bool:
    """Whether cargo lambda's `cargo run --bin <function>` has not yet become the function."""
    out = subprocess.run(["ps", "-A", "-o", "args="], capture_output=True, text=True).stdout
    for line in out.splitlines():
        argv = line.split()
        if (argv and argv[0].rsplit("/", 1)[-1] == "cargo" and "run" in argv
                and "--bin" in argv[:-1] and argv[argv.index("--bin") + 1] == function):
            return True
    return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Gate

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _forward(self) -> None:
        body = self._body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        started = time.monotonic()
        fresh = False
        lost = 0  # answers cargo-lambda lost (see the module's doc)
        while True:
            conn, reused = self.server.connection(fresh)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                if not self._answered_in_time(conn, started):
                    self.server.drop_connection()  # its answer, if any, would arrive on it later
                    limit = self.server.invocation_timeout
                    return self._reply(504, {"message": f"Task timed out after {limit:g} seconds "
                                                        "(LOCAL_FUNCTION_TIMEOUT)"}, started)
                resp = conn.getresponse()
                payload = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as err:
                self.server.drop_connection()
                if reused and not fresh:  # a kept-alive connection cargo lambda had closed: once more
                    fresh = True
                    continue
                return self._reply(502, {"message": f"the function's connection broke: {err!r}"}, started)
            except OSError as err:  # refused: cargo lambda watch is (re)starting
                self.server.drop_connection()
                return self._reply(502, {"message": f"functions are not reachable: {err!r}"}, started)
            if resp.status != 500 or payload != CARGO_LAMBDA_LOST_ANSWER:
                break
            lost += 1
            if self.command not in REPEATABLE or lost > 2:
                self.log_message("%s %s: cargo lambda lost the function's answer (its bare 500), "
                                 "passed on", self.command, self.path)
                break
            self.log_message("%s %s: cargo lambda lost the function's answer (its bare 500), "
                             "invoking again", self.command, self.path)
        self.send_response_only(resp.status, resp.reason)  # the function's own Date, no Server
        for name, value in resp.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _answered_in_time(self, conn: http.client.HTTPConnection, started: float) -> bool:
        """Waits for the answer to start: True once it does, False when the invocation ran out of
        time (the time the function spends being built does not count)."""
        if self.server.invocation_timeout is None:
            return True
        deadline = started + self.server.invocation_timeout
        match = FUNCTION_IN_PATH.match(self.path)
        building_noted = False
        while True:
            if select.select([conn.sock], [], [], max(0.0, deadline - time.monotonic()))[0]:
                return True
            if not (match and being_built(match.group(1))):
                return False
            if not building_noted:
                self.log_message("%s %s: %s is being built; its invocation waits", self.command, self.path,
                                 match.group(1))
                building_noted = True
            while being_built(match.group(1)):  # then the full time from when it is built
                if select.select([conn.sock], [], [], 2.0)[0]:
                    return True
            deadline = time.monotonic() + self.server.invocation_timeout

    def _reply(self, status: int, body: dict, started: float) -> None:
        payload = json.dumps(body).encode()
        self.log_message("%s %s -> %d after %.1fs: %s", self.command, self.path, status,
                         time.monotonic() - started, body["message"])
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _forward

    def log_request(self, code="-", size="-"):  # type: ignore[no-untyped-def]
        pass  # only failures are logged (by _reply)

    def log_message(self, format, *args):  # type: ignore[no-untyped-def]  # noqa: A002
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {format % args}\n")
        sys.stderr.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=60, help="seconds per invocation; 0: none")
    args = parser.parse_args()
    gate = Gate(args.listen, args.upstream, args.timeout or None)
    gate.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
