"""The control center in a real browser (Debian's chromium, driven by Playwright): log in as an
admin and as a staff member, watch a simulated call appear on the overview, open a call with its
transcript and booking, see analytics render, be refused another company's call, log out.
Screenshots of every page go to target/e2e-screenshots/ (look at them)."""

import json
import os
import re
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import retell

from test_local_stack import aws, wait_for
from test_retell_ops import events_applied, play, sim

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "e2e-screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (infra/local/install-browser.sh)")
    from playwright.sync_api import sync_playwright
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield pg
    context.close()
    # A failed test's report shows what the browser said (a resource that did not load, say).
    for e in errors:
        print(f"browser: {e}")
    # Nothing the pages do may break the Content-Security-Policy or throw.
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors


def shot(pg, name):
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def login(stack, pg, role):
    user, password = stack.users[role]
    pg.goto(stack.control_center_url())
    assert pg.url.endswith("/login"), pg.url
    pg.fill("input[name=username]", user)
    pg.fill("input[name=password]", password)
    pg.click("button[type=submit]")
    pg.wait_for_url(re.compile(r".*/admin/retell-control-center$"))
    # The live parts need htmx: a page without it would wait for polls that never come.
    assert pg.evaluate("typeof htmx") == "object", "htmx did not load (see the browser's messages)"


def logout(pg):
    pg.click("header form[action$='/logout'] button")
    pg.wait_for_url(re.compile(r".*/login$"))


def test_login_refuses_a_wrong_password(stack, page):
    page.goto(stack.control_center_url())
    page.fill("input[name=username]", stack.users["staff"][0])
    page.fill("input[name=password]", "Wrong-Password-1")
    page.click("button[type=submit]")
    assert page.locator("p.error").inner_text() == "Benutzername oder Passwort ist falsch."
    shot(page, "01-login-refused")
    cookies = {c["name"]: c for c in page.context.cookies()}
    csrf = cookies["__Host-cc_csrf"]
    assert "__Host-cc_id" not in cookies and csrf["httpOnly"] and csrf["secure"] and csrf["path"] == "/"


def test_an_admin_watches_a_call_arrive_and_opens_calls_and_analytics(stack, page):
    login(stack, page, "admin")
    assert page.locator("h1").inner_text() == "Übersicht"
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["__Host-cc_id"]  # the browser took the prefix: this host only, over a secure origin
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Lax" and session["path"] == "/"
    shot(page, "02-overview-admin")

    # A call that is still going on (its end never arrives): the overview shows it live.
    caller = "+49176" + str(uuid.uuid4().int)[:7]
    played = play(stack, from_number=caller, drop=["call_ended", "call_analyzed"],
                  script=[{"user": "Hallo, ist da jemand?"}])
    wait_for(lambda: "call_started" in events_applied(stack, played["call"]["call_id"]))
    # htmx polls every 5 s; a slow machine serves the first polls from functions still warming up.
    page.locator("#active-calls").get_by_text(caller).wait_for(timeout=60_000)
    shot(page, "03-overview-active-call")

    # A whole call with a booking, and words a caller might say that look like markup.
    booked = play(stack, from_number=caller, script=[
        {"agent": "Salon Demo, guten Tag!"},
        {"user": "Ich heiße <script>window.__pwned = 1</script> und möchte einen Haarschnitt."},
        {"tool": "check_availability", "args": {"service_id": "Haarschnitt", "date": "{{slot_date}}"}},
        {"agent": "{{last_message}}"},
        {"tool": "book_appointment", "args": {"service_id": "Haarschnitt", "date": "{{slot_date}}",
                                              "time": "{{slot}}", "customer_name": "Eva Fett"}},
        {"agent": "Bis bald!"}])
    call_id = booked["call"]["call_id"]
    wait_for(lambda: {"call_ended", "call_analyzed"} <= events_applied(stack, call_id))
    page.click("nav a:text('Anrufe')")
    page.locator(f"a[href$='/calls/{call_id}']").click()
    page.wait_for_url(re.compile(f".*/calls/{call_id}$"))
    conversation = page.locator("ol.conversation")
    assert "Ich heiße <script>window.__pwned = 1</script>" in conversation.inner_text()
    assert page.evaluate("window.__pwned") is None
    booking = page.locator("section.appointment table")
    assert "Haarschnitt" in booking.inner_text() and "Eva Fett" in booking.inner_text()
    stylist = booking.locator("td.staff").inner_text()
    assert stylist in ("Anna", "Ben", "Clara"), booking.inner_text()
    assert page.locator("section.tools summary", has_text="book_appointment").count() == 1
    shot(page, "04-call")

    # A caller who wanted an appointment and got none: Retell's analysis says why and where.
    lost = play(stack, from_number=caller, script=[
        {"agent": "Salon Demo, guten Tag!"},
        {"user": "Ich möchte morgen früh zum Färben."},
        {"agent": "Morgen früh ist leider alles belegt."},
        {"user": "Schade, dann lasse ich es lieber."}],
        call_analysis={"custom_analysis_data": {"wanted_appointment": True, "no_booking_reason": "no_suitable_time",
                                                "lost_at_quote": "dann lasse ich es lieber"}})
    wait_for(lambda: "call_analyzed" in events_applied(stack, lost["call"]["call_id"]))

    page.click("nav a:text('Auswertung')")
    # count() does not wait: the new page must have loaded first.
    page.wait_for_url(re.compile(r".*/analytics(\?.*)?$"), wait_until="load")
    page.locator("figure.chart svg").first.wait_for()
    assert page.locator("figure.chart svg").count() >= 5
    assert page.locator("figure.chart rect.bar").count() > 30
    per_staff = page.locator("div.per-staff figure.chart")
    assert stylist in per_staff.inner_text(), per_staff.inner_text()
    funnel = page.locator("section.funnel")
    assert "Vom Anruf zum Termin" in funnel.inner_text()
    assert funnel.locator("table.funnel-versions tbody tr").count() >= 1
    lost_row = funnel.locator(f"table.lost-calls tr:has(a[href$='/calls/{lost['call']['call_id']}'])")
    assert "keine passende Zeit" in lost_row.inner_text(), funnel.inner_text()
    assert "dann lasse ich es lieber" in lost_row.locator("q").inner_text()
    assert lost_row.locator("span.turn").inner_text() == "#4"
    shot(page, "05-analytics")
    funnel.scroll_into_view_if_needed()
    shot(page, "05b-analytics-funnel")
    page.goto(f"{stack.control_center_url()}/analytics?lang=en")
    funnel = page.locator("section.funnel")
    assert "From call to appointment" in funnel.inner_text()
    assert "no suitable time" in funnel.locator("table.lost-calls").inner_text()
    funnel.scroll_into_view_if_needed()
    shot(page, "05c-analytics-funnel-en")
    page.goto(f"{stack.control_center_url()}/analytics?lang=de")
    with page.expect_download() as download:
        page.click("a.download")
    csv = Path(download.value.path()).read_text()
    assert csv.startswith("day,calls,connected") and len(csv.splitlines()) == 31

    page.click("nav a:text('Agenten')")
    page.wait_for_url(re.compile(r".*/agents(\?.*)?$"), wait_until="load")
    page.locator("table.agents").first.wait_for()
    assert page.locator("table.agents").get_by_text("agent_demo").count() >= 1
    assert page.locator("table.agents .ok").count() >= 1
    shot(page, "06-agents")
    page.click("nav a:text('Protokolle')")
    page.fill("input[name=call_id]", call_id)
    page.click("form.filters button")
    wait_logs = page.locator("table.logs")
    wait_logs.wait_for(timeout=30_000)
    assert "request answered" in wait_logs.inner_text() or "event stored" in wait_logs.inner_text()
    shot(page, "07-logs")
    logout(page)
    page.goto(stack.control_center_url() + "/calls")
    assert page.url.endswith("/login"), "after logout the pages are closed"


