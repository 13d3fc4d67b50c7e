"""A caller's data on request and gone on request, through the local stack: a caller books and
calls twice (simulated calls: signed webhooks, tool calls, recordings copied), gets messages;
`retell-ops privacy export` holds exactly that; `privacy erase` leaves no table item and no S3
object that holds the number in any spelling, the statistics as they were, a receipt without the
number, Retell's copies deleted; a second erase changes nothing. Retention: the calls' TTL and
the objects' tags are on what was stored, the bucket has the template's lifecycle rules. The
control center's privacy API is for admins only."""

import json
import re
import urllib.error
import urllib.request
import uuid

import pytest

from test_local_stack import aws, wait_for
from test_retell_ops import events_applied, ops, play, stats

BOOKING_SCRIPT = [
    {"agent": "Salon Demo, guten Tag!"},
    {"user": "Ich möchte einen Haarschnitt, meine Nummer ist {spoken}."},
    {"tool": "check_availability", "args": {"service_id": "Haarschnitt", "date": "{{slot_date}}"}},
    {"agent": "{{last_message}}"},
    {"tool": "book_appointment", "args": {"service_id": "Haarschnitt", "date": "{{slot_date}}",
                                          "time": "{{slot}}", "customer_name": "Greta Vergessen",
                                          "customer_email": "greta@example.org"}},
    {"agent": "Bis bald!"},
]


def national(number):
    """+4917612345678 -> 017612345678 (how a caller says it)."""
    return "0" + number[3:]


def spellings(number):
    digits = number[3:]
    return [number, number[1:], "0" + digits, f"0{digits[:3]} {digits[3:]}"]


def holds(text, number):
    """Whether text holds the number: its national significant digits, separators dropped."""
    runs = re.sub(r"(?<=\d)[ \-/.()](?=[\d ])", "", text)
    return number[3:] in re.sub(r"[ ]", "", runs) or number[3:] in runs


def ops_json(stack, *args):
    return ops(stack, *args, check=False)


def table(stack, logical):
    return stack.description["resources"][logical]["Ref"]


