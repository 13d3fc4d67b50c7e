#!/usr/bin/env python3
"""What one TransactWriteItems costs in the local AWS emulator as its table grows: moto's own
(`moto_server`, which deep-copies every table a transaction names) against
infra/local/aws_emulator.py (which remembers only the items it writes). Figures: docs/performance.md.

  .venv/bin/python benches/emulator_transactions.py [--items 20000] [--rounds 50]

The transaction is the consumers' shape: a conditional Put of a new item plus an ADD to a counter;
every other one is a duplicate (condition fails, cancelled, rolled back).
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import boto3
import botocore.exceptions

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra" / "local"))
from stack import free_port, wait_for_port  # noqa: E402


def client(port):
    return boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="eu-central-1",
                        aws_access_key_id="t", aws_secret_access_key="t")


def measure(cmd, items, rounds):
    port = free_port()
    proc = subprocess.Popen([*cmd, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 30, proc, cmd[-1])
        db = client(port)
        db.create_table(TableName="calls", BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        filler = {"transcript": {"S": "Agent: Guten Tag.\nUser: Einen Termin bitte. " * 20},
                  "duration_ms": {"N": "95000"}, "call_status": {"S": "ended"}}
        for start in range(0, items, 25):
            db.batch_write_item(RequestItems={"calls": [
                {"PutRequest": {"Item": {"pk": {"S": f"call_{i}"}, **filler}}}
                for i in range(start, min(start + 25, items))]})
        committed, cancelled = [], []
        for r in range(rounds):
            for duplicate in (False, True):
                t = time.perf_counter()
                try:
                    db.transact_write_items(TransactItems=[
                        {"Put": {"TableName": "calls", "Item": {"pk": {"S": f"new_{r}"}, **filler},
                                 "ConditionExpression": "attribute_not_exists(pk)"}},
                        {"Update": {"TableName": "calls", "Key": {"pk": {"S": "counter"}},
                                    "UpdateExpression": "ADD n :one",
                                    "ExpressionAttributeValues": {":one": {"N": "1"}}}}])
                    committed.append(time.perf_counter() - t)
                except botocore.exceptions.ClientError as err:
                    assert err.response["Error"]["Code"] == "TransactionCanceledException", err
                    cancelled.append(time.perf_counter() - t)
        counter = db.get_item(TableName="calls", Key={"pk": {"S": "counter"}})["Item"]["n"]["N"]
        assert int(counter) == rounds, f"counter {counter}, expected {rounds}"
        assert db.describe_table(TableName="calls")["Table"]["ItemCount"] == items + rounds + 1
        return statistics.median(committed) * 1000, statistics.median(cancelled) * 1000
    finally:
        proc.kill()
        proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[0, 2000, 20000])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    py = str(ROOT / ".venv" / "bin" / "python")
    emulators = {"moto_server (moto 5.2.5)": [str(ROOT / ".venv" / "bin" / "moto_server")],
                 "infra/local/aws_emulator.py": [py, str(ROOT / "infra" / "local" / "aws_emulator.py")]}
    print("| emulator | items in table | committed (median ms) | cancelled (median ms) |")
    print("|---|---:|---:|---:|")
    for items in args.items:
        for name, cmd in emulators.items():
            ok, cancelled = measure(cmd, items, args.rounds)
            print(f"| {name} | {items:,} | {ok:.1f} | {cancelled:.1f} |", flush=True)


if __name__ == "__main__":
    main()
