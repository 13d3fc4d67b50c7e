"""Messages to callers through the local stack: the tools and the desk queue a notice, the messaging
function sends SMS (SNS) and e-mail with the appointment's .ics (SES v2), the emulator keeps what
was sent (`GET /_outbox`, `retell-ops outbox`), and a real iCalendar parser reads the attachment.

Two companies of their own (loaded here, so no function has them cached): `msgtest` without
quiet hours, so every test is the same at any time of day, and `msgquiet`, quiet right now."""

import datetime
import json
import re
import time
import urllib.request
import uuid
import zoneinfo

import pytest
from icalendar import Calendar

from test_local_stack import aws, next_tuesday, tool, wait_for

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def company(company_id, number, **messaging):
    return {
        "company_id": company_id, "name": f"Salon {company_id}", "time_zone": "Europe/Berlin",
        "language": "de", "agent_ids": [f"agent_{company_id}"], "phone_numbers": [number],
        "hours": {d: ["07:00-21:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        "services": [{"id": "haircut", "names": ["Haarschnitt"], "duration_minutes": 30}],
        "slot_step_minutes": 15, "min_notice_minutes": 0,
        "messaging": {"sms": True, "email": True, "sms_sender_id": "SalonTest",
                      "email_from": "Salon Test <termine@demo.example>",
                      "staff_email": f"team@{company_id}.example", "quiet_hours": "",
                      "reminder_lead_minutes": 1440, **messaging},
    }


@pytest.fixture(scope="module")
def companies(stack, tmp_path_factory):
    now = datetime.datetime.now(BERLIN)
    quiet = f"{(now - datetime.timedelta(hours=1)):%H:%M}-{(now + datetime.timedelta(hours=2)):%H:%M}"
    loaded = {}
    for c in (company("msgtest", "+493099900001"), company("msgquiet", "+493099900002", quiet_hours=quiet)):
        path = tmp_path_factory.mktemp("companies") / f"{c['company_id']}.json"
        path.write_text(json.dumps(c))
        stack.ops("companies", "load", str(path))
        loaded[c["company_id"]] = c
    return loaded


def caller(company_id, number=None):
    number = number or f"+4917{uuid.uuid4().int % 10**9:09d}"
    return {"call_id": f"call_msg_{uuid.uuid4().hex[:10]}", "agent_id": f"agent_{company_id}",
            "from_number": number, "to_number": "+493099900001"}


def outbox(stack):
    with urllib.request.urlopen(f"{stack.endpoint}/_outbox", timeout=10) as r:
        return json.loads(r.read())["messages"]


def sent_to(stack, who, channel=None):
    return [m for m in outbox(stack)
            if (m["to"] == who or (isinstance(m["to"], list) and who in m["to"]))
            and (channel is None or m["channel"] == channel)]


def one(stack, who, channel, needle, timeout=60):
    """Waits for the message to `who` whose text or subject has `needle`; exactly one such."""
    def found():
        return [m for m in sent_to(stack, who, channel)
                if needle in (m.get("text") or "") + (m.get("subject") or "")]
    wait_for(found, timeout=timeout)
    time.sleep(2)  # a second copy would have come by now (the queue redelivers within a second)
    got = found()
    assert len(got) == 1, got
    return got[0]


def calendar_of(mail):
    (ics,) = [a for a in mail["attachments"] if a["filename"].endswith(".ics")]
    return Calendar.from_ical(ics["content"])


def event_of(cal):
    (event,) = [c for c in cal.walk() if c.name == "VEVENT"]
    return event


def claim(stack, company_id, key):
    ddb = aws(stack, "dynamodb")
    item = ddb.get_item(TableName=stack.description["resources"]["AppointmentsTable"]["Ref"],
                        Key={"pk": {"S": f"C#{company_id}"}, "sk": {"S": f"M#{key}"}},
                        ConsistentRead=True).get("Item")
    return {k: list(v.values())[0] for k, v in (item or {}).items()}


def sweep(stack, at):
    """The messaging function's scheduled run, as EventBridge invokes it, for the time `at`."""
    event = {"version": "0", "id": "e2e", "detail-type": "Scheduled Event", "source": "aws.events",
             "time": at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "region": "eu-central-1", "resources": [], "detail": {}}
    req = urllib.request.Request(f"{stack.api}/2015-03-31/functions/messaging/invocations",
                                 data=json.dumps(event).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_a_phone_booking_is_confirmed_once_by_sms_and_email_then_moved_and_cancelled(stack, companies):
    call = caller("msgtest")
    phone, mail = call["from_number"], f"kai.{uuid.uuid4().hex[:8]}@example.org"
    day = next_tuesday() + datetime.timedelta(weeks=2)
    args = {"date": day.isoformat(), "time": "10:00", "service_id": "haircut",
            "customer_name": "Kai Kalender", "customer_email": mail}
    booked = tool(stack, "book-appointment", "book_appointment", call, args)
    assert booked["success"] is True, booked
    # Retell retries a tool call whose answer it lost: the same booking, and still one message.
    again = tool(stack, "book-appointment", "book_appointment", call, args)
    assert again["appointment_id"] == booked["appointment_id"], again

    sms = one(stack, phone, "sms", "ist gebucht")
    assert sms["from"] == "SalonTest" and sms["sms_type"] == "Transactional", sms
    assert "10:00" in sms["text"] and "Haarschnitt" in sms["text"], sms
    email = one(stack, mail, "email", "Ihr Termin")
    assert email["from"] == "Salon Test <termine@demo.example>"
    assert "Kai Kalender" in email["text"]
    cal = calendar_of(email)
    assert str(cal["METHOD"]) == "REQUEST"
    event = event_of(cal)
    start = datetime.datetime.combine(day, datetime.time(10, 0), BERLIN)
    assert event["DTSTART"].dt == start and event["DTEND"].dt == start + datetime.timedelta(minutes=30)
    assert str(event["DTSTART"].params["TZID"]) == "Europe/Berlin"
    assert event["DTSTART"].dt.utcoffset() == start.utcoffset()
    assert str(event["UID"]) == f"{booked['appointment_id']}@msgtest"
    assert int(event["SEQUENCE"]) == 0

    moved = tool(stack, "reschedule-appointment", "reschedule_appointment", call,
                 {"new_date": day.isoformat(), "new_time": "14:30"})
    assert moved["success"] is True, moved
    one(stack, phone, "sms", "verschoben auf")
    moved_mail = one(stack, mail, "email", "Termin verschoben")
    event = event_of(calendar_of(moved_mail))
    assert str(event["UID"]) == f"{booked['appointment_id']}@msgtest", "the same event, updated"
    assert int(event["SEQUENCE"]) == 1
    assert event["DTSTART"].dt == datetime.datetime.combine(day, datetime.time(14, 30), BERLIN)

    cancelled = tool(stack, "cancel-appointment", "cancel_appointment", call, {})
    assert cancelled["success"] is True, cancelled
    one(stack, phone, "sms", "ist abgesagt")
    cancel_mail = one(stack, mail, "email", "Termin abgesagt")
    cal = calendar_of(cancel_mail)
    assert str(cal["METHOD"]) == "CANCEL"
    event = event_of(cal)
    assert int(event["SEQUENCE"]) == 2 and str(event["STATUS"]) == "CANCELLED"
    assert str(event["UID"]) == f"{booked['appointment_id']}@msgtest"

    # What a person reads: the outbox command lists them, with the calendar attached.
    listed = json.loads(stack.ops("--json", "outbox", "--to", mail))["messages"]
    assert len(listed) == 3, listed
    assert [m["subject"].split(" ")[:2] for m in listed] == [["Ihr", "Termin"], ["Termin", "verschoben:"],
                                                           ["Termin", "abgesagt:"]], listed
    assert all(m["attachments"][0]["filename"] == "termin.ics" for m in listed)
    text = stack.ops("outbox", "--to", phone)
    assert "ist gebucht" in text and "SalonTest" in text, text


def test_a_landline_gets_no_sms_and_a_number_that_replied_stop_neither(stack, companies):
    landline = caller("msgtest", f"+4930{uuid.uuid4().int % 10**8:08d}")
    mail = f"lena.{uuid.uuid4().hex[:8]}@example.org"
    day = next_tuesday() + datetime.timedelta(weeks=3)
    booked = tool(stack, "book-appointment", "book_appointment", landline,
                  {"date": day.isoformat(), "time": "09:00", "service_id": "haircut",
                   "customer_name": "Lena Festnetz", "customer_email": mail})
    assert booked["success"] is True, booked
    one(stack, mail, "email", "Ihr Termin")
    key = f"{booked['appointment_id']}#0#confirmation#sms"
    wait_for(lambda: claim(stack, "msgtest", key).get("status") == "skipped")
    assert claim(stack, "msgtest", key)["detail"] == "not_mobile"
    assert sent_to(stack, landline["from_number"]) == []

    mobile = caller("msgtest")
    req = urllib.request.Request(f"{stack.endpoint}/_outbox/reply", method="POST",
                                 data=json.dumps({"from": mobile["from_number"], "text": "STOP"}).encode())
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read())["opted_out"] is True
    booked = tool(stack, "book-appointment", "book_appointment", mobile,
                  {"date": day.isoformat(), "time": "11:00", "service_id": "haircut", "customer_name": "Sven Stopp"})
    assert booked["success"] is True, booked
    key = f"{booked['appointment_id']}#0#confirmation#sms"
    wait_for(lambda: claim(stack, "msgtest", key).get("status") == "skipped")
    assert claim(stack, "msgtest", key)["detail"] == "opted_out"
    assert claim(stack, "msgtest", key)["recipient"] != mobile["from_number"], "kept masked"
    assert sent_to(stack, mobile["from_number"]) == []


def test_quiet_hours_hold_the_sms_and_let_the_email_go(stack, companies):
    call = caller("msgquiet")
    call["to_number"] = "+493099900002"
    mail = f"nora.{uuid.uuid4().hex[:8]}@example.org"
    day = next_tuesday() + datetime.timedelta(weeks=2)
    booked = tool(stack, "book-appointment", "book_appointment", call,
                  {"date": day.isoformat(), "time": "12:00", "service_id": "haircut",
                   "customer_name": "Nora Nacht", "customer_email": mail})
    assert booked["success"] is True, booked
    one(stack, mail, "email", "Ihr Termin")
    # The SMS waits in the due index for the end of the quiet hours, and is not sent now.
    table = stack.description["resources"]["AppointmentsTable"]["Ref"]
    key = f"W#{booked['appointment_id']}#0#confirmation#sms"

    def waiting():
        for days in (0, 1):
            date = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)).date()
            items = aws(stack, "dynamodb").query(
                TableName=table, KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"D#{date.isoformat()}"}})["Items"]
            found = [i for i in items if i["sk"]["S"].endswith(key)]
            if found:
                return found[0]
        return None

    item = wait_for(waiting, timeout=30)
    due = datetime.datetime.fromtimestamp(int(item["sk"]["S"].split("#")[0]) / 1000, BERLIN)
    end = companies["msgquiet"]["messaging"]["quiet_hours"].split("-")[1]
    assert due.strftime("%H:%M") == end, (due, end)
    assert sent_to(stack, call["from_number"], "sms") == []


