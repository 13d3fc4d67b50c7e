"""One request as the handlers see it (path parameters, query, headers, the body parsed on first
use), and the route that hands it to one."""

from __future__ import annotations

import re
from typing import Any, Callable

from .validation import parse_json_body
from .wire import bad_request

# (method, path pattern, handler, kind): "api" needs the key, "public" does not, "sim" is ours.
Route = tuple[str, str, Callable[..., Any], str]


class Request:
    def __init__(self, method: str, path: str, query: dict[str, str], headers: Any, raw: bytes,
                 params: tuple[str, ...]):
        self.method, self.path, self.query, self.headers, self.raw, self.params = \
            method, path, query, headers, raw, params
        self._json: Any = ...

    def json(self) -> Any:
        if self._json is ...:
            self._json = parse_json_body(self.raw)
        return self._json

    def body(self) -> dict:
        """The JSON object body; an absent body is {} (then required fields fail as missing)."""
        value = self.json()
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise bad_request("body must be a JSON object")
        return value

    def int_query(self, name: str, default: int | None = None, lo: int | None = None,
                  hi: int | None = None) -> int | None:
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        if not re.fullmatch(r"-?\d{1,15}", raw):
            raise bad_request(f"{name} must be an integer")
        value = int(raw)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise bad_request(f"{name} must be between {lo} and {hi}")
        return value

    def bool_query(self, name: str) -> bool:
        raw = self.query.get(name, "").lower()
        if raw in ("", "false", "0"):
            return False
        if raw in ("true", "1"):
            return True
        raise bad_request(f"{name} must be true or false")

    def sort_order(self, value: Any = None) -> str:
        order = value if value is not None else self.query.get("sort_order") or "descending"
        if order not in ("ascending", "descending"):
            raise bad_request("sort_order must be ascending or descending")
        return order
