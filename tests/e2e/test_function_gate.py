"""The local stack's front door (infra/local/function_gate.py) against a stand-in for cargo lambda
watch: cargo lambda's own 500 is passed on, never invoked again; a body
cargo-lambda cannot carry goes through its invoke endpoint as API Gateway's base64 event; an
answer on a kept-alive connection is not held back by Nagle's algorithm."""

import base64
import http.client
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "local"))

from function_gate import CARGO_LAMBDA_LOST_ANSWER, Gate  # noqa: E402


class Upstream(BaseHTTPRequestHandler):
    """Answers the first `lose` requests with cargo-lambda's own bare 500, then 200 (or, with
    `failing`, the function's own 500)."""
    protocol_version = "HTTP/1.1"
    lose = 0
    failing = False
    calls: list[str] = []

    def _answer(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        Upstream.calls.append(self.command)
        lost = Upstream.lose > 0
        Upstream.lose -= 1
        body = (CARGO_LAMBDA_LOST_ANSWER if lost else
                b'{"message":"the function failed"}' if Upstream.failing else b"the function's answer")
        self.send_response(500 if lost or Upstream.failing else 200)
        self.send_header("content-type", "text/plain; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def call(port, method, data=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/lambda-url/control-center/x", method=method,
                                 data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_cargo_lambdas_own_500_is_passed_on_and_logged_never_invoked_again(capsys):
    """The stack's cargo-lambda reads each answer whole (infra/local/install-cargo-lambda.sh), so
    an answer of its own is an error to see, not to hide by invoking the function again: a GET
    may be safe to repeat, a POST never is."""
    upstream = serve(ThreadingHTTPServer(("127.0.0.1", 0), Upstream))
    gate = serve(Gate(0, upstream.server_address[1], 5))
    port = gate.server_address[1]
    try:
        for method, data in [("GET", None), ("POST", b"{}")]:
            Upstream.lose, Upstream.calls, Upstream.failing = 1, [], False
            assert call(port, method, data) == (500, CARGO_LAMBDA_LOST_ANSWER)
            assert Upstream.calls == [method]
            assert call(port, method, data) == (200, b"the function's answer")
        logged = capsys.readouterr().err
        assert logged.count("cargo lambda answered its own 500, not the function") == 2, logged

        # The function's own 500 is its answer: passed on, never repeated, not called cargo lambda's.
        Upstream.lose, Upstream.calls, Upstream.failing = 0, [], True
        assert call(port, "GET") == (500, b'{"message":"the function failed"}')
        assert Upstream.calls == ["GET"]
        assert "cargo lambda answered" not in capsys.readouterr().err
    finally:
        gate.shutdown()
        upstream.shutdown()


class Invocations(BaseHTTPRequestHandler):
    """cargo lambda's invoke endpoint: the event in, the function's HTTP API response out."""
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, dict]] = []

    def do_POST(self):
        event = json.loads(self.rfile.read(int(self.headers["content-length"])))
        Invocations.seen.append((self.path, event))
        answer = json.dumps({"statusCode": 400, "headers": {"content-type": "application/json", "x-note": "für"},
                             "cookies": ["a=1; Path=/", "b=2; Path=/"], "isBase64Encoded": True,
                             "body": base64.b64encode(b'{"reason":"invalid_utf8"}').decode()}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


class Plain(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = b'{"available":true}'
        self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)  # one write, as hyper

    def log_message(self, *args):
        pass


def test_a_body_that_is_not_utf8_reaches_the_function_base64_encoded():
    upstream = serve(ThreadingHTTPServer(("127.0.0.1", 0), Invocations))
    gate = serve(Gate(0, upstream.server_address[1], 5))
    try:
        body = b'{"event":"call_started","x":"\xff\xfe"}'
        conn = http.client.HTTPConnection("127.0.0.1", gate.server_address[1], timeout=10)
        conn.request("POST", "/lambda-url/webhook/api/retell/webhook?a=1&a=2", body=body,
                     headers={"content-type": "application/json", "cookie": "s=1; t=2"})
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (400, b'{"reason":"invalid_utf8"}')
        assert resp.headers.get_all("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
        assert resp.getheader("x-note") == "für".encode().decode("latin-1")  # its UTF-8 bytes, as hyper sends them
        [(path, event)] = Invocations.seen
        assert path == "/2015-03-31/functions/webhook/invocations"
        assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == body
        assert (event["version"], event["routeKey"], event["rawPath"], event["rawQueryString"]) == \
            ("2.0", "$default", "/api/retell/webhook", "a=1&a=2")
        assert event["queryStringParameters"] == {"a": "1,2"} and event["cookies"] == ["s=1", "t=2"]
        assert event["requestContext"]["http"]["method"] == "POST"
        assert event["headers"]["content-type"] == "application/json"
    finally:
        gate.shutdown()
        upstream.shutdown()


def test_kept_alive_answers_are_not_held_back():
    """Headers and body in two writes with Nagle on: each answer on a kept-alive connection waited
    for the client's delayed ACK, about 40 ms."""
    upstream = serve(ThreadingHTTPServer(("127.0.0.1", 0), Plain))
    gate = serve(Gate(0, upstream.server_address[1], 5))
    try:
        conn = http.client.HTTPConnection("127.0.0.1", gate.server_address[1], timeout=10)
        took = []
        for _ in range(30):
            started = time.perf_counter()
            conn.request("POST", "/lambda-url/check-availability/x", body=b"{}")
            assert conn.getresponse().read() == b'{"available":true}'
            took.append(time.perf_counter() - started)
        assert sorted(took)[len(took) // 2] < 0.02, took
    finally:
        gate.shutdown()
        upstream.shutdown()
