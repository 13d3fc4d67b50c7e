"""infra/local/aws_emulator.py's TransactWriteItems (a journal of the touched items) against moto's
own (a deep copy of every table it names): same answers, same cancellation reasons, same table
and index contents afterwards, in every kind of transaction the backend and the tools send and
the ways they can fail. Runs in-process (moto's mock_aws); the isolation under concurrency is
pinned by tests/storage.rs (concurrent_transactions_are_isolated_by_the_emulator)."""

import boto3
import botocore.exceptions
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

import aws_emulator  # conftest puts infra/local on the path; importing it installs the journal

S = lambda v: {"S": v}  # noqa: E731
N = lambda v: {"N": str(v)}  # noqa: E731


def seed(db):
    db.create_table(TableName="calls", BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    db.create_table(
        TableName="appts", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "phone", "day")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_phone", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "phone", "KeyType": "HASH"},
                                               {"AttributeName": "day", "KeyType": "RANGE"}]}])
    for i in range(30):
        db.put_item(TableName="calls", Item={"pk": S(f"call_{i}"), "n": N(i), "tag": S("x")})
    db.put_item(TableName="calls", Item={"pk": S("counter"), "n": N(5)})
    for i in range(10):
        db.put_item(TableName="appts", Item={"pk": S(f"co#{i % 3}"), "sk": S(f"appt#{i}"),
                                             "phone": S(f"+49{i % 4}"), "day": S(f"2025-01-{10 + i:02d}")})
    db.put_item(TableName="appts", Item={"pk": S("lonely"), "sk": S("only"), "phone": S("+49x"), "day": S("d")})


def put(table, item, cond=None, **kw):
    op = {"TableName": table, "Item": item, **kw}
    if cond:
        op["ConditionExpression"] = cond
    return {"Put": op}


def add(table, key, n=1, cond=None):
    op = {"TableName": table, "Key": key, "UpdateExpression": "ADD n :one",
          "ExpressionAttributeValues": {":one": N(n)}}
    if cond:
        op["ConditionExpression"] = cond
    return {"Update": op}


TRANSACTIONS = {
    "commit: put new, add to existing, delete, update a GSI key": [
        put("calls", {"pk": S("new_1"), "n": N(1)}, "attribute_not_exists(pk)"),
        add("calls", {"pk": S("counter")}),
        {"Delete": {"TableName": "appts", "Key": {"pk": S("co#0"), "sk": S("appt#0")}}},
        {"Update": {"TableName": "appts", "Key": {"pk": S("co#1"), "sk": S("appt#1")},
                    "UpdateExpression": "SET phone = :p", "ExpressionAttributeValues": {":p": S("+49new")}}},
    ],
    "cancel: duplicate delivery (put exists) rolls back the counter": [
        put("calls", {"pk": S("call_3"), "n": N(99)}, "attribute_not_exists(pk)"),
        add("calls", {"pk": S("counter")}),
    ],
    "cancel: the failing check comes last, after every kind of write": [
        put("calls", {"pk": S("new_2"), "n": N(1)}),
        put("calls", {"pk": S("call_4"), "n": N(44), "extra": S("overwritten")}),
        add("calls", {"pk": S("counter")}),
        add("calls", {"pk": S("created_by_update")}),
        {"Delete": {"TableName": "calls", "Key": {"pk": S("call_5")}}},
        {"Delete": {"TableName": "appts", "Key": {"pk": S("lonely"), "sk": S("only")}}},
        {"Delete": {"TableName": "appts", "Key": {"pk": S("co#2"), "sk": S("appt#2")}}},
        put("appts", {"pk": S("co#new"), "sk": S("appt#new"), "phone": S("+490"), "day": S("2025-02-01")}),
        {"Update": {"TableName": "appts", "Key": {"pk": S("co#1"), "sk": S("appt#4")},
                    "UpdateExpression": "SET phone = :p, #d = :d", "ExpressionAttributeNames": {"#d": "day"},
                    "ExpressionAttributeValues": {":p": S("+491"), ":d": S("2030-01-01")}}},
        {"ConditionCheck": {"TableName": "calls", "Key": {"pk": S("counter")},
                            "ConditionExpression": "n > :big", "ExpressionAttributeValues": {":big": N(1000)}}},
    ],
    "cancel: failure first, later writes still evaluated; ALL_OLD returned": [
        put("calls", {"pk": S("call_6"), "n": N(0)}, "attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD"),
        put("calls", {"pk": S("new_3"), "n": N(1)}),
        add("calls", {"pk": S("call_7")}, cond="attribute_exists(nope)"),
        add("calls", {"pk": S("counter")}),
    ],
    "cancel: ADD to a string is a reason, not an error": [
        put("calls", {"pk": S("new_4"), "n": N(1)}),
        {"Update": {"TableName": "calls", "Key": {"pk": S("call_8")}, "UpdateExpression": "ADD tag :one",
                    "ExpressionAttributeValues": {":one": N(1)}}},
    ],
    "cancel: a missing table is a reason": [
        add("calls", {"pk": S("counter")}),
        put("no_such_table", {"pk": S("x")}),
    ],
    "validation: the same item twice undoes the first write": [
        put("calls", {"pk": S("new_5"), "n": N(1)}),
        add("calls", {"pk": S("counter")}),
        add("calls", {"pk": S("new_5")}),
    ],
    "validation: a key of the wrong shape undoes the first write": [
        add("calls", {"pk": S("counter")}),
        {"Update": {"TableName": "appts", "Key": {"pk": S("co#1")}, "UpdateExpression": "SET a = :a",
                    "ExpressionAttributeValues": {":a": S("a")}}},
    ],
}