def test_staff_see_their_company_and_are_refused_anothers_call(stack, page):
    other = play(stack, to_number="+493012345679", from_number="+4917600000123")  # the Cal.com company
    other_id = other["call"]["call_id"]
    wait_for(lambda: "call_ended" in events_applied(stack, other_id))
    login(stack, page, "staff")
    assert page.locator("span.company-name").inner_text() == "Salon Demo"
    assert page.locator("select[name=company]").count() == 0, "staff cannot pick a company"
    shot(page, "08-overview-staff")
    response = page.goto(f"{stack.control_center_url()}/calls/{other_id}")
    assert response.status == 404
    shot(page, "09-another-companys-call")
    response = page.goto(f"{stack.control_center_url()}/calls?company=salon-calcom")
    assert response.status == 404
    page.goto(stack.control_center_url() + "/test-call")
    page.fill("input[name=to_number]", "+4917612345678")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r".*/test-call/call_[0-9a-f]+$"))
    page.locator("#call-status dd.status").get_by_text("Beendet").wait_for(timeout=60_000)
    shot(page, "10-test-call")
    # The test call is outbound: its customer is the number called, never the salon's own line,
    # and every label is German.
    test_call_id = page.url.rsplit("/", 1)[1]
    page.goto(f"{stack.control_center_url()}/calls")
    row = page.locator("table.calls tr", has=page.locator(f"a[href$='/calls/{test_call_id}']"))
    assert row.locator("td.direction").inner_text() == "Ausgehend", row.inner_text()
    assert row.locator("td.customer").inner_text().endswith("+4917612345678"), row.inner_text()
    assert row.locator("td.status").inner_text() == "Beendet", row.inner_text()
    assert "not_connected" not in page.locator("select[name=status]").inner_text()
    page.goto(f"{stack.control_center_url()}/calls/{test_call_id}")
    assert page.locator("dd.direction").inner_text() == "Ausgehend"
    assert page.locator("dd.customer").inner_text().endswith("+4917612345678")
    assert page.locator("dd.vip input[name=phone]").get_attribute("value") == "+4917612345678"
    assert page.locator("dd.status").inner_text() == "Beendet"
    shot(page, "10c-outbound-call")
    # The salon's own number cannot be marked through the call's form.
    csrf = page.locator("dd.vip input[name=csrf]").get_attribute("value")
    forged = page.request.post(f"{stack.control_center_url()}/customers/vip", form={
        "csrf": csrf, "company": "demo", "phone": "+493012345678", "call_id": test_call_id, "vip": "true"})
    assert forged.status == 400, forged.status
    # A number that is not one of the company's test numbers is refused, and nothing rings.
    page.goto(stack.control_center_url() + "/test-call")
    page.fill("input[name=to_number]", "+4917699990000")
    page.click("main form button[type=submit]")
    assert "test numbers" in page.locator("p.error").inner_text()
    shot(page, "10b-test-call-refused")
    logout(page)


