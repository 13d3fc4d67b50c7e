"""The simulated Retell account in memory: voices, knowledge bases, Retell LLMs and agents with
their versions, phone numbers, and calls, behind one lock. The seed loads an account that already
exists."""

from __future__ import annotations

import bisect
import itertools
import json
import re
import secrets
import threading
import urllib.parse
from typing import Any, Callable

from retell.types import agent_create_params, llm_create_params, phone_number_import_params

from .limits import KB_DEFAULT_MAX_CHUNK, KB_DEFAULT_MIN_CHUNK, KB_MAX_FILES, KB_MAX_TEXTS, KB_MAX_URLS
from .validation import E164, TOOL_NAME, Schema, SeedNumber, check_kb_params
from .wire import ApiError, Blob, bad_request, new_id, now_ms

# A small fixed voice catalogue (types/voice_response.py). Ids follow Retell's `<provider>-<Name>`
# pattern (11labs-Adrian, openai-Alloy are Retell's documented examples; the German ones are ours).
# Each answers a preview_audio_url on the simulator (see RetellApi.voice_view).
DEFAULT_VOICES = [
    {"voice_id": "11labs-Adrian", "voice_name": "Adrian", "provider": "elevenlabs", "gender": "male",
     "accent": "American", "age": "Young"},
    {"voice_id": "11labs-Anna", "voice_name": "Anna", "provider": "elevenlabs", "gender": "female",
     "accent": "German", "age": "Middle Aged"},
    {"voice_id": "11labs-Leon", "voice_name": "Leon", "provider": "elevenlabs", "gender": "male",
     "accent": "German", "age": "Young"},
    {"voice_id": "cartesia-Lena", "voice_name": "Lena", "provider": "cartesia", "gender": "female",
     "accent": "German", "age": "Young"},
    {"voice_id": "cartesia-Jonas", "voice_name": "Jonas", "provider": "cartesia", "gender": "male",
     "accent": "German", "age": "Middle Aged"},
    {"voice_id": "11labs-Amy", "voice_name": "Amy", "provider": "elevenlabs", "gender": "female",
     "accent": "British", "age": "Young"},
    {"voice_id": "11labs-Marissa", "voice_name": "Marissa", "provider": "elevenlabs", "gender": "female",
     "accent": "American", "age": "Middle Aged"},
    {"voice_id": "openai-Alloy", "voice_name": "Alloy", "provider": "openai", "gender": "male",
     "accent": "American", "age": "Young"},
    {"voice_id": "openai-Nova", "voice_name": "Nova", "provider": "openai", "gender": "female",
     "accent": "American", "age": "Young"},
]

KB_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # a seeded knowledge base's id (its content URLs carry it)


