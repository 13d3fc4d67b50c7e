"""moto's server, with DynamoDB requests isolated and transactions priced as in DynamoDB.

1. Isolation. moto serves requests on threads but its DynamoDB backend has no lock: a
   TransactWriteItems snapshots the tables, writes, and on a failed condition restores the
   snapshot, wiping out any request that committed in between; conditional puts and ADD updates
   are read-modify-write too. Under concurrent writers (the tests' racing deliveries and bookings)
   that loses committed writes, which DynamoDB never does. One lock around DynamoDB requests gives
   them DynamoDB's isolation; other services (SQS long polls) stay concurrent.

2. Transaction cost. moto 5.2.5's `transact_write_items` deep-copies every table a transaction
   names, successful or not, so it can roll back: each transaction costs O(table size) and, under
   the lock above, stalls every other DynamoDB request (a calls table of 20,000 items made each
   consumer write take ~0.5 s). Here a transaction remembers only the items it writes (a copy of
   each before its write) and puts those back on cancellation, so it costs what it costs in
   DynamoDB: O(its items). Everything else is moto's own loop, unchanged: the same checks in the
   same order, the same TransactionCanceledException reasons, all-or-nothing. Secondary indexes
   need nothing: moto derives them from the table's items on every query. The one visible
   difference: an item whose Delete is rolled back returns at the end of moto's scan order
   (DynamoDB promises no scan order).

3. Deleting a message. moto 5.2.5's DeleteMessage looks for the receipt handle in every message of
   the queue and then rebuilds the queue's list without it: two Python loops over the whole queue
   per message. With a backlog of thousands (an import of missed calls queues faster than the
   consumers drain), the consumers' deletes saturated the emulator and its receives timed out.
   Here every receipt handle moto issues is remembered with its message, so a delete finds the
   message at once and removes it from the list in one C-level pass: the same checks (a handle
   never issued is ReceiptHandleIsInvalid, a handle of a deleted message is a no-op, an older
   handle of a message still deletes it), the same state afterwards.

4. Reading the clock. moto asks the clock (a datetime round trip) twice per message whenever it
   lists a queue's visible messages or counts them, and it computes every queue attribute, those
   counts included, for each message it receives (to read the retention period) and each it
   sends (to read ContentBasedDeduplication): O(queue) clock reads per message, O(queue²) for a
   backlog. Here a listing or count reads the clock once and compares the messages' own
   timestamps (the same `now > visible_at`, `now < delayed_until` as moto's properties), and the
   retention check reads the queue's retention period directly.

5. Percentiles. CloudWatch's GetMetricData answers extended statistics (`p50`, `p95`, `p99.9`);
   moto 5.2.5 answers only Sum, Average, Minimum, Maximum and SampleCount (a percentile comes
   back as a null value). Here `pNN` is the nearest-rank percentile of the period's values, as
   CloudWatch computes it for values published one by one.

6. Metrics of one's own namespace. moto 5.2.5 answers every GetMetricData from all metrics,
   its own AWS/* ones included, which it computes on every request from the other services'
   state (every object of every S3 bucket, every queue): with the events bucket's thousands of
   objects a query for the functions' metrics took 20 s and starved every other request. Here a
   GetMetricData whose queries all name non-AWS namespaces reads only the metrics put with
   PutMetricData, which are all it could match.

7. Projecting an item. moto 5.2.5's `Item.project` converts the whole item to plain JSON (a deep
   copy) once per projected attribute: a query of an index that projects fifteen attributes of
   calls that carry their transcripts converted each call fifteen times (148 calls took 14 s).
   Here the item is converted once per projection, and each attribute is picked from that one
   copy, as moto picks it.

8. Importing a table. moto 5.2.5's ImportTable reads the DynamoDB JSON files of an export with a
   PartiQL document parser that does not understand escapes in strings: a transcript with a
   line break or a quote was cut off and the rest of the file dropped, while the import still
   said COMPLETED. The export format is one JSON document per line (as DynamoDB writes it and
   moto's own export writes it); here each line is read with `json.loads`, the rest as moto does.

9. Answers without a delayed-ACK stall. moto's server writes a response's headers and body in
   separate sends on a socket with Nagle's algorithm on; on a kept-alive connection the body can
   then wait for the client's delayed acknowledgement (up to 40 ms). TCP_NODELAY is set on every
   connection it accepts, as the local stack's function gate does on its own.

10. What was sent. SNS and SES keep the SMS and e-mails they "sent", with the time, sender and
   attachments, at `GET /_outbox`; a STOP reply (`POST /_outbox/reply`) puts the number on SNS's
   opt-out list, which replaces moto's rule that every number ending in 99 opted out
   (`outbox.py`).

11. Event source mappings without moto's poller. moto 5.2.5 hands a queue's new messages to
   the function of an enabled SQS event source mapping as they are sent, by running the function
   in Docker; the local stack has no Docker and its functions run under cargo lambda, fed by
   the local pump. Here a mapping is kept (created, listed, enabled and disabled as in Lambda)
   but not attached to its queue: the pump polls the queue and reads the mapping's state, as
   Lambda's poller does.

Same arguments as `moto_server`.
"""