def test_an_admin_redrives_a_dead_letter_and_staff_mark_a_vip(stack, page):
    from test_retell_ops import berlin_day, claim_checked_call_ended, day_stats, get_call
    # An event the consumer gave up on, whose cause is fixed since (its body is archived now).
    call_id, start, ended, key = claim_checked_call_ended(stack, "call_ccdlq", "CallEndedDeadLetterQueue")
    aws(stack, "s3").put_object(Bucket=stack.description["resources"]["EventsBucket"]["Ref"], Key=key,
                                Body=json.dumps(ended).encode())
    before = day_stats(stack, "demo", berlin_day(start))

    login(stack, page, "admin")
    page.click("section.health a[href$='/dead-letters']")
    page.wait_for_url(re.compile(r".*/dead-letters$"))
    row = page.locator("table.dead-letters tr", has_text=call_id)
    assert row.count() == 1 and "demo" in row.inner_text()
    shot(page, "11-dead-letters")
    row.locator("button").click()
    page.wait_for_url(re.compile(r".*/dead-letters\?moved=1&failed=0&missing=0$"))
    assert "Erneut zugestellt: 1" in page.locator("p.notice").inner_text()
    assert page.locator("table.dead-letters tr", has_text=call_id).count() == 0
    wait_for(lambda: "call_ended" in events_applied(stack, call_id))
    assert day_stats(stack, "demo", berlin_day(start)) == before + 1
    assert get_call(stack, call_id)["version"]["N"] == "1"
    shot(page, "12-dead-letters-redriven")
    logout(page)

    # Staff mark the caller of one of their calls as a VIP; the next call of theirs is a VIP's.
    caller = "+49176" + str(uuid.uuid4().int)[:7]
    played = play(stack, from_number=caller, script=[{"user": "Hallo"}, {"agent": "Guten Tag!"}])
    vip_call = played["call"]["call_id"]
    wait_for(lambda: "call_ended" in events_applied(stack, vip_call))
    login(stack, page, "staff")
    page.goto(f"{stack.control_center_url()}/calls/{vip_call}")
    vip = page.locator("dd.vip")
    assert vip.inner_text().startswith("nein")
    vip.locator("button").click()
    page.wait_for_url(re.compile(f".*/calls/{vip_call}$"))
    assert page.locator("dd.vip").inner_text().startswith("ja")
    assert page.locator("dd.vip button").inner_text() == "VIP-Markierung entfernen"
    shot(page, "13-call-vip")
    again = play(stack, from_number=caller, script=[{"user": "Hallo"}])
    assert again["call"]["retell_llm_dynamic_variables"]["is_vip"] == "true"
    page.locator("dd.vip button").click()
    page.wait_for_url(re.compile(f".*/calls/{vip_call}$"))
    assert page.locator("dd.vip").inner_text().startswith("nein")
    # An admin-only page is not for staff.
    response = page.goto(f"{stack.control_center_url()}/dead-letters")
    assert response.status == 403
    page.goto(stack.control_center_url())
    logout(page)


def test_the_openapi_file_is_valid_and_covers_the_apis_routes():
    import yaml
    from openapi_spec_validator import validate
    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    validate(spec)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
    events = template["Resources"]["ControlCenterFunction"]["Properties"]["Events"]
    api_paths = {e["Properties"]["Path"] for e in events.values() if e["Properties"]["Path"].startswith("/api/")}
    documented = {p.replace("{agent_id}", "{agent_id}") for p in spec["paths"]}
    assert api_paths == documented, (api_paths, documented)


class _CfnLoader(__import__("yaml").SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, …) read as plain values."""


def _tag(loader, suffix, node):
    if isinstance(node, __import__("yaml").ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, __import__("yaml").SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_CfnLoader.add_multi_constructor("!", _tag)


def test_staff_run_the_day_at_the_desk(stack, page):
    """The desk: the phone agent's booking on the day's grid, a walk-in added beside it, the agent
    refused that person at that time afterwards, and the desk refused a taken person (409) with
    who is free; the week view shows the day's appointments."""
    import datetime
    from test_local_stack import next_tuesday, tool
    day = (next_tuesday() + datetime.timedelta(weeks=3)).isoformat()
    call = {"call_id": f"call_e2e_desk_{uuid.uuid4().hex[:8]}", "agent_id": "agent_demo",
            "from_number": "+4917655501234", "to_number": "+493012345678"}
    phoned = tool(stack, "book-appointment", "book_appointment", call,
                  {"date": day, "time": "11:00", "service_id": "haircut", "staff": "Ben",
                   "customer_name": "Paula Phone"})
    assert phoned["success"] is True and phoned["staff"] == "Ben", phoned

    login(stack, page, "staff")
    page.click("nav a:text('Termine')")
    page.wait_for_url(re.compile(r".*/appointments(\?.*)?$"), wait_until="load")
    page.goto(f"{stack.control_center_url()}/appointments?date={day}")
    ben = page.locator("section.staff-column[data-staff=ben]")
    assert "Paula Phone" in ben.inner_text() and "Telefon" in ben.inner_text(), ben.inner_text()
    assert ben.locator(f"a[href$='/calls/{call['call_id']}']").count() == 1, "linked to its call"
    shot(page, "14-desk-day")

    def book_at_desk(staff, name, phone):
        form = page.locator("form.new")
        form.locator("select[name=service_id]").select_option("haircut")
        form.locator("select[name=staff]").select_option(staff)
        form.locator("input[name=time]").fill("11:00")
        form.locator("input[name=customer_name]").fill(name)
        form.locator("input[name=customer_phone]").fill(phone)
        form.locator("button[type=submit]").click()
        page.wait_for_load_state("load")

    book_at_desk("clara", "Walter Walk-in", "+4915112340000")
    clara = page.locator("section.staff-column[data-staff=clara]")
    assert "Walter Walk-in" in clara.inner_text() and "Empfang" in clara.inner_text(), clara.inner_text()
    log = clara.locator("details.log")
    log.locator("summary").click()
    assert "Gebucht" in log.inner_text() and "desk:staff@demo.example" in log.inner_text(), log.inner_text()
    shot(page, "15-desk-walk-in")

    # The agent asked for Clara at eleven now hears she is taken, and that Anna is free.
    # (Another caller: the same caller, service and time would be Paula's own booking again.)
    other = dict(call, call_id=call["call_id"] + "b", from_number="+4917655509876")
    refused = tool(stack, "book-appointment", "book_appointment", other,
                   {"date": day, "time": "11:00", "service_id": "haircut", "staff": "Clara"})
    assert refused["success"] is False and refused["others_free"] == ["Anna"], refused

    # The desk asked for Ben at eleven: 409 on the page, with who is free.
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        book_at_desk("ben", "Zweiter Versuch", "+4915112340001")
    assert posted.value.status == 409
    assert "Frei ist: Anna" in page.locator("p.error").inner_text()
    shot(page, "16-desk-taken")

    page.goto(f"{stack.control_center_url()}/appointments?date={day}&view=week")
    week = page.locator("div.week-grid")
    assert "Paula Phone" in week.inner_text() and "Walter Walk-in" in week.inner_text()
    shot(page, "17-desk-week")
    logout(page)


