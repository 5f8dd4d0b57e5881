"""An HTTP proxy on 127.0.0.1 that forwards to a real server and misbehaves on demand.

In front of moto's DynamoDB it answers chosen operations (by `X-Amz-Target`) with DynamoDB's own throttling
error, or refuses everything as if the store were down; in front of the webhook it forwards a request and
then drops the connection before the answer, as a crash between storing and answering would.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError

THROTTLED = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
             "message": "The level of configured provisioned throughput for the table was exceeded."}


@dataclass
class Faults:
    throttle_operations: set[str] = field(default_factory=set)  # e.g. {"TransactWriteItems"}
    down: bool = False  # every request is cut off, no answer
    drop_answers: int = 0  # forward this many requests, then drop their answers
    seen: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        faults: Faults = self.server.faults  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        operation = self.headers.get("x-amz-target", "").rsplit(".", 1)[-1] or self.path
        faults.seen.append(operation)
        if faults.down:
            self.close_connection = True
            self.connection.close()
            return
        if operation in faults.throttle_operations:
            self._answer(400, json.dumps(THROTTLED).encode(), "application/x-amz-json-1.0")
            return
        request = urllib.request.Request(self.server.target + self.path, data=body, method="POST",  # type: ignore[attr-defined]
                                         headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, payload, media = response.status, response.read(), response.headers.get("content-type", "")
        except HTTPError as error:
            status, payload, media = error.code, error.read(), error.headers.get("content-type", "")
        if faults.drop_answers > 0:
            # The target did the work; its answer never reaches the caller.
            faults.drop_answers -= 1
            self.close_connection = True
            self.connection.close()
            return
        self._answer(status, payload, media)

    def _answer(self, status: int, payload: bytes, media: str) -> None:
        self.send_response(status)
        self.send_header("content-type", media)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def faulty_proxy(target: str) -> Iterator[tuple[str, Faults]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.faults = Faults()  # type: ignore[attr-defined]
    server.target = target.rstrip("/")  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.faults  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
