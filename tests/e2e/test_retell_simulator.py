"""infra/local/retell_sim/, Retell's cloud on this machine, driven by the official retell-sdk: the
REST API (agents with versions, Retell LLMs with custom tools, knowledge bases, phone numbers,
voices with previews, calls, concurrency), Retell's errors as the SDK raises them, and calls
played against a local receiver that checks every signature the way our backend does
(retell.lib.webhook_auth). Independent of the Rust
stack: the simulator runs in-process (the `stack` fixture is never used here)."""

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import retell
from retell import Retell
from retell.lib.webhook_auth import symmetric

from retell_sim import RetellSimulator, booking_date  # conftest puts infra/local on the path

KEY = "key_sim_test"
ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "infra" / "local" / "retell-seed.json"
PARAMS = {"type": "object", "properties": {"date": {"type": "string"}, "service_id": {"type": "string"}},
          "required": ["date"]}


# --- a receiver standing in for our backend: webhooks, inbound webhook, tools -----------------------

class Receiver:
    """Records every request (in arrival order) with whether its x-retell-signature verifies, and
    answers: /inbound/* with an agent override and dynamic variables, /tools/<name> like our tools,
    /slow/* after 1.3 s, anything else 204 — unless `plan(path, [status, ...])` says otherwise."""

    def __init__(self) -> None:
        self.records: list[dict] = []
        self.plans: dict[str, list[int]] = {}
        self.always: dict[str, int] = {}
        self.override_agent: str | None = None
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no delayed-ACK stall between headers and body

            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
                status, reply = receiver.answer(self.path, raw, self.headers)
                data = json.dumps(reply).encode() if reply is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def plan(self, path: str, statuses: list[int]) -> None:
        self.plans[path] = list(statuses)

    def answer(self, path: str, raw: str, headers) -> tuple[int, dict | None]:
        """headers: the request's (case-insensitive) header Message."""
        body = json.loads(raw) if raw else None
        signature = headers.get("x-retell-signature") or ""
        record = {"path": path, "body": body, "raw": raw, "headers": headers,
                  "signed": bool(Retell(api_key=KEY).verify(raw, api_key=KEY, signature=signature))}
        with self.lock:
            self.records.append(record)
            planned = self.plans.get(path.split("?")[0])
            status = planned.pop(0) if planned else self.always.get(path.split("?")[0], 200)
        if status >= 300:
            return status, {"error": "planned failure"}
        if path.startswith("/slow"):
            time.sleep(1.3)
            return 200, {"late": True}
        if path.startswith("/inbound"):
            answer = {"dynamic_variables": {"customer_name": "Frau Weber"}, "metadata": {"company_id": "demo"}}
            if self.override_agent:
                answer["override_agent_id"] = self.override_agent
            return 200, {"call_inbound": answer}
        if path.startswith("/tools/"):
            args = body["args"] if isinstance(body, dict) and "call" in body else body
            if path.startswith("/tools/check_availability"):
                return 200, {"available": True, "date": args["date"], "slots": ["14:30", "15:00"],
                             "message": f"Am {args['date']} ist um 14:30 Uhr noch frei."}
            return 200, {"success": True, "appointment_id": "apt_0123456789abcdef", "date": args.get("date"),
                         "time": args.get("time"), "message": "Ihr Termin ist gebucht."}
        return 204, None

    def at(self, prefix: str) -> list[dict]:
        with self.lock:
            return [r for r in self.records if r["path"].startswith(prefix)]


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sim():
    s = RetellSimulator(api_key=KEY, port=0, seed=str(SEED), retry_delay=0.1).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture(autouse=True)
def clean(sim):
    post(sim, "/sim/reset", {})
    post(sim, "/sim/faults", {})
    yield


def sdk(sim, key: str = KEY, max_retries: int = 0) -> Retell:
    """The official client against the simulator (direct: no proxy from the environment), with
    the SDK's strict response validation: an answer missing a field the SDK requires, or with a
    field of the wrong type, fails the call instead of passing unnoticed."""
    return Retell(api_key=key, base_url=sim.url, max_retries=max_retries,
                  http_client=retell.DefaultHttpxClient(trust_env=False), _strict_response_validation=True)


@pytest.fixture
def client(sim):
    return sdk(sim)


HTTP = requests.Session()
HTTP.trust_env = False  # straight to 127.0.0.1, whatever proxy the environment names


def post(sim, path: str, body, **kw) -> requests.Response:
    return HTTP.post(sim.url + path, json=body, timeout=30, **kw)


def api(sim, method: str, path: str, data=None, key: str = KEY, **kw) -> requests.Response:
    return HTTP.request(method, sim.url + path, data=data, timeout=30,
                        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}, **kw)


def unique_number() -> str:
    return "+4930" + str(uuid.uuid4().int)[:8]


def salon(client, receiver, *, args_at_root=False, webhook_path=None, extra_tools=()) -> dict:
    """An LLM with our two booking tools at the receiver, an agent using it, and a number."""
    tag = uuid.uuid4().hex[:8]
    tools = [
        {"type": "custom", "name": "check_availability", "description": "Freie Termine",
         "url": receiver.url(f"/tools/check_availability/{tag}"), "parameters": PARAMS,
         "speak_during_execution": True, "speak_after_execution": True, "timeout_ms": 5000},
        {"type": "custom", "name": "book_appointment", "description": "Buchen",
         "url": receiver.url(f"/tools/book_appointment/{tag}"), "parameters": PARAMS,
         "args_at_root": args_at_root, "timeout_ms": 5000, "headers": {"x-company-id": "demo"},
         "query_params": {"agent": "{{customer_name}}"}},
        *extra_tools,
    ]
    llm = client.llm.create(general_prompt="Rezeption", begin_message="Salon, guten Tag {{customer_name}}!",
                            general_tools=tools)
    hook = webhook_path or f"/hooks/{tag}"
    agent = client.agent.create(response_engine={"type": "retell-llm", "llm_id": llm.llm_id},
                                voice_id="11labs-Anna", agent_name=f"Salon {tag}", language="de-DE",
                                webhook_url=receiver.url(hook))
    number = unique_number()
    client.phone_number.import_(phone_number=number, termination_uri="sip.example.com",
                                inbound_agents=[{"agent_id": agent.agent_id, "weight": 1}],
                                outbound_agents=[{"agent_id": agent.agent_id, "weight": 1}])
    return {"tag": tag, "llm": llm, "agent": agent, "number": number, "hook": hook}


# --- the seeded account --------------------------------------------------------------------------

