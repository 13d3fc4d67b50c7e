"""Retell's REST API (the endpoints our client uses): agents and their versions, Retell LLMs,
phone numbers, voices, concurrency, calls, and the public recording and voice preview URLs. Every
route but those public ones needs the API key (checked by the server). Knowledge bases:
knowledge_base.py."""

from __future__ import annotations

import bisect
import urllib.parse
import zlib
from collections.abc import Iterable
from typing import Any, Callable

from retell.types import (
    agent_create_version_params,
    agent_publish_params,
    agent_update_params,
    call_create_phone_call_params,
    call_list_params,
    llm_update_params,
    phone_number_update_params,
)

from .call_content import SILENT_WAV, tone_wav
from .limits import IDEMPOTENCY_MS, LIST_DEFAULT_LIMIT
from .listing import (HEAVY_CALL_FIELDS, compile_call_filter, condition_matches, decode_cursor, encode_cursor,
                      list_limit, paginate)
from .player import CallPlayer
from .request import Request, Route
from .store import Store
from .validation import E164, AgentListBody
from .wire import ApiError, Blob, bad_request, now_ms


class RetellApi:
    """The handlers: each takes the request and the path's parameters, and answers a JSON-able
    body (200) or (status, body); errors are ApiErrors."""

    def __init__(self, store: Store, player: CallPlayer, log: Callable[[str], None], base_url: Callable[[], str]):
        self.store, self.schema, self.player, self.log = store, store.schema, player, log
        self.base_url = base_url
        self._previews: dict[str, bytes] = {}  # voice_id -> its preview tone, made on first request

    def routes(self) -> list[Route]:
        seg = r"([^/]+)"
        return [
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
            ("DELETE", f"/v2/delete-call/{seg}", self.delete_call, "api"),
            ("POST", "/v2/create-phone-call", self.create_phone_call, "api"),
            ("GET", "/get-concurrency", self.get_concurrency, "api"),
            ("GET", "/list-voices", self.list_voices, "api"),
            ("GET", f"/get-voice/{seg}", self.get_voice, "api"),
            ("GET", r"/recordings/([A-Za-z0-9_.-]+)", self.get_recording, "public"),
            ("GET", r"/voice-previews/([^/]+)\.wav", self.get_voice_preview, "public"),
        ]

    # ---- agents ----

    def create_agent(self, req: Request) -> tuple[int, dict]:
        return 201, self.store.store_new_agent(req.body())

    def get_agent(self, req: Request, agent_id: str) -> dict:
        with self.store.lock:
            return dict(self.store.agent_version(agent_id, req.query.get("version") or None))

    def update_agent(self, req: Request, agent_id: str) -> dict:
        body = req.body()
        self.schema.check(body, agent_update_params.AgentUpdateParams, skip={"version"})
        version = req.query.get("version") or None
        with self.store.lock:
            current = self.store.agent_version(agent_id, version) if version is not None else \
                self.store.latest_draft(self.store.agent_versions(agent_id), f"Agent {agent_id}")
            if current.get("is_published"):
                raise ApiError(400, f"Agent {agent_id} version {current['version']} is published and cannot be "
                                    "changed; update a draft version")
            changes = self.store.agent_fields(body, agent_update_params.AgentUpdateParams)
            if "response_engine" in changes:
                changes["response_engine"] = self.store.resolve_engine(changes["response_engine"])
            if "voice_id" in changes:
                self.store.check_voice(changes["voice_id"])
            updated = {**current, **changes, "last_modification_timestamp": now_ms()}
            self.store.replace_version(self.store.agents[agent_id], updated)
            return dict(updated)

    def delete_agent(self, req: Request, agent_id: str) -> tuple[int, None]:
        with self.store.lock:
            self.store.agent_versions(agent_id)
            del self.store.agents[agent_id]
        return 204, None

    def list_agents(self, req: Request) -> dict:
        body = req.body()
        self.schema.check(body, AgentListBody)
        criteria = body.get("filter_criteria") or {}
        limit, order = list_limit(req), req.sort_order()
        with self.store.lock:
            items = []
            for versions in self.store.agents.values():
                latest = versions[-1]
                item = {"agent_id": latest["agent_id"], "agent_name": latest.get("agent_name") or "",
                        "channel": "voice", "is_suspended": False, "tags": {},
                        "is_transfer_agent": bool(latest.get("is_transfer_agent")),
                        "user_modified_timestamp": max(v["last_modification_timestamp"] for v in versions)}
                items.append(item)
            key = self.store.creation_keys()
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
        with self.store.lock:
            items = [{k: v.get(k) for k in ("version", "is_published", "last_modification_timestamp",
                                            "base_version", "version_title", "version_description")}
                     for v in self.store.agent_versions(agent_id)]
        return paginate(items, lambda i: (i["version"], agent_id), limit, req.query.get("pagination_key"), order)

    def publish_agent(self, req: Request, agent_id: str) -> tuple[int, None]:
        body = req.body()
        self.schema.check(body, agent_publish_params.AgentPublishParams)
        number = int(body["version"])
        with self.store.lock:
            versions = self.store.agent_versions(agent_id)
            target = self.store.agent_version(agent_id, number)
            if target.get("is_published"):
                raise ApiError(400, f"Agent {agent_id} version {number} is already published")
            now = now_ms()
            published = {**target, "is_published": True, "last_modification_timestamp": now,
                         "version_title": body.get("version_title", target.get("version_title")),
                         "version_description": body.get("version_description", target.get("version_description"))}
            engine = published["response_engine"]
            new_engine = dict(engine)
            if engine.get("type") == "retell-llm" and engine.get("llm_id") in self.store.llms:
                # The agent and its Retell LLM are versioned together (docs: agent/version).
                new_engine["version"] = self.store.publish_llm_version(engine["llm_id"], engine.get("version"))
            self.store.replace_version(versions, published)
            if number == versions[-1]["version"]:
                draft = {**published, "version": number + 1, "is_published": False, "base_version": number,
                         "version_title": None, "version_description": None, "response_engine": new_engine,
                         "last_modification_timestamp": now}
                versions.append(draft)
        return 204, None

    def create_agent_version(self, req: Request, agent_id: str) -> tuple[int, dict]:
        body = req.body()
        self.schema.check(body, agent_create_version_params.AgentCreateVersionParams)
        with self.store.lock:
            versions = self.store.agent_versions(agent_id)
            base = self.store.agent_version(agent_id, int(body["base_version"]))
            draft = {**base, "version": versions[-1]["version"] + 1, "is_published": False,
                     "base_version": base["version"], "version_title": None, "version_description": None,
                     "last_modification_timestamp": now_ms()}
            versions.append(draft)
            return 201, dict(draft)

    def delete_agent_version(self, req: Request, agent_id: str) -> tuple[int, None]:
        version = req.int_query("version", None, 0)
        if version is None:
            raise bad_request("version is required")
        with self.store.lock:
            versions = self.store.agent_versions(agent_id)
            target = self.store.agent_version(agent_id, version)
            if len(versions) == 1:
                raise ApiError(400, "Cannot delete the only version of an agent; delete the agent")
            versions.remove(target)
        return 204, None

    # ---- Retell LLMs ----

    def create_llm(self, req: Request) -> tuple[int, dict]:
        return 201, self.store.store_new_llm(req.body())

    def get_llm(self, req: Request, llm_id: str) -> dict:
        version = req.int_query("version", None, 0)
        with self.store.lock:
            return dict(self.store.llm_version(llm_id, version))

    def update_llm(self, req: Request, llm_id: str) -> dict:
        body = req.body()
        self.schema.check(body, llm_update_params.LlmUpdateParams, skip={"version"})
        version = req.int_query("version", None, 0)
        known = self.schema.keys(llm_update_params.LlmUpdateParams) - {"version", "is_transfer_llm"}
        with self.store.lock:
            current = self.store.llm_version(llm_id, version) if version is not None else \
                self.store.latest_draft(self.store.llm_versions(llm_id), f"Retell LLM {llm_id}")
            if current.get("is_published"):
                raise ApiError(400, f"Retell LLM {llm_id} version {current['version']} is published and cannot "
                                    "be changed; update a draft version")
            updated = {**current, **{k: v for k, v in body.items() if k in known},
                       "last_modification_timestamp": now_ms()}
            self.store.check_tools(updated)
            if "knowledge_base_ids" in body:
                self.store.check_knowledge_base_ids(body["knowledge_base_ids"])
            self.store.replace_version(self.store.llms[llm_id], updated)
            return dict(updated)

    def list_llms(self, req: Request) -> dict:
        limit, order = list_limit(req), req.sort_order()
        with self.store.lock:
            items = [dict(versions[-1]) for versions in self.store.llms.values()]
            key = self.store.creation_keys()
        return paginate(items, lambda i: key(i["llm_id"]), limit,
                        req.query.get("pagination_key"), order)

    def delete_llm(self, req: Request, llm_id: str) -> tuple[int, None]:
        force = req.bool_query("force_delete")
        with self.store.lock:
            self.store.llm_versions(llm_id)
            users = sorted({v["agent_id"] for versions in self.store.agents.values() for v in versions
                            if (v.get("response_engine") or {}).get("llm_id") == llm_id})
            if users and not force:
                raise ApiError(400, f"Retell LLM {llm_id} is used by agent(s) {', '.join(users)}; "
                                    "pass force_delete=true to delete it anyway")
            del self.store.llms[llm_id]
        return 204, None

    # ---- phone numbers ----

    def import_number(self, req: Request) -> tuple[int, dict]:
        return 201, self.store.store_new_number(req.body(), imported=True)

    def get_number(self, req: Request, number: str) -> dict:
        with self.store.lock:
            return dict(self.store.number(number))

    def update_number(self, req: Request, number: str) -> dict:
        body = req.body()
        self.schema.check(body, phone_number_update_params.PhoneNumberUpdateParams)
        keep = ("nickname", "inbound_webhook_url", "allowed_inbound_country_list", "allowed_outbound_country_list",
                "fallback_number", "inbound_sms_webhook_url")
        with self.store.lock:
            current = self.store.number(number)
            updated = {**current, **{k: body[k] for k in keep if k in body}, **self.store.number_agents(body),
                       "last_modification_timestamp": now_ms()}
            if "termination_uri" in body or "transport" in body:
                trunk = dict(current.get("sip_outbound_trunk_config") or {})
                trunk.update({k: body[k] for k in ("termination_uri", "transport") if k in body})
                updated["sip_outbound_trunk_config"] = trunk
            self.store.numbers[number] = updated
            return dict(updated)

    def list_numbers(self, req: Request) -> dict:
        limit, order = list_limit(req), req.sort_order()
        with self.store.lock:
            items = [dict(n) for n in self.store.numbers.values()]
            key = self.store.creation_keys()
        return paginate(items, lambda i: key(i["phone_number"]), limit,
                        req.query.get("pagination_key"), order)

    def delete_number(self, req: Request, number: str) -> tuple[int, None]:
        with self.store.lock:
            self.store.number(number)
            del self.store.numbers[number]
        return 204, None

    # ---- voices, concurrency, recordings ----

    def voice_view(self, voice: dict) -> dict:
        """A voice as Retell answers it: with a preview_audio_url (the seed's own, else the
        simulator's public /voice-previews/<voice_id>.wav)."""
        url = f"{self.base_url()}/voice-previews/{urllib.parse.quote(voice['voice_id'], safe='')}.wav"
        return {"preview_audio_url": url, **voice}

    def list_voices(self, req: Request) -> list:
        with self.store.lock:
            return [self.voice_view(v) for v in self.store.voices.values()]

    def get_voice(self, req: Request, voice_id: str) -> dict:
        with self.store.lock:
            voice = self.store.voices.get(voice_id)
        if voice is None:
            raise ApiError(404, f"Voice {voice_id} not found")
        return self.voice_view(voice)

    def get_voice_preview(self, req: Request, voice_id: str) -> tuple[int, Blob]:
        """A voice's preview: a 400 ms tone, lower for male voices, its pitch from the voice id."""
        with self.store.lock:
            voice = self.store.voices.get(voice_id)
            if voice is None:
                raise ApiError(404, f"Voice {voice_id} not found")
            wav = self._previews.get(voice_id)
            if wav is None:
                base = 165.0 if voice.get("gender") == "male" else 262.0
                wav = tone_wav(base * 2 ** ((zlib.crc32(voice_id.encode()) % 7) / 12))
                self._previews[voice_id] = wav
        return 200, Blob(wav, "audio/wav")

    def get_concurrency(self, req: Request) -> dict:
        with self.store.lock:
            current = sum(1 for m in self.store.meta.values() if m.get("active"))
        return {"current_concurrency": current, "concurrency_limit": 20, "base_concurrency": 20,
                "purchased_concurrency": 0, "concurrency_purchase_limit": 100, "remaining_purchase_limit": 100,
                "concurrency_burst_enabled": False, "concurrency_burst_limit": 0,
                "reserved_inbound_concurrency": 0}

    def get_recording(self, req: Request, name: str) -> tuple[int, bytes]:
        """A file put with /sim/recordings, else a known call's `<call_id>.wav` (silence)."""
        with self.store.lock:
            stored = self.store.recordings.get(name)
            known = name.endswith(".wav") and name[:-4] in self.store.calls \
                and not self.store.meta[name[:-4]].get("hidden")
        if stored is not None:
            return 200, stored
        if not known:
            raise ApiError(404, "Recording not found")
        return 200, SILENT_WAV

    # ---- calls ----

    def get_call(self, req: Request, call_id: str) -> dict:
        with self.store.lock:
            call = self.store.calls.get(call_id)
            if call is None or self.store.meta[call_id].get("hidden"):
                raise ApiError(404, f"Call {call_id} not found")
            return call  # never mutated (see Store.update_call), safe to serialise outside the lock

    def delete_call(self, req: Request, call_id: str) -> tuple[int, None]:
        """Retell's delete-call: the call and its data are gone (404 for one that is not
        there); a call still in progress cannot be deleted."""
        with self.store.lock:
            call = self.store.calls.get(call_id)
            if call is None or self.store.meta[call_id].get("hidden"):
                raise ApiError(404, f"Call {call_id} not found")
            if call.get("call_status") in ("registered", "ongoing"):
                raise ApiError(400, f"Call {call_id} is still in progress")
            self.store.discard_call(call_id)
        return 204, None

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
        with self.store.lock:
            order_keys = self.store.order
            if order == "ascending":
                start = bisect.bisect_right(order_keys, after) if after else 0
                indices: Iterable[int] = range(start, len(order_keys))
            else:
                start = bisect.bisect_left(order_keys, after) - 1 if after else len(order_keys) - 1
                indices = range(start, -1, -1)
            for i in indices:
                call_id = order_keys[i][1]
                if self.store.meta[call_id].get("hidden"):
                    continue
                call = self.store.calls[call_id]
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
                total = sum(1 for cid, c in self.store.calls.items()
                            if not self.store.meta[cid].get("hidden") and matches(c))
        out: dict[str, Any] = {
            "has_more": has_more,
            "items": [{k: v for k, v in c.items() if k not in HEAVY_CALL_FIELDS} for c in items]}
        if has_more:
            out["pagination_key"] = encode_cursor(last_key, order)
        if body.get("include_total"):
            out["total"] = total
        return out

    def create_phone_call(self, req: Request) -> tuple[int, dict]:
        body = req.body()
        self.schema.check(body, call_create_phone_call_params.CallCreatePhoneCallParams)
        key = body.get("idempotency_key")
        if key is not None:
            with self.store.lock:
                # Retell: the same key within an hour is the same call, however often it is sent.
                self.store.idempotency = {k: v for k, v in self.store.idempotency.items() if v[1] > now_ms()}
                known = self.store.idempotency.get(key)
                if known is not None and known[0] in self.store.calls:
                    return 201, self.store.calls[known[0]]
        if not body.get("ignore_e164_validation"):
            for field in ("from_number", "to_number"):
                if not E164.fullmatch(body[field]):
                    raise bad_request(f"{field} {body[field]} is not in E.164 format")
        spec = {"direction": "outbound", "from_number": body["from_number"], "to_number": body["to_number"],
                "agent_id": body.get("override_agent_id"), "agent_version": body.get("override_agent_version"),
                "dynamic_variables": body.get("retell_llm_dynamic_variables") or {},
                "metadata": body.get("metadata")}
        call, _ = self.player.start(spec)
        if key is not None:
            with self.store.lock:
                self.store.idempotency[key] = (call["call_id"], now_ms() + IDEMPOTENCY_MS)
        return 201, call
