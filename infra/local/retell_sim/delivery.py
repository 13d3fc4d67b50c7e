"""Signed webhooks to our backend, sent and retried as Retell sends them, and the log of every
attempt (GET /sim/deliveries); also the one HTTP client for webhooks and tool calls."""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable

from retell.lib.webhook_auth import symmetric

from .faults import Faults
from .limits import MAX_REPLY_READ, WEBHOOK_RETRIES
from .wire import dumps, now_ms

TRANSFER_EVENTS = ("transfer_started", "transfer_bridged", "transfer_cancelled", "transfer_ended")
WEBHOOK_EVENT_NAMES = ("call_inbound", "call_started", "call_ended", "call_analyzed", *TRANSFER_EVENTS)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a 3xx is an answer, not a hop
        return None


# Direct connections only: a proxy from the environment must not sit between Retell and us.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def http_send(method: str, url: str, body: bytes | None, headers: dict[str, str],
              timeout_s: float) -> tuple[int | str, str]:
    """(HTTP status | "timeout" | "error", reply text)."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with _OPENER.open(req, timeout=timeout_s) as resp:
            return resp.status, resp.read(MAX_REPLY_READ).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        try:
            text = err.read(MAX_REPLY_READ).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            text = ""
        return err.code, text
    except urllib.error.URLError as err:
        return ("timeout" if isinstance(err.reason, (socket.timeout, TimeoutError)) else "error"), str(err.reason)
    except (socket.timeout, TimeoutError):
        return "timeout", ""
    except (OSError, http.client.HTTPException, ValueError) as err:
        return "error", str(err)


def ok_status(status: int | str) -> bool:
    return isinstance(status, int) and 200 <= status < 300



class Deliveries:
    """Webhooks signed with `x-retell-signature` exactly as the SDK signs (the key is the API key),
    over compact JSON. `lock` is the store's, so a call and its deliveries are read at once."""

    def __init__(self, api_key: str, retry_delay: float, lock: threading.RLock, faults: Faults,
                 stopping: threading.Event, log: Callable[[str], None]):
        self.api_key, self.retry_delay = api_key, retry_delay
        self._lock, self._faults, self._stopping, self._log = lock, faults, stopping, log
        self._entries: list[dict] = []

    def sign(self, body: str) -> str:
        return symmetric["sign"](body, self.api_key, now_ms())

    def send(self, call_id: str, event: str, url: str, payload: dict, timeout_s: float,
             dropped: bool = False) -> tuple[bool, str]:
        """A signed webhook, retried up to 3 times on a non-2xx or timeout; (delivered, reply text)."""
        dropped = dropped or self._faults.drops_webhooks()
        if dropped:
            self.record(call_id, event, url, 0, "dropped")
            return False, ""
        body_str = dumps(payload)
        for attempt in range(1, WEBHOOK_RETRIES + 2):
            if self._stopping.is_set():
                break
            headers = {"Content-Type": "application/json", "User-Agent": "retell-sim",
                       "X-Retell-Signature": self.sign(body_str)}
            status, text = http_send("POST", url, body_str.encode("utf-8"), headers, timeout_s)
            self.record(call_id, event, url, attempt, status)
            if ok_status(status):
                return True, text
            if attempt <= WEBHOOK_RETRIES:
                self._stopping.wait(self.retry_delay)
        return False, ""

    def record(self, call_id: str, event: str, url: str, attempt: int, status: int | str, **extra: Any) -> None:
        """One attempt (a webhook's or a tool call's) into the deliveries log and the log."""
        entry = {"call_id": call_id, "event": event, **extra, "url": url, "attempt": attempt, "status": status,
                 "at_ms": now_ms()}
        with self._lock:
            self._entries.append(entry)
        shown = urllib.parse.urlsplit(url)
        label = f"{event} {extra['name']}" if "name" in extra else event
        self._log(f"deliver {label} call={call_id} -> {shown.scheme}://{shown.netloc}{shown.path} "
                  f"attempt {attempt}: {status}")

    def matching(self, call_id: str | None = None, event: str | None = None) -> list[dict]:
        """The attempts so far, in order, of one call and / or one event (None: any)."""
        with self._lock:
            return [d for d in self._entries
                    if (call_id is None or d["call_id"] == call_id) and (event is None or d["event"] == event)]

    def count(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