def test_the_seed_is_the_demo_account(client):
    demo = client.agent.retrieve("agent_demo")
    assert demo.agent_name == "Salon Demo Rezeption" and demo.language == "de-DE"
    assert demo.response_engine.llm_id == "llm_demo" and demo.voice_id == "11labs-Anna"
    assert demo.webhook_url is None and demo.version == 0 and demo.is_published is False
    assert client.agent.retrieve("agent_calcom_demo").response_engine.llm_id == "llm_calcom_demo"
    assert client.llm.retrieve("llm_demo").general_tools == []
    number = client.phone_number.retrieve("+493012345678")
    assert [a.agent_id for a in number.inbound_agents] == ["agent_demo"] and number.inbound_webhook_url is None
    assert client.phone_number.retrieve("+493012345679").inbound_agents[0].agent_id == "agent_calcom_demo"
    voices = {v.voice_id: v for v in client.voice.list()}
    assert voices["11labs-Anna"].accent == "German" and client.voice.retrieve("11labs-Anna").gender == "female"


# --- agents, LLMs, numbers -----------------------------------------------------------------------

def test_agent_versions_are_numbers_or_latest_refs(sim, client):
    llm = client.llm.create(general_prompt="p")
    agent = client.agent.create(response_engine={"type": "retell-llm", "llm_id": llm.llm_id},
                                voice_id="11labs-Anna", agent_name="Versions")
    assert api(sim, "GET", f"/get-agent/{agent.agent_id}?version=abc").status_code == 400
    assert api(sim, "GET", f"/get-agent/{agent.agent_id}?version=7").status_code == 404
    with pytest.raises(retell.NotFoundError):  # nothing published yet
        client.agent.retrieve(agent.agent_id, version="latest_published")
    assert client.agent.update(agent.agent_id, version="latest", agent_name="Draft").agent_name == "Draft"
    client.agent.publish(agent.agent_id, version=0)
    assert client.agent.retrieve(agent.agent_id, version="latest_published").version == 0
    number = unique_number()
    client.phone_number.import_(phone_number=number, termination_uri="sip.example.com")
    for version in (0, "latest", "latest_published"):
        routed = client.phone_number.update(number, inbound_agents=[
            {"agent_id": agent.agent_id, "weight": 1, "agent_version": version}])
        assert routed.inbound_agents[0].agent_version == version
    with pytest.raises(retell.BadRequestError):  # a tag this account does not have
        client.phone_number.update(number, inbound_agents=[
            {"agent_id": agent.agent_id, "weight": 1, "agent_version": "prod"}])
    with pytest.raises(retell.NotFoundError):
        client.phone_number.update(number, inbound_agents=[
            {"agent_id": agent.agent_id, "weight": 1, "agent_version": 9}])
    assert client.phone_number.retrieve(number).inbound_agents[0].agent_version == "latest_published"
    client.phone_number.delete(number)
    client.agent.delete(agent.agent_id)


def test_a_call_can_be_played_as_if_it_began_hours_ago(sim, client, receiver):
    s = salon(client, receiver)
    began = int(time.time() * 1000) - 8 * 3_600_000
    answer = post(sim, "/sim/calls", {"direction": "outbound", "from_number": s["number"],
                                      "to_number": "+4917600000009", "script": [{"user": "Hallo"}],
                                      "start_timestamp_ms": began, "wait": True}).json()
    assert answer["call"]["start_timestamp"] == began
    assert receiver.at(s["hook"])[0]["body"]["call"]["start_timestamp"] == began
    window = {"start_timestamp": {"type": "range", "op": "bt", "value": [began, began]}}
    assert [c.call_id for c in client.call.list(filter_criteria=window).items] == [answer["call_id"]]
    assert post(sim, "/sim/calls", {"direction": "outbound", "from_number": s["number"], "to_number": "+491",
                                    "start_timestamp_ms": int(time.time() * 1000) + 60_000}).status_code == 400


def test_agents_crud_versions_and_paginated_list(client):
    llm = client.llm.create(general_prompt="p")
    created = [client.agent.create(response_engine={"type": "retell-llm", "llm_id": llm.llm_id},
                                   voice_id="cartesia-Lena", agent_name=f"Paging {i}") for i in range(5)]
    seen, key = [], None
    while True:
        page = client.agent.list(limit=2, **({"pagination_key": key} if key else {}))
        seen += [a.agent_id for a in page.items]
        assert len(page.items) <= 2
        if not page.has_more:
            break
        key = page.pagination_key
        client.agent.update(created[len(seen) % 5].agent_id, agent_name=f"Paging {len(seen) % 5}")  # mid-listing
    assert len(seen) == len(set(seen)) and {a.agent_id for a in created} | {"agent_demo"} <= set(seen)
    assert [a.agent_id for a in client.agent.list(filter_criteria={"query": "paging 3"}).items] == \
        [created[3].agent_id]

    agent = created[0]
    assert client.agent.update(agent.agent_id, agent_name="Renamed", webhook_url="http://x/h").agent_name == "Renamed"
    client.agent.publish(agent.agent_id, version=0, version_title="erste")
    versions = {v.version: v for v in client.agent.list_versions(agent.agent_id).items}
    assert versions[0].is_published and versions[0].version_title == "erste"
    assert not versions[1].is_published and versions[1].base_version == 0
    assert client.agent.retrieve(agent.agent_id).version == 1  # the latest: the new draft
    assert client.agent.retrieve(agent.agent_id, version=0).is_published
    with pytest.raises(retell.BadRequestError):
        client.agent.update(agent.agent_id, version=0, agent_name="changed after publishing")
    with pytest.raises(retell.BadRequestError):
        client.agent.publish(agent.agent_id, version=0)
    assert client.agent.update(agent.agent_id, agent_name="Draft edit").version == 1
    assert client.llm.retrieve(llm.llm_id, version=0).is_published  # published with the agent
    client.agent.delete(agent.agent_id)
    with pytest.raises(retell.NotFoundError):
        client.agent.retrieve(agent.agent_id)


def test_llm_custom_tools_are_stored_and_checked(client, receiver):
    tool = {"type": "custom", "name": "check_availability", "url": receiver.url("/tools/x"),
            "description": "Freie Termine", "parameters": PARAMS, "args_at_root": True, "timeout_ms": 4000,
            "speak_during_execution": True, "speak_after_execution": False}
    llm = client.llm.create(general_prompt="p", general_tools=[tool, {"type": "end_call", "name": "end_call"}])
    got = client.llm.retrieve(llm.llm_id).general_tools[0]
    assert (got.name, got.url, got.args_at_root, got.timeout_ms) == ("check_availability", tool["url"], True, 4000)
    assert got.parameters.required == ["date"]
    updated = client.llm.update(llm.llm_id, general_tools=[{**tool, "timeout_ms": 9000}], begin_message="Hallo")
    assert updated.general_tools[0].timeout_ms == 9000 and updated.begin_message == "Hallo"
    assert llm.llm_id in {i.llm_id for i in client.llm.list(limit=1000).items}
    bad = [{**tool, "name": "has space"}, {**tool, "timeout_ms": 10}, {**tool, "url": "not a url"},
           {k: v for k, v in tool.items() if k != "url"}, {**tool, "parameters": {"type": "object"}}]
    for general_tools in [[b] for b in bad] + [[tool, tool]]:
        with pytest.raises(retell.BadRequestError):
            client.llm.create(general_tools=general_tools)
    agent = client.agent.create(response_engine={"type": "retell-llm", "llm_id": llm.llm_id}, voice_id="11labs-Leon")
    with pytest.raises(retell.BadRequestError):  # in use by an agent
        client.llm.delete(llm.llm_id)
    client.llm.delete(llm.llm_id, force_delete=True)
    with pytest.raises(retell.NotFoundError):
        client.llm.retrieve(llm.llm_id)
    client.agent.delete(agent.agent_id)


