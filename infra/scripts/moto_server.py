"""Runs the moto server with DynamoDB requests applied one at a time.

moto serves requests on threads and does not lock its DynamoDB backend, so two
concurrent conditional writes (attribute_not_exists, a version check) can both pass
their condition and the second silently overwrites the first. DynamoDB itself applies
each conditional write atomically; Relay's dedupe markers, claims and audit chain rely
on that. Serialising DynamoDB calls (and only those: SQS long polls must not hold a
lock) makes the emulator keep the same promise.

Usage: python infra/scripts/moto_server.py -H 127.0.0.1 -p PORT
"""

import argparse
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
from werkzeug.serving import run_simple


class DynamoDbOneAtATime:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
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
