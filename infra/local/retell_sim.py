#!/usr/bin/env python3
"""A local stand-in for Retell AI's cloud: its REST API, and calls played against our backend.

    .venv/bin/python infra/local/retell_sim.py --port 0 --api-key key_local_dev_retell \\
        [--seed infra/local/retell-seed.json] [--retry-delay 1.0] [--host 127.0.0.1]

On start it prints exactly one line to stdout, `retell-sim listening on http://127.0.0.1:PORT`
(`--port 0` picks a free port), and logs to stderr: one line per request (method, path, status)
and per outgoing delivery. Phone numbers are masked to their last 3 digits in logs; the API key
is never logged. SIGTERM / SIGINT stop it cleanly. In-process (the Python tests):

    from retell_sim import RetellSimulator
    sim = RetellSimulator(api_key="key_test", port=0).start()   # sim.url, sim.stop()

The shapes are those of the official SDK (retell-sdk in the venv, `retell/resources/*.py` and
`retell/types/*.py`); request bodies are even validated against the SDK's own parameter types,
so a field the SDK types as an integer is refused as a string, a missing `Required[...]` field is
refused, and a field the SDK does not know is ignored (not stored, not echoed) as Retell does.
State is in memory and thread-safe.

REST API (every path needs `Authorization: Bearer <api-key>`, else 401)
------------------------------------------------------------------------
  POST   /create-agent                 GET /get-agent/{id}[?version=]   PATCH /update-agent/{id}[?version=]
  DELETE /delete-agent/{id}            POST /v2/list-agents             GET /list-agent-versions/{id}
  POST   /publish-agent-version/{id}   POST /create-agent-version/{id}  DELETE /delete-agent-version/{id}?version=
  POST   /create-retell-llm            GET /get-retell-llm/{id}[?version=]  PATCH /update-retell-llm/{id}[?version=]
  GET    /v2/list-retell-llms          DELETE /delete-retell-llm/{id}[?force_delete=true]
  GET    /v2/list-phone-numbers        GET /get-phone-number/{e164}     PATCH /update-phone-number/{e164}
  POST   /import-phone-number          DELETE /delete-phone-number/{e164}
  POST   /v3/list-calls                GET /v2/get-call/{id}            POST /v2/create-phone-call
  GET    /get-concurrency              GET /list-voices                 GET /get-voice/{id}
Anything else is 404. Errors are Retell's `{"status": "error", "message": "..."}`: 400 malformed
(bad JSON, wrong types, missing required fields, invalid UTF-8, over-long strings), 401 bad key,
404 unknown id or path, 422 well-formed but impossible (an unknown llm_id / voice_id / agent
referenced in the body, a number without an outbound agent), 429 rate limit, 5xx injected.
Creates answer 201, deletes and publish 204, everything else 200.

Versions (docs.retellai.com/agent/version): a new agent is version 0, a draft. update-agent and
update-retell-llm edit the latest draft (or `?version=N`); a published version cannot be changed
(400). get-agent / get-retell-llm without `?version=` answer the latest version.
publish-agent-version `{"version": N}` publishes that draft in place together with the version
of its Retell LLM, and when N was the latest version a new draft N+1 (base_version N) follows,
with a new LLM draft, so update-agent / update-retell-llm keep working on a draft.
Phone numbers take inbound_agents / outbound_agents (weights adding up to 1); the older
inbound_agent_id / outbound_agent_id are read as a single agent of weight 1. A number's agent
without agent_version means the agent's latest version. A version is a number, "latest" or
"latest_published"; the account has no version tags, so another string is refused with 400.
GET /recordings/{call_id}.wav (no key: Retell's recording URLs are public) is a short silent WAV;
GET /recordings/{name} serves a file put with POST /sim/recordings/{name}.

Playing calls
-------------
A call is played on a background thread as Retell does it: for an inbound call to a number with
an `inbound_webhook_url`, a signed `call_inbound` webhook picks the agent (override_agent_id /
override_agent_version) and adds `dynamic_variables` and `metadata`; if it fails all 1+3 attempts
the number's inbound agent takes the call, and with no agent at all the call is rejected (never
created). Then `call_started`, the conversation script (utterances go into the transcript; a tool
step POSTs the agent's Retell LLM custom tool of that name to its `url`, signed, with
`{"name", "args", "call"}`, or just the args when `args_at_root`, honouring its method, headers,
query_params, timeout_ms and max_retry), then `call_ended` (no call_analysis) and `call_analyzed`,
to the agent's `webhook_url` for the events in its `webhook_events` (default those three). A
`transfer_call` tool step sends `transfer_started` and then `transfer_bridged` (the agent's call
ends with `call_transfer`, `transfer_ended` follows `call_ended`) or `transfer_cancelled` (the
step's `"answered": false`, or a destination that is not an E.164 number once its `{{variables}}`
are filled: the conversation goes on), each with `transfer_destination` and `transfer_option`.
Webhooks are signed with `x-retell-signature` exactly as the SDK signs (the key is --api-key),
over compact JSON; each attempt has the agent's webhook_timeout_ms (default 10 s) and a non-2xx or
timeout is retried up to 3 times, --retry-delay seconds apart. One call's events go out in order.
Timestamps: start_timestamp is the real start; end_timestamp = start + duration_ms (given, or
estimated from the script), so it can lie that much in the future.

Simulator control endpoints (no key needed)
-------------------------------------------
POST /sim/calls   {"direction": "inbound"|"outbound", "from_number", "to_number",
                   "agent_id"?, "agent_version"?,   (outbound: instead of the number's outbound
                                                     agent; inbound: instead of its inbound agent)
                   "script"?: [{"user": "text"}, {"agent": "text"}, {"tool": "name", "args": {},
                                "answered"?: false (a transfer_call nobody picks up)}],
                   "disconnection_reason"?: "user_hangup", "call_analysis"?: {...merged...},
                   "dynamic_variables"?: {"k": "v"}, "metadata"?: {...}, "duration_ms"?: N,
                   "drop"?: ["call_started"|"call_ended"|"call_analyzed"|"call_inbound"|"transfer_…"],
                   "start_timestamp_ms"?: N (a past start: a call that began hours ago),
                   "recording"?: {"recording_url"?, "scrubbed_recording_url"?,
                                  "data_storage_setting"?, "opt_out_sensitive_data_storage"?}
                                 (what the ended call says about its recording),
                   "wait"?: false}
    Text and args may use `{{name}}`: the call's dynamic variables, plus `{{slot}}`,
    `{{slot_date}}` (first free slot of the last check_availability reply, else 10:00 on the
    requested date) and `{{last_message}}` (the last tool reply's "message"). Without `script`
    the default German conversation is played: the caller wants a Haarschnitt, check_availability
    {"service_id": "Haarschnitt", "date": <weekday 2+ days ahead>}, book_appointment
    {"service_id", "date", "time": <that slot>, "customer_name": "Max Mustermann"}, goodbye.
    A `{"tool": "end_call"}` step ends the call (agent_hangup).
    wait=true: 200 after the call is played: {"call": <as get-call returns it, or null if
    rejected>, "call_id", "rejected"?: reason, "tool_results": [{"name", "args", "status"
    (HTTP status | "timeout" | "error" | "not_configured"), "body"}], "deliveries": [...]}.
    Otherwise 201 at once: {"call": <the registered call>, "call_id"} (an inbound call becomes
    visible to get-call / list-calls once its inbound webhook has settled the agent).
    `drop` names events Retell "gave up" on: not delivered, the call still ends up in its final
    state. POST /v2/create-phone-call plays the default script as an outbound call; a repeated
    `idempotency_key` (within an hour) answers the call it started, starting no other.
POST /sim/calls/bulk  {"count": N (<= 100000), "agent_id", "from_number", "to_number",
                   "direction"?: "inbound", "start_timestamp_ms"?: (default now - N*spacing),
                   "spacing_ms"?: 60000, "status"?: "ended"}
    N finished (ended + analyzed) calls straight into state, no webhooks; realistic transcripts,
    tool calls and analysis. 201 {"created", "first_call_id", "last_call_id",
    "start_timestamp_min", "start_timestamp_max"}.
POST /sim/recordings/{name}  raw body: a recording file, served at GET /recordings/{name}.
POST /sim/faults  {"drop_webhooks": bool} drop every webhook from now on;
                  {"fail": {"path_prefix": "/v2/get-call", "status": 429|500|503, "count": N,
                            "retry_after"?: secs | HTTP date, "after"?: bool,
                            "shape"?: "message"|"error_message"}} the next N API requests under
                  that prefix fail (Retell's error shape, or its other one,
                  {"error_message": ...}; Retry-After only when given); with "after" the request
                  is carried out first and only its answer is the failure (a lost answer);
                  {"rate_limit_per_second": N|null} 429 (Retry-After: 1) past N API requests in
                  any sliding second. Keys combine; `{}` or {"reset": true} clears all faults.
                  Answers the faults now in force.
GET  /sim/deliveries[?call_id=&event=]  [{"call_id", "event" (call_inbound | call_started |
                  call_ended | call_analyzed | tool_call), "name"? (tool), "url", "attempt",
                  "status" (HTTP status | "timeout" | "error" | "dropped", the last with
                  attempt 0), "at_ms"}] in order.
GET  /sim/state   counts (agents, llms, phone_numbers, calls by status, active calls, deliveries)
POST /sim/reset   forget calls and deliveries (agents, LLMs and numbers stay).

--seed FILE: {"llms": [{"llm_id", ...}], "agents": [{"agent_id", ...}],
              "phone_numbers": [{"phone_number", ...}], "voices"?: [...]}, loaded with those ids
(an account that already exists), validated like the corresponding create requests.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import collections
import hmac
import http.client
import io
import itertools
import json
import math
import queue
import random
import re
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import wave
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typing_extensions
from retell.lib.webhook_auth import symmetric
from retell.types import (
    agent_create_params,
    agent_create_version_params,
    agent_list_params,
    agent_publish_params,
    agent_update_params,
    call_create_phone_call_params,
    call_list_params,
    llm_create_params,
    llm_update_params,
    phone_number_import_params,
    phone_number_update_params,
)
from retell.types.phone_call_response import PhoneCallResponse

# --- limits --------------------------------------------------------------------------------------

MAX_BODY_BYTES = 1_000_000  # a request body past this is refused (400) after being drained
DRAIN_LIMIT_BYTES = 64_000_000  # past this we stop reading and close the connection
MAX_STRING_CHARS = 100_000  # any string in a request body (a long prompt fits, a megabyte does not)
MAX_JSON_DEPTH = 64
MAX_REPLY_READ = 1_000_000  # bytes read from a webhook / tool reply
TOOL_RESULT_CHARS = 15_000  # Retell caps what a custom function returns to the LLM
WEBHOOK_RETRIES = 3  # "retried up to 3 times" (inbound webhook and call event webhooks)
DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000
DEFAULT_TOOL_TIMEOUT_MS = 120_000  # "2 minutes if not specified"
DEFAULT_WEBHOOK_EVENTS = ("call_started", "call_ended", "call_analyzed")
TRANSFER_LEG_MS = 45_000  # how long caller and staff talk after a bridged transfer
LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT = 50, 1000
IDEMPOTENCY_MS = 3_600_000  # create-phone-call's idempotency_key holds for an hour

INVALID_FORMAT = "Invalid request format, please check API reference."  # Retell's 400 message


def _literals(annotation) -> tuple[str, ...]:
    """The Literal values inside an SDK field's annotation (Optional[...] included)."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    return tuple(v for arg in get_args(annotation) for v in _literals(arg))


# What Retell may end a call with, and how a call's data may be stored, as the SDK lists them.
DISCONNECTION_REASONS = frozenset(_literals(PhoneCallResponse.model_fields["disconnection_reason"].annotation))
DATA_STORAGE_SETTINGS = frozenset(_literals(PhoneCallResponse.model_fields["data_storage_setting"].annotation))
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
SURROGATE = re.compile("[\ud800-\udfff]")
PHONE_IN_TEXT = re.compile(r"(?:%2[bB]|\+)\d{4,15}|(?<![0-9A-Za-z_])\d{9,15}(?![0-9A-Za-z_])")

