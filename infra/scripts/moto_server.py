"""Runs the moto server with DynamoDB requests applied one at a time.

moto serves requests on threads and does not lock its DynamoDB backend, so two
concurrent conditional writes (attribute_not_exists, a version check) can both pass
their condition and the second silently overwrites the first. DynamoDB itself applies
each conditional write atomically; Relay's dedupe markers, claims and audit chain rely
on that. Serialising DynamoDB calls (and only those: SQS long polls must not hold a
lock) makes the emulator keep the same promise.

moto makes a transaction atomic by deep-copying every table it touches before it
starts, so each TransactWriteItems costs time in proportion to the whole table and a
long run slows down as its data grows (a storm of 10,000 events ran at a few events a
second). With the calls serialised, saving and restoring only the items the
transaction names keeps the same all-or-nothing result.

moto's SQS answers each call by walking every message in the queue, several times
over: a receive lists all visible messages to hand out ten, then checks each one's
retention by computing every queue attribute (three more walks, three times), and a
delete scans the queue for the receipt handle and rebuilds it. With a backlog of
thousands of messages a receive cost tens of milliseconds and the emulator, not
Relay, set the pace of a load run. The launcher answers the same calls by stopping
once it has the messages it hands out, reading the retention setting directly, counting the
approximate numbers in one walk, and finding a receipt handle through an index of
the messages in flight.

It also counts the calls it answers, by service and action (the X-Amz-Target of
DynamoDB, SQS, KMS and EventBridge), at GET /_relay/calls, so a run can report the AWS
calls (and so the cost) of what it did. POST /_relay/faults {"dynamodb_throttle": N}
has the next N DynamoDB calls answered as DynamoDB throttles
(ProvisionedThroughputExceededException), for fault runs.

Usage: python infra/scripts/moto_server.py -H 127.0.0.1 -p PORT
"""

import argparse
import collections
import copy
import json
import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.core.model_instances import reset_model_data
import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
import moto.sqs.models as sqs_models
from moto.sqs.exceptions import (
    InvalidAttributeName,
    InvalidParameterValue,
    ReceiptHandleIsInvalid,
)
from moto.core.utils import camelcase_to_underscores, unix_time, unix_time_millis
from werkzeug.serving import run_simple


class _TablesKept:
    """`copy` as moto's DynamoDB backend sees it: a table is kept, not copied (the
    transaction below restores the items it names); anything else is copied."""

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


_transact_write_items = DynamoDBBackend.transact_write_items


def _key_of(table, op_type, op):
    if op_type != "Put":
        return op.get("Key")
    attrs = op.get("Item") or {}
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _transact_write_items_restoring_items(self, transact_items):
    saved = []
    for entry in transact_items:
        try:
            op_type, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            key = table is not None and _key_of(table, op_type, op)
            if key:
                current = self.get_item(op["TableName"], key)
                attrs = current.to_json()["Attributes"] if current else None
                saved.append((op["TableName"], key, copy.deepcopy(attrs)))
        except Exception:
            # moto itself reports a malformed entry.
            continue
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table_name, key, attrs in reversed(saved):
            if attrs is not None:
                self.put_item(table_name, attrs)
            elif self.get_item(table_name, key) is not None:
                self.delete_item(table_name, key)
        raise


dynamodb_models.copy = _TablesKept
DynamoDBBackend.transact_write_items = _transact_write_items_restoring_items


def _in_flight(queue):
    """Receipt handle -> message, for the messages a receive handed out."""
    return queue.__dict__.setdefault("_relay_in_flight", {})


def _ready(queue):
    """The visible, undelayed messages in queue order, lazily (over a snapshot, so a
    concurrent delete does not skip one)."""
    now = unix_time_millis()
    for message in list(queue._messages):
        if now > message.visible_at and not now < message.delayed_until:
            yield message


def _counts(queue):
    now = unix_time_millis()
    ready = delayed = not_visible = 0
    for message in list(queue._messages):
        is_visible = now > message.visible_at
        is_delayed = now < message.delayed_until
        delayed += is_delayed
        not_visible += not is_visible
        ready += is_visible and not is_delayed
    return ready, delayed, not_visible


def _queue_attributes(self):
    ready, delayed, not_visible = _counts(self)
    counted = {
        "ApproximateNumberOfMessages": ready,
        "ApproximateNumberOfMessagesDelayed": delayed,
        "ApproximateNumberOfMessagesNotVisible": not_visible,
    }
    names = list(self.BASE_ATTRIBUTES)
    if self.fifo_queue:
        names += self.FIFO_ATTRIBUTES
    if self.kms_master_key_id:
        names += self.KMS_ATTRIBUTES
    result = {}
    for name in names:
        if name in counted:
            result[name] = counted[name]
        else:
            result[name] = getattr(self, camelcase_to_underscores(name))
    if self.policy:
        result["Policy"] = self.policy
    if self.redrive_policy:
        result["RedrivePolicy"] = json.dumps(self.redrive_policy)
    for key in result:
        if isinstance(result[key], bool):
            result[key] = str(result[key]).lower()
    return result


def _get_queue_attributes(self, queue_name, attribute_names):
    queue = self.get_queue(queue_name)
    if not attribute_names:
        return {}
    valid = ["All"] + queue.BASE_ATTRIBUTES + queue.FIFO_ATTRIBUTES + queue.KMS_ATTRIBUTES
    invalid = next((name for name in attribute_names if name not in valid), None)
    if invalid or invalid == "":
        raise InvalidAttributeName(invalid)
    every = queue.attributes
    if "All" in attribute_names:
        return every
    return {n: every[n] for n in attribute_names if every.get(n) is not None}


