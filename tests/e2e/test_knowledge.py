"""What the agent knows, through the local stack: `get_service_info` and `get_opening_hours`
answered by their Lambdas over the signed HTTP route, and a company's FAQ put into a Retell
knowledge base by `retell-ops sync` (created, updated, detached and deleted), read back with the
official SDK from the Retell simulator."""

import json
import urllib.request
import uuid

from test_local_stack import tool
from test_retell_ops import ROOT, ops, sdk


def call():
    return {"call_id": f"call_e2e_know_{uuid.uuid4().hex[:8]}", "agent_id": "agent_demo",
            "from_number": "+4917688880001", "to_number": "+493012345678"}


def test_service_info_and_opening_hours_answer_through_their_routes(stack):
    reply = tool(stack, "get-service-info", "get_service_info", call(), {"service_id": "Farbe"})
    assert reply["success"] is True, reply
    assert reply["service"]["price"] == "ab 45" and reply["service"]["duration_minutes"] == 90, reply
    assert reply["message"].startswith("Färben dauert etwa 90 Minuten und kostet ab 45 Euro."), reply
    listed = tool(stack, "get-service-info", "get_service_info", call(), {})
    assert [s["id"] for s in listed["services"]] == ["haircut", "coloring", "beard"], listed
    refused = tool(stack, "get-service-info", "get_service_info", call(), {"service_id": {"$ne": ""}})
    assert refused["success"] is False and refused["argument"] == "service_id", refused

    christmas = tool(stack, "get-opening-hours", "get_opening_hours", call(), {"date": "2026-12-24"})
    if christmas.get("success"):
        assert christmas["open"] is False and christmas["closure"] is True, christmas
        assert christmas["next_open_date"] == "2026-12-28", christmas
    else:  # run after Christmas 2026: a past day is refused, never guessed
        assert christmas["argument"] == "date", christmas
    week = tool(stack, "get-opening-hours", "get_opening_hours", call(), {"week": True})
    assert len(week["days"]) == 7 and all(d["hours"] or not d["open"] for d in week["days"]), week
    for bad in ({"week": "maybe"}, {"date": ["morgen"]}, {"date": "x" * 100_000}):
        refused = tool(stack, "get-opening-hours", "get_opening_hours", call(), bad)
        assert refused["success"] is False, (bad, refused)


def kb_of(client, name="faq-demo"):
    found = [kb for kb in client.knowledge_base.list() if kb.knowledge_base_name == name]
    assert len(found) <= 1, found
    return found[0] if found else None


def texts(kb):
    """The knowledge base's text sources as (title, content), read through their content_url."""
    out = []
    for source in kb.knowledge_base_sources or []:
        with urllib.request.urlopen(source.content_url, timeout=30) as resp:
            out.append((source.title, resp.read().decode()))
    return sorted(out)


def load_demo(stack, tmp_path, faq):
    settings = json.loads((ROOT / "infra/local/companies/demo.json").read_text())
    settings["faq"] = faq
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(settings))
    table = stack.description["resources"]["CompaniesTable"]["Ref"]
    ops(stack, "companies", "load", str(path), "--table", table)


def llm_kbs(client, agent_id="agent_demo"):
    agent = client.agent.retrieve(agent_id)
    return client.llm.retrieve(agent.response_engine.llm_id).knowledge_base_ids or []


def test_sync_keeps_the_faq_knowledge_base_in_line_with_the_company(stack, tmp_path):
    client = sdk(stack)
    original = json.loads((ROOT / "infra/local/companies/demo.json").read_text())["faq"]
    try:
        # The demo company as its file has it (another test may have added a question), and its
        # agent's draft published (another test may have left edits in it).
        load_demo(stack, tmp_path, original)
        ops(stack, "agents", "publish", "agent_demo")
        _, report, _ = ops(stack, "sync", "--publish")
        kb = kb_of(client)
        assert kb is not None, report
        assert kb.knowledge_base_id in llm_kbs(client)
        held = texts(client.knowledge_base.retrieve(kb.knowledge_base_id))
        assert [t for _, t in held] == sorted(f"Frage: {e['question']}\nAntwort: {e['answer']}" for e in original)
        # Idempotent: nothing to add or remove, the same knowledge base.
        _, again, _ = ops(stack, "sync")
        row = [r for r in again["knowledge_bases"] if r["company_id"] == "demo"]
        assert row and "up to date" in row[0]["change"], again
        assert kb_of(client).knowledge_base_id == kb.knowledge_base_id

        # One answer changed, one question removed, one added: only those sources change.
        changed = [dict(original[0], answer="Im Parkhaus am Markt, wir stempeln das Ticket."),
                   original[2], {"question": "Gibt es Gutscheine?", "answer": "Ja, an der Kasse."}]
        load_demo(stack, tmp_path, changed)
        before = {s.title: s.source_id for s in client.knowledge_base.retrieve(kb.knowledge_base_id).knowledge_base_sources}
        _, report, _ = ops(stack, "sync")
        after_kb = client.knowledge_base.retrieve(kb.knowledge_base_id)
        after = {s.title: s.source_id for s in after_kb.knowledge_base_sources}
        assert [t for _, t in texts(after_kb)] == sorted(f"Frage: {e['question']}\nAntwort: {e['answer']}" for e in changed)
        kept = set(before) & set(after)
        assert len(kept) == 1 and all(before[t] == after[t] for t in kept), (before, after)

        # No FAQ: detached from the agents; a published version still uses it, so the delete
        # waits for `--publish` (Retell refuses to delete a knowledge base in use).
        load_demo(stack, tmp_path, [])
        code, refused, _ = ops(stack, "sync", check=False)
        assert code != 0 and kb_of(client) is not None, refused
        assert kb.knowledge_base_id not in llm_kbs(client)
        _, deleted, _ = ops(stack, "sync", "--publish")
        assert "agent_demo: published" in json.dumps(deleted["knowledge_bases"]), deleted
        assert kb_of(client) is None
        _, quiet, _ = ops(stack, "sync")
        assert not [r for r in quiet["knowledge_bases"] if r["company_id"] == "demo"], quiet
    finally:
        load_demo(stack, tmp_path, original)
        ops(stack, "sync", "--publish", check=False)
    assert kb_of(client) is not None


def test_a_hostile_faq_is_refused_and_changes_nothing(stack, tmp_path):
    client = sdk(stack)
    ops(stack, "sync")
    before = kb_of(client)
    table = stack.description["resources"]["CompaniesTable"]["Ref"]
    settings = json.loads((ROOT / "infra/local/companies/demo.json").read_text())
    for faq, needle in [
        ([{"question": "q", "answer": "a" * 2001}], "longer than 2000"),
        ([{"question": "q", "answer": "a"}] * 51, "at most 50"),
        ([{"question": {"de": "q"}, "answer": "a"}], "faq"),
        ([{"question": "q", "answer": "a", "extra": 1}], "extra"),
        ("Parken im Hof", "faq"),
    ]:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps({**settings, "faq": faq}))
        code, body, err = ops(stack, "companies", "load", str(path), "--table", table, check=False)
        assert code != 0 and needle in json.dumps(body) + err, (faq, body, err)
    after = kb_of(client)
    assert (before and before.knowledge_base_id) == (after and after.knowledge_base_id)