def test_phone_numbers(client, receiver):
    number = unique_number()
    imported = client.phone_number.import_(phone_number=number, termination_uri="sip.example.com", nickname="x")
    assert imported.phone_number_type == "custom" and imported.inbound_agents is None
    updated = client.phone_number.update(number, inbound_agents=[{"agent_id": "agent_demo", "weight": 0.5},
                                                                 {"agent_id": "agent_calcom_demo", "weight": 0.5}],
                                         inbound_webhook_url=receiver.url("/inbound/x"))
    assert {a.agent_id for a in updated.inbound_agents} == {"agent_demo", "agent_calcom_demo"}
    assert client.phone_number.retrieve(number).inbound_webhook_url == receiver.url("/inbound/x")
    numbers = [n.phone_number for n in client.phone_number.list(limit=1000).items]
    assert {number, "+493012345678"} <= set(numbers)
    with pytest.raises(retell.UnprocessableEntityError):
        client.phone_number.update(number, outbound_agents=[{"agent_id": "agent_nope", "weight": 1}])
    with pytest.raises(retell.BadRequestError):
        client.phone_number.update(number, outbound_agents=[{"agent_id": "agent_demo", "weight": 0.3}])
    with pytest.raises(retell.BadRequestError):
        client.phone_number.import_(phone_number="030 1234", termination_uri="sip.example.com")
    with pytest.raises(retell.BadRequestError):
        client.phone_number.import_(phone_number=number, termination_uri="sip.example.com")  # exists
    client.phone_number.delete(number)
    with pytest.raises(retell.NotFoundError):
        client.phone_number.retrieve(number)


# --- errors as Retell answers them -----------------------------------------------------------------