def run(transaction, implementation):
    """(outcome, contents of both tables, GSI answers) with the given transact_write_items."""
    original = DynamoDBBackend.transact_write_items
    DynamoDBBackend.transact_write_items = implementation
    try:
        with mock_aws():
            db = boto3.client("dynamodb", region_name="eu-central-1", aws_access_key_id="t",
                              aws_secret_access_key="t")
            seed(db)
            try:
                db.transact_write_items(TransactItems=transaction)
                outcome = "committed"
            except botocore.exceptions.ClientError as err:
                outcome = (err.response["Error"]["Code"], err.response["Error"].get("Message"),
                           err.response.get("CancellationReasons"))
            tables = {t: sorted(db.scan(TableName=t)["Items"], key=repr) for t in ("calls", "appts")}
            gsi = {p: db.query(TableName="appts", IndexName="by_phone", KeyConditionExpression="phone = :p",
                               ExpressionAttributeValues={":p": S(p)})["Items"]
                   for p in ("+490", "+491", "+492", "+493", "+49x", "+49new")}
            described = db.describe_table(TableName="appts")["Table"]["ItemCount"]
            return outcome, tables, gsi, described
    finally:
        DynamoDBBackend.transact_write_items = original


@pytest.mark.parametrize("name", TRANSACTIONS)
def test_journal_transaction_matches_moto(name):
    assert DynamoDBBackend.transact_write_items is aws_emulator._transact_write_items
    transaction = TRANSACTIONS[name]
    mine = run(transaction, aws_emulator._transact_write_items)
    moto = run(transaction, aws_emulator.moto_transact_write_items)
    assert mine == moto
    if name.startswith("commit"):
        assert mine[0] == "committed"
    else:
        assert mine[0] != "committed"
        pristine = run([add("calls", {"pk": S("counter")}, n=0)], aws_emulator._transact_write_items)
        assert mine[1:] == pristine[1:], "nothing of a cancelled transaction remains"


# --- SQS: delete by remembered receipt handle, one clock read per listing --------------------------

