"""The local stack's front door (infra/local/function_gate.py) against a stand-in for cargo lambda
watch: an answer cargo-lambda lost is asked for again only where repeating is safe."""

import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "local"))

from function_gate import CARGO_LAMBDA_LOST_ANSWER, Gate  # noqa: E402


class Upstream(BaseHTTPRequestHandler):
    """Loses the first `lose` answers (cargo-lambda's bare 500), then answers 200 (or, with
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


def test_a_lost_answer_is_asked_for_again_only_for_get():
    upstream = serve(ThreadingHTTPServer(("127.0.0.1", 0), Upstream))
    gate = serve(Gate(0, upstream.server_address[1], 5))
    port = gate.server_address[1]
    try:
        Upstream.lose, Upstream.calls = 1, []
        assert call(port, "GET") == (200, b"the function's answer")
        assert Upstream.calls == ["GET", "GET"]

        # Three lost in a row: the third is passed on rather than invoking forever.
        Upstream.lose, Upstream.calls = 5, []
        assert call(port, "GET") == (500, CARGO_LAMBDA_LOST_ANSWER)
        assert Upstream.calls == ["GET"] * 3

        # A POST is not repeated: the function ran, and running it twice could do twice.
        Upstream.lose, Upstream.calls = 1, []
        assert call(port, "POST", b"{}") == (500, CARGO_LAMBDA_LOST_ANSWER)
        assert Upstream.calls == ["POST"]

        # The function's own 500 is its answer, never repeated.
        Upstream.lose, Upstream.calls, Upstream.failing = 0, [], True
        assert call(port, "GET") == (500, b'{"message":"the function failed"}')
        assert Upstream.calls == ["GET"]
    finally:
        gate.shutdown()
        upstream.shutdown()
