"""The control center in a real browser (Debian's chromium, driven by Playwright): log in as an
admin and as a staff member, watch a simulated call appear on the overview, open a call with its
transcript and booking, see analytics render, be refused another company's call, log out.
Screenshots of every page go to target/e2e-screenshots/ (look at them)."""

import json
import os
import re
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

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

    page.click("nav a:text('Auswertung')")
    # count() does not wait: the new page must have loaded first.
    page.wait_for_url(re.compile(r".*/analytics(\?.*)?$"), wait_until="load")
    page.locator("figure.chart svg").first.wait_for()
    assert page.locator("figure.chart svg").count() >= 5
    assert page.locator("figure.chart rect.bar").count() > 30
    per_staff = page.locator("div.per-staff figure.chart")
    assert stylist in per_staff.inner_text(), per_staff.inner_text()
    shot(page, "05-analytics")
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
