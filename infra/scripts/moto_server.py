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