def test_staff_mark_an_absence_and_work_through_callbacks(stack, page):
    """An absence marked at the desk lists the appointment it collides with (nothing cancelled);
    a callback the agent noted in a call appears on the callbacks page and on the overview, is
    assigned, noted and done; the settings page saves a section and logs who did."""
    import datetime
    from test_local_stack import next_tuesday, tool
    day = (next_tuesday() + datetime.timedelta(weeks=7)).isoformat()
    call = {"call_id": f"call_e2e_cb_{uuid.uuid4().hex[:8]}", "agent_id": "agent_demo",
            "from_number": "+4917655502468", "to_number": "+493012345678"}
    booked = tool(stack, "book-appointment", "book_appointment", call,
                  {"date": day, "time": "10:00", "service_id": "haircut", "staff": "Clara",
                   "customer_name": "Kai Kollision"})
    assert booked["success"] is True and booked["staff"] == "Clara", booked
    noted = tool(stack, "request-callback", "request_callback", call,
                 {"reason": "Frage zum Preis für Strähnchen", "customer_name": "Rita Rückruf",
                  "preferred_time": "morgen ab 14 Uhr"})
    assert noted["success"] is True and noted["callback_id"].startswith("cb_"), noted
    again = tool(stack, "request-callback", "request_callback", call, {"reason": "nochmal"})
    assert again["callback_id"] == noted["callback_id"], "one callback per call"

    login(stack, page, "staff")
    # The overview counts it.
    card = page.locator("a.card.callbacks")
    assert "offen" in card.inner_text(), card.inner_text()

    # Clara is off that day: the desk lists Kai's appointment, still booked, flagged.
    page.goto(f"{stack.control_center_url()}/appointments?date={day}")
    form = page.locator("form.absence")
    form.locator("select[name=staff]").select_option("clara")
    form.locator("input[name=from]").fill(day)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    notice = page.locator("div.notice.absence")
    assert "Clara" in notice.inner_text() and "Kai Kollision" in notice.inner_text(), notice.inner_text()
    assert "nichts wurde abgesagt" in notice.inner_text()
    card = page.locator(f"article.appointment[data-id='{booked['appointment_id']}']")
    assert card.get_attribute("data-collides") == "true"
    assert "Gebucht" in card.inner_text() or "abwesend" in card.inner_text(), card.inner_text()
    shot(page, "18-desk-absence")

    # The callback: open, then assigned to me, a note, done.
    page.click("nav a:text('Rückrufe')")
    page.wait_for_url(re.compile(r".*/callbacks(\?.*)?$"), wait_until="load")
    row = page.locator(f"tr.callback[id='{noted['callback_id']}']")
    assert "Rita Rückruf" in row.inner_text() and "morgen ab 14 Uhr" in row.inner_text(), row.inner_text()
    assert row.get_attribute("data-status") == "open"
    assert row.locator(f"a[href*='/calls/{call['call_id']}']").count() == 1, "linked to its call"
    shot(page, "19-callbacks-open")
    row.locator("button[value=assign]").click()
    page.wait_for_load_state("load")
    row = page.locator(f"tr.callback[id='{noted['callback_id']}']")
    assert row.get_attribute("data-status") == "assigned"
    assert "staff@demo.example" in row.locator("td.status").inner_text()
    row.locator("textarea[name=note]").fill("Erreicht, Preis genannt")
    row.locator("button[value=done]").click()
    page.wait_for_load_state("load")
    done = page.locator(f"section.callbacks-done tr.callback[id='{noted['callback_id']}']")
    assert done.get_attribute("data-status") == "done"
    assert "Erreicht, Preis genannt" in done.inner_text()
    shot(page, "20-callbacks-done")

    # Settings: a closure saved from the form, logged with who saved it.
    page.click("nav a:text('Einstellungen')")
    page.wait_for_url(re.compile(r".*/settings(\?.*)?$"), wait_until="load")
    closed = (next_tuesday() + datetime.timedelta(weeks=30)).isoformat()
    closures = page.locator("section.settings[data-section=closures]")
    text = closures.locator("textarea[name=closures]").input_value()
    closures.locator("textarea[name=closures]").fill((text + "\n" + closed).strip())
    closures.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    assert "Gespeichert" in page.locator("p.notice").inner_text()
    assert closed in page.locator("section.settings[data-section=closures] textarea").input_value()
    log = page.locator("section.settings-log").inner_text()
    assert "desk:staff@demo.example" in log and "closures" in log, log
    # A question callers ask, for the agent's knowledge base; a half-filled one is refused.
    faq = page.locator("section.settings[data-section=faq]")
    faq.locator("tr.new input").fill("Gibt es Gutscheine?")
    faq.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    assert "needs its answer" in page.locator("p.error").inner_text()
    faq = page.locator("section.settings[data-section=faq]")
    faq.locator("tr.new input").fill("Gibt es Gutscheine?")
    faq.locator("tr.new textarea").fill("Ja, an der Kasse, ab 10 Euro.")
    faq.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    assert "Gespeichert" in page.locator("p.notice").inner_text()
    saved = page.locator("section.settings[data-section=faq] input[value='Gibt es Gutscheine?']")
    assert saved.count() == 1
    shot(page, "21-settings")
    page.goto(f"{stack.control_center_url()}/settings?lang=en")
    shot(page, "22-settings-en")
    logout(page)

    # And the agent stops offering Clara that day: at once where the tool's container has not
    # read the company yet, else once its company cache (one minute) has run out.
    def clara_offered():
        asked = tool(stack, "check-availability", "check_availability", call,
                     {"date": day, "service_id": "haircut", "staff": "Clara"})
        return None if "Clara" in json.dumps(asked.get("staff", {})) else asked
    wait_for(clara_offered, timeout=75, interval=5)