def test_a_reminder_goes_when_due_and_not_for_a_cancelled_appointment(stack, companies):
    day = next_tuesday() + datetime.timedelta(weeks=4)
    kept, dropped = caller("msgtest"), caller("msgtest")
    for call, at in ((kept, "15:00"), (dropped, "15:30")):
        booked = tool(stack, "book-appointment", "book_appointment", call,
                      {"date": day.isoformat(), "time": at, "service_id": "haircut", "customer_name": "Rita Rem"})
        assert booked["success"] is True, booked
        one(stack, call["from_number"], "sms", "ist gebucht")
    cancelled = tool(stack, "cancel-appointment", "cancel_appointment", dropped, {})
    assert cancelled["success"] is True, cancelled
    one(stack, dropped["from_number"], "sms", "ist abgesagt")

    # Not yet: a sweep now leaves the reminders waiting.
    sweep(stack, datetime.datetime.now(datetime.timezone.utc))
    time.sleep(2)
    assert not [m for m in sent_to(stack, kept["from_number"], "sms") if "Erinnerung" in m["text"]]
    # A day before (the lead), the sweep's run sends the kept one's reminder, once.
    due = datetime.datetime.combine(day, datetime.time(15, 31), BERLIN) - datetime.timedelta(days=1)
    assert sweep(stack, due)["swept"] >= 2
    reminder = one(stack, kept["from_number"], "sms", "Erinnerung")
    assert "15:00" in reminder["text"], reminder
    sweep(stack, due)
    time.sleep(2)
    assert len([m for m in sent_to(stack, kept["from_number"], "sms") if "Erinnerung" in m["text"]]) == 1
    assert not [m for m in sent_to(stack, dropped["from_number"], "sms") if "Erinnerung" in m["text"]]