def sqs_story(patched):
    """Receipt-handle cases, delays and in-flight messages through moto's SQS, with this file's
    patches (patched=True) or moto as shipped: what each step answers, and what the queues count
    afterwards."""
    aws_emulator.use_sqs_patches(patched)
    try:
        with mock_aws():
            sqs = boto3.client("sqs", region_name="eu-central-1")
            url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
            dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            redrive = sqs.create_queue(QueueName="r", Attributes={
                "VisibilityTimeout": "0",
                "RedrivePolicy": f'{{"deadLetterTargetArn": "{arn}", "maxReceiveCount": "1"}}'})["QueueUrl"]
            for i in range(5):
                sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
            sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=900)
            held = sqs.create_queue(QueueName="held", Attributes={"VisibilityTimeout": "900"})["QueueUrl"]
            for i in range(3):
                sqs.send_message(QueueUrl=held, MessageBody=f"h{i}")
            sqs.receive_message(QueueUrl=held, MaxNumberOfMessages=2)  # two in flight, one visible
            steps = []

            def step(what, fn):
                try:
                    fn()
                    steps.append((what, "ok"))
                except botocore.exceptions.ClientError as err:
                    steps.append((what, err.response["Error"]["Code"]))

            first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
            step("delete", lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"]))
            step("delete again", lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"]))
            step("never issued", lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle="nonsense"))
            # Visible again at once (timeout 0): received anew, the older handle still deletes it.
            again = [m for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
                     if m["MessageId"] == first[1]["MessageId"]]
            step("older handle", lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=first[1]["ReceiptHandle"]))
            step("newer handle after", lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"]))
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
            result = sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)] +
                [{"Id": "bad", "ReceiptHandle": "nonsense"}])
            steps.append(("batch", sorted(e["Id"] for e in result.get("Successful", [])),
                          sorted(e["Id"] for e in result.get("Failed", []))))
            # A message moved to the dead-letter queue: its old handle no longer deletes it there.
            sqs.send_message(QueueUrl=redrive, MessageBody="poison")
            moved = sqs.receive_message(QueueUrl=redrive)["Messages"]
            sqs.receive_message(QueueUrl=redrive)  # past maxReceiveCount: to the DLQ
            step("moved away", lambda: sqs.delete_message(QueueUrl=redrive, ReceiptHandle=moved[0]["ReceiptHandle"]))
            counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed",
                      "ApproximateNumberOfMessagesNotVisible"]
            left = {q: [sqs.get_queue_attributes(QueueUrl=u, AttributeNames=counts)["Attributes"][c] for c in counts]
                    for q, u in (("q", url), ("r", redrive), ("dlq", dlq), ("held", held))}
            return steps, left
    finally:
        aws_emulator.use_sqs_patches(True)


def test_sqs_patches_match_moto():
    from moto.sqs.models import Queue
    assert Queue.delete_message is aws_emulator._delete_message
    mine = sqs_story(True)
    assert mine == sqs_story(False)
    steps, left = mine
    assert ("never issued", "ReceiptHandleIsInvalid") in steps and ("delete again", "ok") in steps
    # [visible, delayed, in flight]: the delayed message is neither visible nor received.
    assert left == {"q": ["0", "1", "0"], "r": ["0", "0", "0"], "dlq": ["1", "0", "0"], "held": ["1", "0", "2"]}


def test_cloudwatch_answers_percentiles_as_cloudwatch_does():
    """GetMetricData with `p50`/`p95`/`p99.9` (moto alone answers null): nearest rank of the
    period's values; the plain statistics are moto's own."""
    import datetime
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="eu-central-1")
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        cw.put_metric_data(Namespace="RetellBackend", MetricData=[
            {"MetricName": "ResponseTime", "Value": float(v), "Unit": "Milliseconds", "Timestamp": now,
             "Dimensions": [{"Name": "Api", "Value": "tools"}]} for v in range(1, 101)])

        def stat(s):
            answer = cw.get_metric_data(
                StartTime=now - datetime.timedelta(minutes=5), EndTime=now + datetime.timedelta(minutes=5),
                MetricDataQueries=[{"Id": "q", "MetricStat": {"Metric": {
                    "Namespace": "RetellBackend", "MetricName": "ResponseTime",
                    "Dimensions": [{"Name": "Api", "Value": "tools"}]}, "Period": 600, "Stat": s}}])
            return answer["MetricDataResults"][0]["Values"]

        assert stat("p50") == [50.0] and stat("p95") == [95.0] and stat("p99.9") == [100.0]
        assert stat("Sum") == [5050.0] and stat("SampleCount") == [100.0] and stat("Maximum") == [100.0]


def test_emf_lines_become_metrics_per_dimension_set():
    """The local stack's stand-in for CloudWatch's EMF extraction (log_shipper.emf_datums)."""
    import log_shipper
    line = (b'{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"RetellBackend",'
            b'"Dimensions":[["Api"],["Api","Function"]],"Metrics":[{"Name":"Requests","Unit":"Count"},'
            b'{"Name":"ResponseTime","Unit":"Milliseconds"}]}]},"Api":"tools","Function":"book_appointment",'
            b'"Requests":1,"ResponseTime":12.5}')
    datums = log_shipper.emf_datums(line)
    assert [(ns, d["MetricName"], [x["Value"] for x in d["Dimensions"]]) for ns, d in datums] == [
        ("RetellBackend", "Requests", ["tools"]), ("RetellBackend", "Requests", ["tools", "book_appointment"]),
        ("RetellBackend", "ResponseTime", ["tools"]),
        ("RetellBackend", "ResponseTime", ["tools", "book_appointment"])]
    assert datums[2][1]["Value"] == 12.5 and datums[2][1]["Unit"] == "Milliseconds"
    assert log_shipper.emf_datums(b'{"message": "request answered"}') == []
    assert log_shipper.emf_datums(b'{"_aws": {"CloudWatchMetrics": "nonsense"}}') == []
    assert log_shipper.emf_datums(b'\xff\xfe not json "_aws"') == []