def test_an_admin_exports_and_erases_a_caller_and_reads_the_trail_staff_may_not(stack, page):
    caller = f"+49176{uuid.uuid4().int % 10**8:08d}"
    played = play(stack, from_number=caller)
    call_id = played["call"]["call_id"]
    wait_for(lambda: {"call_ended", "call_analyzed"} <= events_applied(stack, call_id))
    login(stack, page, "admin")
    page.goto(f"{stack.control_center_url()}/calls/{call_id}?company=demo")
    page.locator("ol.conversation").wait_for()
    page.goto(f"{stack.control_center_url()}/privacy?company=demo")
    trail = page.locator("table.audit")
    assert "viewed_call" in trail.inner_text() and call_id in trail.inner_text(), trail.inner_text()
    shot(page, "30-privacy")
    page.fill("form.export input[name=phone]", caller)
    with page.expect_download() as download:
        page.click("form.export button[type=submit]")
    document = json.loads(Path(download.value.path()).read_text())
    assert [c["call_id"] for c in document["calls"]] == [call_id]
    assert {a["customer_phone"] for a in document["appointments"]} <= {caller}
    # Hostile forms: refused with a reason, nothing erased.
    csrf = page.locator("form.erase input[name=csrf]").get_attribute("value")
    for form in ({"phone": "x" * 100_000}, {"phone": caller, "confirm": "salon-calcom"},
                 {"phone": "+493012345678", "confirm": "demo"}, {"phone": caller + "\u0000", "confirm": "demo"}):
        refused = page.request.post(f"{stack.control_center_url()}/privacy/erase", form={"csrf": csrf, **form})
        assert refused.status == 400, (refused.status, str(form)[:60])
        assert len(refused.text()) < 20_000
    page.fill("form.erase input[name=phone]", caller)
    page.fill("form.erase input[name=confirm]", "demo")
    page.click("form.erase button[type=submit]")
    notice = page.locator("p.notice")
    assert notice.inner_text().startswith("Gelöscht: 1 Anrufe"), notice.inner_text()
    assert page.locator("p.ok").count() == 1, page.locator("main").inner_text()
    assert "erased" in page.locator("table.audit").inner_text()
    assert caller not in page.content()
    shot(page, "31-privacy-erased")
    page.goto(f"{stack.control_center_url()}/privacy?company=demo&lang=en")
    assert page.locator("h1").inner_text() == "Privacy"
    assert "Export everything (JSON)" in page.locator("section.caller").inner_text()
    shot(page, "32-privacy-en")
    page.goto(f"{stack.control_center_url()}/privacy?company=demo&lang=de")
    # The call is still there, without the caller.
    page.goto(f"{stack.control_center_url()}/calls/{call_id}?company=demo")
    assert caller not in page.locator("main").inner_text()
    logout(page)
    login(stack, page, "staff")
    response = page.goto(f"{stack.control_center_url()}/privacy")
    assert response.status == 403
    forged = page.request.post(f"{stack.control_center_url().replace('/admin/retell-control-center', '')}"
                               "/api/retell/companies/demo/privacy/export",
                               data=json.dumps({"phone": caller}), headers={"content-type": "application/json"})
    assert forged.status in (401, 403), forged.status
    page.goto(stack.control_center_url())
    logout(page)


