#!/usr/bin/env python3
"""The local stack's front door for functions: forwards every request on 127.0.0.1:LISTEN to
`cargo lambda watch` on 127.0.0.1:UPSTREAM and gives each invocation TIMEOUT seconds, like
Lambda's function timeout, answering 504 after that. Like Lambda's, the limit leaves out the
cold start: while cargo lambda is still building the function (`cargo run --bin <function>`, after
an edit, waiting for another cargo's lock, or starting one more instance under
`--concurrency`), its invocations wait for it.

Why not `cargo lambda watch --timeout`: cargo-lambda (1.9.2) applies that timeout to every
request its server handles, including the runtime API's `GET .../invocation/next` on which each
function process waits for its next event. After TIMEOUT seconds without traffic that long poll
is cut with a 408, the function's runtime panics ("missing lambda-runtime-aws-request-id
header") and exits, and cargo lambda does not start it again until a source file changes: the
stack stopped serving after one idle minute. Functions reach the runtime API on UPSTREAM
directly, so this timeout applies to invocations only and functions may idle forever.

cargo-lambda 1.9.2 also lost a function's answer now and then (about one answer of 50 KB in a
hundred came back as its own bare 500, `CARGO_LAMBDA_LOST_ANSWER`): its runtime API acknowledged
the answer before reading it. The stack's cargo-lambda is built with that fixed
(infra/local/install-cargo-lambda.sh), so the gate invokes nothing again: cargo lambda's own 500
is passed on as it came, and written to the gate's log as cargo lambda's, not the function's.

A body cargo-lambda cannot carry reaches the function as API Gateway sends it: cargo-lambda 1.9.2
puts a body without content-type, or with text/* or application/json*, into the HTTP API event
as a string (crates/cargo-lambda-watch/src/trigger_router.rs, furls_handler: `String::from_utf8`)
and answers its own bare 500 when that body is not UTF-8, without invoking the function. API
Gateway sends such a body base64-encoded (`isBase64Encoded: true`), so the gate builds that event
itself (shaped like cargo-lambda's), invokes the function through cargo lambda's
`POST /2015-03-31/functions/<function>/invocations` and turns the function's answer (statusCode,
headers, cookies, body, isBase64Encoded) into the HTTP answer. Every other request is forwarded
as it came.

Latency: the gate's own share is well under a millisecond. Each answer goes out in one write on a
TCP_NODELAY socket (headers and body in two writes with Nagle on stalled every kept-alive answer
for a delayed ACK, ~40 ms), and connections to cargo lambda are kept alive in a pool shared by
all client connections (a client that closes its connection after each request, as urllib does,
no longer costs a new connection to cargo lambda). New connections are taken by threads already
waiting in accept() rather than by a thread started for each.

    function_gate.py --listen 9000 --upstream 9100 --timeout 60   (0: no timeout)
"""

from __future__ import annotations

import _thread
import argparse
import base64
import http.client
import json
import re
import select
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

FUNCTION_IN_PATH = re.compile(r"^/(?:lambda-url|2015-03-31/functions)/([^/?]+)")
LAMBDA_URL = re.compile(r"^/lambda-url/([^/?]+)")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token
# What cargo-lambda answers for any of its own errors (our functions never answer this body).
CARGO_LAMBDA_LOST_ANSWER = b'{"type":"https://httpstatuses.com/500","status":500,"title":"Internal Server Error"}'
# API Gateway's answer when a function's answer is no HTTP API response.
API_GATEWAY_500 = b'{"message":"Internal Server Error"}'
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
              "upgrade", "content-length", "expect"}
MAX_IDLE_UPSTREAM = 64  # kept-alive connections to cargo lambda waiting for a request