import copy
import gzip
import json
import math
import sys
import threading
from typing import Any

import moto
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from botocore.utils import merge_dicts as _merge_dicts
from moto.cloudwatch import models as _cw
from moto.dynamodb.models import dynamo_type as _dynamo_type
from moto.dynamodb.models import table_import as _table_import
from moto.dynamodb.models.utilities import find_nested_key as _find_nested_key
from moto.moto_server.werkzeug_app import MotoRequestHandler
from moto.server import main

import outbox  # noqa: E402 - beside this file: what SNS and SES "sent" (10.)

_dynamodb_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialised_call_action(self):  # type: ignore[no-untyped-def]
    with _dynamodb_lock:
        return _call_action(self)


DynamoHandler.call_action = _serialised_call_action  # type: ignore[method-assign]


class _ItemJournal:
    """The items a transaction is about to write, as they were before, to put back on rollback."""

    def __init__(self, backend: DynamoDBBackend):
        self.backend = backend
        # (table, hash, range, copy of the item before or None, hash key present before)
        self.entries: list[tuple[Any, Any, Any, Any, bool]] = []
        self.streams: dict[int, tuple[Any, int]] = {}

    def remember(self, table_name: str, key: dict[str, Any]) -> None:
        """Call before moto reads the item: raises nothing (moto's own read reports bad input)."""
        try:
            table = self.backend.get_table(table_name)
            hash_key, range_key = self.backend.get_keys_value(table, key)
        except Exception:  # noqa: BLE001 - moto's get_item raises the proper error next
            return
        hash_present = hash_key in table.items  # not items[...]: a defaultdict would add the key
        before = table.items.get(hash_key) if hash_present else None
        if range_key is not None and before is not None:
            before = before.get(range_key)
        self.entries.append((table, hash_key, range_key, copy.deepcopy(before), hash_present))
        if table.stream_shard is not None and id(table) not in self.streams:
            self.streams[id(table)] = (table.stream_shard, len(table.stream_shard.items))

    def rollback(self) -> None:
        for table, hash_key, range_key, before, hash_present in reversed(self.entries):
            if range_key is None:
                if before is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = before
                continue
            if before is not None:
                table.items[hash_key][range_key] = before
                continue
            if hash_key in table.items:
                table.items[hash_key].pop(range_key, None)
                if not hash_present and not table.items[hash_key]:
                    del table.items[hash_key]
        for shard, length in self.streams.values():
            del shard.items[length:]


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's DynamoDBBackend.transact_write_items, with _ItemJournal instead of copies of
    whole tables. Keep in step with moto's when upgrading it (the guard below falls back)."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    journal = _ItemJournal(self)

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException

        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)

            if op_type != "ConditionCheck":
                journal.remember(table_name, key)
            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression,
                    expression_attribute_names,
                    expression_attribute_values,
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type == "Put":
                attrs = op["Item"]
                self.put_item(
                    table_name,
                    attrs,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                update_expression = op["UpdateExpression"]
                self.update_item(
                    table_name,
                    key,
                    update_expression=update_expression,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            journal.rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore
        except Exception as e:  # noqa: BLE001 - as moto: every other failure is a cancellation reason
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore

    if any(code is not None for code, _, _ in errors):
        journal.rollback()
        raise TransactionCanceledException(errors)


moto_transact_write_items = DynamoDBBackend.transact_write_items  # moto's own, for comparison
if moto.__version__ == "5.2.5":
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
else:  # a different moto: its own (slow but correct) transaction, until this copy is updated
    print(f"aws_emulator: moto {moto.__version__} is not 5.2.5; keeping moto's transact_write_items",
          file=sys.stderr)

from moto.sqs import models as _sqs  # noqa: E402
from moto.sqs.exceptions import ReceiptHandleIsInvalid  # noqa: E402

_handles: dict[str, Any] = {}  # every receipt handle moto issued -> its message
_handles_lock = threading.Lock()
_mark_received = _sqs.Message.mark_received


def _mark_received_remembered(self, visibility_timeout=None):  # type: ignore[no-untyped-def]
    _mark_received(self, visibility_timeout)
    with _handles_lock:
        _handles[self.receipt_handle] = self


def _delete_message(self, receipt_handle: str) -> None:
    """moto's Queue.delete_message, finding the message by its handle instead of by a scan."""
    if receipt_handle in self.deleted_messages:
        return  # already deleted: gracefully handle deleting it again
    with _handles_lock:
        message = _handles.get(receipt_handle)
    if message is None:
        raise ReceiptHandleIsInvalid()
    try:
        self._messages.remove(message)  # Message has no __eq__: by identity, one C-level pass
    except ValueError:  # not (or no longer) in this queue, e.g. moved to the dead-letter queue
        raise ReceiptHandleIsInvalid() from None
    self.pending_messages.discard(message)
    self.deleted_messages.update(message.all_receipt_handles)
    with _handles_lock:
        for handle in message.all_receipt_handles:
            _handles.pop(handle, None)


def _visible_messages(self) -> list:  # type: ignore[type-arg]
    now = _sqs.unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _count_delayed(self) -> int:
    now = _sqs.unix_time_millis()
    return sum(1 for m in self._messages if now < m.delayed_until)


def _count_not_visible(self) -> int:
    now = _sqs.unix_time_millis()
    return sum(1 for m in self._messages if not now > m.visible_at)


def _within_retention(self, queue_name: str, message: Any) -> bool:
    retention_s = int(self.get_queue(queue_name).message_retention_period)
    return retention_s + message.sent_timestamp / 1000 > _sqs.unix_time()


# (owner, name, moto's own, this file's): swapped in below; the tests swap them back to compare.
SQS_PATCHES = [
    (_sqs.Message, "mark_received", _sqs.Message.mark_received, _mark_received_remembered),
    (_sqs.Queue, "delete_message", _sqs.Queue.delete_message, _delete_message),
    (_sqs.Queue, "messages", _sqs.Queue.messages, property(_visible_messages)),
    (_sqs.Queue, "approximate_number_of_messages", _sqs.Queue.approximate_number_of_messages,
     property(lambda self: len(_visible_messages(self)))),
    (_sqs.Queue, "approximate_number_of_messages_delayed", _sqs.Queue.approximate_number_of_messages_delayed,
     property(_count_delayed)),
    (_sqs.Queue, "approximate_number_of_messages_not_visible",
     _sqs.Queue.approximate_number_of_messages_not_visible, property(_count_not_visible)),
    (_sqs.SQSBackend, "is_message_valid_based_on_retention_period",
     _sqs.SQSBackend.is_message_valid_based_on_retention_period, _within_retention),
]


_statistic = _cw.Statistics.get_statistics_for_type


def _statistic_with_percentiles(self, stat: str):  # type: ignore[no-untyped-def]
    if len(stat) > 1 and stat[0] == "p":
        try:
            p = float(stat[1:])
        except ValueError:
            return _statistic(self, stat)
        values = sorted(self.metric_single_values_list)
        if not values or not 0 < p <= 100:
            return None
        rank = max(1, math.ceil(p / 100 * len(values)))
        return values[rank - 1]
    return _statistic(self, stat)


_cw.Statistics.get_statistics_for_type = _statistic_with_percentiles

_metrics_scope = threading.local()
_get_all_metrics = _cw.CloudWatchBackend.get_all_metrics
_get_metric_data = _cw.CloudWatchBackend.get_metric_data


def _all_metrics_in_scope(self):  # type: ignore[no-untyped-def]
    if getattr(_metrics_scope, "own_only", False):
        return list(self.metric_data)
    return _get_all_metrics(self)


def _metric_data_of_own_namespaces(self, queries, *args, **kwargs):  # type: ignore[no-untyped-def]
    own = bool(queries) and all(
        "MetricStat" in q and not str(q["MetricStat"]["Metric"]["Namespace"]).startswith("AWS/")
        for q in queries)
    _metrics_scope.own_only = own
    try:
        return _get_metric_data(self, queries, *args, **kwargs)
    finally:
        _metrics_scope.own_only = False


def _project_once(self, projection_expressions):  # type: ignore[no-untyped-def]
    plain = self.to_regular_json()  # a fresh deep copy, as moto makes per expression
    result: dict[str, Any] = {}
    for expr in projection_expressions:
        _merge_dicts(result, _find_nested_key(expr, plain))
    return _dynamo_type.Item(hash_key=self.hash_key, range_key=self.range_key,
                             attrs=_dynamo_type.serializer.serialize(result)["M"])


def _import_json_lines(self, s3_backend, bucket):  # type: ignore[no-untyped-def]
    from moto.dynamodb.models import dynamodb_backends
    dynamo = dynamodb_backends[self.account_id][self.region_name]
    self.table = dynamo.create_table(
        name=self.table_name, billing_mode=self.billing_mode, throughput=self.throughput,
        schema=self.key_schema, global_indexes=self.global_indexes, indexes=None, attr=self.attrs,
        sse_specification=None, streams=None, tags=[], deletion_protection_enabled=False,
        warm_throughput=None)
    keys, _, _, _ = s3_backend.list_objects(bucket, prefix=self.s3_source.get("S3KeyPrefix"), delimiter=None,
                                            marker=None, max_keys=None)
    for key in sorted(keys, key=lambda k: k.name):
        raw = gzip.decompress(key.value) if self.compression_type == "GZIP" else key.value
        for line in raw.decode("utf-8").splitlines():
            if not line.strip():
                continue
            try:
                self.processed_count += 1
                self.processed_bytes += len(line)
                self.table.put_item(item_attrs=json.loads(line)["Item"])
                self.imported_count += 1
            except Exception as e:  # noqa: BLE001 - counted and reported, as moto does
                self.failure_message = str(e)
                self.error_count += 1
    self.status = "COMPLETED" if self.error_count == 0 else "FAILED"


_original_project = _dynamo_type.Item.project

from moto.awslambda import models as _lambda  # noqa: E402

_original_create_mapping = _lambda.LambdaBackend.create_event_source_mapping


def _create_mapping_unattached(self, spec):  # type: ignore[no-untyped-def]
    """moto's CreateEventSourceMapping, the mapping then taken off its queue (11.)."""
    esm = _original_create_mapping(self, spec)
    for queue in _sqs.sqs_backends[self.account_id][self.region_name].queues.values():
        queue.lambda_event_source_mappings.pop(esm.function_arn, None)
    return esm


def use_sqs_patches(on: bool) -> None:
    for owner, name, original, patched in SQS_PATCHES:
        setattr(owner, name, patched if on else original)


# The patches replace moto 5.2.5's own methods (and call them with its arguments): another
# version keeps moto as it is, and says so.
if moto.__version__ == "5.2.5":
    use_sqs_patches(True)
    _table_import.TableImport._process_s3_files = _import_json_lines
    _dynamo_type.Item.project = _project_once
    _cw.CloudWatchBackend.get_all_metrics = _all_metrics_in_scope
    _cw.CloudWatchBackend.get_metric_data = _metric_data_of_own_namespaces
    outbox.install()
    _lambda.LambdaBackend.create_event_source_mapping = _create_mapping_unattached
else:
    print(f"aws_emulator: moto {moto.__version__} is not 5.2.5; keeping moto as it is",
          file=sys.stderr)

# socketserver sets TCP_NODELAY on each accepted connection when the handler asks (9.).
MotoRequestHandler.disable_nagle_algorithm = True

if __name__ == "__main__":
    main(sys.argv[1:])
