"""The simulator itself: its parts put together, the HTTP server that serves them (keep-alive,
Retell's error shape for every failure), dispatch with the key check and injected faults, and
start / stop."""

from __future__ import annotations

import hmac
import re
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from .api import RetellApi
from .control import SimControl
from .delivery import Deliveries
from .faults import Faults
from .knowledge_base import KnowledgeBaseApi
from .limits import DRAIN_LIMIT_BYTES, MAX_BODY_BYTES
from .log import SimLog
from .player import CallPlayer
from .request import Request
from .store import Store
from .validation import Schema
from .wire import ApiError, Blob, bad_request, dumps

# A route with its path compiled: (method, pattern, handler, kind).
CompiledRoute = tuple[str, "re.Pattern[str]", Callable[..., Any], str]


class RetellSimulator:
    """Retell's API and call playback, in memory. `start()` serves it on a daemon thread.

    log: the stream log lines go to (None: stderr); async_log: through a queue (see SimLog)."""

    def __init__(self, api_key: str, port: int = 0, host: str = "127.0.0.1", seed: str | dict | None = None,
                 retry_delay: float = 1.0, log: Any = None, async_log: bool = False):
        if not api_key:
            raise ValueError("api_key is required")
        self.api_key, self.host, self.port, self.retry_delay = api_key, host, port, retry_delay
        self._log = SimLog(log, queued=async_log)
        self.schema = Schema()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.store = Store(self.schema)
        # One lock for everything (the store's): /sim/state and a waited-for /sim/calls read calls,
        # deliveries and faults as of one moment.
        self.faults = Faults(self.store.lock)
        self.deliveries = Deliveries(api_key, retry_delay, self.store.lock, self.faults, self._stopping, self.log)
        self.player = CallPlayer(self.store, self.deliveries, self._stopping, self.log, lambda: self.url)
        api = RetellApi(self.store, self.player, self.log, lambda: self.url)
        knowledge = KnowledgeBaseApi(self.store, lambda: self.url)
        control = SimControl(self.store, self.player, self.faults, self.deliveries, lambda: self.url)
        self._routes: list[CompiledRoute] = [(m, re.compile(p + "/?"), h, k)
                                             for m, p, h, k in api.routes() + knowledge.routes() + control.routes()]
        if seed is not None:
            self.load_seed(seed)

    # ---- lifecycle ----

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "RetellSimulator":
        sim = self

        class Handler(_Handler):
            simulator = sim

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="retell-sim",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # retry waits end at once; playback threads are daemons
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._log.close()

    def log(self, line: str) -> None:
        self._log(line)

    def load_seed(self, seed: str | dict) -> None:
        """Agents, LLMs, numbers (and voices, knowledge bases) of an account that already exists (--seed)."""
        self.store.load_seed(seed)

    # ---- dispatch ----

    def dispatch(self, method: str, raw_path: str, headers: Any, raw_body: bytes) -> tuple[int, Any, dict]:
        """(status, JSON-able body | bytes | None, extra headers). Raises ApiError."""
        path, _, query_string = raw_path.partition("?")
        for route_method, pattern, handler, kind in self._routes:
            m = pattern.fullmatch(path)
            if m and route_method == method:
                break
        else:
            raise ApiError(404, "Not found")
        params = tuple(self._decode_segment(g) for g in m.groups())
        try:
            pairs = urllib.parse.parse_qsl(query_string, keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise bad_request("query string is not valid UTF-8") from None
        query = dict(pairs)
        lost = None
        if kind == "api":
            lost = self.faults.apply(path)
            self._check_key(headers.get("Authorization"))
        req = Request(method, path, query, headers, raw_body, params)
        result = handler(req, *params)
        if lost is not None:
            raise lost
        status, body = result if isinstance(result, tuple) else (200, result)
        return status, body, {}

    @staticmethod
    def _decode_segment(segment: str) -> str:
        try:
            return urllib.parse.unquote_to_bytes(segment).decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request("path is not valid UTF-8") from None

    def _check_key(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.api_key.encode()):
            raise ApiError(401, "Unauthorized: invalid or missing API key")


# --- HTTP ----------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    """One connection's requests, each read, handed to the simulator's dispatch and answered."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's httpx and Rust's reqwest expect
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's
    # delayed ACK (~40 ms a request on Linux).
    disable_nagle_algorithm = True
    server_version = "retell-sim"
    sys_version = ""
    simulator: RetellSimulator

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - we log one line ourselves
        pass

    def version_string(self) -> str:
        return self.server_version

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors http.server raises itself (an unreadable request line or headers): Retell's shape
        rather than its HTML page."""
        payload = dumps({"status": "error", "message": message or "Bad request"}).encode("utf-8")
        try:
            self.send_response(code, message)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(payload)
        except OSError:
            pass
        self.close_connection = True

    def _read_body(self) -> bytes:
        """The body, or an ApiError (400) for one too large or malformed. A refused body is still
        drained (up to DRAIN_LIMIT_BYTES) so the client reads our answer rather than a reset."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        if not length_header.strip().isdigit():
            self.close_connection = True
            raise bad_request("Content-Length is not a number")
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            self._drain(length)
            raise bad_request(f"request body larger than {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length)

    def _drain(self, length: int) -> None:
        if length > DRAIN_LIMIT_BYTES:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                break
            length -= len(chunk)

    def _read_chunked(self) -> bytes:
        data = bytearray()
        while True:
            line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                self.close_connection = True
                raise bad_request("malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                break
            if len(data) + size > MAX_BODY_BYTES:
                self.close_connection = True
                raise bad_request(f"request body larger than {MAX_BODY_BYTES} bytes")
            data += self.rfile.read(size)
            self.rfile.readline(1024)
        return bytes(data)

    def _handle(self) -> None:
        sim = self.simulator
        started = time.monotonic()
        extra: dict[str, str] = {}
        try:
            raw = self._read_body()
            try:  # http.server read the request line as Latin-1; URLs carry UTF-8
                path = self.path.encode("latin-1").decode("utf-8")
            except UnicodeError:
                raise bad_request("path is not valid UTF-8") from None
            status, body, extra = sim.dispatch(self.command, path, self.headers, raw)
        except ApiError as err:
            status, body, extra = err.status, err.body(), err.headers
        except Exception:  # never a crash, never a stack trace to the client
            sim.log(f"internal error on {self.command} {self.path}\n{traceback.format_exc()}")
            status, body = 500, {"status": "error", "message": "Internal server error"}
        if body is None:
            payload, content_type = b"", None
        elif isinstance(body, Blob):
            payload, content_type = body.data, body.content_type
        elif isinstance(body, bytes):
            payload, content_type = body, "audio/wav"
        else:
            payload, content_type = dumps(body).encode("utf-8"), "application/json; charset=utf-8"
        try:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        path = self.path.split("?", 1)[0]
        sim.log(f"{self.command} {path} {status} {int((time.monotonic() - started) * 1000)}ms")