def test_a_code_proves_another_number_for_the_rest_of_the_call(stack, companies):
    owner = caller("msgtest")
    day = next_tuesday() + datetime.timedelta(weeks=5)
    booked = tool(stack, "book-appointment", "book_appointment", owner,
                  {"date": day.isoformat(), "time": "10:00", "service_id": "haircut", "customer_name": "Olga Owner"})
    assert booked["success"] is True, booked
    other_line = caller("msgtest", "+4930" + f"{uuid.uuid4().int % 10**8:08d}")
    number = owner["from_number"]

    # Before a code: another number's appointments are not told.
    before = tool(stack, "get-customer-info", "get_customer_info", other_line, {"phone": number})
    assert booked["appointment_id"] not in json.dumps(before), before

    sent = tool(stack, "send-verification-code", "send_verification_code", other_line, {"phone": number})
    assert sent["success"] is True and number[-3:] in sent["message"], sent
    sms = wait_for(lambda: [m for m in sent_to(stack, number, "sms") if "Bestätigungscode" in m["text"]])
    code = re.search(r"\b(\d{6})\b", sms[-1]["text"]).group(1)
    assert code not in json.dumps(sent), "the code is never in the reply"

    wrong = f"{(int(code) + 1) % 10**6:06d}"
    refused = tool(stack, "verify-code", "verify_code", other_line, {"phone": number, "code": wrong})
    assert refused["success"] is False and "noch 2 Mal" in refused["message"], refused
    verified = tool(stack, "verify-code", "verify_code", other_line,
                    {"phone": number, "code": f"{code[:3]} {code[3:]}"})
    assert verified["success"] is True and verified["verified"] is True, verified
    info = tool(stack, "get-customer-info", "get_customer_info", other_line, {"phone": number})
    assert booked["appointment_id"] in json.dumps(info) or "10:00" in json.dumps(info), info
    # Spent: the same code again is no code.
    spent = tool(stack, "verify-code", "verify_code", other_line, {"phone": number, "code": code})
    assert spent["success"] is False, spent

    # Three codes an hour per number: the first and two more, then a refusal.
    for _ in range(2):
        assert tool(stack, "send-verification-code", "send_verification_code", other_line,
                    {"phone": number})["success"] is True
    limited = tool(stack, "send-verification-code", "send_verification_code", other_line, {"phone": number})
    assert limited["success"] is False and "drei Codes" in limited["message"], limited


