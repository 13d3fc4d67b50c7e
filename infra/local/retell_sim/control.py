"""The simulator's own endpoints (/sim/..., no key needed): play a scripted call, put finished
calls in bulk, store recording files, inject faults, read the deliveries log and the state, and
reset."""

from __future__ import annotations

import collections
from typing import Callable

from .call_content import finished_calls
from .delivery import WEBHOOK_EVENT_NAMES, Deliveries
from .faults import Faults
from .limits import MAX_BODY_BYTES
from .player import CallPlayer
from .request import Request, Route
from .store import Store
from .validation import DATA_STORAGE_SETTINGS, DISCONNECTION_REASONS
from .wire import ApiError, bad_request, now_ms


class SimControl:
    """The /sim handlers. base_url: where the simulator serves, for the recording URLs."""

    def __init__(self, store: Store, player: CallPlayer, faults: Faults, deliveries: Deliveries,
                 base_url: Callable[[], str]):
        self.store, self.player, self.faults, self.deliveries = store, player, faults, deliveries
        self.base_url = base_url

    def routes(self) -> list[Route]:
        return [
            ("POST", r"/sim/recordings/([A-Za-z0-9_.-]+)", self.put_recording, "sim"),
            ("POST", "/sim/calls", self.play_call, "sim"),
            ("POST", "/sim/calls/bulk", self.add_finished_calls, "sim"),
            ("POST", "/sim/faults", self.set_faults, "sim"),
            ("GET", "/sim/deliveries", self.list_deliveries, "sim"),
            ("GET", "/sim/state", self.state, "sim"),
            ("POST", "/sim/reset", self.reset, "sim"),
        ]

    def put_recording(self, req: Request, name: str) -> dict:
        """POST /sim/recordings/{name}: the raw body is served at GET /recordings/{name}."""
        if len(req.raw) > MAX_BODY_BYTES:
            raise bad_request("a recording is at most 1 MB here")
        with self.store.lock:
            self.store.recordings[name] = bytes(req.raw)
        return {"url": f"{self.base_url()}/recordings/{name}", "bytes": len(req.raw)}

    def play_call(self, req: Request) -> tuple[int, dict]:
        """POST /sim/calls: 201 at once, or with "wait" 200 once the call is played."""
        body = req.body()
        spec = call_spec(body)
        call, meta = self.player.start(spec)
        if not body.get("wait"):
            return 201, {"call_id": call["call_id"], "call": call}
        meta["done"].wait()
        with self.store.lock:
            final = self.store.calls.get(call["call_id"])
            deliveries = self.deliveries.matching(call_id=call["call_id"])
        out = {"call_id": call["call_id"], "call": final, "tool_results": list(meta["tool_results"]),
               "deliveries": deliveries}
        if meta.get("rejected"):
            out["rejected"] = meta["rejected"]
        return 200, out

    def add_finished_calls(self, req: Request) -> tuple[int, dict]:
        """POST /sim/calls/bulk: ended and analyzed calls straight into state, no webhooks."""
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
        with self.store.lock:
            agent = self.store.agent_version(body["agent_id"], None)
            calls = finished_calls(count, agent, body["from_number"], body["to_number"], direction, start, spacing,
                                   self.base_url())
            self.store.store_finished_calls(calls)
        return 201, {"created": count, "first_call_id": calls[0]["call_id"], "last_call_id": calls[-1]["call_id"],
                     "start_timestamp_min": calls[0]["start_timestamp"],
                     "start_timestamp_max": calls[-1]["start_timestamp"]}

    def set_faults(self, req: Request) -> dict:
        return self.faults.configure(req.body())

    def list_deliveries(self, req: Request) -> list:
        return self.deliveries.matching(req.query.get("call_id"), req.query.get("event"))

    def state(self, req: Request) -> dict:
        with self.store.lock:
            visible = [c for cid, c in self.store.calls.items() if not self.store.meta[cid].get("hidden")]
            by_status = collections.Counter(c["call_status"] for c in visible)
            return {"agents": len(self.store.agents), "llms": len(self.store.llms),
                    "phone_numbers": len(self.store.numbers), "voices": len(self.store.voices),
                    "knowledge_bases": len(self.store.knowledge_bases),
                    "calls": len(visible), "calls_by_status": dict(by_status),
                    "active_calls": sum(1 for m in self.store.meta.values() if m.get("active")),
                    "deliveries": self.deliveries.count(), "faults": self.faults.snapshot()}

    def reset(self, req: Request) -> dict:
        """Forgets calls and deliveries; agents, LLMs, numbers and knowledge bases stay."""
        with self.store.lock:
            self.store.forget_calls()
            self.deliveries.clear()
        return {"reset": True}


def call_spec(body: dict) -> dict:
    """A /sim/calls body checked (400 with what is wrong) and reduced to what the player reads."""

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