class Gate(HTTPServer):
    """The gate's server: each client connection served by a thread of its own (see
    serve_forever), each request forwarded on a kept-alive connection to cargo lambda."""
    request_queue_size = 128
    MIN_SPARE = 4  # threads waiting for a new connection, at least
    MAX_SPARE = 16  # and at most (more end after a quiet moment)

    def __init__(self, listen: int, upstream: int, timeout: float | None):
        super().__init__(("127.0.0.1", listen), Handler)
        self.upstream = upstream
        self.invocation_timeout = timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._idle_lock = threading.Lock()
        self._stopping = threading.Event()
        self._spare = 0  # threads waiting in accept()
        self._spare_lock = threading.Lock()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serves until shutdown(): threads blocked in accept() take the connections, so a new
        connection costs no thread start on its way (ThreadingHTTPServer starts one per
        connection from its loop: two more wake-ups, each a wait for a core on a busy machine).
        There are always MIN_SPARE threads waiting: one that takes a connection when too few
        are left starts another at once, so no connection waits for a thread."""
        self.socket.settimeout(poll_interval)  # accepted sockets stay blocking (no default timeout)
        for _ in range(self.MIN_SPARE):
            self._add_worker()
        self._stopping.wait()

    def shutdown(self) -> None:
        self._stopping.set()

    def _add_worker(self) -> None:
        with self._spare_lock:
            self._spare += 1
        try:
            _thread.start_new_thread(self._worker, ())  # does not wait for the thread to start
        except RuntimeError as err:  # no more threads: the connections wait for a free one
            with self._spare_lock:
                self._spare -= 1
            sys.stderr.write(f"{time.strftime('%H:%M:%S')} no thread for more connections: {err}\n")

    def _worker(self) -> None:
        while not self._stopping.is_set():
            try:
                request, client_address = self.socket.accept()
            except TimeoutError:
                with self._spare_lock:
                    if self._spare > self.MAX_SPARE:
                        self._spare -= 1
                        return
                continue
            except OSError:  # the socket was closed
                break
            with self._spare_lock:
                self._spare -= 1
                short = self._spare < self.MIN_SPARE
            if short:
                self._add_worker()
            try:
                self.finish_request(request, client_address)
            except Exception:  # noqa: BLE001 - as socketserver does: reported, the gate serves on
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)
                with self._spare_lock:
                    self._spare += 1
        with self._spare_lock:
            self._spare -= 1

    def connection(self, fresh: bool = False) -> tuple[http.client.HTTPConnection, bool]:
        """A connection to cargo lambda for one request: a kept-alive one unless `fresh` (and
        whether it is reused). http.client sets TCP_NODELAY when it connects."""
        if not fresh:
            with self._idle_lock:
                if self._idle:
                    return self._idle.pop(), True
        return http.client.HTTPConnection("127.0.0.1", self.upstream), False

    def release(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        """Back into the pool once its answer was read whole (unless cargo lambda closes it)."""
        if not resp.will_close and conn.sock is not None:
            with self._idle_lock:
                if len(self._idle) < MAX_IDLE_UPSTREAM:
                    self._idle.append(conn)
                    return
        conn.close()

    def drop_idle(self) -> None:
        """Closes every kept-alive connection (cargo lambda closed one: it may have restarted)."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def being_built(function: str) -> bool:
    """Whether cargo lambda's `cargo run --bin <function>` has not yet become the function."""
    out = subprocess.run(["ps", "-A", "-o", "args="], capture_output=True, text=True).stdout
    for line in out.splitlines():
        argv = line.split()
        if (argv and argv[0].rsplit("/", 1)[-1] == "cargo" and "run" in argv
                and "--bin" in argv[:-1] and argv[argv.index("--bin") + 1] == function):
            return True
    return False


