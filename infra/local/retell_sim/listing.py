"""Listing: keyset pagination with opaque cursors, and list-calls' filter_criteria
(types/call_list_params.py FilterCriteria) as a predicate over stored calls."""

from __future__ import annotations

import base64
import bisect
import json
from typing import Any, Callable

from .limits import LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT
from .request import Request
from .wire import bad_request, dumps

# Call fields that list-calls leaves out (types/call_list_response.py): clients get-call for them.
HEAVY_CALL_FIELDS = frozenset({
    "transcript", "transcript_object", "transcript_with_tool_calls", "scrubbed_transcript_with_tool_calls",
    "pre_session_transcript_with_tool_calls", "post_session_transcript_with_tool_calls",
    "scrubbed_pre_session_transcript_with_tool_calls", "scrubbed_post_session_transcript_with_tool_calls",
})


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
