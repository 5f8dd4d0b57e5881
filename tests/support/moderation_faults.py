"""A moderation-shaped HTTP server on 127.0.0.1 that misbehaves on demand: slow, 500, malformed JSON.

It stands in for a *failing* hosted classifier in fault tests; the healthy path is tested against our real
model service.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    mode: str = "ok"  # ok | slow | error | malformed
    delay_seconds: float = 0.0
    scores: dict[str, float] = field(default_factory=lambda: {"childlike_sex_doll": 0.97})
    requests: int = 0


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        behaviour = self.server.behaviour  # type: ignore[attr-defined]
        behaviour.requests += 1
        if behaviour.mode == "slow":
            time.sleep(behaviour.delay_seconds)
        if behaviour.mode == "error":
            self._send(500, b'{"error": "internal"}')
        elif behaviour.mode == "malformed":
            self._send(200, b'{"results": [{"category_scores": ')
        else:
            body = {"id": "modr-test", "model": "fault-server",
                    "results": [{"flagged": True, "categories": {}, "category_scores": behaviour.scores}]}
            self._send(200, json.dumps(body).encode())

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour

    def get_request(self) -> tuple[socket.socket, object]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


@contextmanager
def moderation_server(behaviour: Behaviour) -> Iterator[str]:
    server = _Server(behaviour)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