def cargo_lambda_cannot_carry(content_type: str | None, body: bytes) -> bool:
    """Whether cargo-lambda 1.9.2 would answer its own 500 instead of invoking the function: a
    body it takes for text (no content-type, or one starting with text/ or application/json,
    compared as it does: case-sensitive, a non-ASCII value counting as empty) that is not UTF-8."""
    if not body or body.isascii():
        return False
    if content_type is not None:
        value = content_type if content_type.isascii() else ""
        if not (value.startswith("text/") or value.startswith("application/json")):
            return False  # cargo-lambda base64-encodes it itself
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY on the client's connection (socketserver sets it)
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
        started = time.monotonic()
        lambda_url = LAMBDA_URL.match(self.path)
        if lambda_url and cargo_lambda_cannot_carry(self.headers.get("content-type"), body):
            return self._invoke_with_event(lambda_url.group(1), body, started)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        answer = self._upstream(self.command, self.path, body, headers, started)
        if answer is None:
            return
        resp, payload = answer
        out = [(name, value) for name, value in resp.getheaders() if name.lower() not in HOP_BY_HOP]
        length = resp.getheader("content-length") if self.command == "HEAD" else None
        self._send(resp.status, out, payload, reason=resp.reason, length=length)  # the function's own Date

    def _upstream(self, method: str, path: str, body: bytes, headers: dict[str, str],
                  started: float) -> tuple[http.client.HTTPResponse, bytes] | None:
        """One request to cargo lambda: (its answer, the answer's body), or None when the gate
        already answered (a timeout, or cargo lambda unreachable)."""
        fresh = False
        while True:
            conn, reused = self.server.connection(fresh)
            try:
                conn.request(method, path, body=body, headers=headers)
                if not self._answered_in_time(conn, started):
                    conn.close()  # its answer, if any, would arrive on it later
                    limit = self.server.invocation_timeout
                    self._reply(504, {"message": f"Task timed out after {limit:g} seconds "
                                                 "(LOCAL_FUNCTION_TIMEOUT)"}, started)
                    return None
                resp = conn.getresponse()
                payload = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as err:
                conn.close()
                if reused and not fresh:  # a kept-alive connection cargo lambda had closed: once more
                    self.server.drop_idle()
                    fresh = True
                    continue
                self._reply(502, {"message": f"the function's connection broke: {err!r}"}, started)
                return None
            except OSError as err:  # refused: cargo lambda watch is (re)starting
                conn.close()
                self.server.drop_idle()
                self._reply(502, {"message": f"functions are not reachable: {err!r}"}, started)
                return None
            self.server.release(conn, resp)
            if resp.status == 500 and payload == CARGO_LAMBDA_LOST_ANSWER:
                self.log_message("%s %s: cargo lambda answered its own 500, not the function "
                                 "(see its log in functions.log)", self.command, self.path)
            return resp, payload

    def _invoke_with_event(self, function: str, body: bytes, started: float) -> None:
        """The request as API Gateway's HTTP API event with the body base64-encoded, through cargo
        lambda's invoke endpoint; the function's answer as the HTTP answer."""
        event = json.dumps(self._http_api_event(function, body), separators=(",", ":")).encode()
        answer = self._upstream("POST", f"/2015-03-31/functions/{function}/invocations", event,
                                {"Content-Type": "application/json", "Content-Length": str(len(event))}, started)
        if answer is None:
            return
        resp, payload = answer
        outer = [(name, value) for name, value in resp.getheaders()  # cargo lambda's own: date, CORS
                 if name.lower() not in HOP_BY_HOP and name.lower() != "content-type"]
        if resp.status != 200:  # the function failed (or cargo lambda did): as cargo lambda answers it
            content_type = resp.getheader("content-type")
            return self._send(resp.status, outer + ([("content-type", content_type)] if content_type else []),
                              payload, reason=resp.reason)
        try:
            answer_event = json.loads(payload)
            status = int(answer_event["statusCode"])
            if not 100 <= status <= 999:
                raise ValueError(f"status {status}")
            raw = answer_event.get("body")
            out_body = (b"" if raw is None else base64.b64decode(raw) if answer_event.get("isBase64Encoded")
                        else str(raw).encode("utf-8"))
            headers = list(outer)
            for name, value in (answer_event.get("headers") or {}).items():
                headers.append((name, str(value)))
            for name, values in (answer_event.get("multiValueHeaders") or {}).items():
                headers += [(name, str(value)) for value in (values if isinstance(values, list) else [values])]
            headers += [("set-cookie", str(cookie)) for cookie in answer_event.get("cookies") or []]
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            self.log_message("%s %s: %s answered no HTTP API response (%r): %.200r", self.command, self.path,
                             function, err, payload)
            return self._send(500, outer + [("content-type", "application/json")], API_GATEWAY_500)
        self._send(status, headers, out_body, utf8=True)

    def _http_api_event(self, function: str, body: bytes) -> dict:
        """The HTTP API (payload format 2.0) event cargo-lambda 1.9.2 builds for /lambda-url/ (its
        furls_handler), with the body base64-encoded as API Gateway sends a body that is not text."""
        target = urllib.parse.urlsplit(self.path)
        path = target.path[len(f"/lambda-url/{function}"):]
        path = path if path.startswith("/") else "/" + path
        query = self.path.split("?", 1)[1].split("#", 1)[0] if "?" in self.path else None
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), value)  # the first of repeated ones, as cargo-lambda
        params: dict[str, list[str]] = {}
        for key, value in urllib.parse.parse_qsl(query or "", keep_blank_values=True):
            params.setdefault(key, []).append(value)
        now = time.time()
        request_id = str(uuid.uuid4())
        headers.setdefault("lambda-runtime-aws-request-id", request_id)  # cargo-lambda's, in its events too
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "queryStringParameters": {k: ",".join(v) for k, v in params.items()},
            "requestContext": {
                "routeKey": "$default", "accountId": None, "stage": "$default", "requestId": request_id,
                "apiId": None, "domainName": "localhost", "domainPrefix": function,
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now),
                "http": {"method": self.command, "path": path, "protocol": "http", "sourceIp": "127.0.0.1",
                         "userAgent": "cargo-lambda"},
            },
            "stageVariables": {},
            "body": base64.b64encode(body).decode("ascii"),
            "isBase64Encoded": True,
        }
        if "cookie" in headers:
            event["cookies"] = [c.strip() for c in headers["cookie"].split("; ")]
        return event

    def _answered_in_time(self, conn: http.client.HTTPConnection, started: float) -> bool:
        """Waits for the answer to start: True once it does, False when the invocation ran out of
        time. As on Lambda, a cold start does not count: while cargo lambda is starting a process
        of the function (`cargo run --bin <function>`, a build or just cargo's lock and start),
        which under --concurrency may be the one this invocation waits for, the time starts again
        from when it is up."""
        if self.server.invocation_timeout is None:
            return True
        deadline = started + self.server.invocation_timeout
        match = FUNCTION_IN_PATH.match(self.path)
        building_noted = False
        while True:
            # Short waits first (most answers come at once), then a look at the process table
            # every half second, so a process that starts and is up between two looks still counts.
            wait = min(0.5, max(0.0, deadline - time.monotonic()))
            if select.select([conn.sock], [], [], wait)[0]:
                return True
            if match and being_built(match.group(1)):
                if not building_noted:
                    self.log_message("%s %s: %s is being built or started; its invocation waits",
                                     self.command, self.path, match.group(1))
                    building_noted = True
                deadline = time.monotonic() + self.server.invocation_timeout
            elif time.monotonic() >= deadline:
                return False

    def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes, reason: str | None = None,
              utf8: bool = False, length: str | None = None) -> None:
        """The whole answer in one write: status line, headers (as the function gave them: latin-1
        from http.client, UTF-8 from an HTTP API response), Content-Length, body (none for HEAD)."""
        if reason is None:
            reason = self.responses.get(status, ("",))[0]
        encoding = "utf-8" if utf8 else "latin-1"
        lines = [f"HTTP/1.1 {status} {reason}".encode("latin-1", "replace")]
        for name, value in headers:
            if not HEADER_NAME.match(name) or "\r" in value or "\n" in value:
                self.log_message("%s %s: header %.80r dropped (not a valid header)", self.command, self.path, name)
                continue
            lines.append(f"{name}: {value}".encode(encoding, "replace"))
        lines.append(f"Content-Length: {length if length is not None else len(payload)}".encode())
        head = b"\r\n".join(lines) + b"\r\n\r\n"
        self.wfile.write(head if self.command == "HEAD" else head + payload)

    def _reply(self, status: int, body: dict, started: float) -> None:
        payload = json.dumps(body).encode()
        self.log_message("%s %s -> %d after %.1fs: %s", self.command, self.path, status,
                         time.monotonic() - started, body["message"])
        self._send(status, [("Server", self.version_string()), ("Date", self.date_time_string()),
                            ("content-type", "application/json")], payload)

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
