"""Calls played as Retell plays them, each on its own thread: the inbound webhook that may pick
the agent, call_started, the conversation script with its tool calls and transfers, then
call_ended and call_analyzed, each event to the agent's webhook_url."""

from __future__ import annotations

import json
import random
import secrets
import threading
import traceback
import urllib.parse
from typing import Any, Callable

from .call_content import (booking_date, call_cost, call_latency, default_script, estimate_duration, render,
                           summary, transcript_text, words_for)
from .delivery import Deliveries, http_send, ok_status
from .limits import (DEFAULT_TOOL_TIMEOUT_MS, DEFAULT_WEBHOOK_EVENTS, DEFAULT_WEBHOOK_TIMEOUT_MS,
                     TOOL_RESULT_CHARS, TRANSFER_LEG_MS)
from .store import Store
from .validation import E164
from .wire import ApiError, dumps, new_id, now_ms


class CallPlayer:
    """Starts calls (create-phone-call, /sim/calls) and plays them in the background. base_url:
    where the simulator serves, for the calls' recording URLs."""

    def __init__(self, store: Store, deliveries: Deliveries, stopping: threading.Event,
                 log: Callable[[str], None], base_url: Callable[[], str]):
        self.store, self.deliveries, self.stopping, self.log = store, deliveries, stopping, log
        self.base_url = base_url
        self._rng = random.Random()

    def start(self, spec: dict) -> tuple[dict, dict]:
        """Registers the call and plays it on a thread. Outbound: the from number must be ours and
        have an agent (or one is given). Inbound: the to number must be ours."""
        direction = spec["direction"]
        with self.store.lock:
            if direction == "outbound":
                number = self.store.numbers.get(spec["from_number"])
                if number is None:
                    raise ApiError(422, f"from_number {spec['from_number']} is not a phone number of this account")
                if spec.get("agent_id"):
                    if spec["agent_id"] not in self.store.agents:
                        raise ApiError(422, f"Agent {spec['agent_id']} not found")
                    picked = (spec["agent_id"], spec.get("agent_version"))
                else:
                    picked = self._pick_agent(number.get("outbound_agents"))
                    if picked is None:
                        raise ApiError(422, f"Phone number {spec['from_number']} has no outbound agent; "
                                            "set outbound_agents or pass override_agent_id")
                meta = self.store.new_meta(hidden=False)
                call = self.store.register_call("outbound", spec["from_number"], spec["to_number"], picked[0],
                                                picked[1], spec.get("dynamic_variables") or {},
                                                spec.get("metadata"), meta)
                inbound = None
            else:
                number = self.store.numbers.get(spec["to_number"])
                if number is None:
                    raise ApiError(404, f"to_number {spec['to_number']} is not a phone number of this account")
                if spec.get("agent_id"):
                    self.store.agent_version(spec["agent_id"], spec.get("agent_version"))
                    picked = (spec["agent_id"], spec.get("agent_version"))
                else:
                    picked = self._pick_agent(number.get("inbound_agents"))
                inbound = {"number": number, "default": picked}
                call_id = new_id("call_")
                meta = self.store.new_meta(hidden=True)
                if picked is not None:
                    call = self.store.register_call("inbound", spec["from_number"], spec["to_number"],
                                                    picked[0], picked[1], spec.get("dynamic_variables") or {},
                                                    spec.get("metadata"), meta, call_id=call_id)
                else:  # no agent yet: only the inbound webhook can still pick one; nothing stored
                    call = {"call_id": call_id, "call_type": "phone_call", "direction": "inbound",
                            "call_status": "registered", "from_number": spec["from_number"],
                            "to_number": spec["to_number"]}
                    self.store.meta[call_id] = meta
        thread = threading.Thread(target=self._play, args=(call["call_id"], spec, inbound, meta),
                                  name=f"call-{call['call_id']}", daemon=True)
        thread.start()
        return call, meta

    def _pick_agent(self, agents: list[dict] | None) -> tuple[str, Any] | None:
        if not agents:
            return None
        chosen = self._rng.choices(agents, weights=[a["weight"] for a in agents])[0]
        return chosen["agent_id"], chosen.get("agent_version")

    def _play(self, call_id: str, spec: dict, inbound: dict | None, meta: dict) -> None:
        generation = meta["generation"]
        try:
            self._play_call(call_id, spec, inbound, generation, meta)
        except Exception:  # a bug in playback must not kill the server; say so loudly
            self.log(f"call {call_id}: playback failed\n{traceback.format_exc()}")
            self.store.update_call(call_id, generation, call_status="error", disconnection_reason="error_retell")
        finally:
            with self.store.lock:
                meta["active"] = False
            meta["done"].set()

    def _play_call(self, call_id: str, spec: dict, inbound: dict | None, generation: int, meta: dict) -> None:
        drop = set(spec.get("drop") or ())
        if inbound is not None:
            chosen = self._inbound_webhook(call_id, spec, inbound, drop)
            with self.store.lock:
                if generation != self.store.generation:
                    return
                try:
                    if chosen is None:
                        raise ApiError(404, "the number has no inbound agent and the inbound webhook named none")
                    agent_id, agent_version, variables, metadata = chosen
                    if call_id not in self.store.calls:
                        self.store.register_call("inbound", spec["from_number"], spec["to_number"], agent_id,
                                                 agent_version, variables, metadata, meta, call_id=call_id)
                    else:
                        agent = self.store.agent_version(agent_id, agent_version)
                        self.store.update_call(call_id, generation, agent_id=agent_id,
                                               agent_version=agent["version"], agent_name=agent.get("agent_name"),
                                               retell_llm_dynamic_variables=variables, metadata=metadata)
                except ApiError as err:  # no agent (or a vanished one): Retell never connects the call
                    meta["rejected"] = err.message
                    self.log(f"call {call_id}: inbound call rejected ({err.message})")
                    self.store.discard_call(call_id)
                    return
                meta["hidden"] = False

        with self.store.lock:
            call = self.store.calls.get(call_id)
            if call is None or generation != self.store.generation:
                return
            agent = self.store.agent_version(call["agent_id"], call["agent_version"])
            llm = self.store.llm_for(agent)
        webhook_url = agent.get("webhook_url")
        events = set(agent.get("webhook_events") or DEFAULT_WEBHOOK_EVENTS)
        timeout_s = (agent.get("webhook_timeout_ms") or DEFAULT_WEBHOOK_TIMEOUT_MS) / 1000
        script = spec.get("script") or default_script()
        planned_ms = spec.get("duration_ms")
        if planned_ms is None:
            planned_ms = estimate_duration(script)

        started = spec.get("start_timestamp_ms")
        call = self.store.update_call(call_id, generation, call_status="ongoing",
                                      start_timestamp=started if started is not None else now_ms())
        if call is None:
            return

        def emit(event: str, payload_call: dict, extra: dict | None = None) -> None:
            if event not in events or not webhook_url:
                return
            self.deliveries.send(call_id, event, webhook_url,
                                 {"event": event, "call": payload_call, **(extra or {})},
                                 timeout_s, dropped=event in drop)

        emit("call_started", call)
        call = self._run_script(call_id, generation, script, llm, meta, spec, emit)
        if call is None:
            return
        duration = int(planned_ms)
        transferred = meta.get("transferred")  # (destination, option) of a bridged transfer
        ended = self.store.update_call(
            call_id, generation, call_status="ended", end_timestamp=call["start_timestamp"] + duration,
            **({"transfer_destination": transferred[0]} if transferred else {}),
            duration_ms=duration,
            disconnection_reason=spec.get("disconnection_reason") or meta.get("hangup") or "user_hangup",
            **{"recording_url": f"{self.base_url()}/recordings/{call_id}.wav", **(spec.get("recording") or {})},
            call_cost=call_cost(duration),
            latency=call_latency(sum(1 for e in call.get("transcript_object") or () if e["role"] == "agent"),
                                 seed=hash(call_id) & 0xFFFF),
            llm_token_usage={"values": [1800, 2100, 2400], "average": 2100, "num_requests": 3},
            collected_dynamic_variables={})
        if ended is None:
            return
        with self.store.lock:
            meta["active"] = False
        emit("call_ended", ended)
        if transferred:  # the transferred leg, caller and staff, ends after the agent's
            leg = self.store.update_call(call_id, generation,
                                         transfer_end_timestamp=ended["end_timestamp"] + TRANSFER_LEG_MS)
            if leg is not None:
                emit("transfer_ended", leg)
        analysis = {"call_summary": summary(ended), "user_sentiment": "Positive", "call_successful": True,
                    "in_voicemail": False, "custom_analysis_data": {}, **(spec.get("call_analysis") or {})}
        analyzed = self.store.update_call(call_id, generation, call_analysis=analysis)
        if analyzed is not None:
            emit("call_analyzed", analyzed)

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
            with self.store.lock:
                try:
                    version = self.store.agent_version(default[0], default[1])["version"]
                except ApiError:
                    version = default[1]
            payload.update(agent_id=default[0], agent_version=version)
        payload.update(from_number=spec["from_number"], to_number=spec["to_number"])
        ok, reply = self.deliveries.send(call_id, "call_inbound", url,
                                         {"event": "call_inbound", "call_inbound": payload},
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
                with self.store.lock:
                    known = override in self.store.agents
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
        with self.store.lock:
            call = self.store.calls[call_id]
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
            return self.store.update_call(call_id, generation, transcript_object=list(transcript_object),
                                          transcript_with_tool_calls=list(with_tools),
                                          transcript=transcript_text(transcript_object))
        clock = 0.5
        for step in script:
            if self.stopping.is_set():
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
                raise ValueError(f"bad script step {step!r}")  # validated by /sim/calls; not reachable
        return so_far()

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
                       "X-Retell-Signature": self.deliveries.sign(body_str)}
            status, text = http_send(method, url, body_str.encode("utf-8") if body_str else None, headers, timeout_s)
            self.deliveries.record(call_id, "tool_call", tool["url"], attempt, status, name=name)
            if ok_status(status) or self.stopping.is_set():
                break
            self.stopping.wait(min(2 ** (attempt - 1) * 0.2, 2.0))  # Retell backs off; keep it short
        if status == "timeout":
            text = f"Function {name} timed out after {int(timeout_s * 1000)} ms"
        return status, text