# A small fixed voice catalogue (types/voice_response.py). Ids follow Retell's `<provider>-<Name>`
# pattern (11labs-Adrian, openai-Alloy are Retell's documented examples; the German ones are ours).
DEFAULT_VOICES = [
    {"voice_id": "11labs-Adrian", "voice_name": "Adrian", "provider": "elevenlabs", "gender": "male",
     "accent": "American", "age": "Young"},
    {"voice_id": "11labs-Anna", "voice_name": "Anna", "provider": "elevenlabs", "gender": "female",
     "accent": "German", "age": "Middle Aged"},
    {"voice_id": "11labs-Leon", "voice_name": "Leon", "provider": "elevenlabs", "gender": "male",
     "accent": "German", "age": "Young"},
    {"voice_id": "cartesia-Lena", "voice_name": "Lena", "provider": "cartesia", "gender": "female",
     "accent": "German", "age": "Young"},
    {"voice_id": "openai-Alloy", "voice_name": "Alloy", "provider": "openai", "gender": "male",
     "accent": "American", "age": "Young"},
    {"voice_id": "openai-Nova", "voice_name": "Nova", "provider": "openai", "gender": "female",
     "accent": "American", "age": "Young"},
]

TRANSFER_EVENTS = ("transfer_started", "transfer_bridged", "transfer_cancelled", "transfer_ended")
WEBHOOK_EVENT_NAMES = ("call_inbound", "call_started", "call_ended", "call_analyzed", *TRANSFER_EVENTS)
# Call fields that list-calls leaves out (types/call_list_response.py): clients get-call for them.
HEAVY_CALL_FIELDS = frozenset({
    "transcript", "transcript_object", "transcript_with_tool_calls", "scrubbed_transcript_with_tool_calls",
    "pre_session_transcript_with_tool_calls", "post_session_transcript_with_tool_calls",
    "scrubbed_pre_session_transcript_with_tool_calls", "scrubbed_post_session_transcript_with_tool_calls",
})


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(13)


def mask(text: str) -> str:
    """Phone numbers in a log line down to their last 3 digits."""
    return PHONE_IN_TEXT.sub(lambda m: "***" + m.group(0)[-3:], text)