@pytest.mark.parametrize("args,needle", [
    ({"phone": "+4990012345678"}, "keine Handynummer"),   # premium rate
    ({"phone": "+493012345678"}, "keine Handynummer"),    # a landline
    ({"phone": "12"}, "nicht richtig verstanden"),
    ({"phone": {"nested": ["+4917612345678"]}}, ""),
    ({"phone": "+49176" + "1" * 10_000}, ""),
    ({}, "Welche Nummer"),
])
def test_hostile_numbers_get_no_code(stack, companies, args, needle):
    call = caller("msgtest", "+4930" + f"{uuid.uuid4().int % 10**8:08d}")
    before = len(outbox(stack))
    reply = tool(stack, "send-verification-code", "send_verification_code", call, args)
    assert reply["success"] is False and needle in reply["message"], reply
    assert len([m for m in outbox(stack)[before:] if m["channel"] == "sms"]) == 0


@pytest.mark.parametrize("code", ["12345", "1234567", "12345a", "١٢٣٤٥٦", {"code": 1}, "1" * 100_000])
def test_hostile_codes_are_refused(stack, companies, code):
    call = caller("msgtest", "+4930" + f"{uuid.uuid4().int % 10**8:08d}")
    reply = tool(stack, "verify-code", "verify_code", call, {"phone": "+4917612345678", "code": code})
    assert reply["success"] is False, reply


def test_a_callback_request_emails_the_staff(stack, companies):
    call = caller("msgtest")
    noted = tool(stack, "request-callback", "request_callback", call,
                 {"reason": "Frage zu Strähnchen", "customer_name": "Carla Callback"})
    assert noted["success"] is True, noted
    mail = one(stack, "team@msgtest.example", "email", "Rückruf erbeten: Carla Callback")
    assert "Frage zu Strähnchen" in mail["text"] and call["from_number"] in mail["text"], mail
    tool(stack, "request-callback", "request_callback", call, {"reason": "nochmal"})
    time.sleep(2)
    assert len(sent_to(stack, "team@msgtest.example", "email")) == 1


@pytest.mark.parametrize("messaging,needle", [
    ({"sms_sender_id": "Salon Mitte Berlin"}, "sms_sender_id"),
    ({"email_from": "x@y.example\r\nBcc: z@evil.example"}, "email_from"),
    ({"texts": {"booked_sms": "{password}"}}, "placeholder"),
    ({"quiet_hours": "25:00-08:00"}, "quiet_hours"),
    ({"reminder_lead_minutes": "1440"}, 'invalid type: string "1440"'),
])
def test_companies_load_refuses_hostile_messaging_settings(stack, tmp_path, messaging, needle):
    c = company("msghostile", "+493099900003", **messaging)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(c))
    with pytest.raises(RuntimeError) as refused:
        stack.ops("companies", "load", str(path))
    assert needle in str(refused.value), refused.value