def test_projecting_an_item_once_matches_moto():
    """aws_emulator's Item.project (one plain copy per projection) against moto's own (one per
    attribute): the same item for top-level, nested, list-element and overlapping expressions."""
    from moto.dynamodb.models.dynamo_type import Item
    item = Item(hash_key=None, range_key=None, attrs={
        "call_id": S("c1"), "n": N(3), "flag": {"BOOL": True},
        "transcript_object": {"L": [{"M": {"role": S("agent"), "words": {"L": [{"M": {"w": S("Hallo")}}]}}},
                                    {"M": {"role": S("user"), "content": S("Termin")}}]},
        "analysis": {"M": {"summary": S("gebucht"), "nested": {"M": {"a": N(1), "b": N(2)}}}},
        "tags": {"SS": ["x", "y"]}})
    cases = [[["call_id"]], [["call_id"], ["n"], ["missing"]], [["analysis", "nested", "a"]],
             [["analysis"], ["analysis", "nested", "b"]], [["transcript_object[1]"]],
             [["transcript_object[0]", "role"]], [["tags"], ["flag"]], []]
    for exprs in cases:
        ours = Item.project(item, exprs)
        theirs = aws_emulator._original_project(item, exprs)
        assert ours.to_json() == theirs.to_json(), exprs
    assert item.to_json()["Attributes"]["analysis"]["M"]["nested"]["M"] == {"a": N(1), "b": N(2)}


def test_an_export_imports_back_with_escaped_strings():
    """ExportTableToPointInTime then ImportTable (aws_emulator's JSON-lines reader): a transcript
    with line breaks, quotes and umlauts comes back as it was, every item of the file."""
    import time
    with mock_aws():
        db = boto3.client("dynamodb", region_name="eu-central-1")
        s3 = boto3.client("s3", region_name="eu-central-1")
        s3.create_bucket(Bucket="backups", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        db.create_table(TableName="calls", BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "call_id", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "call_id", "KeyType": "HASH"}])
        db.update_continuous_backups(TableName="calls",
                                     PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        items = [{"call_id": S(f"c{i}"), "transcript": S('Agent: "Grüß Gott"\nUser: \\ Termin\tbitte'),
                  "n": N(i), "words": {"L": [{"M": {"w": S("Hallo")}}]}, "ok": {"BOOL": True}} for i in range(5)]
        for item in items:
            db.put_item(TableName="calls", Item=item)
        arn = db.describe_table(TableName="calls")["Table"]["TableArn"]
        export = db.export_table_to_point_in_time(TableArn=arn, S3Bucket="backups", S3Prefix="x/calls",
                                                  ExportFormat="DYNAMODB_JSON")["ExportDescription"]["ExportArn"]
        for _ in range(50):
            if db.describe_export(ExportArn=export)["ExportDescription"]["ExportStatus"] != "IN_PROGRESS":
                break
            time.sleep(0.1)
        started = db.import_table(
            S3BucketSource={"S3Bucket": "backups", "S3KeyPrefix": "x/calls"}, InputFormat="DYNAMODB_JSON",
            InputCompressionType="GZIP", TableCreationParameters={
                "TableName": "restored", "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "call_id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "call_id", "KeyType": "HASH"}]})
        arn = started["ImportTableDescription"]["ImportArn"]
        for _ in range(50):
            done = db.describe_import(ImportArn=arn)["ImportTableDescription"]
            if done["ImportStatus"] != "IN_PROGRESS":
                break
            time.sleep(0.1)
        assert done["ImportStatus"] == "COMPLETED" and done["ImportedItemCount"] == 5, done
        for item in items:
            assert db.get_item(TableName="restored", Key={"call_id": item["call_id"]})["Item"] == item