def dumps(obj: Any) -> str:
    """Compact JSON as Retell sends it (JSON.stringify: no spaces, UTF-8 not escaped)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


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


# --- request validation against the SDK's own parameter types --------------------------------------

class Schema:
    """Checks a JSON value against a type from retell/types/*_params.py (TypedDicts, Literal,
    Union, Optional, List/Iterable/Sequence, Dict, str/int/float/bool/object). Unknown keys pass
    (Retell ignores them); missing Required keys and wrong types do not."""

    def __init__(self) -> None:
        self._fields: dict[type, dict[str, tuple[Any, bool]]] = {}
        self._lock = threading.Lock()

    def fields(self, td: type) -> dict[str, tuple[Any, bool]]:
        """JSON key -> (type, required) of a TypedDict, aliases (PropertyInfo) applied."""
        with self._lock:
            cached = self._fields.get(td)
            if cached is None:
                cached = {}
                for name, tp in typing_extensions.get_type_hints(td, include_extras=True).items():
                    required, key = False, name
                    while True:
                        origin = get_origin(tp)
                        if origin is typing_extensions.Required:
                            required, tp = True, get_args(tp)[0]
                        elif origin is typing_extensions.NotRequired:
                            tp = get_args(tp)[0]
                        elif origin is typing_extensions.Annotated:
                            for meta in getattr(tp, "__metadata__", ()):
                                key = getattr(meta, "alias", None) or key
                            tp = get_args(tp)[0]
                        else:
                            break
                    cached[key] = (tp, required)
                self._fields[td] = cached
            return cached

    def keys(self, td: type) -> set[str]:
        return set(self.fields(td))

    def check(self, value: Any, tp: Any, path: str = "body", skip: Iterable[str] = ()) -> None:
        """Raise a 400 if `value` does not fit `tp`."""
        err = self._check(value, tp, path, set(skip))
        if err:
            raise bad_request(err)

    def _check(self, value: Any, tp: Any, path: str, skip: set[str] = frozenset()) -> str | None:  # noqa: C901
        if tp is Any or tp is object:
            return None
        origin = get_origin(tp)
        if origin in (typing_extensions.Required, typing_extensions.NotRequired, typing_extensions.Annotated):
            return self._check(value, get_args(tp)[0], path)
        if origin is Union:
            members = get_args(tp)
            if value is None:
                return None if type(None) in members else f"{path} must not be null"
            errors = []
            for member in members:
                if member is type(None):
                    continue
                err = self._check(value, member, path)
                if err is None:
                    return None
                errors.append((member, err))
            # Tagged unions (tools, response engines, filters): report against the member whose
            # `type` literal matches, which says what is actually wrong with it.
            if isinstance(value, dict) and "type" in value:
                for member, err in errors:
                    if typing_extensions.is_typeddict(member):
                        type_tp = self.fields(member).get("type", (None,))[0]
                        if get_origin(type_tp) is Literal and value["type"] in get_args(type_tp):
                            return err
                return f"{path}.type {value['type']!r} is not one of the allowed types"
            return errors[0][1] if len(errors) == 1 else f"{path} has an invalid value"
        if origin is Literal:
            allowed = get_args(tp)
            if any(value == a and type(value) is type(a) for a in allowed):
                return None
            shown = ", ".join(repr(a) for a in allowed[:12]) + (", ..." if len(allowed) > 12 else "")
            return f"{path} must be one of {shown}"
        if tp is str:
            return None if isinstance(value, str) else f"{path} must be a string"
        if tp is bool:
            return None if isinstance(value, bool) else f"{path} must be a boolean"
        if tp is int:
            # JSON has one number type; Retell's JavaScript cannot tell 3.0 from 3.
            if isinstance(value, int) and not isinstance(value, bool):
                return None
            if isinstance(value, float) and value.is_integer():
                return None
            return f"{path} must be an integer"
        if tp is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            return None if ok else f"{path} must be a number"
        if tp is type(None):
            return None if value is None else f"{path} must be null"
        if origin in (list, Iterable, Sequence):
            if not isinstance(value, list):
                return f"{path} must be an array"
            (item_tp,) = get_args(tp) or (Any,)
            for i, item in enumerate(value):
                err = self._check(item, item_tp, f"{path}[{i}]")
                if err:
                    return err
            return None
        if origin in (dict, Mapping):
            if not isinstance(value, dict):
                return f"{path} must be an object"
            args = get_args(tp)
            value_tp = args[1] if len(args) == 2 else Any
            for k, v in value.items():
                err = self._check(v, value_tp, f"{path}.{k}")
                if err:
                    return err
            return None
        if typing_extensions.is_typeddict(tp):
            if not isinstance(value, dict):
                return f"{path} must be an object"
            for key, (field_tp, required) in self.fields(tp).items():
                if key in skip:
                    continue
                if key not in value:
                    if required:
                        return f"{path}.{key} is required"
                    continue
                err = self._check(value[key], field_tp, f"{path}.{key}")
                if err:
                    return err
            return None
        return None  # a type this checker does not know: accept rather than refuse valid input


def scan_json(value: Any, depth: int = 0) -> None:
    """Limits on a parsed body: nesting depth, string length, no lone surrogates (\\ud800 escapes
    parse into strings that cannot be encoded back to UTF-8)."""
    if depth > MAX_JSON_DEPTH:
        raise bad_request("JSON nested too deeply")
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise bad_request(f"string longer than {MAX_STRING_CHARS} characters")
        if SURROGATE.search(value):
            raise bad_request("string is not valid Unicode")
    elif isinstance(value, dict):
        for k, v in value.items():
            scan_json(k, depth + 1)
            scan_json(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            scan_json(v, depth + 1)


def parse_json_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("body is not valid UTF-8") from None

    def no_constants(name: str) -> Any:  # NaN / Infinity are not JSON
        raise ValueError(name)

    try:
        value = json.loads(text, parse_constant=no_constants)
    except (ValueError, RecursionError):
        raise bad_request("body is not valid JSON") from None
    scan_json(value)
    return value


# --- requests, responses, pagination ---------------------------------------------------------------

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


def encode_cursor(key: tuple, order: str) -> str:
    raw = dumps({"k": list(key), "o": order}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: str) -> tuple:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        key = tuple(data["k"])
        ok = data["o"] == order and len(key) == 2 and isinstance(key[1], str) and \
            isinstance(key[0], (int, float)) and not isinstance(key[0], bool)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise bad_request("pagination_key is not valid (or was made for another sort_order)")
    return key


def paginate(items: list, key: Callable[[Any], tuple], limit: int, cursor: str | None,
             order: str) -> dict:
    """Keyset pagination over a small collection: {"items", "has_more", "pagination_key"?}."""
    ordered = sorted(items, key=key, reverse=order == "descending")
    start = 0
    if cursor:
        after = decode_cursor(cursor, order)
        keys = [key(i) for i in ordered]
        if order == "ascending":
            start = bisect.bisect_right(keys, after)
        else:
            start = next((n for n, k in enumerate(keys) if k < after), len(keys))
    page = ordered[start:start + limit]
    has_more = start + limit < len(ordered)
    out: dict[str, Any] = {"has_more": has_more, "items": page}
    if has_more and page:
        out["pagination_key"] = encode_cursor(key(page[-1]), order)
    return out


def list_limit(req: Request, body_limit: Any = None) -> int:
    if body_limit is not None:
        limit = int(body_limit)
        if not 1 <= limit <= LIST_MAX_LIMIT:
            raise bad_request(f"limit must be between 1 and {LIST_MAX_LIMIT}")
        return limit
    return req.int_query("limit", LIST_DEFAULT_LIMIT, 1, LIST_MAX_LIMIT)


# --- list-calls filters (types/call_list_params.py FilterCriteria) ----------------------------------

def _analysis(call: dict) -> dict:
    return call.get("call_analysis") or {}


FILTER_FIELDS: dict[str, Callable[[dict], Any]] = {
    "start_timestamp": lambda c: c.get("start_timestamp"),
    "end_timestamp": lambda c: c.get("end_timestamp"),
    "duration_ms": lambda c: c.get("duration_ms"),
    "combined_cost": lambda c: (c.get("call_cost") or {}).get("combined_cost"),
    "e2e_latency_p50": lambda c: ((c.get("latency") or {}).get("e2e") or {}).get("p50"),
    "call_id": lambda c: c.get("call_id"),
    "call_status": lambda c: c.get("call_status"),
    "call_type": lambda c: c.get("call_type"),
    "direction": lambda c: c.get("direction"),
    "disconnection_reason": lambda c: c.get("disconnection_reason"),
    "from_number": lambda c: c.get("from_number"),
    "to_number": lambda c: c.get("to_number"),
    "data_storage_setting": lambda c: c.get("data_storage_setting"),
    "agent_tag": lambda c: c.get("agent_tag"),
    "batch_call_id": lambda c: c.get("batch_call_id"),
    "user_sentiment": lambda c: _analysis(c).get("user_sentiment"),
    "call_successful": lambda c: _analysis(c).get("call_successful"),
    "in_voicemail": lambda c: _analysis(c).get("in_voicemail"),
}
KEYED_FILTERS: dict[str, Callable[[dict], Any]] = {
    "metadata": lambda c: c.get("metadata"),
    "dynamic_variables": lambda c: c.get("retell_llm_dynamic_variables"),
    "custom_analysis_data": lambda c: _analysis(c).get("custom_analysis_data"),
    "custom_attributes": lambda c: None,  # the simulator has no organisation attributes
}


def condition_matches(cond: dict, value: Any) -> bool:
    kind, op, want = cond.get("type"), cond.get("op"), cond.get("value")
    if kind == "present":
        return (value is not None) == (op == "pr")
    if value is None:
        return False
    if kind == "string":
        value = value if isinstance(value, str) else str(value)
        return {"eq": value == want, "ne": value != want, "sw": value.startswith(want),
                "ew": value.endswith(want), "co": want in value}[op]
    if kind == "enum":
        return value in want
    if kind == "boolean":
        return value is want
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    if kind == "range":
        lo, hi = want
        return lo <= value <= hi
    return {"eq": value == want, "ne": value != want, "gt": value > want, "ge": value >= want,
            "lt": value < want, "le": value <= want}[op]


def compile_call_filter(criteria: dict) -> Callable[[dict], bool]:
    """A predicate for list-calls' filter_criteria (all conditions AND; agent filters OR)."""
    tests: list[Callable[[dict], bool]] = []

    def check_range(cond: dict, where: str) -> None:
        if cond.get("type") == "range" and len(cond.get("value") or ()) != 2:
            raise bad_request(f"filter_criteria.{where}.value must be [lower_bound, upper_bound]")

    for name, getter in FILTER_FIELDS.items():
        cond = criteria.get(name)
        if cond is not None:
            check_range(cond, name)
            tests.append(lambda c, g=getter, f=cond: condition_matches(f, g(c)))
    for name, getter in KEYED_FILTERS.items():
        for i, cond in enumerate(criteria.get(name) or ()):
            check_range(cond, f"{name}[{i}]")
            key = cond.get("key")

            def keyed(c: dict, g=getter, f=cond, k=key) -> bool:
                data = g(c)
                value = data.get(k) if isinstance(data, dict) and k is not None else None
                return condition_matches(f, value)
            tests.append(keyed)
    agents = criteria.get("agent")
    if agents:
        wanted = [(a["agent_id"], set(a.get("version") or ())) for a in agents]
        tests.append(lambda c: any(c.get("agent_id") == aid and (not vs or c.get("agent_version") in vs)
                                   for aid, vs in wanted))
    for tool_filter in criteria.get("tool_calls") or ():
        def tool_test(c: dict, f=tool_filter) -> bool:
            entries = c.get("transcript_with_tool_calls") or ()
            results = {e.get("tool_call_id"): e for e in entries if e.get("role") == "tool_call_result"}
            for e in entries:
                if e.get("role") != "tool_call_invocation":
                    continue
                if "name" in f and e.get("name") != f["name"]:
                    continue
                if "success" in f:
                    ok = (results.get(e.get("tool_call_id")) or {}).get("successful")
                    if not condition_matches(f["success"], ok):
                        continue
                return True
            return False
        tests.append(tool_test)
    return lambda c: all(t(c) for t in tests)


# --- call content ----------------------------------------------------------------------------------

def _silent_wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 4000)  # half a second of silence
    return buf.getvalue()


SILENT_WAV = _silent_wav()


def booking_date(today: date | None = None) -> date:
    """A weekday at least 2 days ahead of today in Germany (the demo salons' time zone)."""
    if today is None:
        try:
            today = datetime.now(ZoneInfo("Europe/Berlin")).date()
        except ZoneInfoNotFoundError:
            today = date.today()
    day = today + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def default_script() -> list[dict]:
    """A short German appointment call, with the argument names our tools read
    (functions/check-availability, functions/book-appointment)."""
    day = booking_date()
    return [
        {"agent": "{{begin_message}}"},
        {"user": f"Hallo, ich hätte gern einen Termin für einen Haarschnitt am {day:%d.%m.%Y}."},
        {"tool": "check_availability", "args": {"service_id": "Haarschnitt", "date": day.isoformat()}},
        {"agent": "{{last_message}}"},
        {"user": "Um {{slot}} Uhr passt es mir gut. Mein Name ist Max Mustermann."},
        {"tool": "book_appointment", "args": {"service_id": "Haarschnitt", "date": "{{slot_date}}",
                                              "time": "{{slot}}", "customer_name": "Max Mustermann"}},
        {"agent": "{{last_message}}"},
        {"user": "Super, vielen Dank. Tschüss!"},
        {"agent": "Gern geschehen, bis bald und auf Wiederhören!"},
    ]


def render(value: Any, ctx: dict[str, str]) -> Any:
    """`{{name}}` placeholders from ctx, in strings and (recursively) in args; unknown ones stay."""
    if isinstance(value, str):
        return re.sub(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}", lambda m: str(ctx.get(m.group(1), m.group(0))), value)
    if isinstance(value, dict):
        return {k: render(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, ctx) for v in value]
    return value


def words_for(text: str, start_s: float) -> tuple[list[dict], float]:
    """Word timings for an utterance (~0.32 s a word); returns the words and the end time."""
    words, t = [], start_s
    for w in text.split():
        words.append({"word": w, "start": round(t, 3), "end": round(t + 0.28, 3)})
        t += 0.32
    return words, t


def call_cost(duration_ms: int) -> dict:
    """A plausible Retell bill in cents (unit prices are per second)."""
    seconds = max(duration_ms, 0) / 1000
    products = [("retell_platform", 0.0833), ("elevenlabs_tts", 0.1167), ("gpt_4.1", 0.075),
                ("retell_telephony", 0.025)]
    costs = [{"product": p, "unit_price": u, "cost": round(u * seconds, 4)} for p, u in products]
    return {"product_costs": costs, "combined_cost": round(sum(c["cost"] for c in costs), 4),
            "total_duration_seconds": round(seconds, 3),
            "total_duration_unit_price": round(sum(u for _, u in products), 4)}


def latency_stats(values: list[float]) -> dict:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(math.ceil(p * len(ordered))) - 1)]
    return {"p50": pct(0.5), "p90": pct(0.9), "p95": pct(0.95), "p99": pct(0.99),
            "min": ordered[0], "max": ordered[-1], "num": len(ordered), "values": values}


def call_latency(turns: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    n = max(turns, 1)
    return {"e2e": latency_stats([round(rng.uniform(800, 1600)) for _ in range(n)]),
            "llm": latency_stats([round(rng.uniform(350, 900)) for _ in range(n)]),
            "tts": latency_stats([round(rng.uniform(150, 350)) for _ in range(n)]),
            "asr": latency_stats([round(rng.uniform(100, 300)) for _ in range(n)])}


# --- outgoing HTTP (webhooks, tools) ---------------------------------------------------------------

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


# --- the simulator ---------------------------------------------------------------------------------

Route = tuple[str, "re.Pattern[str]", Callable[..., Any], str]


class RetellSimulator:
    """Retell's API and call playback, in memory. `start()` serves it on a daemon thread."""

    def __init__(self, api_key: str, port: int = 0, host: str = "127.0.0.1", seed: str | dict | None = None,
                 retry_delay: float = 1.0, log: Any = None, async_log: bool = False):
        if not api_key:
            raise ValueError("api_key is required")
        self.api_key, self.host, self.port, self.retry_delay = api_key, host, port, retry_delay
        self._log_stream = log  # None: whatever sys.stderr is when a line is written
        # async_log (the command line): lines go through a bounded queue to a writer thread, so a
        # parent process that never drains our stderr pipe loses log lines instead of freezing
        # every request. In-process, lines are written at once (test output captures them).
        self._log_queue: queue.Queue[str | None] | None = None
        self._log_writer: threading.Thread | None = None
        if async_log:
            self._log_queue = queue.Queue(maxsize=10_000)
            self._log_writer = threading.Thread(target=self._write_log, name="retell-sim-log", daemon=True)
            self._log_writer.start()
        self.schema = Schema()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._rng = random.Random()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # Stored dicts are never mutated: an update stores a new dict, so a reader holding one
        # (a response being serialised, a webhook being built) always has a consistent snapshot.
        self._voices: dict[str, dict] = {v["voice_id"]: dict(v) for v in DEFAULT_VOICES}
        self._llms: dict[str, list[dict]] = {}  # llm_id -> versions, ascending
        self._agents: dict[str, list[dict]] = {}  # agent_id -> versions, ascending
        self._numbers: dict[str, dict] = {}
        # Creation order of agents, LLMs and numbers: their lists page in it, so an update between
        # two pages (a sync tool listing and updating) neither repeats nor skips an item.
        self._created: dict[str, int] = {}
        self._creations = itertools.count()
        self._calls: dict[str, dict] = {}
        self._meta: dict[str, dict] = {}  # call_id -> {"key", "hidden", "done", ...}
        self._order: list[tuple[int, str]] = []  # (sort timestamp, call_id), ascending
        self._deliveries: list[dict] = []
        self._recordings: dict[str, bytes] = {}  # /sim/recordings: file name -> bytes served
        self._idempotency: dict[str, tuple[str, int]] = {}  # create-phone-call key -> (call_id, until ms)
        self._generation = 0  # bumped by /sim/reset: a call played across it stops writing
        self._faults: dict[str, Any] = {}
        self._recent: collections.deque[float] = collections.deque()  # API request times (rate limit)
        self._routes: list[Route] = self._build_routes()
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
        if self._log_queue is not None and self._log_writer is not None:
            try:  # let the writer flush what is queued, but never hang on a stuck stderr
                self._log_queue.put(None, timeout=1)
                self._log_writer.join(timeout=2)
            except queue.Full:
                pass

    def log(self, line: str) -> None:
        text = f"retell-sim {time.strftime('%H:%M:%S')} {mask(line)}"
        if self._log_queue is None:
            self._print(text)
            return
        try:
            self._log_queue.put_nowait(text)
        except queue.Full:
            pass

    def _print(self, text: str) -> None:
        try:
            print(text, file=self._log_stream or sys.stderr, flush=True)
        except (OSError, ValueError):
            pass

    def _write_log(self) -> None:
        assert self._log_queue is not None
        while (text := self._log_queue.get()) is not None:
            self._print(text)

    # ---- routing ----

    def _build_routes(self) -> list[Route]:
        seg = r"([^/]+)"
        table = [
            ("POST", "/create-agent", self.create_agent, "api"),
            ("GET", f"/get-agent/{seg}", self.get_agent, "api"),
            ("PATCH", f"/update-agent/{seg}", self.update_agent, "api"),
            ("DELETE", f"/delete-agent/{seg}", self.delete_agent, "api"),
            ("POST", "/v2/list-agents", self.list_agents, "api"),
            ("GET", f"/list-agent-versions/{seg}", self.list_agent_versions, "api"),
            ("POST", f"/publish-agent-version/{seg}", self.publish_agent, "api"),
            ("POST", f"/create-agent-version/{seg}", self.create_agent_version, "api"),
            ("DELETE", f"/delete-agent-version/{seg}", self.delete_agent_version, "api"),
            ("POST", "/create-retell-llm", self.create_llm, "api"),
            ("GET", f"/get-retell-llm/{seg}", self.get_llm, "api"),
            ("PATCH", f"/update-retell-llm/{seg}", self.update_llm, "api"),
            ("GET", "/v2/list-retell-llms", self.list_llms, "api"),
            ("DELETE", f"/delete-retell-llm/{seg}", self.delete_llm, "api"),
            ("GET", "/v2/list-phone-numbers", self.list_numbers, "api"),
            ("GET", f"/get-phone-number/{seg}", self.get_number, "api"),
            ("PATCH", f"/update-phone-number/{seg}", self.update_number, "api"),
            ("POST", "/import-phone-number", self.import_number, "api"),
            ("DELETE", f"/delete-phone-number/{seg}", self.delete_number, "api"),
            ("POST", "/v3/list-calls", self.list_calls, "api"),
            ("GET", f"/v2/get-call/{seg}", self.get_call, "api"),
            ("POST", "/v2/create-phone-call", self.create_phone_call, "api"),
            ("GET", "/get-concurrency", self.get_concurrency, "api"),
            ("GET", "/list-voices", self.list_voices, "api"),
            ("GET", f"/get-voice/{seg}", self.get_voice, "api"),
            ("GET", r"/recordings/([A-Za-z0-9_.-]+)", self.get_recording, "public"),
            ("POST", r"/sim/recordings/([A-Za-z0-9_.-]+)", self.sim_put_recording, "sim"),
            ("POST", "/sim/calls", self.sim_calls, "sim"),
            ("POST", "/sim/calls/bulk", self.sim_bulk, "sim"),
            ("POST", "/sim/faults", self.sim_faults, "sim"),
            ("GET", "/sim/deliveries", self.sim_deliveries, "sim"),
            ("GET", "/sim/state", self.sim_state, "sim"),
            ("POST", "/sim/reset", self.sim_reset, "sim"),
        ]
        return [(m, re.compile(p + "/?"), h, k) for m, p, h, k in table]

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
            lost = self._apply_faults(path)
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

    def _apply_faults(self, path: str) -> ApiError | None:
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

    # ---- seed ----

    def load_seed(self, seed: str | dict) -> None:
        if isinstance(seed, dict):
            data = seed
        else:
            with open(seed, encoding="utf-8") as f:
                data = json.load(f)
        if not isinstance(data, dict):
            raise ValueError("seed must be a JSON object")
        try:
            if data.get("voices") is not None:
                self._voices = {v["voice_id"]: dict(v) for v in data["voices"]}
            for llm in data.get("llms", ()):
                self._store_new_llm(dict(llm), llm_id=llm.get("llm_id"))
            for agent in data.get("agents", ()):
                self._store_new_agent(dict(agent), agent_id=agent.get("agent_id"))
            for number in data.get("phone_numbers", ()):
                self._store_new_number(dict(number), imported=False)
        except ApiError as err:
            raise ValueError(f"seed: {err.message}") from None
        except (TypeError, KeyError, AttributeError) as err:
            raise ValueError(f"seed: malformed ({err!r})") from None

    def _mark_created(self, resource_id: str) -> None:
        self._created[resource_id] = next(self._creations)

    def _creation_keys(self) -> Callable[[str], tuple[int, str]]:
        """A list's sort key, (creation sequence, id), from a snapshot taken under the lock; a
        cursor holds the last key a page returned."""
        created = dict(self._created)
        return lambda resource_id: (created.get(resource_id, 0), resource_id)

    # ---- agents ----

    def _agent_versions(self, agent_id: str) -> list[dict]:
        versions = self._agents.get(agent_id)
        if not versions:
            raise ApiError(404, f"Agent {agent_id} not found")
        return versions

    def _agent_version(self, agent_id: str, version: Any) -> dict:
        """A version by number, "latest" / None, or "latest_published". This account has no
        version tags, so any other string is refused (400), as a number that does not exist is
        not found (404)."""
        versions = self._agent_versions(agent_id)
        if version is None or version == "latest":
            return versions[-1]
        if version == "latest_published":
            published = [v for v in versions if v.get("is_published")]
            if not published:
                raise ApiError(404, f"Agent {agent_id} has no published version")
            return published[-1]
        if isinstance(version, bool) or not isinstance(version, (int, str)):
            raise bad_request(f"agent version {version!r} must be a number, latest or latest_published")
        if isinstance(version, str):
            if not re.fullmatch(r"\d{1,9}", version):
                raise bad_request(f"agent version {version!r} is not a version number, latest or "
                                  "latest_published (this account has no version tags)")
            version = int(version)
        for v in versions:
            if v["version"] == version:
                return v
        raise ApiError(404, f"Agent {agent_id} version {version} not found")

    def _resolve_engine(self, engine: dict) -> dict:
        engine = dict(engine)
        if engine["type"] == "retell-llm":
            versions = self._llms.get(engine["llm_id"])
            if not versions:
                raise ApiError(422, f"Retell LLM {engine['llm_id']} not found")
            if engine.get("version") is None:
                engine["version"] = versions[-1]["version"]
            elif not any(v["version"] == engine["version"] for v in versions):
                raise ApiError(422, f"Retell LLM {engine['llm_id']} has no version {engine['version']}")
        elif engine["type"] == "conversation-flow":
            raise ApiError(422, f"Conversation flow {engine.get('conversation_flow_id')} not found")
        return engine

    def _check_voice(self, voice_id: Any) -> None:
        if voice_id not in self._voices:
            raise ApiError(422, f"voice_id {voice_id} not found")

    def _agent_fields(self, body: dict, td: type) -> dict:
        known = self.schema.keys(td) - {"version"}
        return {k: v for k, v in body.items() if k in known}

    def _store_new_agent(self, body: dict, agent_id: str | None = None) -> dict:
        self.schema.check(body, agent_create_params.AgentCreateParams)
        with self._lock:
            if agent_id is not None and agent_id in self._agents:
                raise ApiError(400, f"Agent {agent_id} already exists")
            engine = self._resolve_engine(body["response_engine"])
            self._check_voice(body["voice_id"])
            fields = self._agent_fields(body, agent_create_params.AgentCreateParams)
            agent = {"agent_name": None, "language": "en-US", "webhook_url": None, **fields,
                     "agent_id": agent_id or new_id("agent_"), "version": 0, "is_published": False,
                     "base_version": None, "response_engine": engine, "last_modification_timestamp": now_ms()}
            self._agents[agent["agent_id"]] = [agent]
            self._mark_created(agent["agent_id"])
            return dict(agent)

    def create_agent(self, req: Request) -> tuple[int, dict]:
        return 201, self._store_new_agent(req.body())

    def get_agent(self, req: Request, agent_id: str) -> dict:
        with self._lock:
            return dict(self._agent_version(agent_id, req.query.get("version") or None))

    def update_agent(self, req: Request, agent_id: str) -> dict:
        body = req.body()
        self.schema.check(body, agent_update_params.AgentUpdateParams, skip={"version"})
        version = req.query.get("version") or None
        with self._lock:
            current = self._agent_version(agent_id, version) if version is not None else \
                self._latest_draft(self._agent_versions(agent_id), f"Agent {agent_id}")
            if current.get("is_published"):
                raise ApiError(400, f"Agent {agent_id} version {current['version']} is published and cannot be "
                                    "changed; update a draft version")
            changes = self._agent_fields(body, agent_update_params.AgentUpdateParams)
            if "response_engine" in changes:
                changes["response_engine"] = self._resolve_engine(changes["response_engine"])
            if "voice_id" in changes:
                self._check_voice(changes["voice_id"])
            updated = {**current, **changes, "last_modification_timestamp": now_ms()}
            self._replace_version(self._agents[agent_id], updated)
            return dict(updated)

    @staticmethod
    def _latest_draft(versions: list[dict], what: str) -> dict:
        """What an update without ?version= edits: the latest version not yet published."""
        for v in reversed(versions):
            if not v.get("is_published"):
                return v
        raise ApiError(400, f"{what} has no draft version to update; create one with create-agent-version")

    @staticmethod
    def _replace_version(versions: list[dict], updated: dict) -> None:
        for i, v in enumerate(versions):
            if v["version"] == updated["version"]:
                versions[i] = updated
                return

    def delete_agent(self, req: Request, agent_id: str) -> tuple[int, None]:
        with self._lock:
            self._agent_versions(agent_id)
            del self._agents[agent_id]
        return 204, None

    def list_agents(self, req: Request) -> dict:
        body = req.body()
        self.schema.check(body, _AgentListBody)
        criteria = body.get("filter_criteria") or {}
        limit, order = list_limit(req), req.sort_order()
        with self._lock:
            items = []
            for versions in self._agents.values():
                latest = versions[-1]
                item = {"agent_id": latest["agent_id"], "agent_name": latest.get("agent_name") or "",
                        "channel": "voice", "is_suspended": False, "tags": {},
                        "is_transfer_agent": bool(latest.get("is_transfer_agent")),
                        "user_modified_timestamp": max(v["last_modification_timestamp"] for v in versions)}
                items.append(item)
            key = self._creation_keys()
        channel = criteria.get("channel")
        if channel:
            items = [i for i in items if condition_matches({"type": "string", **channel}, i["channel"])]
        transfer = criteria.get("is_transfer_agent")
        if transfer:
            items = [i for i in items if i["is_transfer_agent"] is transfer["value"]]
        query = (criteria.get("query") or "").lower()
        if query:
            items = [i for i in items if query in i["agent_name"].lower() or query in i["agent_id"]]
        return paginate(items, lambda i: key(i["agent_id"]), limit,
                        req.query.get("pagination_key"), order)

    def list_agent_versions(self, req: Request, agent_id: str) -> dict:
        limit, order = list_limit(req), req.sort_order()
        with self._lock:
            items = [{k: v.get(k) for k in ("version", "is_published", "last_modification_timestamp",
                                            "base_version", "version_title", "version_description")}
                     for v in self._agent_versions(agent_id)]
        return paginate(items, lambda i: (i["version"], agent_id), limit, req.query.get("pagination_key"), order)

    def publish_agent(self, req: Request, agent_id: str) -> tuple[int, None]:
        body = req.body()
        self.schema.check(body, agent_publish_params.AgentPublishParams)
        number = int(body["version"])
        with self._lock:
            versions = self._agent_versions(agent_id)
            target = self._agent_version(agent_id, number)
            if target.get("is_published"):
                raise ApiError(400, f"Agent {agent_id} version {number} is already published")
            now = now_ms()
            published = {**target, "is_published": True, "last_modification_timestamp": now,
                         "version_title": body.get("version_title", target.get("version_title")),
                         "version_description": body.get("version_description", target.get("version_description"))}
            engine = published["response_engine"]
            new_engine = dict(engine)
            if engine.get("type") == "retell-llm" and engine.get("llm_id") in self._llms:
                # The agent and its Retell LLM are versioned together (docs: agent/version).
                new_engine["version"] = self._publish_llm_version(engine["llm_id"], engine.get("version"))
            self._replace_version(versions, published)
            if number == versions[-1]["version"]:
                draft = {**published, "version": number + 1, "is_published": False, "base_version": number,
                         "version_title": None, "version_description": None, "response_engine": new_engine,
                         "last_modification_timestamp": now}
                versions.append(draft)
        return 204, None

    def _publish_llm_version(self, llm_id: str, version: Any) -> Any:
        """Publishes an LLM version; returns the version a new agent draft should use."""
        versions = self._llms[llm_id]
        target = next((v for v in versions if v["version"] == version), versions[-1])
        if not target.get("is_published"):
            self._replace_version(versions, {**target, "is_published": True, "last_modification_timestamp": now_ms()})
        if target["version"] == versions[-1]["version"]:
            versions.append({**target, "version": target["version"] + 1, "is_published": False,
                             "last_modification_timestamp": now_ms()})
        return versions[-1]["version"]

    def create_agent_version(self, req: Request, agent_id: str) -> tuple[int, dict]:
        body = req.body()
        self.schema.check(body, agent_create_version_params.AgentCreateVersionParams)
        with self._lock:
            versions = self._agent_versions(agent_id)
            base = self._agent_version(agent_id, int(body["base_version"]))
            draft = {**base, "version": versions[-1]["version"] + 1, "is_published": False,
                     "base_version": base["version"], "version_title": None, "version_description": None,
                     "last_modification_timestamp": now_ms()}
            versions.append(draft)
            return 201, dict(draft)

    def delete_agent_version(self, req: Request, agent_id: str) -> tuple[int, None]:
        version = req.int_query("version", None, 0)
        if version is None:
            raise bad_request("version is required")
        with self._lock:
            versions = self._agent_versions(agent_id)
            target = self._agent_version(agent_id, version)
            if len(versions) == 1:
                raise ApiError(400, "Cannot delete the only version of an agent; delete the agent")
            versions.remove(target)
        return 204, None

    # ---- Retell LLMs ----

    def _llm_versions(self, llm_id: str) -> list[dict]:
        versions = self._llms.get(llm_id)
        if not versions:
            raise ApiError(404, f"Retell LLM {llm_id} not found")
        return versions

    def _llm_version(self, llm_id: str, version: int | None) -> dict:
        versions = self._llm_versions(llm_id)
        if version is None:
            return versions[-1]
        for v in versions:
            if v["version"] == version:
                return v
        raise ApiError(404, f"Retell LLM {llm_id} version {version} not found")

    @staticmethod
    def _check_tools(llm: dict) -> None:
        """What Retell checks on top of the types: tool names (the documented pattern, unique among
        the tools the LLM has at any one time: the general tools plus one state's tools), custom
        tool URLs and limits, state names, edges and starting_state."""

        def check(tools: Any, where: str, taken: set[str]) -> set[str]:
            names = set(taken)
            for i, tool in enumerate(tools or ()):
                name = tool.get("name")
                if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
                    raise bad_request(f"{where}[{i}].name must be 1-64 characters of a-z, A-Z, 0-9, _ or -")
                if name in names:
                    raise bad_request(f"{where}[{i}].name {name!r} is not unique among the LLM's tools")
                names.add(name)
                if tool.get("type") == "custom":
                    url = urllib.parse.urlsplit(tool.get("url") or "")
                    if url.scheme not in ("http", "https") or not url.netloc:
                        raise bad_request(f"{where}[{i}].url must be a valid http(s) URL")
                    timeout = tool.get("timeout_ms")
                    if timeout is not None and not 1000 <= timeout <= 600_000:
                        raise bad_request(f"{where}[{i}].timeout_ms must be between 1000 and 600000")
                    retries = tool.get("max_retry")
                    if retries is not None and not 0 <= retries <= 5:
                        raise bad_request(f"{where}[{i}].max_retry must be between 0 and 5")
            return names

        general = check(llm.get("general_tools"), "general_tools", set())
        states = llm.get("states") or []
        state_names = [s["name"] for s in states]
        for i, state in enumerate(states):
            if not TOOL_NAME.fullmatch(state["name"]):
                raise bad_request(f"states[{i}].name must be 1-64 characters of a-z, A-Z, 0-9, _ or -")
            check(state.get("tools"), f"states[{i}].tools", general)
            for edge in state.get("edges") or ():
                if edge["destination_state_name"] not in state_names:
                    raise bad_request(f"states[{i}] has an edge to unknown state {edge['destination_state_name']!r}")
        if len(set(state_names)) != len(state_names):
            raise bad_request("state names must be unique")
        if states and llm.get("starting_state") not in state_names:
            raise bad_request("starting_state must name one of the states")

    def _store_new_llm(self, body: dict, llm_id: str | None = None) -> dict:
        self.schema.check(body, llm_create_params.LlmCreateParams)
        self._check_tools(body)
        fields = {k: v for k, v in body.items() if k in self.schema.keys(llm_create_params.LlmCreateParams)}
        with self._lock:
            if llm_id is not None and llm_id in self._llms:
                raise ApiError(400, f"Retell LLM {llm_id} already exists")
            llm = {"model": "gpt-4.1", "start_speaker": "agent", "general_prompt": None, "begin_message": None,
                   "general_tools": [], **fields, "llm_id": llm_id or new_id("llm_"), "version": 0,
                   "is_published": False, "last_modification_timestamp": now_ms()}
            self._llms[llm["llm_id"]] = [llm]
            self._mark_created(llm["llm_id"])
            return dict(llm)

    def create_llm(self, req: Request) -> tuple[int, dict]:
        return 201, self._store_new_llm(req.body())

    def get_llm(self, req: Request, llm_id: str) -> dict:
        version = req.int_query("version", None, 0)
        with self._lock:
            return dict(self._llm_version(llm_id, version))

    def update_llm(self, req: Request, llm_id: str) -> dict:
        body = req.body()
        self.schema.check(body, llm_update_params.LlmUpdateParams, skip={"version"})
        version = req.int_query("version", None, 0)
        known = self.schema.keys(llm_update_params.LlmUpdateParams) - {"version", "is_transfer_llm"}
        with self._lock:
            current = self._llm_version(llm_id, version) if version is not None else \
                self._latest_draft(self._llm_versions(llm_id), f"Retell LLM {llm_id}")
            if current.get("is_published"):
                raise ApiError(400, f"Retell LLM {llm_id} version {current['version']} is published and cannot "
                                    "be changed; update a draft version")
            updated = {**current, **{k: v for k, v in body.items() if k in known},
                       "last_modification_timestamp": now_ms()}
            self._check_tools(updated)
            self._replace_version(self._llms[llm_id], updated)
            return dict(updated)

    def list_llms(self, req: Request) -> dict:
        limit, order = list_limit(req), req.sort_order()
        with self._lock:
            items = [dict(versions[-1]) for versions in self._llms.values()]
            key = self._creation_keys()
        return paginate(items, lambda i: key(i["llm_id"]), limit,
                        req.query.get("pagination_key"), order)

    def delete_llm(self, req: Request, llm_id: str) -> tuple[int, None]:
        force = req.bool_query("force_delete")
        with self._lock:
            self._llm_versions(llm_id)
            users = sorted({v["agent_id"] for versions in self._agents.values() for v in versions
                            if (v.get("response_engine") or {}).get("llm_id") == llm_id})
            if users and not force:
                raise ApiError(400, f"Retell LLM {llm_id} is used by agent(s) {', '.join(users)}; "
                                    "pass force_delete=true to delete it anyway")
            del self._llms[llm_id]
        return 204, None

    # ---- phone numbers ----

    def _number(self, number: str) -> dict:
        found = self._numbers.get(number)
        if found is None:
            raise ApiError(404, f"Phone number {number} not found")
        return found

    def _number_agents(self, body: dict) -> dict:
        """inbound_agents / outbound_agents checked (agents exist, weights add up to 1); the older
        inbound_agent_id / outbound_agent_id (+ _version) fields are read as a single agent."""
        out: dict[str, Any] = {}
        for direction in ("inbound", "outbound"):
            key = f"{direction}_agents"
            legacy = body.get(f"{direction}_agent_id", ...)
            if key not in body and legacy is not ...:
                if legacy is not None and not isinstance(legacy, str):
                    raise bad_request(f"{direction}_agent_id must be a string")
                entry = {"agent_id": legacy, "weight": 1}
                legacy_version = body.get(f"{direction}_agent_version")
                if legacy_version is not None:
                    entry["agent_version"] = legacy_version
                out[key] = [entry] if legacy else None
                continue
            if key not in body:
                continue
            agents = body[key]
            if agents:
                if abs(sum(a["weight"] for a in agents) - 1) > 1e-6:
                    raise bad_request(f"{key}: the weights must add up to 1")
                for a in agents:
                    if a["agent_id"] not in self._agents:
                        raise ApiError(422, f"{key}: agent {a['agent_id']} not found")
                    # latest_published may name a version still to come; anything else must exist.
                    if a.get("agent_version") not in (None, "latest_published"):
                        self._agent_version(a["agent_id"], a["agent_version"])
            out[key] = [dict(a) for a in agents] if agents else None
        return out

    def _store_new_number(self, body: dict, imported: bool) -> dict:
        number = body.get("phone_number")
        td = phone_number_import_params.PhoneNumberImportParams if imported else _SeedNumber
        self.schema.check(body, td)
        if not E164.fullmatch(number) and not body.get("ignore_e164_validation"):
            raise bad_request(f"phone_number {number} is not in E.164 format")
        with self._lock:
            if number in self._numbers:
                raise ApiError(400, f"Phone number {number} already exists")
            keep = ("nickname", "inbound_webhook_url", "allowed_inbound_country_list",
                    "allowed_outbound_country_list", "fallback_number", "inbound_sms_webhook_url")
            record = {"phone_number": number, "phone_number_pretty": number,
                      "phone_number_type": "custom" if imported else body.get("phone_number_type", "retell-twilio"),
                      "inbound_agents": None, "outbound_agents": None, "inbound_webhook_url": None,
                      "nickname": None, **{k: body[k] for k in keep if k in body},
                      **self._number_agents(body), "last_modification_timestamp": now_ms()}
            if imported:
                record["sip_outbound_trunk_config"] = {"termination_uri": body["termination_uri"],
                                                       "transport": body.get("transport") or "TCP"}
            self._numbers[number] = record
            self._mark_created(number)
            return dict(record)

    def import_number(self, req: Request) -> tuple[int, dict]:
        return 201, self._store_new_number(req.body(), imported=True)

    def get_number(self, req: Request, number: str) -> dict:
        with self._lock:
            return dict(self._number(number))

    def update_number(self, req: Request, number: str) -> dict:
        body = req.body()
        self.schema.check(body, phone_number_update_params.PhoneNumberUpdateParams)
        keep = ("nickname", "inbound_webhook_url", "allowed_inbound_country_list", "allowed_outbound_country_list",
                "fallback_number", "inbound_sms_webhook_url")
        with self._lock:
            current = self._number(number)
            updated = {**current, **{k: body[k] for k in keep if k in body}, **self._number_agents(body),
                       "last_modification_timestamp": now_ms()}
            if "termination_uri" in body or "transport" in body:
                trunk = dict(current.get("sip_outbound_trunk_config") or {})
                trunk.update({k: body[k] for k in ("termination_uri", "transport") if k in body})
                updated["sip_outbound_trunk_config"] = trunk
            self._numbers[number] = updated
            return dict(updated)

    def list_numbers(self, req: Request) -> dict:
        limit, order = list_limit(req), req.sort_order()
        with self._lock:
            items = [dict(n) for n in self._numbers.values()]
            key = self._creation_keys()
        return paginate(items, lambda i: key(i["phone_number"]), limit,
                        req.query.get("pagination_key"), order)

    def delete_number(self, req: Request, number: str) -> tuple[int, None]:
        with self._lock:
            self._number(number)
            del self._numbers[number]
        return 204, None

    # ---- voices, concurrency, recordings ----

    def list_voices(self, req: Request) -> list:
        with self._lock:
            return [dict(v) for v in self._voices.values()]

    def get_voice(self, req: Request, voice_id: str) -> dict:
        with self._lock:
            voice = self._voices.get(voice_id)
        if voice is None:
            raise ApiError(404, f"Voice {voice_id} not found")
        return dict(voice)

    def get_concurrency(self, req: Request) -> dict:
        with self._lock:
            current = sum(1 for m in self._meta.values() if m.get("active"))
        return {"current_concurrency": current, "concurrency_limit": 20, "base_concurrency": 20,
                "purchased_concurrency": 0, "concurrency_purchase_limit": 100, "remaining_purchase_limit": 100,
                "concurrency_burst_enabled": False, "concurrency_burst_limit": 0,
                "reserved_inbound_concurrency": 0}

    def get_recording(self, req: Request, name: str) -> tuple[int, bytes]:
        """A file put with /sim/recordings, else a known call's `<call_id>.wav` (silence)."""
        with self._lock:
            stored = self._recordings.get(name)
            known = name.endswith(".wav") and name[:-4] in self._calls \
                and not self._meta[name[:-4]].get("hidden")
        if stored is not None:
            return 200, stored
        if not known:
            raise ApiError(404, "Recording not found")
        return 200, SILENT_WAV

    def sim_put_recording(self, req: Request, name: str) -> dict:
        """POST /sim/recordings/{name}: the raw body is served at GET /recordings/{name}."""
        if len(req.raw) > MAX_BODY_BYTES:
            raise bad_request("a recording is at most 1 MB here")
        with self._lock:
            self._recordings[name] = bytes(req.raw)
        return {"url": f"{self.url}/recordings/{name}", "bytes": len(req.raw)}

    # ---- calls: storage and listing ----

    def _new_meta(self, hidden: bool) -> dict:
        """What the simulator keeps about a played call besides the call itself."""
        return {"key": None, "hidden": hidden, "done": threading.Event(), "tool_results": [], "active": True,
                "generation": self._generation}

    def _store_call(self, call: dict, sort_ts: int, meta: dict) -> None:
        meta["key"] = (sort_ts, call["call_id"])
        self._calls[call["call_id"]] = call
        self._meta[call["call_id"]] = meta
        bisect.insort(self._order, meta["key"])

    def _update_call(self, call_id: str, generation: int, **changes: Any) -> dict | None:
        """Stores a new version of a call; None if the call was reset away meanwhile."""
        with self._lock:
            if generation != self._generation or call_id not in self._calls:
                return None
            call = {**self._calls[call_id], **changes}
            self._calls[call_id] = call
            meta = self._meta[call_id]
            if call.get("start_timestamp") is not None and meta["key"][0] != call["start_timestamp"]:
                # list-calls sorts by start_timestamp: move the call to its place.
                self._order.pop(bisect.bisect_left(self._order, meta["key"]))
                meta["key"] = (call["start_timestamp"], call_id)
                bisect.insort(self._order, meta["key"])
            return call

    def get_call(self, req: Request, call_id: str) -> dict:
        with self._lock:
            call = self._calls.get(call_id)
            if call is None or self._meta[call_id].get("hidden"):
                raise ApiError(404, f"Call {call_id} not found")
            return call  # never mutated (see _update_call), safe to serialise outside the lock

    def list_calls(self, req: Request) -> dict:
        body = req.body()
        self.schema.check(body, call_list_params.CallListParams)
        limit = list_limit(req, body.get("limit", LIST_DEFAULT_LIMIT))
        order = req.sort_order(body.get("sort_order"))
        skip = int(body.get("skip") or 0)
        cursor = body.get("pagination_key") or None
        if skip < 0:
            raise bad_request("skip must be >= 0")
        if skip and cursor:
            raise bad_request("skip and pagination_key cannot be used together")
        unknown = set(body.get("filter_criteria") or {}) - self.schema.keys(call_list_params.FilterCriteria)
        if unknown:
            self.log(f"warning: list-calls ignored unknown filter_criteria keys {sorted(unknown)}")
        matches = compile_call_filter(body.get("filter_criteria") or {})
        after = decode_cursor(cursor, order) if cursor else None
        items: list[dict] = []
        has_more = False
        total = 0
        last_key: tuple = ()
        with self._lock:
            order_keys = self._order
            if order == "ascending":
                start = bisect.bisect_right(order_keys, after) if after else 0
                indices: Iterable[int] = range(start, len(order_keys))
            else:
                start = bisect.bisect_left(order_keys, after) - 1 if after else len(order_keys) - 1
                indices = range(start, -1, -1)
            for i in indices:
                call_id = order_keys[i][1]
                if self._meta[call_id].get("hidden"):
                    continue
                call = self._calls[call_id]
                if not matches(call):
                    continue
                if skip:
                    skip -= 1
                    continue
                if len(items) == limit:
                    has_more = True
                    break
                items.append(call)
                last_key = order_keys[i]
            if body.get("include_total"):
                total = sum(1 for cid, c in self._calls.items() if not self._meta[cid].get("hidden") and matches(c))
        out: dict[str, Any] = {
            "has_more": has_more,
            "items": [{k: v for k, v in c.items() if k not in HEAVY_CALL_FIELDS} for c in items]}
        if has_more:
            out["pagination_key"] = encode_cursor(last_key, order)
        if body.get("include_total"):
            out["total"] = total
        return out

    # ---- calls: creating and playing ----

    def _pick_agent(self, agents: list[dict] | None) -> tuple[str, Any] | None:
        if not agents:
            return None
        chosen = self._rng.choices(agents, weights=[a["weight"] for a in agents])[0]
        return chosen["agent_id"], chosen.get("agent_version")

    def _register_call(self, direction: str, from_number: str, to_number: str, agent_id: str,
                       agent_version: Any, dynamic_variables: dict, metadata: Any, meta: dict,
                       call_id: str | None = None) -> dict:
        """Stores a call in state `registered` (meta["hidden"]: an inbound call whose agent the
        inbound webhook may still change; list-calls and get-call do not see it yet)."""
        with self._lock:
            agent = self._agent_version(agent_id, agent_version)
            call = {"call_id": call_id or new_id("call_"), "call_type": "phone_call", "direction": direction,
                    "agent_id": agent_id, "agent_version": agent["version"],
                    "agent_name": agent.get("agent_name"), "call_status": "registered",
                    "from_number": from_number, "to_number": to_number,
                    "retell_llm_dynamic_variables": dict(dynamic_variables), "metadata": metadata,
                    "data_storage_setting": agent.get("data_storage_setting") or "everything",
                    "opt_in_signed_url": bool(agent.get("opt_in_signed_url"))}
            self._store_call(call, now_ms(), meta)
            return call

    def create_phone_call(self, req: Request) -> tuple[int, dict]:
        body = req.body()
        self.schema.check(body, call_create_phone_call_params.CallCreatePhoneCallParams)
        key = body.get("idempotency_key")
        if key is not None:
            with self._lock:
                # Retell: the same key within an hour is the same call, however often it is sent.
                self._idempotency = {k: v for k, v in self._idempotency.items() if v[1] > now_ms()}
                known = self._idempotency.get(key)
                if known is not None and known[0] in self._calls:
                    return 201, self._calls[known[0]]
        if not body.get("ignore_e164_validation"):
            for field in ("from_number", "to_number"):
                if not E164.fullmatch(body[field]):
                    raise bad_request(f"{field} {body[field]} is not in E.164 format")
        spec = {"direction": "outbound", "from_number": body["from_number"], "to_number": body["to_number"],
                "agent_id": body.get("override_agent_id"), "agent_version": body.get("override_agent_version"),
                "dynamic_variables": body.get("retell_llm_dynamic_variables") or {},
                "metadata": body.get("metadata")}
        call, _ = self._start_call(spec)
        if key is not None:
            with self._lock:
                self._idempotency[key] = (call["call_id"], now_ms() + IDEMPOTENCY_MS)
        return 201, call

    def _start_call(self, spec: dict) -> tuple[dict, dict]:
        """Registers the call and plays it on a thread. Outbound: the from number must be ours and
        have an agent (or one is given). Inbound: the to number must be ours."""
        direction = spec["direction"]
        with self._lock:
            if direction == "outbound":
                number = self._numbers.get(spec["from_number"])
                if number is None:
                    raise ApiError(422, f"from_number {spec['from_number']} is not a phone number of this account")
                if spec.get("agent_id"):
                    if spec["agent_id"] not in self._agents:
                        raise ApiError(422, f"Agent {spec['agent_id']} not found")
                    picked = (spec["agent_id"], spec.get("agent_version"))
                else:
                    picked = self._pick_agent(number.get("outbound_agents"))
                    if picked is None:
                        raise ApiError(422, f"Phone number {spec['from_number']} has no outbound agent; "
                                            "set outbound_agents or pass override_agent_id")
                meta = self._new_meta(hidden=False)
                call = self._register_call("outbound", spec["from_number"], spec["to_number"], picked[0],
                                           picked[1], spec.get("dynamic_variables") or {}, spec.get("metadata"),
                                           meta)
                inbound = None
            else:
                number = self._numbers.get(spec["to_number"])
                if number is None:
                    raise ApiError(404, f"to_number {spec['to_number']} is not a phone number of this account")
                if spec.get("agent_id"):
                    self._agent_version(spec["agent_id"], spec.get("agent_version"))
                    picked = (spec["agent_id"], spec.get("agent_version"))
                else:
                    picked = self._pick_agent(number.get("inbound_agents"))
                inbound = {"number": number, "default": picked}
                call_id = new_id("call_")
                meta = self._new_meta(hidden=True)
                if picked is not None:
                    call = self._register_call("inbound", spec["from_number"], spec["to_number"], picked[0],
                                               picked[1], spec.get("dynamic_variables") or {},
                                               spec.get("metadata"), meta, call_id=call_id)
                else:  # no agent yet: only the inbound webhook can still pick one; nothing stored
                    call = {"call_id": call_id, "call_type": "phone_call", "direction": "inbound",
                            "call_status": "registered", "from_number": spec["from_number"],
                            "to_number": spec["to_number"]}
                    self._meta[call_id] = meta
        thread = threading.Thread(target=self._play, args=(call["call_id"], spec, inbound, meta),
                                  name=f"call-{call['call_id']}", daemon=True)
        thread.start()
        return call, meta

    def _play(self, call_id: str, spec: dict, inbound: dict | None, meta: dict) -> None:
        generation = meta["generation"]
        try:
            self._play_call(call_id, spec, inbound, generation, meta)
        except Exception:  # a bug in playback must not kill the server; say so loudly
            self.log(f"call {call_id}: playback failed\n{traceback.format_exc()}")
            self._update_call(call_id, generation, call_status="error", disconnection_reason="error_retell")
        finally:
            with self._lock:
                meta["active"] = False
            meta["done"].set()

    def _play_call(self, call_id: str, spec: dict, inbound: dict | None, generation: int, meta: dict) -> None:
        drop = set(spec.get("drop") or ())
        if inbound is not None:
            chosen = self._inbound_webhook(call_id, spec, inbound, drop)
            with self._lock:
                if generation != self._generation:
                    return
                try:
                    if chosen is None:
                        raise ApiError(404, "the number has no inbound agent and the inbound webhook named none")
                    agent_id, agent_version, variables, metadata = chosen
                    if call_id not in self._calls:
                        self._register_call("inbound", spec["from_number"], spec["to_number"], agent_id,
                                            agent_version, variables, metadata, meta, call_id=call_id)
                    else:
                        agent = self._agent_version(agent_id, agent_version)
                        self._update_call(call_id, generation, agent_id=agent_id, agent_version=agent["version"],
                                          agent_name=agent.get("agent_name"),
                                          retell_llm_dynamic_variables=variables, metadata=metadata)
                except ApiError as err:  # no agent (or a vanished one): Retell never connects the call
                    meta["rejected"] = err.message
                    self.log(f"call {call_id}: inbound call rejected ({err.message})")
                    self._discard_call(call_id)
                    return
                meta["hidden"] = False

        with self._lock:
            call = self._calls.get(call_id)
            if call is None or generation != self._generation:
                return
            agent = self._agent_version(call["agent_id"], call["agent_version"])
            llm = self._llm_for(agent)
        webhook_url = agent.get("webhook_url")
        events = set(agent.get("webhook_events") or DEFAULT_WEBHOOK_EVENTS)
        timeout_s = (agent.get("webhook_timeout_ms") or DEFAULT_WEBHOOK_TIMEOUT_MS) / 1000
        script = spec.get("script") or default_script()
        planned_ms = spec.get("duration_ms")
        if planned_ms is None:
            planned_ms = self._estimate_duration(script)

        started = spec.get("start_timestamp_ms")
        call = self._update_call(call_id, generation, call_status="ongoing",
                                 start_timestamp=started if started is not None else now_ms())
        if call is None:
            return

        def emit(event: str, payload_call: dict, extra: dict | None = None) -> None:
            if event not in events or not webhook_url:
                return
            self._deliver(call_id, event, webhook_url, {"event": event, "call": payload_call, **(extra or {})},
                          timeout_s, dropped=event in drop)

        emit("call_started", call)
        call = self._run_script(call_id, generation, script, llm, meta, spec, emit)
        if call is None:
            return
        duration = int(planned_ms)
        transferred = meta.get("transferred")  # (destination, option) of a bridged transfer
        ended = self._update_call(
            call_id, generation, call_status="ended", end_timestamp=call["start_timestamp"] + duration,
            **({"transfer_destination": transferred[0]} if transferred else {}),
            duration_ms=duration,
            disconnection_reason=spec.get("disconnection_reason") or meta.get("hangup") or "user_hangup",
            **{"recording_url": f"{self.url}/recordings/{call_id}.wav", **(spec.get("recording") or {})},
            call_cost=call_cost(duration),
            latency=call_latency(sum(1 for e in call.get("transcript_object") or () if e["role"] == "agent"),
                                 seed=hash(call_id) & 0xFFFF),
            llm_token_usage={"values": [1800, 2100, 2400], "average": 2100, "num_requests": 3},
            collected_dynamic_variables={})
        if ended is None:
            return
        with self._lock:
            meta["active"] = False
        emit("call_ended", ended)
        if transferred:  # the transferred leg, caller and staff, ends after the agent's
            leg = self._update_call(call_id, generation,
                                    transfer_end_timestamp=ended["end_timestamp"] + TRANSFER_LEG_MS)
            if leg is not None:
                emit("transfer_ended", leg)
        analysis = {"call_summary": self._summary(ended), "user_sentiment": "Positive", "call_successful": True,
                    "in_voicemail": False, "custom_analysis_data": {}, **(spec.get("call_analysis") or {})}
        analyzed = self._update_call(call_id, generation, call_analysis=analysis)
        if analyzed is not None:
            emit("call_analyzed", analyzed)

    def _discard_call(self, call_id: str) -> None:
        """A rejected inbound call: never created (its meta stays for /sim/calls' answer)."""
        if self._calls.pop(call_id, None) is not None:
            self._order.pop(bisect.bisect_left(self._order, self._meta[call_id]["key"]))

    def _llm_for(self, agent: dict) -> dict | None:
        engine = agent.get("response_engine") or {}
        versions = self._llms.get(engine.get("llm_id")) if engine.get("type") == "retell-llm" else None
        if not versions:
            return None
        return next((v for v in versions if v["version"] == engine.get("version")), versions[-1])

    @staticmethod
    def _estimate_duration(script: list[dict]) -> int:
        words = sum(len(str(s.get("user") or s.get("agent") or "").split()) for s in script)
        tools = sum(1 for s in script if "tool" in s)
        return int(2000 + words * 320 + len(script) * 700 + tools * 1200)

    @staticmethod
    def _summary(call: dict) -> str:
        tools = [e["name"] for e in call.get("transcript_with_tool_calls") or () if e.get("role") == "tool_call_invocation"]
        if "book_appointment" in tools:
            return "Der Anrufer hat einen Termin für einen Haarschnitt angefragt; der Agent hat die Verfügbarkeit " \
                   "geprüft und den Termin gebucht."
        return "Der Anrufer hat mit dem Agenten gesprochen" + (f" (Werkzeuge: {', '.join(tools)})." if tools else ".")

    def _inbound_webhook(self, call_id: str, spec: dict, inbound: dict,
                         drop: set[str]) -> tuple[str, Any, dict, Any] | None:
        """Retell's inbound webhook: the answer may override the agent and add dynamic variables and
        metadata; after 1+3 failed attempts the number's own inbound agent takes the call."""
        number, default = inbound["number"], inbound["default"]
        variables = dict(spec.get("dynamic_variables") or {})
        metadata = spec.get("metadata")
        url = number.get("inbound_webhook_url")
        if not url:
            return None if default is None else (default[0], default[1], variables, metadata)
        payload: dict[str, Any] = {"call_id": call_id}
        if default is not None:
            with self._lock:
                try:
                    version = self._agent_version(default[0], default[1])["version"]
                except ApiError:
                    version = default[1]
            payload.update(agent_id=default[0], agent_version=version)
        payload.update(from_number=spec["from_number"], to_number=spec["to_number"])
        ok, reply = self._deliver(call_id, "call_inbound", url, {"event": "call_inbound", "call_inbound": payload},
                                  DEFAULT_WEBHOOK_TIMEOUT_MS / 1000, dropped="call_inbound" in drop)
        chosen = default
        if ok:
            try:
                answer = json.loads(reply).get("call_inbound") or {}
            except (ValueError, AttributeError):
                answer = {}
                self.log(f"call {call_id}: inbound webhook answer is not a JSON object; using the number's agent")
            if not isinstance(answer, dict):
                answer = {}
            override = answer.get("override_agent_id")
            if isinstance(override, str) and override:
                with self._lock:
                    known = override in self._agents
                if known:
                    chosen = (override, answer.get("override_agent_version"))
                else:
                    self.log(f"call {call_id}: inbound webhook named unknown agent {override}; using the number's")
            dyn = answer.get("dynamic_variables")
            if isinstance(dyn, dict):
                # Retell's dynamic variables are strings.
                variables.update({str(k): v if isinstance(v, str) else dumps(v) for k, v in dyn.items()})
            if "metadata" in answer:
                metadata = answer["metadata"]
        if chosen is None:
            return None
        return chosen[0], chosen[1], variables, metadata

    def _run_script(self, call_id: str, generation: int, script: list[dict], llm: dict | None, meta: dict,
                    spec: dict, emit: Callable[..., None]) -> dict | None:
        """Plays the steps; returns the call as it stands after the last one. A transfer_call
        step sends transfer_started, then transfer_bridged (the call ends, transferred) or, when
        the step says `"answered": false` or the number is not one, transfer_cancelled (the
        conversation goes on)."""
        with self._lock:
            call = self._calls[call_id]
        ctx: dict[str, str] = {**((llm or {}).get("default_dynamic_variables") or {}),
                               **(call.get("retell_llm_dynamic_variables") or {})}
        begin = render((llm or {}).get("begin_message") or "", ctx)
        ctx.update(begin_message=begin or "Salon Demo, guten Tag! Wie kann ich Ihnen helfen?",
                   slot="10:00", slot_date=booking_date().isoformat(),
                   last_message="Einen Moment bitte, ich habe das für Sie erledigt.")
        transcript_object = list(call.get("transcript_object") or [])
        with_tools = list(call.get("transcript_with_tool_calls") or [])

        def so_far() -> dict | None:
            """The call with the conversation up to now (None: reset away meanwhile)."""
            return self._update_call(call_id, generation, transcript_object=list(transcript_object),
                                     transcript_with_tool_calls=list(with_tools),
                                     transcript=self._transcript_text(transcript_object))
        clock = 0.5
        for step in script:
            if self._stopping.is_set():
                return None
            if "user" in step or "agent" in step:
                role = "user" if "user" in step else "agent"
                text = render(str(step[role]), ctx)
                words, clock = words_for(text, clock)
                clock += 0.6
                utterance = {"role": role, "content": text, "words": words}
                transcript_object.append(utterance)
                with_tools.append(utterance)
            elif "tool" in step:
                name = step["tool"]
                args = render(step.get("args") or {}, ctx)
                tool = self._find_tool(llm, name)
                if tool is None and name == "end_call":  # hanging up needs no configuration here
                    tool = {"type": "end_call", "name": name}
                if tool is None:
                    meta["tool_results"].append({"name": name, "args": args, "status": "not_configured", "body": ""})
                    self.log(f"call {call_id}: the agent's LLM has no tool {name!r}; step skipped")
                    continue
                tool_call_id = secrets.token_hex(8)
                with_tools.append({"role": "tool_call_invocation", "tool_call_id": tool_call_id, "name": name,
                                   "arguments": dumps(args), "type": tool.get("type")})
                if tool.get("type") == "custom":
                    current = so_far()  # what the tool's request (or the webhook) carries
                    if current is None:
                        return None
                    status, content = self._call_tool(call_id, tool, name, args, current, ctx)
                    meta["tool_results"].append({"name": name, "args": args, "status": status, "body": content})
                    self._learn_from_reply(name, args, content, ctx)
                    with_tools.append({"role": "tool_call_result", "tool_call_id": tool_call_id,
                                       "content": content[:TOOL_RESULT_CHARS], "successful": ok_status(status)})
                elif tool.get("type") == "transfer_call":
                    current = so_far()  # what the tool's request (or the webhook) carries
                    if current is None:
                        return None
                    destination = render(str((tool.get("transfer_destination") or {}).get("number") or ""), ctx)
                    option = tool.get("transfer_option") or {"type": "cold_transfer"}
                    extra = {"transfer_destination": destination, "transfer_option": option}
                    emit("transfer_started", current, extra)
                    connected = step.get("answered", True) and E164.fullmatch(destination) is not None
                    emit("transfer_bridged" if connected else "transfer_cancelled", current, extra)
                    meta["tool_results"].append({"name": name, "args": args, "status": 200 if connected else 503,
                                                 "body": "bridged" if connected else "cancelled"})
                    with_tools.append({"role": "tool_call_result", "tool_call_id": tool_call_id,
                                       "content": "" if connected else "transfer failed", "successful": connected})
                    if connected:
                        meta["hangup"] = "call_transfer"
                        meta["transferred"] = (destination, option)
                        break
                else:
                    meta["tool_results"].append({"name": name, "args": args, "status": 200, "body": ""})
                    with_tools.append({"role": "tool_call_result", "tool_call_id": tool_call_id, "content": "",
                                       "successful": True})
                    if tool.get("type") == "end_call":
                        meta["hangup"] = "agent_hangup"
                        break
                clock += 1.2
            else:
                raise ValueError(f"bad script step {step!r}")  # validated in sim_calls; not reachable
        return so_far()

    @staticmethod
    def _transcript_text(transcript_object: list[dict]) -> str:
        return "".join(f"{'Agent' if u['role'] == 'agent' else 'User'}: {u['content']}\n" for u in transcript_object)

    @staticmethod
    def _find_tool(llm: dict | None, name: str) -> dict | None:
        if llm is None:
            return None
        tools = list(llm.get("general_tools") or [])
        for state in llm.get("states") or ():
            tools.extend(state.get("tools") or ())
        return next((t for t in tools if t.get("name") == name), None)

    @staticmethod
    def _learn_from_reply(name: str, args: dict, content: str, ctx: dict[str, str]) -> None:
        """What the agent takes from a reply: its spoken `message`, and from check_availability
        the first free slot (for the default script's booking)."""
        try:
            reply = json.loads(content)
        except ValueError:
            return
        if not isinstance(reply, dict):
            return
        if isinstance(reply.get("message"), str):
            ctx["last_message"] = reply["message"]
        if name != "check_availability":
            return
        slots = reply.get("slots")
        if isinstance(slots, list) and slots and isinstance(slots[0], str):
            ctx["slot"] = slots[0]
            ctx["slot_date"] = reply.get("date") if isinstance(reply.get("date"), str) else str(args.get("date"))
            return
        for day in reply.get("next_days") or ():
            if isinstance(day, dict) and isinstance(day.get("slots"), list) and day["slots"]:
                ctx["slot"], ctx["slot_date"] = str(day["slots"][0]), str(day.get("date"))
                return

    def _call_tool(self, call_id: str, tool: dict, name: str, args: dict, call: dict,
                   ctx: dict[str, str]) -> tuple[int | str, str]:
        """One custom function call as Retell makes it (POST by default, signed, args nested or at
        the root), retried max_retry times; returns the last attempt's (status, reply text)."""
        method = tool.get("method") or "POST"
        url = tool["url"]
        query = {k: render(v, ctx) for k, v in (tool.get("query_params") or {}).items()}
        if query:
            url += ("&" if urllib.parse.urlsplit(url).query else "?") + urllib.parse.urlencode(query)
        if method in ("POST", "PUT", "PATCH"):
            body_str = dumps(args if tool.get("args_at_root") else {"name": name, "args": args, "call": call})
        else:
            body_str = ""
        timeout_s = (tool.get("timeout_ms") or DEFAULT_TOOL_TIMEOUT_MS) / 1000
        status: int | str = "error"
        text = ""
        for attempt in range(1, 2 + int(tool.get("max_retry") or 0)):
            headers = {**{k: render(v, ctx) for k, v in (tool.get("headers") or {}).items()},
                       "Content-Type": "application/json", "User-Agent": "retell-sim",
                       "X-Retell-Signature": symmetric["sign"](body_str, self.api_key, now_ms())}
            status, text = http_send(method, url, body_str.encode("utf-8") if body_str else None, headers, timeout_s)
            self._record(call_id, "tool_call", tool["url"], attempt, status, name=name)
            if ok_status(status) or self._stopping.is_set():
                break
            self._stopping.wait(min(2 ** (attempt - 1) * 0.2, 2.0))  # Retell backs off; keep it short
        if status == "timeout":
            text = f"Function {name} timed out after {int(timeout_s * 1000)} ms"
        return status, text

    def _deliver(self, call_id: str, event: str, url: str, payload: dict, timeout_s: float,
                 dropped: bool = False) -> tuple[bool, str]:
        """A signed webhook, retried up to 3 times on a non-2xx or timeout; (delivered, reply text)."""
        with self._lock:
            dropped = dropped or bool(self._faults.get("drop_webhooks"))
        if dropped:
            self._record(call_id, event, url, 0, "dropped")
            return False, ""
        body_str = dumps(payload)
        for attempt in range(1, WEBHOOK_RETRIES + 2):
            if self._stopping.is_set():
                break
            headers = {"Content-Type": "application/json", "User-Agent": "retell-sim",
                       "X-Retell-Signature": symmetric["sign"](body_str, self.api_key, now_ms())}
            status, text = http_send("POST", url, body_str.encode("utf-8"), headers, timeout_s)
            self._record(call_id, event, url, attempt, status)
            if ok_status(status):
                return True, text
            if attempt <= WEBHOOK_RETRIES:
                self._stopping.wait(self.retry_delay)
        return False, ""

    def _record(self, call_id: str, event: str, url: str, attempt: int, status: int | str, **extra: Any) -> None:
        entry = {"call_id": call_id, "event": event, **extra, "url": url, "attempt": attempt, "status": status,
                 "at_ms": now_ms()}
        with self._lock:
            self._deliveries.append(entry)
        shown = urllib.parse.urlsplit(url)
        label = f"{event} {extra['name']}" if "name" in extra else event
        self.log(f"deliver {label} call={call_id} -> {shown.scheme}://{shown.netloc}{shown.path} "
                 f"attempt {attempt}: {status}")

    # ---- simulator control ----

    def sim_calls(self, req: Request) -> tuple[int, dict]:
        body = req.body()
        spec = self._sim_call_spec(body)
        call, meta = self._start_call(spec)
        if not body.get("wait"):
            return 201, {"call_id": call["call_id"], "call": call}
        meta["done"].wait()
        with self._lock:
            final = self._calls.get(call["call_id"])
            deliveries = [d for d in self._deliveries if d["call_id"] == call["call_id"]]
        out = {"call_id": call["call_id"], "call": final, "tool_results": list(meta["tool_results"]),
               "deliveries": deliveries}
        if meta.get("rejected"):
            out["rejected"] = meta["rejected"]
        return 200, out

    def _sim_call_spec(self, body: dict) -> dict:
        def fail(detail: str) -> ApiError:
            return ApiError(400, f"/sim/calls: {detail}")

        if body.get("direction") not in ("inbound", "outbound"):
            raise fail("direction must be inbound or outbound")
        for field in ("from_number", "to_number"):
            if not isinstance(body.get(field), str) or not body[field]:
                raise fail(f"{field} must be a non-empty string")
        for field in ("agent_id", "disconnection_reason"):
            if body.get(field) is not None and not isinstance(body[field], str):
                raise fail(f"{field} must be a string")
        if body.get("disconnection_reason") is not None and body["disconnection_reason"] not in DISCONNECTION_REASONS:
            raise fail("disconnection_reason must be one the SDK lists")
        recording = body.get("recording")
        if recording is not None:
            allowed = {"recording_url": str, "scrubbed_recording_url": str, "data_storage_setting": str,
                       "opt_out_sensitive_data_storage": bool}
            if not isinstance(recording, dict) or not all(
                    k in allowed and isinstance(v, allowed[k]) for k, v in recording.items()):
                raise fail("recording may hold recording_url, scrubbed_recording_url (strings), "
                           "data_storage_setting and opt_out_sensitive_data_storage")
            if recording.get("data_storage_setting", "everything") not in DATA_STORAGE_SETTINGS:
                raise fail("data_storage_setting must be one the SDK lists")
        version = body.get("agent_version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, (int, str))):
            raise fail("agent_version must be an integer")
        script = body.get("script")
        if script is not None:
            if not isinstance(script, list):
                raise fail("script must be an array")
            for i, step in enumerate(script):
                kinds = [k for k in ("user", "agent", "tool") if isinstance(step, dict) and k in step]
                if len(kinds) != 1 or not isinstance(step[kinds[0]], str):
                    raise fail(f"script[{i}] must be one of {{\"user\": text}}, {{\"agent\": text}}, "
                               "{\"tool\": name, \"args\": {...}}")
                if kinds[0] == "tool" and not isinstance(step.get("args", {}), dict):
                    raise fail(f"script[{i}].args must be an object")
                if "answered" in step and (kinds[0] != "tool" or not isinstance(step["answered"], bool)):
                    raise fail(f"script[{i}].answered must be a boolean on a tool step")
        variables = body.get("dynamic_variables")
        if variables is not None and (not isinstance(variables, dict)
                                      or not all(isinstance(v, str) for v in variables.values())):
            raise fail("dynamic_variables must be an object of strings")
        if body.get("call_analysis") is not None and not isinstance(body["call_analysis"], dict):
            raise fail("call_analysis must be an object")
        duration = body.get("duration_ms")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int) or duration < 0):
            raise fail("duration_ms must be a non-negative integer")
        drop = body.get("drop")
        if drop is not None and (not isinstance(drop, list) or not set(drop) <= set(WEBHOOK_EVENT_NAMES)):
            raise fail(f"drop must be a list of {', '.join(WEBHOOK_EVENT_NAMES)}")
        if not isinstance(body.get("wait", False), bool):
            raise fail("wait must be a boolean")
        started = body.get("start_timestamp_ms")
        if started is not None and (isinstance(started, bool) or not isinstance(started, int)
                                    or not 0 < started <= now_ms()):
            raise fail("start_timestamp_ms must be a past time in ms since the epoch")
        return {k: body.get(k) for k in ("direction", "from_number", "to_number", "agent_id", "agent_version",
                                         "script", "disconnection_reason", "call_analysis", "dynamic_variables",
                                         "metadata", "duration_ms", "drop", "start_timestamp_ms", "recording")}

    def sim_bulk(self, req: Request) -> tuple[int, dict]:
        body = req.body()
        count = body.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100_000:
            raise ApiError(400, "/sim/calls/bulk: count must be an integer from 1 to 100000")
        for field in ("agent_id", "from_number", "to_number"):
            if not isinstance(body.get(field), str):
                raise ApiError(400, f"/sim/calls/bulk: {field} must be a string")
        if body.get("status", "ended") != "ended":
            raise ApiError(400, "/sim/calls/bulk: only status \"ended\" is supported")
        direction = body.get("direction", "inbound")
        if direction not in ("inbound", "outbound"):
            raise ApiError(400, "/sim/calls/bulk: direction must be inbound or outbound")
        spacing = body.get("spacing_ms", 60_000)
        start = body.get("start_timestamp_ms")
        for name, value in (("spacing_ms", spacing), ("start_timestamp_ms", start)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ApiError(400, f"/sim/calls/bulk: {name} must be a non-negative integer")
        if start is None:
            start = now_ms() - count * spacing
        with self._lock:
            agent = self._agent_version(body["agent_id"], None)
            calls = self._bulk_calls(count, agent, body["from_number"], body["to_number"], direction, start, spacing)
            for call in calls:
                self._calls[call["call_id"]] = call
                key = (call["start_timestamp"], call["call_id"])
                self._meta[call["call_id"]] = {"key": key, "hidden": False, "active": False}
                self._order.append(key)
            self._order.sort()  # timsort: a sorted run appended to a sorted list is cheap
        return 201, {"created": count, "first_call_id": calls[0]["call_id"], "last_call_id": calls[-1]["call_id"],
                     "start_timestamp_min": calls[0]["start_timestamp"],
                     "start_timestamp_max": calls[-1]["start_timestamp"]}

    def _bulk_calls(self, count: int, agent: dict, from_number: str, to_number: str, direction: str,
                    start: int, spacing: int) -> list[dict]:
        """Finished calls, fast: a few conversation variants built once and shared (stored calls
        are never mutated), per-call ids, times and costs."""
        names = ["Max Mustermann", "Erika Musterfrau", "Jonas Becker", "Lea Schmidt", "Paul Wagner"]
        day = booking_date().isoformat()
        variants = []
        for n, name in enumerate(names):
            slot = f"{9 + n}:30"
            transcript_object, with_tools, clock = [], [], 0.5
            lines = [("agent", "Salon Demo, guten Tag! Wie kann ich Ihnen helfen?"),
                     ("user", "Hallo, ich hätte gern einen Termin für einen Haarschnitt."),
                     ("tool", ("check_availability", {"service_id": "Haarschnitt", "date": day},
                               {"available": True, "date": day, "slots": [slot], "message": f"Um {slot} Uhr ist frei."})),
                     ("agent", f"Um {slot} Uhr wäre noch etwas frei."),
                     ("user", f"Das passt. Mein Name ist {name}."),
                     ("tool", ("book_appointment", {"service_id": "Haarschnitt", "date": day, "time": slot,
                                                    "customer_name": name},
                               {"success": True, "appointment_id": f"apt_{secrets.token_hex(8)}", "date": day,
                                "time": slot, "service_id": "haircut", "message": "Ihr Termin ist gebucht."})),
                     ("agent", f"Ihr Termin am {day} um {slot} Uhr ist gebucht. Auf Wiederhören!")]
            for kind, content in lines:
                if kind == "tool":
                    tool_name, args, reply = content
                    tcid = secrets.token_hex(8)
                    with_tools.append({"role": "tool_call_invocation", "tool_call_id": tcid, "name": tool_name,
                                       "arguments": dumps(args), "type": "custom"})
                    with_tools.append({"role": "tool_call_result", "tool_call_id": tcid, "content": dumps(reply),
                                       "successful": True})
                    continue
                words, clock = words_for(content, clock)
                utterance = {"role": kind, "content": content, "words": words}
                transcript_object.append(utterance)
                with_tools.append(utterance)
            variants.append((transcript_object, with_tools, self._transcript_text(transcript_object)))
        sentiments = ["Positive", "Positive", "Neutral", "Positive", "Negative", "Neutral", "Unknown"]
        latency = call_latency(4, seed=7)
        usage = {"values": [1800, 2100, 2400], "average": 2100, "num_requests": 3}
        base = {"call_type": "phone_call", "direction": direction, "agent_id": agent["agent_id"],
                "agent_version": agent["version"], "agent_name": agent.get("agent_name"), "call_status": "ended",
                "from_number": from_number, "to_number": to_number, "metadata": {},
                "retell_llm_dynamic_variables": {}, "collected_dynamic_variables": {},
                "data_storage_setting": "everything", "opt_in_signed_url": False, "latency": latency,
                "llm_token_usage": usage}
        calls = []
        for i in range(count):
            call_id = new_id("call_")
            transcript_object, with_tools, text = variants[i % len(variants)]
            duration = 30_000 + (i * 7919) % 90_000
            begin = start + i * spacing
            successful = i % 7 != 4
            calls.append({
                **base, "call_id": call_id, "start_timestamp": begin, "end_timestamp": begin + duration,
                "duration_ms": duration, "disconnection_reason": "user_hangup" if i % 3 else "agent_hangup",
                "transcript": text, "transcript_object": transcript_object, "transcript_with_tool_calls": with_tools,
                "recording_url": f"{self.url}/recordings/{call_id}.wav", "call_cost": call_cost(duration),
                "call_analysis": {"call_summary": "Der Anrufer hat einen Haarschnitt gebucht." if successful
                                  else "Der Anrufer hat ohne Termin aufgelegt.",
                                  "user_sentiment": sentiments[i % len(sentiments)], "call_successful": successful,
                                  "in_voicemail": False, "custom_analysis_data": {}}})
        return calls

    def sim_faults(self, req: Request) -> dict:
        body = req.body()
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

    def sim_deliveries(self, req: Request) -> list:
        call_id, event = req.query.get("call_id"), req.query.get("event")
        with self._lock:
            return [d for d in self._deliveries
                    if (call_id is None or d["call_id"] == call_id) and (event is None or d["event"] == event)]

    def sim_state(self, req: Request) -> dict:
        with self._lock:
            visible = [c for cid, c in self._calls.items() if not self._meta[cid].get("hidden")]
            by_status = collections.Counter(c["call_status"] for c in visible)
            return {"agents": len(self._agents), "llms": len(self._llms), "phone_numbers": len(self._numbers),
                    "voices": len(self._voices), "calls": len(visible), "calls_by_status": dict(by_status),
                    "active_calls": sum(1 for m in self._meta.values() if m.get("active")),
                    "deliveries": len(self._deliveries), "faults": json.loads(dumps(self._faults))}

    def sim_reset(self, req: Request) -> dict:
        with self._lock:
            self._generation += 1
            self._calls.clear()
            self._meta.clear()
            self._order.clear()
            self._deliveries.clear()
            self._idempotency.clear()
            self._recordings.clear()
        return {"reset": True}


class _AgentListBody(typing_extensions.TypedDict, total=False):
    """list-agents' body (limit, pagination_key and sort_order are query parameters)."""
    filter_criteria: agent_list_params.FilterCriteria


class _SeedNumber(typing_extensions.TypedDict, total=False):
    """A number of the seeded account: the update fields plus the number (no SIP trunk needed)."""
    phone_number: typing_extensions.Required[str]
    phone_number_type: Literal["retell-twilio", "retell-telnyx", "custom"]


for _key, _value in typing_extensions.get_type_hints(phone_number_update_params.PhoneNumberUpdateParams,
                                                     include_extras=True).items():
    _SeedNumber.__annotations__.setdefault(_key, _value)


# --- HTTP ------------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
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


# --- CLI -------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local stand-in for Retell AI's API (see the module docstring).")
    parser.add_argument("--port", type=int, required=True, help="port to listen on; 0 picks a free one")
    parser.add_argument("--api-key", required=True, help="the account's API key (also signs webhooks)")
    parser.add_argument("--seed", help="JSON file with llms, agents, phone_numbers (and voices) to start with")
    parser.add_argument("--retry-delay", type=float, default=1.0, help="seconds between webhook attempts")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    try:
        sim = RetellSimulator(api_key=args.api_key, port=args.port, host=args.host, seed=args.seed,
                              retry_delay=args.retry_delay, async_log=True)
    except (OSError, ValueError) as err:
        print(f"retell-sim: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        sim.start()
    except OSError as err:
        print(f"retell-sim: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 2
    print(f"retell-sim listening on {sim.url}", flush=True)
    while not stop.wait(0.5):
        pass
    sim.log("stopping")
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
