"""Injected faults (POST /sim/faults): API requests that fail (before or after being carried
out), a rate limit, and webhooks dropped."""

from __future__ import annotations

import collections
import json
import threading
import time
from typing import Any

from .wire import ApiError, dumps


class Faults:
    """The faults in force; `lock` is the store's, so /sim/state sees faults and state at once."""

    def __init__(self, lock: threading.RLock):
        self._lock = lock
        self._faults: dict[str, Any] = {}
        self._recent: collections.deque[float] = collections.deque()  # API request times (rate limit)

    def apply(self, path: str) -> ApiError | None:
        """Injected failures and the rate limit, before authentication (as a gateway would). A
        rule with "after" is returned instead: the request is carried out, then answered with
        it (an answer lost on the way back)."""
        with self._lock:
            for rule in self._faults.get("fail", ()):
                if rule["count"] > 0 and path.startswith(rule["path_prefix"]):
                    rule["count"] -= 1
                    headers = {"Retry-After": str(rule["retry_after"])} if rule.get("retry_after") is not None else {}
                    messages = {429: "Too many requests", 500: "Internal server error",
                                503: "Service unavailable"}
                    err = ApiError(rule["status"], messages.get(rule["status"], "Injected failure"), headers,
                                   shape=rule.get("shape") or "message")
                    if rule.get("after"):
                        return err
                    raise err
            limit = self._faults.get("rate_limit_per_second")
            if limit is not None:
                now = time.monotonic()
                while self._recent and now - self._recent[0] >= 1.0:
                    self._recent.popleft()
                if len(self._recent) >= limit:
                    raise ApiError(429, "Too many requests", {"Retry-After": "1"})
                self._recent.append(now)
        return None

    def drops_webhooks(self) -> bool:
        with self._lock:
            return bool(self._faults.get("drop_webhooks"))

    def snapshot(self) -> dict:
        """The faults in force, as JSON (a copy: rule counts go on changing)."""
        with self._lock:
            return json.loads(dumps(self._faults))

    def configure(self, body: dict) -> dict:
        """A POST /sim/faults body applied; answers the faults now in force."""
        with self._lock:
            if not body or body.get("reset"):
                self._faults = {}
                self._recent.clear()
            if "drop_webhooks" in body:
                if not isinstance(body["drop_webhooks"], bool):
                    raise ApiError(400, "/sim/faults: drop_webhooks must be a boolean")
                self._faults["drop_webhooks"] = body["drop_webhooks"]
            if "fail" in body:
                rule = body["fail"]
                if not isinstance(rule, dict) or not isinstance(rule.get("path_prefix"), str) \
                        or rule.get("status") not in (429, 500, 502, 503, 504) \
                        or isinstance(rule.get("count", 1), bool) or not isinstance(rule.get("count", 1), int):
                    raise ApiError(400, "/sim/faults: fail must be {\"path_prefix\": str, \"status\": 429|500|502|"
                                        "503|504, \"count\": int, \"retry_after\"?: seconds}")
                retry_after = rule.get("retry_after")
                if retry_after is not None and (isinstance(retry_after, bool)
                                                or not isinstance(retry_after, (int, float, str))
                                                or (not isinstance(retry_after, str) and retry_after < 0)):
                    raise ApiError(400, "/sim/faults: retry_after must be a non-negative number or an HTTP date")
                if not isinstance(rule.get("after", False), bool):
                    raise ApiError(400, "/sim/faults: after must be a boolean")
                if rule.get("shape", "message") not in ("message", "error_message"):
                    raise ApiError(400, "/sim/faults: shape must be message or error_message")
                self._faults.setdefault("fail", []).append(
                    {"path_prefix": rule["path_prefix"], "status": rule["status"], "count": rule.get("count", 1),
                     "retry_after": retry_after, "after": rule.get("after", False),
                     "shape": rule.get("shape", "message")})
            if "rate_limit_per_second" in body:
                limit = body["rate_limit_per_second"]
                if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
                    raise ApiError(400, "/sim/faults: rate_limit_per_second must be a positive integer or null")
                self._faults["rate_limit_per_second"] = limit
                self._recent.clear()
            return json.loads(dumps(self._faults))