class Store:
    """Everything the account holds. Stored dicts are never mutated: an update stores a new dict,
    so a reader holding one (a response being serialised, a webhook being built) always has a
    consistent snapshot. `lock` (re-entrant) guards every field; the other parts of the simulator
    take it too."""

    def __init__(self, schema: Schema):
        self.schema = schema
        self.lock = threading.RLock()
        self.voices: dict[str, dict] = {v["voice_id"]: dict(v) for v in DEFAULT_VOICES}
        self.llms: dict[str, list[dict]] = {}  # llm_id -> versions, ascending
        self.agents: dict[str, list[dict]] = {}  # agent_id -> versions, ascending
        self.numbers: dict[str, dict] = {}
        # knowledge_base_id -> the knowledge base as get-knowledge-base answers it, its sources'
        # URLs as paths on the simulator (content_url / file_url); kb_content: path -> what it serves.
        self.knowledge_bases: dict[str, dict] = {}
        self.kb_content: dict[str, Blob] = {}
        # Creation order of agents, LLMs, numbers and knowledge bases: their lists page in it, so an
        # update between two pages (a sync tool listing and updating) neither repeats nor skips an item.
        self._created: dict[str, int] = {}
        self._creations = itertools.count()
        self.calls: dict[str, dict] = {}
        self.meta: dict[str, dict] = {}  # call_id -> {"key", "hidden", "done", ...}
        self.order: list[tuple[int, str]] = []  # (sort timestamp, call_id), ascending
        self.recordings: dict[str, bytes] = {}  # /sim/recordings: file name -> bytes served
        self.idempotency: dict[str, tuple[str, int]] = {}  # create-phone-call key -> (call_id, until ms)
        self.generation = 0  # bumped by forget_calls: a call played across it stops writing

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
                self.voices = {v["voice_id"]: dict(v) for v in data["voices"]}
            for kb in data.get("knowledge_bases", ()):  # before the LLMs that list them
                kb = dict(kb)
                self.store_new_kb(kb, [], kb_id=kb.pop("knowledge_base_id", None))
            for llm in data.get("llms", ()):
                self.store_new_llm(dict(llm), llm_id=llm.get("llm_id"))
            for agent in data.get("agents", ()):
                self.store_new_agent(dict(agent), agent_id=agent.get("agent_id"))
            for number in data.get("phone_numbers", ()):
                self.store_new_number(dict(number), imported=False)
        except ApiError as err:
            raise ValueError(f"seed: {err.message}") from None
        except (TypeError, KeyError, AttributeError) as err:
            raise ValueError(f"seed: malformed ({err!r})") from None

    def mark_created(self, resource_id: str) -> None:
        self._created[resource_id] = next(self._creations)

    def creation_keys(self) -> Callable[[str], tuple[int, str]]:
        """A list's sort key, (creation sequence, id), from a snapshot taken under the lock; a
        cursor holds the last key a page returned."""
        created = dict(self._created)
        return lambda resource_id: (created.get(resource_id, 0), resource_id)

    # ---- agents ----

    def agent_versions(self, agent_id: str) -> list[dict]:
        versions = self.agents.get(agent_id)
        if not versions:
            raise ApiError(404, f"Agent {agent_id} not found")
        return versions

    def agent_version(self, agent_id: str, version: Any) -> dict:
        """A version by number, "latest" / None, or "latest_published". This account has no
        version tags, so any other string is refused (400), as a number that does not exist is
        not found (404)."""
        versions = self.agent_versions(agent_id)
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

    def resolve_engine(self, engine: dict) -> dict:
        engine = dict(engine)
        if engine["type"] == "retell-llm":
            versions = self.llms.get(engine["llm_id"])
            if not versions:
                raise ApiError(422, f"Retell LLM {engine['llm_id']} not found")
            if engine.get("version") is None:
                engine["version"] = versions[-1]["version"]
            elif not any(v["version"] == engine["version"] for v in versions):
                raise ApiError(422, f"Retell LLM {engine['llm_id']} has no version {engine['version']}")
        elif engine["type"] == "conversation-flow":
            raise ApiError(422, f"Conversation flow {engine.get('conversation_flow_id')} not found")
        return engine

    def check_voice(self, voice_id: Any) -> None:
        if voice_id not in self.voices:
            raise ApiError(422, f"voice_id {voice_id} not found")

    def agent_fields(self, body: dict, td: type) -> dict:
        known = self.schema.keys(td) - {"version"}
        return {k: v for k, v in body.items() if k in known}

    def store_new_agent(self, body: dict, agent_id: str | None = None) -> dict:
        self.schema.check(body, agent_create_params.AgentCreateParams)
        with self.lock:
            if agent_id is not None and agent_id in self.agents:
                raise ApiError(400, f"Agent {agent_id} already exists")
            engine = self.resolve_engine(body["response_engine"])
            self.check_voice(body["voice_id"])
            fields = self.agent_fields(body, agent_create_params.AgentCreateParams)
            agent = {"agent_name": None, "language": "en-US", "webhook_url": None, **fields,
                     "agent_id": agent_id or new_id("agent_"), "version": 0, "is_published": False,
                     "base_version": None, "response_engine": engine, "last_modification_timestamp": now_ms()}
            self.agents[agent["agent_id"]] = [agent]
            self.mark_created(agent["agent_id"])
            return dict(agent)

    @staticmethod
    def latest_draft(versions: list[dict], what: str) -> dict:
        """What an update without ?version= edits: the latest version not yet published."""
        for v in reversed(versions):
            if not v.get("is_published"):
                return v
        raise ApiError(400, f"{what} has no draft version to update; create one with create-agent-version")

    @staticmethod
    def replace_version(versions: list[dict], updated: dict) -> None:
        for i, v in enumerate(versions):
            if v["version"] == updated["version"]:
                versions[i] = updated
                return

    def publish_llm_version(self, llm_id: str, version: Any) -> Any:
        """Publishes an LLM version; returns the version a new agent draft should use."""
        versions = self.llms[llm_id]
        target = next((v for v in versions if v["version"] == version), versions[-1])
        if not target.get("is_published"):
            self.replace_version(versions, {**target, "is_published": True, "last_modification_timestamp": now_ms()})
        if target["version"] == versions[-1]["version"]:
            versions.append({**target, "version": target["version"] + 1, "is_published": False,
                             "last_modification_timestamp": now_ms()})
        return versions[-1]["version"]

    # ---- Retell LLMs ----

    def llm_versions(self, llm_id: str) -> list[dict]:
        versions = self.llms.get(llm_id)
        if not versions:
            raise ApiError(404, f"Retell LLM {llm_id} not found")
        return versions

    def llm_version(self, llm_id: str, version: int | None) -> dict:
        versions = self.llm_versions(llm_id)
        if version is None:
            return versions[-1]
        for v in versions:
            if v["version"] == version:
                return v
        raise ApiError(404, f"Retell LLM {llm_id} version {version} not found")

    @staticmethod
    def check_tools(llm: dict) -> None:
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

    def store_new_llm(self, body: dict, llm_id: str | None = None) -> dict:
        self.schema.check(body, llm_create_params.LlmCreateParams)
        self.check_tools(body)
        fields = {k: v for k, v in body.items() if k in self.schema.keys(llm_create_params.LlmCreateParams)}
        with self.lock:
            if llm_id is not None and llm_id in self.llms:
                raise ApiError(400, f"Retell LLM {llm_id} already exists")
            self.check_knowledge_base_ids(fields.get("knowledge_base_ids"))
            llm = {"model": "gpt-4.1", "start_speaker": "agent", "general_prompt": None, "begin_message": None,
                   "general_tools": [], **fields, "llm_id": llm_id or new_id("llm_"), "version": 0,
                   "is_published": False, "last_modification_timestamp": now_ms()}
            self.llms[llm["llm_id"]] = [llm]
            self.mark_created(llm["llm_id"])
            return dict(llm)

    def check_knowledge_base_ids(self, ids: Any) -> None:
        """An LLM's knowledge_base_ids (types checked already) must name knowledge bases of the
        account: 422 like any other unknown id referenced in a body."""
        missing = [kb_id for kb_id in ids or () if kb_id not in self.knowledge_bases]
        if missing:
            raise ApiError(422, f"knowledge_base_ids: knowledge base {', '.join(missing)} not found")

    # ---- knowledge bases ----

    def kb(self, kb_id: str) -> dict:
        found = self.knowledge_bases.get(kb_id)
        if found is None:
            raise ApiError(404, f"Knowledge base {kb_id} not found")
        return found

    def _new_sources(self, kb_id: str, params: dict, files: list[tuple[str, bytes]]) -> tuple[list[dict], dict]:
        sources: list[dict] = []
        content: dict[str, Blob] = {}
        for text in params.get("knowledge_base_texts") or ():
            source_id = "source_" + secrets.token_hex(8)
            path = f"/knowledge-base-content/{kb_id}/{source_id}"
            sources.append({"type": "text", "source_id": source_id, "title": text["title"], "content_url": path})
            content[path] = Blob(text["text"].encode("utf-8"), "text/plain; charset=utf-8")
        for url in params.get("knowledge_base_urls") or ():
            sources.append({"type": "url", "source_id": "source_" + secrets.token_hex(8), "url": url})
        for filename, data in files:
            source_id = "source_" + secrets.token_hex(8)
            path = f"/knowledge-base-content/{kb_id}/{source_id}"
            sources.append({"type": "document", "source_id": source_id, "filename": filename,
                            "file_size": len(data), "file_url": path})
            content[path] = Blob(bytes(data), "application/octet-stream")
        return sources, content

    @staticmethod
    def _check_source_counts(sources: list[dict]) -> None:
        for kind, field, limit in (("text", "knowledge_base_texts", KB_MAX_TEXTS),
                                   ("url", "knowledge_base_urls", KB_MAX_URLS),
                                   ("document", "knowledge_base_files", KB_MAX_FILES)):
            if sum(1 for s in sources if s["type"] == kind) > limit:
                raise bad_request(f"{field}: a knowledge base holds at most {limit}")

    def store_new_kb(self, params: dict, files: list[tuple[str, bytes]], kb_id: str | None = None) -> dict:
        """create-knowledge-base with its form decoded (or a seed entry): indexed at once, so
        status "complete"."""
        check_kb_params(self.schema, params, create=True, files=files)
        with self.lock:
            if kb_id is not None and (not isinstance(kb_id, str) or not KB_ID.fullmatch(kb_id)):
                raise bad_request(f"knowledge_base_id {kb_id!r} must be 1-128 of A-Z a-z 0-9 _ -")
            if kb_id in self.knowledge_bases:
                raise ApiError(400, f"Knowledge base {kb_id} already exists")
            kb_id = kb_id or "knowledge_base_" + secrets.token_hex(8)
            sources, content = self._new_sources(kb_id, params, files)
            self._check_source_counts(sources)
            auto = bool(params.get("enable_auto_refresh", False))
            kb = {"knowledge_base_id": kb_id, "knowledge_base_name": params["knowledge_base_name"],
                  "status": "complete", "enable_auto_refresh": auto,
                  "max_chunk_size": int(params.get("max_chunk_size", KB_DEFAULT_MAX_CHUNK)),
                  "min_chunk_size": int(params.get("min_chunk_size", KB_DEFAULT_MIN_CHUNK)),
                  "knowledge_base_sources": sources}
            if auto:
                kb["last_refreshed_timestamp"] = now_ms()
            self.knowledge_bases[kb_id] = kb
            self.kb_content.update(content)
            self.mark_created(kb_id)
            return kb

    def add_kb_sources(self, kb_id: str, params: dict, files: list[tuple[str, bytes]]) -> dict:
        check_kb_params(self.schema, params, create=False, files=files)
        if not (params.get("knowledge_base_texts") or params.get("knowledge_base_urls") or files):
            raise bad_request("no sources to add: give knowledge_base_texts, knowledge_base_urls or "
                              "knowledge_base_files")
        with self.lock:
            kb = self.kb(kb_id)
            added, content = self._new_sources(kb_id, params, files)
            sources = kb["knowledge_base_sources"] + added
            self._check_source_counts(sources)
            kb = {**kb, "knowledge_base_sources": sources}
            self.knowledge_bases[kb_id] = kb
            self.kb_content.update(content)
            return kb

    def delete_kb_source(self, kb_id: str, source_id: str) -> dict:
        with self.lock:
            kb = self.kb(kb_id)
            gone = [s for s in kb["knowledge_base_sources"] if s["source_id"] == source_id]
            if not gone:
                raise ApiError(404, f"Source {source_id} not found in knowledge base {kb_id}")
            kb = {**kb, "knowledge_base_sources": [s for s in kb["knowledge_base_sources"]
                                                   if s["source_id"] != source_id]}
            self.knowledge_bases[kb_id] = kb
            for source in gone:
                self.kb_content.pop(source.get("content_url") or source.get("file_url"), None)
            return kb

    def kb_users(self, kb_id: str) -> list[str]:
        """What still uses a knowledge base: an LLM whose latest version lists it, or the LLM
        version an agent's latest published version answers calls with."""
        users = [llm_id for llm_id, versions in self.llms.items()
                 if kb_id in (versions[-1].get("knowledge_base_ids") or ())]
        for agent_id, versions in self.agents.items():
            published = [v for v in versions if v.get("is_published")]
            llm = self.llm_for(published[-1]) if published else None
            if llm is not None and kb_id in (llm.get("knowledge_base_ids") or ()) and llm["llm_id"] not in users:
                users.append(f"{llm['llm_id']} version {llm['version']} (published agent {agent_id})")
        return users

    def delete_kb(self, kb_id: str) -> None:
        with self.lock:
            kb = self.kb(kb_id)
            users = self.kb_users(kb_id)
            if users:
                raise ApiError(400, f"Knowledge base {kb_id} is in use by Retell LLM {', '.join(users)}; "
                                    "remove it from their knowledge_base_ids (and publish the agents) first")
            del self.knowledge_bases[kb_id]
            for source in kb["knowledge_base_sources"]:
                self.kb_content.pop(source.get("content_url") or source.get("file_url"), None)

    # ---- phone numbers ----

    def number(self, number: str) -> dict:
        found = self.numbers.get(number)
        if found is None:
            raise ApiError(404, f"Phone number {number} not found")
        return found

    def number_agents(self, body: dict) -> dict:
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
                    if a["agent_id"] not in self.agents:
                        raise ApiError(422, f"{key}: agent {a['agent_id']} not found")
                    # latest_published may name a version still to come; anything else must exist.
                    if a.get("agent_version") not in (None, "latest_published"):
                        self.agent_version(a["agent_id"], a["agent_version"])
            out[key] = [dict(a) for a in agents] if agents else None
        return out

    def store_new_number(self, body: dict, imported: bool) -> dict:
        number = body.get("phone_number")
        td = phone_number_import_params.PhoneNumberImportParams if imported else SeedNumber
        self.schema.check(body, td)
        if not E164.fullmatch(number) and not body.get("ignore_e164_validation"):
            raise bad_request(f"phone_number {number} is not in E.164 format")
        with self.lock:
            if number in self.numbers:
                raise ApiError(400, f"Phone number {number} already exists")
            keep = ("nickname", "inbound_webhook_url", "allowed_inbound_country_list",
                    "allowed_outbound_country_list", "fallback_number", "inbound_sms_webhook_url")
            record = {"phone_number": number, "phone_number_pretty": number,
                      "phone_number_type": "custom" if imported else body.get("phone_number_type", "retell-twilio"),
                      "inbound_agents": None, "outbound_agents": None, "inbound_webhook_url": None,
                      "nickname": None, **{k: body[k] for k in keep if k in body},
                      **self.number_agents(body), "last_modification_timestamp": now_ms()}
            if imported:
                record["sip_outbound_trunk_config"] = {"termination_uri": body["termination_uri"],
                                                       "transport": body.get("transport") or "TCP"}
            self.numbers[number] = record
            self.mark_created(number)
            return dict(record)

    # ---- calls ----

    def new_meta(self, hidden: bool) -> dict:
        """What the simulator keeps about a played call besides the call itself."""
        return {"key": None, "hidden": hidden, "done": threading.Event(), "tool_results": [], "active": True,
                "generation": self.generation}

    def store_call(self, call: dict, sort_ts: int, meta: dict) -> None:
        meta["key"] = (sort_ts, call["call_id"])
        self.calls[call["call_id"]] = call
        self.meta[call["call_id"]] = meta
        bisect.insort(self.order, meta["key"])

    def update_call(self, call_id: str, generation: int, **changes: Any) -> dict | None:
        """Stores a new version of a call; None if the call was reset away meanwhile."""
        with self.lock:
            if generation != self.generation or call_id not in self.calls:
                return None
            call = {**self.calls[call_id], **changes}
            self.calls[call_id] = call
            meta = self.meta[call_id]
            if call.get("start_timestamp") is not None and meta["key"][0] != call["start_timestamp"]:
                # list-calls sorts by start_timestamp: move the call to its place.
                self.order.pop(bisect.bisect_left(self.order, meta["key"]))
                meta["key"] = (call["start_timestamp"], call_id)
                bisect.insort(self.order, meta["key"])
            return call

    def register_call(self, direction: str, from_number: str, to_number: str, agent_id: str,
                      agent_version: Any, dynamic_variables: dict, metadata: Any, meta: dict,
                      call_id: str | None = None) -> dict:
        """Stores a call in state `registered` (meta["hidden"]: an inbound call whose agent the
        inbound webhook may still change; list-calls and get-call do not see it yet)."""
        with self.lock:
            agent = self.agent_version(agent_id, agent_version)
            call = {"call_id": call_id or new_id("call_"), "call_type": "phone_call", "direction": direction,
                    "agent_id": agent_id, "agent_version": agent["version"],
                    "agent_name": agent.get("agent_name"), "call_status": "registered",
                    "from_number": from_number, "to_number": to_number,
                    "retell_llm_dynamic_variables": dict(dynamic_variables), "metadata": metadata,
                    "data_storage_setting": agent.get("data_storage_setting") or "everything",
                    "opt_in_signed_url": bool(agent.get("opt_in_signed_url"))}
            self.store_call(call, now_ms(), meta)
            return call

    def discard_call(self, call_id: str) -> None:
        """A rejected inbound call: never created (its meta stays for /sim/calls' answer)."""
        if self.calls.pop(call_id, None) is not None:
            self.order.pop(bisect.bisect_left(self.order, self.meta[call_id]["key"]))

    def llm_for(self, agent: dict) -> dict | None:
        engine = agent.get("response_engine") or {}
        versions = self.llms.get(engine.get("llm_id")) if engine.get("type") == "retell-llm" else None
        if not versions:
            return None
        return next((v for v in versions if v["version"] == engine.get("version")), versions[-1])

    def store_finished_calls(self, calls: list[dict]) -> None:
        """Ended calls straight into state (/sim/calls/bulk): nothing plays, nothing is delivered."""
        with self.lock:
            for call in calls:
                self.calls[call["call_id"]] = call
                key = (call["start_timestamp"], call["call_id"])
                self.meta[call["call_id"]] = {"key": key, "hidden": False, "active": False}
                self.order.append(key)
            self.order.sort()  # timsort: a sorted run appended to a sorted list is cheap

    def forget_calls(self) -> None:
        """/sim/reset: calls, recordings and idempotency keys go; a call still playing stops writing."""
        with self.lock:
            self.generation += 1
            self.calls.clear()
            self.meta.clear()
            self.order.clear()
            self.idempotency.clear()
            self.recordings.clear()