def scan_all(stack, logical):
    ddb = aws(stack, "dynamodb")
    items, start = [], None
    while True:
        page = ddb.scan(TableName=table(stack, logical), **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def objects(stack):
    s3 = aws(stack, "s3")
    bucket = table(stack, "EventsBucket")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return bucket, keys


@pytest.fixture(scope="module")
def caller(stack):
    """A caller of the demo company: two calls, each booking (and messaging) once."""
    number = f"+49176{uuid.uuid4().int % 10**8:08d}"
    spoken = " ".join([national(number)[:4], national(number)[4:]])
    script = [{**s, "user": s["user"].format(spoken=spoken)} if "user" in s else s for s in BOOKING_SCRIPT]
    call_ids = []
    for _ in range(2):
        played = play(stack, from_number=number, script=script)
        call_ids.append(played["call"]["call_id"])
    booked = set()
    for call_id in call_ids:
        wait_for(lambda: {"call_started", "call_ended", "call_analyzed"} <= events_applied(stack, call_id),
                 timeout=180)
        item = aws(stack, "dynamodb").get_item(TableName=table(stack, "CallsTable"),
                                               Key={"call_id": {"S": call_id}}, ConsistentRead=True)["Item"]
        booked |= {b["S"] for b in item.get("booked_appointments", {}).get("L", [])}
    assert booked, "the calls booked nothing"
    return {"number": number, "call_ids": call_ids, "appointments": booked}


def test_what_is_stored_carries_its_retention(stack, caller):
    ddb = aws(stack, "dynamodb")
    ttl = ddb.describe_time_to_live(TableName=table(stack, "CallsTable"))["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED", ttl
    for call_id in caller["call_ids"]:
        item = ddb.get_item(TableName=table(stack, "CallsTable"), Key={"call_id": {"S": call_id}},
                            ConsistentRead=True)["Item"]
        assert item["retention_days"]["N"] == "90"  # demo.json names none: the stack's default
        started_s = int(item["call_ts"]["N"]) // 1000
        assert int(item["expires_at"]["N"]) == started_s + 90 * 86400
    s3 = aws(stack, "s3")
    bucket, keys = objects(stack)
    mine = [k for k in keys if any(c in k for c in caller["call_ids"])]
    assert any(k.startswith("calls/") for k in mine) and any(k.startswith("recordings/") for k in mine), mine
    for key in mine:
        tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
        assert tags == {"retention-days": "90"}, (key, tags)
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    for days in (7, 14, 30, 60, 90, 180, 365, 730):
        rule = rules[f"retention-{days}"]
        assert rule["Expiration"]["Days"] == days
        assert rule["Filter"]["Tag"] == {"Key": "retention-days", "Value": str(days)}
    assert rules["untagged-calls"]["Expiration"]["Days"] == 730
    assert rules["backups"]["Expiration"]["Days"] == 90


def test_export_holds_exactly_the_callers_data(stack, caller, tmp_path):
    out = tmp_path / "export.json"
    code, report, err = ops_json(stack, "privacy", "export", "--company", "demo", "--phone", caller["number"],
                                 "--out", str(out))
    assert code == 0, err
    assert caller["number"] not in json.dumps(report)  # the command's own output masks it
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    doc = json.loads(out.read_text())
    assert doc["phone"] == caller["number"] and doc["company_id"] == "demo"
    assert sorted(c["call_id"] for c in doc["calls"]) == sorted(caller["call_ids"])
    for call in doc["calls"]:
        assert call["from_number"] == caller["number"]
        assert "Haarschnitt" in call["transcript"]
        assert "field_rank" not in call and "version" not in call
    assert {a["appointment_id"] for a in doc["appointments"]} == caller["appointments"]
    assert all(a["customer_phone"] == caller["number"] for a in doc["appointments"])
    assert {a["customer_name"] for a in doc["appointments"]} == {"Greta Vergessen"}
    assert doc["customer"]["phone"] == caller["number"]
    appointment_ids = {a["appointment_id"] for a in doc["appointments"]}
    assert all(any(a in json.dumps(m) for a in appointment_ids) for m in doc["messages"])
    # Nothing of another caller: every number in the document is the caller's or the business's.
    numbers = set(re.findall(r"\+\d{8,15}", json.dumps(doc)))
    assert numbers <= {caller["number"], "+493012345678"}, numbers
    assert len(doc["recordings"]) == 2


def test_erase_leaves_nothing_that_holds_the_number_and_the_statistics_as_they_were(stack, caller):
    number = caller["number"]
    before = stats(stack)
    code, report, err = ops_json(stack, "privacy", "erase", "--company", "demo", "--phone", number, "--yes")
    assert code == 0, (report, err)
    receipt = report["receipt"]
    assert report["ok"] is True and receipt["proof"]["found"] == [] and receipt["proof"]["scope"] == "company_and_archive"
    assert sorted(receipt["call_ids"]) == sorted(caller["call_ids"])
    assert set(receipt["appointment_ids"]) == caller["appointments"] and receipt["customer_record"] is True
    assert receipt["retell"] == "deleted 2" and receipt["objects_deleted"] >= 4
    text = json.dumps(report)
    assert not any(s in text for s in spellings(number)), "the receipt names the number"

    # Every item of every table, every object of the bucket: the number is nowhere.
    for logical in ("CallsTable", "AppointmentsTable", "AuditTable", "CompaniesTable"):
        left = [i for i in scan_all(stack, logical) if holds(json.dumps(i), number)]
        assert not left, (logical, left[:2])
    s3 = aws(stack, "s3")
    bucket, keys = objects(stack)
    for key in keys:
        assert not any(c in key for c in caller["call_ids"]), key
        if key.startswith("calls/"):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace")
            assert not holds(body, number), key
    # The calls and appointments stay, without the caller: the statistics and the desk add up.
    ddb = aws(stack, "dynamodb")
    for call_id in caller["call_ids"]:
        item = ddb.get_item(TableName=table(stack, "CallsTable"), Key={"call_id": {"S": call_id}},
                            ConsistentRead=True)["Item"]
        assert "erased_at_ms" in item and "transcript" not in item and "from_number" not in item
        assert item["call_status"]["S"] == "ended" and "duration_ms" in item and "expires_at" in item
    assert stats(stack) == before
    # Retell's copies are gone too.
    for call_id in caller["call_ids"]:
        with pytest.raises(urllib.error.HTTPError) as gone:
            req = urllib.request.Request(f"{stack.retell_url}/v2/get-call/{call_id}",
                                         headers={"Authorization": f"Bearer {stack.api_key}"})
            urllib.request.urlopen(req, timeout=10)
        assert gone.value.code == 404

    # The trail has the export and the erasure, without the number.
    code, trail, err = ops_json(stack, "privacy", "audit", "--company", "demo")
    assert code == 0, err
    actions = [e["action"] for e in trail["entries"]]
    assert "erased" in actions and "exported" in actions, actions
    assert not any(s in json.dumps(trail) for s in spellings(number))

    # Again: nothing held, nothing changed.
    calls_before = [ddb.get_item(TableName=table(stack, "CallsTable"), Key={"call_id": {"S": c}},
                                 ConsistentRead=True)["Item"] for c in caller["call_ids"]]
    code, again, err = ops_json(stack, "privacy", "erase", "--company", "demo", "--phone", number, "--yes", "--quick")
    assert code == 0, err
    assert again["receipt"]["call_ids"] == [] and again["receipt"]["appointment_ids"] == []
    assert again["receipt"]["objects_deleted"] == 0 and again["receipt"]["customer_record"] is False
    calls_after = [ddb.get_item(TableName=table(stack, "CallsTable"), Key={"call_id": {"S": c}},
                                ConsistentRead=True)["Item"] for c in caller["call_ids"]]
    assert calls_after == calls_before
    assert stats(stack) == before


@pytest.mark.parametrize("phone", ["", "not a number", "+49", "0" * 40, "+4917612345678\n+4917600000000",
                                   "x" * 100_000])
def test_privacy_commands_refuse_what_is_no_number_and_change_nothing(stack, tmp_path, phone):
    before = stats(stack)
    code, _, err = ops_json(stack, "privacy", "erase", "--company", "demo", "--phone", phone, "--yes")
    assert code == 1 and "the caller's number" in err, err
    assert len(err) < 500  # the refusal does not echo what it was given
    code, _, err = ops_json(stack, "privacy", "export", "--company", "demo", "--phone", phone,
                            "--out", str(tmp_path / "x.json"))
    assert code == 1 and "the caller's number" in err and not (tmp_path / "x.json").exists()
    assert stats(stack) == before


def test_an_unknown_company_is_refused(stack, tmp_path):
    code, _, err = ops_json(stack, "privacy", "erase", "--company", "nobody-here", "--phone", "+4917612345678", "--yes")
    assert code != 0 and "nobody-here" in err


def test_the_business_own_line_is_not_a_caller(stack, tmp_path):
    # Every call of the company is to or from it: an export would hand over every caller.
    code, _, err = ops_json(stack, "privacy", "export", "--company", "demo", "--phone", "+493012345678",
                            "--out", str(tmp_path / "all.json"))
    assert code == 1 and "own numbers" in err and not (tmp_path / "all.json").exists()
    code, _, err = ops_json(stack, "privacy", "erase", "--company", "demo", "--phone", "+493012345678", "--yes")
    assert code == 1 and "own numbers" in err