def test_an_admin_creates_edits_publishes_and_restores_an_agent_staff_only_read(stack, page):
    """Agents from the control center: an admin creates one from the default template with a
    voice (its preview plays in the page) and three catalog tools for company demo, which lists
    it; publishes it; edits the draft (prompt, voice) and sees the diff against the published
    version; publishes; restores version 0 into the draft and publishes that; `retell-ops
    test-connection` passes for the agent and its LLM. Hostile forms are refused with reasons.
    Staff see the agent without forms, and their posts are refused."""
    from test_retell_ops import ops, sdk
    client = sdk(stack)
    cc = stack.control_center_url()
    name = f"E2E Rezeption {uuid.uuid4().hex[:6]}"
    tools = ["check_availability", "book_appointment", "request_callback"]
    added_line = "Sag zum Schluss immer: Auf Wiederhören und bis bald!"

    login(stack, page, "admin")
    page.goto(f"{cc}/agents?company=demo")
    page.click("p.actions a.button")
    page.wait_for_url(re.compile(r".*/agents/new(\?.*)?$"), wait_until="load")
    form = page.locator("form.agent-new")
    # Every voice of list-voices with its preview, and the previews play (the CSP allows them).
    assert form.locator("table.voices tr[data-voice]").count() >= 5
    preview = "tr[data-voice='11labs-Leon'] audio"
    assert form.locator(preview).get_attribute("src").startswith(f"{stack.retell_url}/voice-previews/")
    ready = page.evaluate("""async (selector) => {
        const audio = document.querySelector(selector);
        audio.preload = "auto";
        audio.load();
        await new Promise((loaded, failed) => {
            audio.onloadedmetadata = loaded;
            audio.onerror = () => failed(new Error("preview failed: " + (audio.error && audio.error.code)));
            setTimeout(() => failed(new Error("preview did not load")), 15000);
        });
        return audio.readyState;
    }""", preview)
    assert ready >= 1
    form.locator("select[name=company_id]").select_option("demo")
    form.locator("input[name=agent_name]").fill(name)
    form.locator("select[name=language]").select_option("de-DE")
    form.locator("tr[data-voice='11labs-Leon'] input[type=radio]").check()
    for box in form.locator("fieldset.tools input[name=tools]").all():
        box.uncheck()
    for tool in tools:
        form.locator(f"fieldset.tools input[value={tool}]").check()
    shot(page, "40-agent-new")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/agents/agent_\w+\?company=demo&done=created.*"), wait_until="load")
    agent_id = re.search(r"/agents/(agent_\w+)", page.url).group(1)
    assert "Agent angelegt" in page.locator("p.notice").inner_text()
    assert "Noch keine Version veröffentlicht" in page.locator("section.agent-diff").inner_text()
    shot(page, "41-agent-created")

    # At Retell: the voice, the webhook and the three tools at this stack, the template's own kept.
    agent = client.agent.retrieve(agent_id)
    assert agent.voice_id == "11labs-Leon" and agent.webhook_url == stack.webhook_url()
    assert agent.language == "de-DE" and agent.agent_name == name
    llm_id = agent.response_engine.llm_id
    llm = client.llm.retrieve(llm_id)
    by_name = {t.name: t for t in llm.general_tools}
    assert set(by_name) == {*tools, "transfer_to_staff", "end_call"}, set(by_name)
    assert by_name["book_appointment"].url == stack.tool_url("book_appointment")
    assert "{{company_name}}" in llm.general_prompt
    # In the company's agent_ids, in the same step (a settings change like any other).
    companies = stack.description["resources"]["CompaniesTable"]["Ref"]
    item = aws(stack, "dynamodb").get_item(TableName=companies, Key={"pk": {"S": "company#demo"}},
                                           ConsistentRead=True)["Item"]
    assert agent_id in json.loads(item["settings"]["S"])["agent_ids"]
    page.goto(f"{cc}/agents?company=demo")
    assert page.locator(f"table.agents tr[data-agent={agent_id}]").count() == 1

    def open_agent():
        page.goto(f"{cc}/agents/{agent_id}?company=demo")

    def publish():
        page.locator("section.agent-diff form.publish button").click()
        page.wait_for_url(re.compile(r".*done=published.*"), wait_until="load")

    open_agent()
    publish()
    assert client.agent.retrieve(agent_id, version=0).is_published
    assert "Der Entwurf entspricht der veröffentlichten Version" in page.locator("section.agent-diff").inner_text()

    # An edit goes into the draft; the diff shows it before it is published.
    edit = page.locator("form.agent-edit")
    prompt = edit.locator("textarea[name=general_prompt]")
    prompt.fill(prompt.input_value().rstrip("\n") + "\n" + added_line)
    edit.locator("tr[data-voice='openai-Nova'] input[type=radio]").check()
    edit.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*done=saved.*"), wait_until="load")
    diff = page.locator("section.agent-diff")
    assert "11labs-Leon" in diff.locator("tr[data-field=voice_id]").inner_text()
    assert "openai-Nova" in diff.locator("tr[data-field=voice_id]").inner_text()
    assert diff.locator("ol.diff li.added").inner_text().endswith(added_line)
    assert diff.locator("ol.diff li.skipped").count() >= 1, "unchanged lines are folded"
    assert client.agent.retrieve(agent_id, version=0).voice_id == "11labs-Leon", "published stays"
    diff.scroll_into_view_if_needed()
    shot(page, "42-agent-diff")
    publish()
    published = client.agent.retrieve(agent_id, version=1)
    assert published.is_published and published.voice_id == "openai-Nova"

    # Hostile forms: refused with the reason, nothing written.
    csrf = page.locator("form.agent-edit input[name=csrf]").get_attribute("value")
    stamp = page.locator("form.agent-edit input[name=stamp]").get_attribute("value")
    post = lambda path, **form: page.request.post(f"{cc}/agents/{agent_id}{path}?company=demo",  # noqa: E731
                                                  form={"csrf": csrf, **form})
    for form_fields, status, needle in [
            ({"agent_name": "x" * 65}, 400, "agent_name"),
            ({"agent_name": "a\u0000b"}, 400, "agent_name"),
            ({"voice_id": "11labs-Nobody"}, 400, "voice_id"),
            ({"language": "xx-XX"}, 400, "language"),
            ({"tools_shown": "1", "tools": "rm_rf"}, 400, "tools"),
            ({"general_prompt": "x" * 50_001}, 400, "general_prompt"),
            ({"begin_message": "Hallo\u0007"}, 400, "begin_message"),
            ({"general_prompt": "anders", "stamp": "0.0.0"}, 409, "meanwhile")]:
        refused = post("", **form_fields)
        assert refused.status == status, (refused.status, str(form_fields)[:60])
        assert needle in refused.text(), (needle, refused.text()[:300])
    for path, form_fields, status in [("/restore", {"version": "abc", "stamp": stamp}, 400),
                                      ("/restore", {"version": "-1", "stamp": stamp}, 400),
                                      ("/restore", {"version": "999", "stamp": stamp}, 404),
                                      ("/publish", {"stamp": "0.0.0"}, 409),
                                      ("/publish", {}, 400)]:
        refused = post(path, **form_fields)
        assert refused.status == status, (path, form_fields, refused.status)
    other = page.request.post(f"{cc}/agents/agent_calcom_demo/publish?company=demo",
                              form={"csrf": csrf, "stamp": stamp})
    assert other.status == 404, "another company's agent"
    new_refused = page.request.post(f"{cc}/agents/new?company=demo", form={
        "csrf": csrf, "company_id": "demo", "agent_name": "X", "language": "de-DE", "voice_id": "11labs-Anna",
        "tools": "rm_rf"})
    assert new_refused.status == 400 and "tools" in new_refused.text()
    assert client.agent.retrieve(agent_id).agent_name == name
    assert added_line in client.llm.retrieve(llm_id).general_prompt

    # Roll back: version 0 into the draft (reviewed in the diff), then published.
    open_agent()
    versions = page.locator("section.agent-versions")
    assert "aktuell" in versions.locator("tr[data-version='1'] td.state").inner_text()
    assert "Entwurf" in versions.locator("tr[data-version='2'] td.state").inner_text()
    versions.locator("tr[data-version='0'] form.restore button").click()
    page.wait_for_url(re.compile(r".*done=restored.*"), wait_until="load")
    diff = page.locator("section.agent-diff")
    assert diff.locator("ol.diff li.removed").inner_text().endswith(added_line)
    assert "11labs-Leon" in diff.locator("tr[data-field=voice_id] td.after").inner_text()
    shot(page, "43-agent-restored")
    publish()
    latest = client.agent.retrieve(agent_id, version=2)
    assert latest.is_published and latest.voice_id == "11labs-Leon"
    assert added_line not in client.llm.retrieve(llm_id, version=int(latest.response_engine.version)).general_prompt
    shot(page, "44-agent-published")
    page.goto(f"{cc}/agents/{agent_id}?company=demo&lang=en")
    assert page.locator("section.agent-versions h2").inner_text() == "Versions"
    shot(page, "46-agent-en")
    page.goto(f"{cc}/agents/{agent_id}?company=demo&lang=de")

    # test-connection passes for the agent and its LLM's tools.
    _, report, _ = ops(stack, "test-connection", check=False)
    mine = [c for c in report["checks"] if agent_id in c["what"] or llm_id in c["what"]]
    assert {c["status"] for c in mine} == {"ok"}, mine
    whats = " ".join(c["what"] for c in mine)
    assert "webhook_url" in whats and all(t in whats for t in tools), whats

    # The admin API: the same draft, diff and versions; edits, refusals and publish.
    api = cc.replace("/admin/retell-control-center", "") + "/api/retell"
    got = page.request.get(f"{api}/agents/{agent_id}?company=demo")
    assert got.status == 200, got.text()
    state = got.json()
    assert state["published"]["version"] == 2 and state["draft"]["version"] == 3 and state["may_change"]
    assert [v["version"] for v in state["versions"]] == [3, 2, 1, 0]
    assert state["changes"]["fields"] == [] and not state["changes"]["general_prompt"]["changed"]
    put = lambda body: page.request.put(  # noqa: E731
        f"{api}/agents/{agent_id}?company=demo", data=json.dumps(body),
        headers={"content-type": "application/json", "x-csrf-token": csrf})
    saved = put({"begin_message": "Hallo aus der API", "stamp": state["draft"]["stamp"]})
    assert saved.status == 200 and saved.json()["changed"] == ["begin_message"], saved.text()
    for body, status in [({"begin_message": "x", "stamp": state["draft"]["stamp"]}, 409),
                         ({"restore_version": 1, "voice_id": "openai-Nova"}, 400),
                         ({"restore_version": "1"}, 400), ({"restore_version": 99}, 404),
                         ({"tools": ["rm_rf"]}, 400), ({"agent_name": ""}, 400), ({"surprise": 1}, 400)]:
        refused = put(body)
        assert refused.status == status, (body, refused.status, refused.text())
    changes = page.request.get(f"{api}/agents/{agent_id}?company=demo").json()["changes"]["fields"]
    assert [c["field"] for c in changes] == ["begin_message"], changes
    published = put({"publish": True})
    assert published.status == 200 and published.json()["published_version"] == 3, published.text()

    # The audit trail has it.
    page.goto(f"{cc}/privacy?company=demo")
    trail = page.locator("table.audit").inner_text()
    assert "agent_created" in trail and "agent_published" in trail and "agent_restored" in trail, trail
    logout(page)

    # Staff: the agent without forms; the new-agent page and every post refused.
    login(stack, page, "staff")
    response = page.goto(f"{cc}/agents/{agent_id}")
    assert response.status == 200
    assert page.locator("section.agent-draft").count() == 1
    assert page.locator("main form").count() == 0, "no forms for staff"
    assert "Nur Admins ändern Agenten" in page.locator("section.agent-draft").inner_text()
    shot(page, "45-agent-staff")
    staff_csrf = page.locator("header form[action$='/logout'] input[name=csrf]").get_attribute("value")
    for path, form_fields in [("", {"agent_name": "Von Staff"}), ("/publish", {"stamp": stamp}),
                              ("/restore", {"version": "0", "stamp": stamp})]:
        refused = page.request.post(f"{cc}/agents/{agent_id}{path}", form={"csrf": staff_csrf, **form_fields})
        assert refused.status == 403, (path, refused.status)
    assert page.goto(f"{cc}/agents/new").status == 403
    api = cc.replace("/admin/retell-control-center", "") + "/api/retell"
    seen = page.request.get(f"{api}/agents/{agent_id}")
    assert seen.status == 200 and seen.json()["may_change"] is False
    refused = page.request.put(f"{api}/agents/{agent_id}", data=json.dumps({"publish": True}),
                               headers={"content-type": "application/json", "x-csrf-token": staff_csrf})
    assert refused.status == 403, refused.status
    refused = page.request.post(f"{cc}/agents/new", form={
        "csrf": staff_csrf, "company_id": "demo", "agent_name": "X", "language": "de-DE", "voice_id": "11labs-Anna"})
    assert refused.status == 403
    assert client.agent.retrieve(agent_id).agent_name == name
    refused = page.request.delete(f"{api}/agents/{agent_id}", headers={"x-csrf-token": staff_csrf})
    assert refused.status == 403, refused.status
    page.goto(cc)
    logout(page)

    # An admin deletes it: gone at Retell and from the company's agent_ids in one step.
    login(stack, page, "admin")
    admin_csrf = page.locator("header form[action$='/logout'] input[name=csrf]").get_attribute("value")
    gone = page.request.delete(f"{api}/agents/{agent_id}?company=demo", headers={"x-csrf-token": admin_csrf})
    assert gone.status == 204, gone.text()
    settings = page.request.get(f"{api}/companies/demo/settings").json()
    assert agent_id not in settings["settings"]["agent_ids"], settings
    with pytest.raises(retell.NotFoundError):
        client.agent.retrieve(agent_id)
    logout(page)