def test_errors_in_retells_shape(sim, client):
    with pytest.raises(retell.AuthenticationError):
        sdk(sim, key="key_wrong").agent.retrieve("agent_demo")
    assert api(sim, "GET", "/get-agent/agent_demo", key="").status_code == 401
    with pytest.raises(retell.NotFoundError):
        client.agent.retrieve("agent_does_not_exist")
    with pytest.raises(retell.NotFoundError):
        client.call.retrieve("call_does_not_exist")
    with pytest.raises(retell.BadRequestError) as err:  # a required field missing
        client.agent.create(response_engine={"type": "retell-llm", "llm_id": "llm_demo"}, voice_id=None)
    assert err.value.body["status"] == "error" and "voice_id" in err.value.body["message"]
    with pytest.raises(retell.BadRequestError):  # a known field of the wrong type
        client.agent.update("agent_demo", extra_body={"voice_speed": "fast"})
    with pytest.raises(retell.UnprocessableEntityError):
        client.agent.create(response_engine={"type": "retell-llm", "llm_id": "llm_unknown"}, voice_id="11labs-Anna")
    with pytest.raises(retell.UnprocessableEntityError):
        client.agent.create(response_engine={"type": "retell-llm", "llm_id": "llm_demo"}, voice_id="11labs-Nobody")
    with pytest.raises(retell.BadRequestError):
        client.call.list(limit=1001)

    # Unknown fields are ignored, not stored.
    agent = api(sim, "POST", "/create-agent", json.dumps({"response_engine": {"type": "retell-llm", "llm_id": "llm_demo"},
                                                         "voice_id": "11labs-Anna", "no_such_field": 1})).json()
    assert "no_such_field" not in agent and agent["agent_id"].startswith("agent_")

    malformed = {
        "not JSON": b"{not json",
        "not an object": b"[1, 2]",
        "invalid UTF-8": b'{"agent_name": "\xff\xfe"}',
        "lone surrogate": b'{"agent_name": "\\ud800"}',
        "NaN": b'{"voice_speed": NaN}',
        "a megabyte string": json.dumps({"agent_name": "x" * 1_100_000}).encode(),
        "a long string": json.dumps({"agent_name": "x" * 200_000}).encode(),
        "deep nesting": b'{"metadata": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    }
    for what, body in malformed.items():
        r = api(sim, "PATCH", "/update-agent/agent_demo", body)
        assert r.status_code == 400, what
        assert r.json()["status"] == "error" and r.json()["message"], what
    assert api(sim, "GET", "/get-agent/%FF%FE").status_code == 400
    r = api(sim, "GET", "/no-such-endpoint")
    assert r.status_code == 404 and r.json() == {"status": "error", "message": "Not found"}
    assert api(sim, "GET", "/create-agent").status_code == 404  # wrong method
    assert client.agent.retrieve("agent_demo").agent_name == "Salon Demo Rezeption"  # nothing changed


def test_sdk_retries_through_injected_faults(sim, client):
    post(sim, "/sim/faults", {"fail": {"path_prefix": "/get-agent", "status": 429, "count": 1}})
    retrying = sdk(sim, max_retries=2)
    assert retrying.agent.retrieve("agent_demo").agent_id == "agent_demo"
    post(sim, "/sim/faults", {"fail": {"path_prefix": "/v2/get-call", "status": 503, "count": 1}})
    with pytest.raises(retell.InternalServerError):
        client.call.retrieve("call_x")
    post(sim, "/sim/faults", {"fail": {"path_prefix": "/get-agent", "status": 429, "count": 1, "retry_after": 0}})
    with pytest.raises(retell.RateLimitError) as err:
        client.agent.retrieve("agent_demo")
    assert err.value.body == {"status": "error", "message": "Too many requests"}
    assert err.value.response.headers["retry-after"] == "0"

    post(sim, "/sim/faults", {"rate_limit_per_second": 3})
    statuses = [api(sim, "GET", "/get-concurrency").status_code for _ in range(6)]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
    post(sim, "/sim/faults", {"reset": True})
    assert api(sim, "GET", "/get-concurrency").status_code == 200


# --- playing calls ---------------------------------------------------------------------------------

def test_an_inbound_call_is_played_signed_and_in_order(sim, client, receiver):
    s = salon(client, receiver)
    other = salon(client, receiver, args_at_root=True)  # the agent the inbound webhook picks
    receiver.override_agent = other["agent"].agent_id
    client.phone_number.update(s["number"], inbound_webhook_url=receiver.url(f"/inbound/{s['tag']}"))
    day = booking_date().isoformat()
    script = [{"agent": "{{begin_message}}"},
              {"user": "Ich hätte gern einen Haarschnitt."},
              {"tool": "check_availability", "args": {"service_id": "Haarschnitt", "date": day}},
              {"agent": "{{last_message}}"},
              {"user": "{{slot}} passt."},
              {"tool": "book_appointment", "args": {"service_id": "Haarschnitt", "date": "{{slot_date}}",
                                                    "time": "{{slot}}"}},
              {"agent": "Bis bald!"}]
    try:
        answer = post(sim, "/sim/calls", {"direction": "inbound", "from_number": "+4917611112222",
                                          "to_number": s["number"], "script": script, "wait": True,
                                          "metadata": {"test": 1},
                                          "call_analysis": {"user_sentiment": "Neutral"}}).json()
    finally:
        receiver.override_agent = None
    call = answer["call"]
    call_id = answer["call_id"]
    assert call["call_id"] == call_id and call["agent_id"] == other["agent"].agent_id  # overridden
    assert call["call_status"] == "ended" and call["direction"] == "inbound"
    assert call["retell_llm_dynamic_variables"]["customer_name"] == "Frau Weber"
    assert call["metadata"] == {"company_id": "demo"}  # the inbound webhook's metadata wins

    got = receiver.at(f"/inbound/{s['tag']}") + receiver.at(f"/tools/check_availability/{other['tag']}") + \
        receiver.at(f"/tools/book_appointment/{other['tag']}") + receiver.at(other["hook"])
    got.sort(key=lambda r: receiver.records.index(r))
    kinds = [r["body"].get("event") or r["path"].split("/")[2] for r in got]
    assert kinds == ["call_inbound", "call_started", "check_availability", "book_appointment", "call_ended",
                     "call_analyzed"]
    assert all(r["signed"] for r in got)
    assert not symmetric["verify"](got[0]["raw"], "key_other", got[0]["headers"]["x-retell-signature"])
    assert receiver.at(s["hook"]) == []  # the number's own agent never heard of the call
    inbound = got[0]["body"]["call_inbound"]
    assert inbound["agent_id"] == s["agent"].agent_id and inbound["to_number"] == s["number"]
    assert inbound["from_number"] == "+4917611112222"

    check = got[2]["body"]
    assert check["name"] == "check_availability" and check["args"] == {"service_id": "Haarschnitt", "date": day}
    assert check["call"]["call_id"] == call_id and check["call"]["call_status"] == "ongoing"
    assert "Ich hätte gern einen Haarschnitt." in check["call"]["transcript"]
    book = got[3]  # args_at_root: just the arguments, plus the tool's headers and query parameters
    assert book["body"] == {"service_id": "Haarschnitt", "date": day, "time": "14:30"}
    assert book["headers"].get("x-company-id") == "demo" and book["path"].endswith("?agent=Frau+Weber")

    ended, analyzed = got[4]["body"]["call"], got[5]["body"]["call"]
    assert "call_analysis" not in ended and ended["transcript_with_tool_calls"] == call["transcript_with_tool_calls"]
    assert analyzed["call_analysis"]["user_sentiment"] == "Neutral" and analyzed["call_analysis"]["call_successful"]
    entries = call["transcript_with_tool_calls"]
    invocation = next(e for e in entries if e["role"] == "tool_call_invocation" and e["name"] == "check_availability")
    result = next(e for e in entries if e["role"] == "tool_call_result" and e["tool_call_id"] == invocation["tool_call_id"])
    assert json.loads(invocation["arguments"]) == {"service_id": "Haarschnitt", "date": day}
    assert json.loads(result["content"])["slots"] == ["14:30", "15:00"] and result["successful"] is True
    assert call["transcript"].startswith("Agent: Salon, guten Tag Frau Weber!\nUser: Ich hätte gern")
    assert f"Agent: Am {day} ist um 14:30 Uhr noch frei.\nUser: 14:30 passt.\n" in call["transcript"]
    assert [t["role"] for t in call["transcript_object"]] == ["agent", "user", "agent", "user", "agent"]
    assert call["transcript_object"][1]["words"][0]["word"] == "Ich"
    assert call["end_timestamp"] - call["start_timestamp"] == call["duration_ms"] > 0
    assert call["call_cost"]["combined_cost"] > 0 and call["latency"]["e2e"]["p50"] > 0
    assert [(t["name"], t["status"]) for t in answer["tool_results"]] == [("check_availability", 200),
                                                                           ("book_appointment", 200)]
    wav = HTTP.get(call["recording_url"], timeout=5)
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF"
    assert client.call.retrieve(call_id).model_dump(exclude_none=True)["call_analysis"] == call["call_analysis"]
    assert [d["event"] for d in answer["deliveries"]] == ["call_inbound", "call_started", "tool_call", "tool_call",
                                                          "call_ended", "call_analyzed"]


def test_the_default_script_books_with_the_offered_slot(sim, client, receiver):
    s = salon(client, receiver)
    answer = post(sim, "/sim/calls", {"direction": "outbound", "from_number": s["number"],
                                      "to_number": "+4917611112222", "wait": True,
                                      "dynamic_variables": {"customer_name": "Herr Meier"}}).json()
    assert [t["name"] for t in answer["tool_results"]] == ["check_availability", "book_appointment"]
    check_args, book_args = (t["args"] for t in answer["tool_results"])
    assert check_args == {"service_id": "Haarschnitt", "date": booking_date().isoformat()}
    assert book_args == {"service_id": "Haarschnitt", "date": booking_date().isoformat(), "time": "14:30",
                         "customer_name": "Max Mustermann"}
    assert "Ihr Termin ist gebucht." in answer["call"]["transcript"]
    assert answer["call"]["retell_llm_dynamic_variables"] == {"customer_name": "Herr Meier"}


def test_webhooks_are_retried_and_the_call_survives_a_dead_receiver(sim, client, receiver):
    flaky = salon(client, receiver)
    receiver.plan(flaky["hook"], [500, 500])  # call_started fails twice, then 200
    answer = post(sim, "/sim/calls", {"direction": "inbound", "from_number": "+4917600000001",
                                      "to_number": flaky["number"], "script": [{"user": "Hallo"}],
                                      "wait": True}).json()
    started = [d for d in answer["deliveries"] if d["event"] == "call_started"]
    assert [(d["attempt"], d["status"]) for d in started] == [(1, 500), (2, 500), (3, 204)]
    assert [r["body"]["event"] for r in receiver.at(flaky["hook"])] == \
        ["call_started"] * 3 + ["call_ended", "call_analyzed"]

    dead = salon(client, receiver)
    receiver.always[dead["hook"]] = 500
    answer = post(sim, "/sim/calls", {"direction": "inbound", "from_number": "+4917600000002",
                                      "to_number": dead["number"], "script": [{"user": "Hallo"}],
                                      "wait": True}).json()
    deliveries = HTTP.get(f"{sim.url}/sim/deliveries", params={"call_id": answer["call_id"]}, timeout=5).json()
    assert [(d["event"], d["attempt"]) for d in deliveries] == \
        [(e, a) for e in ("call_started", "call_ended", "call_analyzed") for a in (1, 2, 3, 4)]
    assert all(d["status"] == 500 for d in deliveries)
    listed = client.call.list(filter_criteria={"call_id": {"type": "string", "op": "eq", "value": answer["call_id"]}})
    assert [c.call_id for c in listed.items] == [answer["call_id"]] and listed.items[0].call_status == "ended"


def test_dropped_webhooks_leave_the_call_in_its_final_state(sim, client, receiver):
    s = salon(client, receiver)
    answer = post(sim, "/sim/calls", {"direction": "inbound", "from_number": "+4917600000003",
                                      "to_number": s["number"], "script": [{"user": "Hallo"}],
                                      "drop": ["call_ended", "call_analyzed"], "wait": True}).json()
    assert [r["body"]["event"] for r in receiver.at(s["hook"])] == ["call_started"]
    final = client.call.retrieve(answer["call_id"])
    assert final.call_status == "ended" and final.call_analysis.call_successful
    assert [(d["event"], d["status"]) for d in answer["deliveries"]] == \
        [("call_started", 204), ("call_ended", "dropped"), ("call_analyzed", "dropped")]

    post(sim, "/sim/faults", {"drop_webhooks": True})
    answer = post(sim, "/sim/calls", {"direction": "outbound", "from_number": s["number"], "to_number": "+4917600000004",
                                      "script": [{"agent": "Hallo"}], "wait": True}).json()
    assert {d["status"] for d in answer["deliveries"]} == {"dropped"} and answer["call"]["call_status"] == "ended"


def test_inbound_webhook_failure_falls_back_to_the_numbers_agent_or_rejects(sim, client, receiver):
    s = salon(client, receiver)
    client.phone_number.update(s["number"], inbound_webhook_url=receiver.url(f"/inbound/down/{s['tag']}"))
    receiver.always[f"/inbound/down/{s['tag']}"] = 503
    answer = post(sim, "/sim/calls", {"direction": "inbound", "from_number": "+4917600000005",
                                      "to_number": s["number"], "script": [{"user": "Hallo"}], "wait": True}).json()
    assert len(receiver.at(f"/inbound/down/{s['tag']}")) == 4  # 1 + 3 retries
    assert answer["call"]["agent_id"] == s["agent"].agent_id

    client.phone_number.update(s["number"], inbound_agents=None)  # no agent, and the webhook names none
    answer = post(sim, "/sim/calls", {"direction": "inbound", "from_number": "+4917600000006",
                                      "to_number": s["number"], "wait": True}).json()
    assert answer["call"] is None and answer["rejected"]
    with pytest.raises(retell.NotFoundError):
        client.call.retrieve(answer["call_id"])


def test_a_tool_that_outlives_its_timeout(sim, client, receiver):
    slow = {"type": "custom", "name": "slow_tool", "url": receiver.url("/slow/tool"), "timeout_ms": 1000,
            "parameters": {"type": "object", "properties": {}}}
    s = salon(client, receiver, extra_tools=[slow])
    answer = post(sim, "/sim/calls", {"direction": "outbound", "from_number": s["number"], "to_number": "+4917600000007",
                                      "script": [{"tool": "slow_tool"}, {"tool": "not_a_tool"}, {"tool": "end_call"}],
                                      "wait": True}).json()
    assert [(t["name"], t["status"]) for t in answer["tool_results"]] == \
        [("slow_tool", "timeout"), ("not_a_tool", "not_configured"), ("end_call", 200)]
    result = next(e for e in answer["call"]["transcript_with_tool_calls"] if e["role"] == "tool_call_result")
    assert result["successful"] is False and "timed out" in result["content"]
    assert answer["call"]["disconnection_reason"] == "agent_hangup"


def test_create_phone_call_plays_and_concurrency_counts_it(sim, client, receiver):
    s = salon(client, receiver)
    post(sim, "/sim/faults", {})
    registered = client.call.create_phone_call(from_number=s["number"], to_number="+4917600000008",
                                               retell_llm_dynamic_variables={"customer_name": "Ada"},
                                               metadata={"order": 7}, idempotency_key="order-7")
    assert registered.call_status == "registered" and registered.direction == "outbound"
    assert registered.agent_id == s["agent"].agent_id
    # The same idempotency key again (a retry after a lost answer) is the same call, not a second.
    again = client.call.create_phone_call(from_number=s["number"], to_number="+4917600000008",
                                          idempotency_key="order-7")
    assert again.call_id == registered.call_id
    deadline = time.time() + 10
    while client.call.retrieve(registered.call_id).call_status != "ended":
        assert time.time() < deadline
        time.sleep(0.05)
    final = client.call.retrieve(registered.call_id)
    assert final.metadata == {"order": 7} and final.retell_llm_dynamic_variables == {"customer_name": "Ada"}
    # Played as Retell plays an outbound call: the agent's webhooks and its tools, signed, in order.
    deadline = time.time() + 10
    while len(receiver.at(s["hook"])) < 3:
        assert time.time() < deadline
        time.sleep(0.05)
    hooks = receiver.at(s["hook"])
    assert [r["body"]["event"] for r in hooks] == ["call_started", "call_ended", "call_analyzed"]
    assert {r["body"]["call"]["call_id"] for r in hooks} == {registered.call_id}
    tools = receiver.at(f"/tools/check_availability/{s['tag']}") + receiver.at(f"/tools/book_appointment/{s['tag']}")
    assert len(tools) == 2 and all(r["signed"] for r in hooks + tools)
    assert receiver.at(f"/inbound/{s['tag']}") == []  # an outbound call has no inbound webhook
    assert [c.call_id for c in client.call.list(filter_criteria={"to_number": {"type": "string", "op": "eq", "value": "+4917600000008"}}).items] == \
        [registered.call_id]
    assert client.concurrency.retrieve().current_concurrency == 0
    with pytest.raises(retell.UnprocessableEntityError):  # not a number of this account
        client.call.create_phone_call(from_number="+4930999999999", to_number="+4917600000008")
    with pytest.raises(retell.BadRequestError):
        client.call.create_phone_call(from_number=s["number"], to_number="0176 1234")


# --- many calls ------------------------------------------------------------------------------------

def test_bulk_calls_and_list_calls_pagination(sim, client):
    start = 1_760_000_000_000
    made = post(sim, "/sim/calls/bulk", {"count": 10_000, "agent_id": "agent_demo", "from_number": "+4917611112222",
                                         "to_number": "+493012345678", "start_timestamp_ms": start,
                                         "spacing_ms": 1000})
    assert made.status_code == 201 and made.json()["created"] == 10_000

    # The full sweep over plain HTTP: the SDK's models would spend ~2 s parsing 10,000 calls here,
    # which measures the SDK, not the simulator; SDK paging is checked on the window below.
    seen, key, pages = [], None, 0
    while True:
        page = api(sim, "POST", "/v3/list-calls", json.dumps({"limit": 1000, "sort_order": "ascending",
                                                             **({"pagination_key": key} if key else {})})).json()
        seen += [(c["start_timestamp"], c["call_id"]) for c in page["items"]]
        pages += 1
        if not page["has_more"]:
            break
        key = page["pagination_key"]
    assert pages == 10 and len(seen) == 10_000 and len({cid for _, cid in seen}) == 10_000
    assert seen == sorted(seen) and seen[0][0] == start

    window = {"start_timestamp": {"type": "range", "op": "bt", "value": [start + 100_000, start + 199_000]}}
    newest_first, key = [], None
    while True:
        page = client.call.list(limit=30, filter_criteria=window, **({"pagination_key": key} if key else {}))
        newest_first += [c.start_timestamp for c in page.items]
        if not page.has_more:
            break
        key = page.pagination_key
    assert newest_first == [start + i * 1000 for i in range(199, 99, -1)]  # descending by default

    raw = api(sim, "POST", "/v3/list-calls", json.dumps({"limit": 1, "include_total": True,
                                                         "filter_criteria": window})).json()
    assert raw["total"] == 100 and "transcript" not in raw["items"][0] and "call_analysis" in raw["items"][0]
    full = client.call.retrieve(raw["items"][0]["call_id"])
    assert full.transcript.startswith("Agent: ") and any(e.role == "tool_call_invocation"
                                                         for e in full.transcript_with_tool_calls)
    positive = client.call.list(limit=1, include_total=True, filter_criteria={
        "user_sentiment": {"type": "enum", "op": "in", "value": ["Positive"]},
        "agent": [{"agent_id": "agent_demo"}], "call_successful": {"type": "boolean", "op": "eq", "value": True}})
    assert 0 < positive.total < 10_000
    with pytest.raises(retell.BadRequestError):
        client.call.list(pagination_key="garbage")


# --- knowledge bases ---------------------------------------------------------------------------------

FAQ = [{"title": "Öffnungszeiten", "text": "Mo–Fr 9–18 Uhr, Sa 9–14 Uhr.\r\n--nicht-die-grenze\r\n"},
       {"title": "Preise", "text": "Haarschnitt ab 30 €, Färben ab 60 €."}]


def kb_ids(client) -> list[str]:
    return [kb.knowledge_base_id for kb in client.knowledge_base.list()]


def fetch(url: str) -> requests.Response:
    return HTTP.get(url, timeout=30)  # public: no key


def test_knowledge_bases_as_the_sdk_sends_and_reads_them(sim, client):
    kb = client.knowledge_base.create(knowledge_base_name="Salon FAQ", knowledge_base_texts=FAQ,
                                      knowledge_base_urls=["https://salon.example/faq"],
                                      knowledge_base_files=[("preise.csv", b"Haarschnitt;30\n", "text/csv")],
                                      enable_auto_refresh=True, max_chunk_size=1500, min_chunk_size=300)
    assert kb.knowledge_base_id.startswith("knowledge_base_") and kb.knowledge_base_name == "Salon FAQ"
    assert kb.status == "complete" and kb.enable_auto_refresh is True and kb.last_refreshed_timestamp
    assert (kb.max_chunk_size, kb.min_chunk_size) == (1500, 300)
    texts = [s for s in kb.knowledge_base_sources if s.type == "text"]
    assert [t.title for t in texts] == ["Öffnungszeiten", "Preise"]
    for source, given in zip(texts, FAQ):  # what the knowledge base holds, at its public content_url
        r = fetch(source.content_url)
        assert r.status_code == 200 and r.headers["content-type"] == "text/plain; charset=utf-8"
        assert r.content.decode("utf-8") == given["text"]
        assert source.content_url.startswith(f"{sim.url}/knowledge-base-content/{kb.knowledge_base_id}/")
    (url,) = [s for s in kb.knowledge_base_sources if s.type == "url"]
    (doc,) = [s for s in kb.knowledge_base_sources if s.type == "document"]
    assert url.url == "https://salon.example/faq"
    assert doc.filename == "preise.csv" and doc.file_size == 15 and fetch(doc.file_url).content == b"Haarschnitt;30\n"
    assert len({s.source_id for s in kb.knowledge_base_sources}) == 4

    assert client.knowledge_base.retrieve(kb.knowledge_base_id) == kb
    assert kb in client.knowledge_base.list()
    plain = client.knowledge_base.create(knowledge_base_name="Leer")  # no sources: the defaults
    assert (plain.max_chunk_size, plain.min_chunk_size, plain.enable_auto_refresh) == (2000, 400, False)
    assert plain.knowledge_base_sources == [] and kb_ids(client)[-2:] == [kb.knowledge_base_id, plain.knowledge_base_id]

    added = client.knowledge_base.add_sources(kb.knowledge_base_id,
                                              knowledge_base_texts=[{"title": "Parken", "text": "Im Hof."}])
    assert added.knowledge_base_id == kb.knowledge_base_id and len(added.knowledge_base_sources) == 5
    parking = added.knowledge_base_sources[-1]
    assert parking.type == "text" and parking.title == "Parken" and fetch(parking.content_url).text == "Im Hof."

    first = texts[0]
    after = client.knowledge_base.delete_source(first.source_id, knowledge_base_id=kb.knowledge_base_id)
    assert [s.source_id for s in after.knowledge_base_sources] == \
        [s.source_id for s in added.knowledge_base_sources if s.source_id != first.source_id]
    assert fetch(first.content_url).status_code == 404
    assert client.knowledge_base.retrieve(kb.knowledge_base_id) == after
    with pytest.raises(retell.NotFoundError):
        client.knowledge_base.delete_source(first.source_id, knowledge_base_id=kb.knowledge_base_id)

    assert client.knowledge_base.delete(kb.knowledge_base_id) is None
    with pytest.raises(retell.NotFoundError) as err:
        client.knowledge_base.retrieve(kb.knowledge_base_id)
    assert err.value.body["status"] == "error"
    assert kb.knowledge_base_id not in kb_ids(client) and fetch(parking.content_url).status_code == 404
    for call in (lambda: client.knowledge_base.delete(kb.knowledge_base_id),
                 lambda: client.knowledge_base.add_sources(kb.knowledge_base_id,
                                                           knowledge_base_urls=["https://a.example"]),
                 lambda: client.knowledge_base.delete_source("source_x", knowledge_base_id=kb.knowledge_base_id)):
        with pytest.raises(retell.NotFoundError):
            call()
    client.knowledge_base.delete(plain.knowledge_base_id)
    with pytest.raises(retell.AuthenticationError):
        sdk(sim, key="key_wrong").knowledge_base.list()


def test_a_hand_written_multipart_form_as_a_rust_client_sends_it(sim):
    def form(*fields: tuple[str, str], boundary: str = "retell-form-7f3a", eol: str = "\r\n") -> bytes:
        out = "".join(f"--{boundary}{eol}Content-Disposition: form-data; name=\"{name}\"{eol}{eol}{value}{eol}"
                      for name, value in fields)
        return (out + f"--{boundary}--{eol}").encode("utf-8")

    def send(body: bytes, boundary: str = "retell-form-7f3a") -> requests.Response:
        return HTTP.post(sim.url + "/create-knowledge-base", data=body, timeout=30,
                         headers={"Authorization": f"Bearer {KEY}",
                                  "Content-Type": f"multipart/form-data; boundary={boundary}"})

    r = send(form(("knowledge_base_name", "Rust FAQ"), ("knowledge_base_texts", json.dumps(FAQ)),
                  ("enable_auto_refresh", "false"), ("max_chunk_size", "1000")))
    assert r.status_code == 201, r.text
    kb = r.json()
    assert kb["knowledge_base_name"] == "Rust FAQ" and kb["max_chunk_size"] == 1000
    assert [fetch(s["content_url"]).text for s in kb["knowledge_base_sources"]] == [t["text"] for t in FAQ]
    assert api(sim, "DELETE", f"/delete-knowledge-base/{kb['knowledge_base_id']}").status_code == 204
    # Bare LF line ends, or a form without its closing boundary, are not multipart.
    assert send(form(("knowledge_base_name", "LF"), eol="\n")).status_code == 400
    assert send(form(("knowledge_base_name", "Offen"))[:-len("--retell-form-7f3a--\r\n")]).status_code == 400


def test_knowledge_base_hostile_input_is_refused_and_nothing_is_stored(sim, client):
    before = client.knowledge_base.list()
    kb = client.knowledge_base.create(knowledge_base_name="Bestand", knowledge_base_texts=FAQ[:1])
    before.append(kb)

    def raw(fields: dict, path: str = "/create-knowledge-base", files=()) -> requests.Response:
        """A form as requests builds it: (None, value) parts are plain fields."""
        parts = [(name, (None, value)) for name, value in fields.items()] + list(files)
        return HTTP.post(sim.url + path, files=parts, timeout=30, headers={"Authorization": f"Bearer {KEY}"})

    refused_by_sdk = {
        "name of 40 characters": lambda: client.knowledge_base.create(knowledge_base_name="N" * 40),
        "empty name": lambda: client.knowledge_base.create(knowledge_base_name="  "),
        "a text without title": lambda: client.knowledge_base.create(
            knowledge_base_name="X", knowledge_base_texts=[{"text": "ohne Titel"}]),
        "a title that is a number": lambda: client.knowledge_base.create(
            knowledge_base_name="X", knowledge_base_texts=[{"title": 5, "text": "t"}]),
        "an empty text": lambda: client.knowledge_base.create(
            knowledge_base_name="X", knowledge_base_texts=[{"title": "t", "text": ""}]),
        "a huge text": lambda: client.knowledge_base.create(
            knowledge_base_name="X", knowledge_base_texts=[{"title": "t", "text": "x" * 150_000}]),
        "a text past the body limit": lambda: client.knowledge_base.create(
            knowledge_base_name="X", knowledge_base_texts=[{"title": "t", "text": "x" * 1_100_000}]),
        "51 texts": lambda: client.knowledge_base.create(
            knowledge_base_name="X", knowledge_base_texts=[{"title": f"t{i}", "text": "t"} for i in range(51)]),
        "not a URL": lambda: client.knowledge_base.create(knowledge_base_name="X",
                                                          knowledge_base_urls=["salon.example"]),
        "an ftp URL": lambda: client.knowledge_base.create(knowledge_base_name="X",
                                                           knowledge_base_urls=["ftp://salon.example/a"]),
        "min_chunk_size above max": lambda: client.knowledge_base.create(
            knowledge_base_name="X", max_chunk_size=300, min_chunk_size=400),
        "an unsupported file": lambda: client.knowledge_base.create(
            knowledge_base_name="X", knowledge_base_files=[("virus.exe", b"MZ", "application/octet-stream")]),
        "a file without an extension": lambda: client.knowledge_base.create(
            knowledge_base_name="X", knowledge_base_files=[b"raw bytes"]),
        "an empty file": lambda: client.knowledge_base.create(
            knowledge_base_name="X", knowledge_base_files=[("leer.txt", b"", "text/plain")]),
        "adding nothing": lambda: client.knowledge_base.add_sources(kb.knowledge_base_id),
        "adding a text without title": lambda: client.knowledge_base.add_sources(
            kb.knowledge_base_id, knowledge_base_texts=[{"text": "x"}]),
    }
    for what, call in refused_by_sdk.items():
        with pytest.raises(retell.BadRequestError) as err:
            call()
        assert err.value.body["status"] == "error" and err.value.body["message"], what

    name = {"knowledge_base_name": "X"}
    refused_raw = {
        "no name": raw({"knowledge_base_texts": json.dumps(FAQ)}),
        "texts not JSON": raw({**name, "knowledge_base_texts": "Öffnungszeiten: 9-18"}),
        "texts an object": raw({**name, "knowledge_base_texts": json.dumps(FAQ[0])}),
        "texts a JSON string": raw({**name, "knowledge_base_texts": json.dumps(json.dumps(FAQ))}),
        "texts with NaN": raw({**name, "knowledge_base_texts": '[{"title": "t", "text": NaN}]'}),
        "urls not an array": raw({**name, "knowledge_base_urls": "https://salon.example"}),
        "auto refresh not a boolean": raw({**name, "enable_auto_refresh": "yes"}),
        "chunk size not a number": raw({**name, "max_chunk_size": "2000.5"}),
        "the name as a file": raw({}, files=[("knowledge_base_name", ("name.txt", b"X", "text/plain"))]),
        "a file as a plain field": raw({**name, "knowledge_base_files": "preise.txt"}),
        "the name twice": raw({}, files=[("knowledge_base_name", (None, "A")), ("knowledge_base_name", (None, "B"))]),
        "the name not UTF-8": raw({}, files=[("knowledge_base_name", (None, b"\xff\xfe"))]),
        "adding texts not JSON": raw({"knowledge_base_texts": "[{"},
                                     f"/add-knowledge-base-sources/{kb.knowledge_base_id}"),
        "JSON instead of a form": api(sim, "POST", "/create-knowledge-base",
                                      json.dumps({**name, "knowledge_base_texts": FAQ})),
        "a form without boundary": HTTP.post(sim.url + "/create-knowledge-base", data=b"--x--\r\n", timeout=30,
                                             headers={"Authorization": f"Bearer {KEY}",
                                                      "Content-Type": "multipart/form-data"}),
    }
    for what, r in refused_raw.items():
        assert r.status_code == 400, (what, r.status_code, r.text)
        assert r.json()["status"] == "error" and r.json()["message"], what

    assert client.knowledge_base.list() == before  # nothing stored, nothing changed
    assert HTTP.get(sim.url + "/sim/state", timeout=30).json()["knowledge_bases"] == len(before)
    client.knowledge_base.delete(kb.knowledge_base_id)


def test_llm_knowledge_base_ids_name_existing_knowledge_bases(client):
    kb = client.knowledge_base.create(knowledge_base_name="Salon FAQ", knowledge_base_texts=FAQ)
    other = client.knowledge_base.create(knowledge_base_name="Preise", knowledge_base_texts=FAQ[1:])
    llm = client.llm.create(general_prompt="Rezeption", knowledge_base_ids=[kb.knowledge_base_id],
                            kb_config={"top_k": 3, "filter_score": 0.6})
    assert client.llm.retrieve(llm.llm_id).knowledge_base_ids == [kb.knowledge_base_id]
    assert client.llm.update(llm.llm_id, knowledge_base_ids=[kb.knowledge_base_id, other.knowledge_base_id]) \
        .knowledge_base_ids == [kb.knowledge_base_id, other.knowledge_base_id]

    with pytest.raises(retell.UnprocessableEntityError) as err:  # an unknown id, like an unknown llm_id
        client.llm.create(general_prompt="x", knowledge_base_ids=["knowledge_base_0000000000000000"])
    assert "knowledge_base_0000000000000000" in err.value.body["message"]
    with pytest.raises(retell.UnprocessableEntityError):
        client.llm.update(llm.llm_id, knowledge_base_ids=[kb.knowledge_base_id, "knowledge_base_gone"])
    with pytest.raises(retell.BadRequestError):
        client.llm.update(llm.llm_id, knowledge_base_ids=kb.knowledge_base_id)  # a string, not a list
    assert client.llm.retrieve(llm.llm_id).knowledge_base_ids == [kb.knowledge_base_id, other.knowledge_base_id]

    # In use: neither deleted nor dropped from the LLM behind its back.
    with pytest.raises(retell.BadRequestError) as err:
        client.knowledge_base.delete(kb.knowledge_base_id)
    assert llm.llm_id in err.value.body["message"]
    assert client.llm.retrieve(llm.llm_id).knowledge_base_ids == [kb.knowledge_base_id, other.knowledge_base_id]

    # A published agent still answers calls with its LLM version's knowledge bases.
    agent = client.agent.create(response_engine={"type": "retell-llm", "llm_id": llm.llm_id}, voice_id="11labs-Anna")
    client.agent.publish(agent.agent_id, version=0)
    client.llm.update(llm.llm_id, knowledge_base_ids=[other.knowledge_base_id])  # the new draft
    with pytest.raises(retell.BadRequestError) as err:
        client.knowledge_base.delete(kb.knowledge_base_id)
    assert agent.agent_id in err.value.body["message"]
    client.agent.publish(agent.agent_id, version=1)
    client.knowledge_base.delete(kb.knowledge_base_id)
    assert client.llm.retrieve(llm.llm_id, version=0).knowledge_base_ids == \
        [kb.knowledge_base_id, other.knowledge_base_id]  # history keeps the id
    with pytest.raises(retell.BadRequestError):  # the published agent's LLM version lists it
        client.knowledge_base.delete(other.knowledge_base_id)
    client.agent.delete(agent.agent_id)
    client.llm.delete(llm.llm_id)
    client.knowledge_base.delete(other.knowledge_base_id)


def test_a_seeded_knowledge_base_and_the_llm_that_lists_it():
    seed = {"knowledge_bases": [{"knowledge_base_id": "knowledge_base_demo", "knowledge_base_name": "Salon Demo FAQ",
                                 "knowledge_base_texts": FAQ, "knowledge_base_urls": ["https://salon.example"]}],
            "llms": [{"llm_id": "llm_kb", "knowledge_base_ids": ["knowledge_base_demo"]}]}
    s = RetellSimulator(api_key=KEY, port=0, seed=seed, log=open(os.devnull, "w")).start()
    try:
        client = sdk(s)
        kb = client.knowledge_base.retrieve("knowledge_base_demo")
        assert fetch(kb.knowledge_base_sources[1].content_url).text == FAQ[1]["text"]
        assert client.llm.retrieve("llm_kb").knowledge_base_ids == ["knowledge_base_demo"]
    finally:
        s.stop()
    with pytest.raises(ValueError, match="knowledge_base_ids"):
        RetellSimulator(api_key=KEY, seed={"llms": [{"llm_id": "l", "knowledge_base_ids": ["knowledge_base_x"]}]})
    with pytest.raises(ValueError, match="knowledge_base_name"):
        RetellSimulator(api_key=KEY, seed={"knowledge_bases": [{"knowledge_base_name": "N" * 40}]})


# --- voices ------------------------------------------------------------------------------------------

def test_voices_have_a_playable_preview(sim, client):
    voices = client.voice.list()
    accents = {(v.accent, v.gender) for v in voices}
    assert {("German", "female"), ("German", "male")} <= accents
    assert {a for a, _ in accents} >= {"German", "American", "British"}
    for voice in voices:
        assert voice.voice_name and voice.provider and voice.age
        assert voice.preview_audio_url.startswith(f"{sim.url}/voice-previews/")
        assert client.voice.retrieve(voice.voice_id) == voice
        r = fetch(voice.preview_audio_url)
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        assert r.content[:4] == b"RIFF" and r.content[8:12] == b"WAVE" and len(r.content) < 20_000
        with wave.open(io.BytesIO(r.content)) as w:
            frames = w.readframes(w.getnframes())
            assert 0.2 <= w.getnframes() / w.getframerate() <= 1.0
        assert max(abs(int.from_bytes(frames[i:i + 2], "little", signed=True)) for i in range(0, len(frames), 2)) > 5000
    assert fetch(f"{sim.url}/voice-previews/11labs-Nobody.wav").status_code == 404


# --- the command line ------------------------------------------------------------------------------

def test_command_line_prints_its_url_and_stops_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "retell_sim", "--port", "0", "--api-key", KEY,
                             "--seed", str(SEED)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT / "infra" / "local")})
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("retell-sim listening on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1]
        r = HTTP.get(f"{url}/get-phone-number/%2B493012345678", headers={"Authorization": f"Bearer {KEY}"},
                     timeout=5)
        assert r.json()["inbound_agents"][0]["agent_id"] == "agent_demo"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        log = proc.stderr.read()
        assert "GET /get-phone-number/***678 200" in log and "493012345678" not in log and KEY not in log
        assert proc.stdout.read() == ""  # exactly one line on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
