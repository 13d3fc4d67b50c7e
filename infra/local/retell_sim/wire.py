"""Retell's conventions on the wire: compact JSON, millisecond timestamps, prefixed ids, and its
error shape."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

INVALID_FORMAT = "Invalid request format, please check API reference."  # Retell's 400 message


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(13)


def dumps(obj: Any) -> str:
    """Compact JSON as Retell sends it (JSON.stringify: no spaces, UTF-8 not escaped)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Blob:
    """A non-JSON answer: the bytes and their Content-Type (a voice preview, a knowledge base text)."""
    data: bytes
    content_type: str


class ApiError(Exception):
    """Ends a request with Retell's error shape."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None,
                 shape: str = "message"):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}
        self.shape = shape  # "message": {"status": "error", "message"}; "error_message": {"error_message"}

    def body(self) -> dict:
        if self.shape == "error_message":
            return {"error_message": self.message}
        return {"status": "error", "message": self.message}


def bad_request(detail: str = "") -> ApiError:
    return ApiError(400, f"{INVALID_FORMAT} {detail}".strip())