def test_the_logs_page_filters_by_function_and_shows_new_lines_live(stack, page):
    """Logs of one function: a tool call made while the page is open appears on it without a
    reload, only that function's lines are listed, unticking "live" stops it; the JSON the page
    polls refuses what the page refuses and shows staff only their company's lines."""
    from test_local_stack import next_tuesday, tool
    cc = stack.control_center_url()
    day = next_tuesday().isoformat()

    def ask(to_number, agent_id):
        call_id = f"call_e2e_logs_{uuid.uuid4().hex[:10]}"
        tool(stack, "check-availability", "check_availability",
             {"call_id": call_id, "agent_id": agent_id, "from_number": "+4917688887777", "to_number": to_number},
             {"date": day, "service_id": "Haarschnitt"})
        return call_id

    def polled(pg, **params):
        params.setdefault("after_ms", str(int(time.time() * 1000) - 120_000))
        query = "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in params.items())
        return pg.request.get(f"{cc}/logs/lines?{query}")

    login(stack, page, "admin")
    page.goto(f"{cc}/logs")
    page.select_option("select[name=function]", "check-availability")
    page.select_option("select[name=level]", "info")
    page.click("form.filters button")
    page.wait_for_url(re.compile(r".*/logs\?.*function=check-availability"), wait_until="load")
    assert page.locator("select[name=function]").input_value() == "check-availability"
    assert page.locator("select[name=level]").input_value() == "info"
    toggle = page.locator("#live-toggle")
    assert toggle.is_checked(), "today's page is live"
    page.evaluate("window.__notReloaded = true")
    live_call = ask("+493012345678", "agent_demo")
    row = page.locator("table.logs tbody tr", has_text=live_call)
    row.first.wait_for(timeout=60_000)  # the shipper's second, then the page's next poll (5 s)
    assert page.evaluate("window.__notReloaded") is True, "the line came without a reload"
    assert "new" in row.first.get_attribute("class")
    assert row.first.locator("td").nth(1).inner_text() == "check-availability"
    functions = set(page.locator("table.logs tbody tr td:nth-child(2)").all_inner_texts())
    assert functions == {"check-availability"}, functions
    link = row.first.locator("a").get_attribute("href")
    assert link.startswith("/lambda-url/control-center/admin/retell-control-center/logs?day=") and live_call in link
    shot(page, "07b-logs-live")

    # Unticked, nothing more comes.
    toggle.uncheck()
    quiet_call = ask("+493012345678", "agent_demo")
    time.sleep(9)
    assert page.locator("table.logs tbody tr", has_text=quiet_call).count() == 0
    assert page.evaluate("window.__notReloaded") is True

    # What the page refuses, the poll refuses too, with the reason.
    assert page.goto(f"{cc}/logs?function=nope").status == 400
    assert "nope" in page.locator("p.error").inner_text()
    assert page.goto(f"{cc}/logs?level=loud").status == 400
    for params, reason in [({"function": "nope"}, "function"), ({"function": "x" * 20_000}, "function"),
                           ({"function": "webhook\0"}, "function"), ({"level": "loud"}, "level"),
                           ({"after_ms": "-1"}, "after_ms"), ({"after_ms": "99999999999999999999"}, "after_ms"),
                           ({"after_ms": "1"}, "after_ms"), ({"after_ms": "soon"}, "after_ms")]:
        refused = polled(page, **params)
        assert refused.status == 400, (params.keys(), refused.status)
        assert reason in refused.json()["message"], refused.text()
    page.goto(cc)

    # Admin: both companies' lines; staff: their company's only.
    other_call = ask("+493012345679", "agent_calcom_demo")
    demo_call = ask("+493012345678", "agent_demo")

    def call_ids(pg):
        answer = polled(pg, function="check-availability")
        assert answer.status == 200, answer.text()
        body = answer.json()
        assert body["truncated"] is False and body["next_after_ms"] <= body["until_ms"], body
        return {line["call_id"] for line in body["lines"]}, body["lines"]

    wait_for(lambda: {other_call, demo_call} <= call_ids(page)[0], timeout=60)
    logout(page)
    login(stack, page, "staff")
    seen, lines = call_ids(page)
    assert demo_call in seen and other_call not in seen, seen
    assert {line["function"] for line in lines} == {"check-availability"}, lines
    page.goto(f"{cc}/logs?function=check-availability&call_id={other_call}")
    assert page.locator("table.logs tbody tr").count() == 0
    assert page.locator("#logs-empty").is_visible()
    logout(page)
