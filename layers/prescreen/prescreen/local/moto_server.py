"""moto's server (DynamoDB and SQS for `prescreen serve` and the tests) with keep-alive connections.

moto serves through werkzeug's development server, which answers every request with `Connection: close`
(it cannot know whether the application read the whole request body; leftover bytes would be read as the
next request) and then reads whatever else arrives. So every DynamoDB call opened a new TCP connection and
the server a new thread for it: a quarter of moto's CPU under `make load` (accepting, starting threads,
parsing) and a connection set-up in every webhook request, which DynamoDB (keep-alive) does not cost. This
handler finishes reading a request that has a Content-Length itself, and then keeps the connection open and
skips werkzeug's read-what-follows; anything else (a chunked body, one it cannot finish) still closes.
A development dependency: never in the Lambda layer.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server


class _RequestStream(io.RawIOBase):
    """The connection's input: counts what this request's body has used, and reads nothing more once the
    request is complete and the connection is kept (what follows is the next request)."""

    def __init__(self, raw: Any) -> None:
        super().__init__()
        self._raw = raw
        self.used = 0
        self.complete = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.complete:
            return 0
        count: int = self._raw.readinto(buffer) or 0
        self.used += count
        return count

    def read(self, size: int | None = -1) -> bytes:
        if self.complete:
            return b""
        data: bytes = self._raw.read(size)
        self.used += len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        data: bytes = self._raw.readline(size)  # request and header lines: never refused
        self.used += len(data)
        return data


class KeepAliveMotoRequestHandler(MotoRequestHandler):
    rfile: Any
    _stream: _RequestStream
    _body_length: int | None = None

    def setup(self) -> None:
        super().setup()
        # The answer leaves in several small writes (status, headers, body): without this, Nagle's algorithm
        # holds the last one for the client's delayed ACK, ~40 ms per request on a kept connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._stream = _RequestStream(self.rfile)
        self.rfile = self._stream
        _open_connections(self.server).add(self.connection)

    def finish(self) -> None:
        _open_connections(self.server).discard(self.connection)
        super().finish()

    def handle_one_request(self) -> None:
        self._stream.complete = False
        self._body_length = None
        super().handle_one_request()

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        length = str(environ.get("CONTENT_LENGTH") or "")
        if length.isdigit() and not environ.get("HTTP_TRANSFER_ENCODING"):
            self._stream.used = 0  # from here on, only body bytes are read
            self._body_length = int(length)
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value.lower() == "close" and self._finish_body():
            self._stream.complete = True
            return  # the next request may follow on this connection
        super().send_header(keyword, value)

    def _finish_body(self) -> bool:
        if self._body_length is None:
            return False
        remaining = self._body_length - self._stream.used
        while remaining > 0:
            chunk = self._stream.read(min(remaining, 65536))
            if not chunk:
                return False
            remaining -= len(chunk)
        return remaining == 0


def _open_connections(server: Any) -> set[socket.socket]:
    connections: set[socket.socket] = server.open_connections
    return connections


class MotoServer:
    """moto's application on 127.0.0.1:`port`, one thread per connection, connections kept alive."""

    def __init__(self, port: int) -> None:
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", port, DomainDispatcherApplication(create_backend_app), threaded=True,
            request_handler=KeepAliveMotoRequestHandler,
        )
        # Kept-alive connections outlive a request: stop() must end them, or a stopped server would go on
        # answering the clients that were connected to it.
        self._server.open_connections = set()  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()
        for connection in list(_open_connections(self._server)):
            with contextlib.suppress(OSError):  # already closed by its client
                connection.shutdown(socket.SHUT_RDWR)