def _receive_message(
    self,
    queue_name,
    count,
    wait_seconds_timeout,
    visibility_timeout,
    message_attribute_names=None,
):
    # moto's own receive, walking only as far as it hands out.
    if message_attribute_names is None:
        message_attribute_names = []
    queue = self.get_queue(queue_name)
    in_flight = _in_flight(queue)
    retention_seconds = int(queue.message_retention_period)
    result = []
    polling_end = unix_time() + wait_seconds_timeout
    pending_groups = copy.deepcopy(queue.pending_message_groups)
    while True:
        if result or (wait_seconds_timeout and unix_time() > polling_end):
            break
        to_dlq = []
        for message in _ready(queue):
            if message in queue.pending_messages:
                queue.pending_messages.remove(message)
                pending_groups = copy.deepcopy(queue.pending_message_groups)
            if message.group_id and queue.fifo_queue and message.group_id in pending_groups:
                continue
            if (
                queue.dead_letter_queue is not None
                and queue.redrive_policy
                and message.approximate_receive_count
                >= queue.redrive_policy["maxReceiveCount"]
            ):
                to_dlq.append(message)
                continue
            queue.pending_messages.add(message)
            message.mark_received(visibility_timeout=visibility_timeout)
            in_flight[message.receipt_handle] = message
            message_copy = copy.deepcopy(message)
            sqs_models._filter_message_attributes(message_copy, message_attribute_names)
            if retention_seconds + message.sent_timestamp / 1000 <= unix_time():
                break
            result.append(message_copy)
            if len(result) >= count:
                break
        for message in to_dlq:
            for handle in message.all_receipt_handles:
                in_flight.pop(handle, None)
            queue._messages.remove(message)
            queue.dead_letter_queue.add_message(message)
        if not result:
            if wait_seconds_timeout == 0:
                break
            queue.wait_for_messages(1)
    return result


def _wait_for_messages(self, timeout):
    with self._messages_lock:
        self._messages_lock.wait_for(
            lambda: next(_ready(self), None) is not None, timeout=timeout
        )


def _delete_message(self, receipt_handle):
    if receipt_handle in self.deleted_messages:
        return
    message = _in_flight(self).get(receipt_handle)
    if message is None:
        raise ReceiptHandleIsInvalid()
    handles = message.all_receipt_handles
    for handle in handles:
        _in_flight(self).pop(handle, None)
    try:
        self._messages.remove(message)
    except ValueError:
        # Purged or moved since it was received.
        raise ReceiptHandleIsInvalid() from None
    self.pending_messages.discard(message)
    self.deleted_messages.update(handles)


def _change_message_visibility(self, queue_name, receipt_handle, visibility_timeout):
    queue = self.get_queue(queue_name)
    message = _in_flight(queue).get(receipt_handle)
    if message is None or message not in queue._messages:
        raise ReceiptHandleIsInvalid
    until = unix_time_millis() + int(visibility_timeout) * 1000
    if until - message.sent_timestamp > 43200 * 1000:
        raise InvalidParameterValue(
            f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
            "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
        )
    message.change_visibility(visibility_timeout)
    if message.visible and message in queue.pending_messages:
        queue.pending_messages.remove(message)


sqs_models.Queue.attributes = property(_queue_attributes)
sqs_models.Queue.wait_for_messages = _wait_for_messages
sqs_models.Queue.delete_message = _delete_message
sqs_models.SQSBackend.get_queue_attributes = _get_queue_attributes
sqs_models.SQSBackend.receive_message = _receive_message
sqs_models.SQSBackend.change_message_visibility = _change_message_visibility


class DynamoDbOneAtATime:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.counted = collections.Counter()
        self.counted_lock = threading.Lock()
        self.throttle_left = 0

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if environ.get("PATH_INFO") == "/_relay/calls":
            with self.counted_lock:
                body = json.dumps(dict(self.counted)).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if environ.get("PATH_INFO") == "/_relay/faults":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            asked = json.loads(environ["wsgi.input"].read(length) or b"{}")
            with self.counted_lock:
                self.throttle_left = int(asked.get("dynamodb_throttle", 0))
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"dynamodb_throttle": self.throttle_left}).encode()]
        throttled = False
        if target:
            with self.counted_lock:
                self.counted[target] += 1
                if target.startswith("DynamoDB_") and self.throttle_left > 0:
                    self.throttle_left -= 1
                    throttled = True
        if throttled:
            start_response(
                "400 Bad Request",
                [("Content-Type", "application/x-amz-json-1.0")],
            )
            return [
                json.dumps(
                    {
                        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                        "message": "The level of configured provisioned throughput for the table was exceeded.",
                    }
                ).encode()
            ]
        if target.startswith("DynamoDB_"):
            with self.lock:
                # Consume the response inside the lock: the write happens while the
                # body is produced.
                body = list(self.app(environ, start_response))
                # moto records every model instance it creates for its dashboard and
                # never lets go; a transaction copies whole tables, so a long run
                # would grow without bound. Relay never reads that list.
                reset_model_data()
                return body
        return self.app(environ, start_response)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        DynamoDbOneAtATime(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
