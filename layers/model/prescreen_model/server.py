"""The classifier as an HTTP service, with the SageMaker container contract and the OpenAI moderation route:

    GET  /ping             200 once the model is loaded (503 before)
    POST /invocations      {"input": ...} -> moderation response (SageMaker's InvokeEndpoint path)
    POST /v1/moderations   the same, under OpenAI's path

    python -m prescreen_model.server --host 127.0.0.1 --port 8080

Latency matters more than throughput here (one listing per request, from the screening webhook), so every
accepted socket gets TCP_NODELAY and each response leaves in a single write: a response written as headers then
body, without TCP_NODELAY, waits for the client's delayed ACK (40-200 ms) before the body goes out.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prescreen_model.service import ModerationService, error_body

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
MODERATION_PATHS = frozenset({"/invocations", "/v1/moderations"})
PING_PATH = "/ping"


class ModerationRequestHandler(BaseHTTPRequestHandler):
    server: ModelServer
    protocol_version = "HTTP/1.1"  # keep-alive: the webhook reuses one connection for many listings
    # Buffer writes up to 64 KiB (a 32-text response is ~25 KB): status line, headers and body are sent together
    # when `_send_json` flushes, instead of one small write each.
    wbufsize = 1 << 16
    # Idle keep-alive connections and slow senders give up their thread after this many seconds.
    timeout = 60
    server_version = "prescreen-model"
    # http.server answers an unparsable request line as HTTP/0.9, i.e. a bare body with no status line; nobody
    # speaks 0.9, and a status line plus JSON tells the client what went wrong.
    default_request_version = "HTTP/1.0"
    sys_version = ""

    def _path(self) -> str:
        path = urlsplit(self.path).path
        return path.rstrip("/") or "/"

    def do_GET(self) -> None:
        path = self._path()
        if path == PING_PATH:
            service = self.server.service
            if service.loaded:
                self._send_json(200, {"status": "ok", "model": service.model})
            else:
                self._send_json(503, error_body("the model is loading", code="loading", kind="service_unavailable"))
        elif path in MODERATION_PATHS:
            self._send_json(405, error_body(f"use POST {path}", code="method_not_allowed"), allow="POST")
        else:
            self._send_json(404, error_body(f"no route {path}", code="not_found"))

    def do_POST(self) -> None:
        path = self._path()
        if path == PING_PATH:
            self._refuse_body(405, error_body("use GET /ping", code="method_not_allowed"), allow="GET")
            return
        if path not in MODERATION_PATHS:
            self._refuse_body(404, error_body(f"no route {path}", code="not_found"))
            return
        body = self._read_body()
        if body is None:
            return
        try:
            status, payload = self.server.service.handle(body)
        except Exception:
            # The transport boundary: log the traceback, answer a JSON 500 and drop the connection, rather than
            # let socketserver print it and close the socket without a word. Nothing is swallowed.
            logger.exception("moderation failed")
            self.close_connection = True
            status, payload = 500, error_body("internal error", code="internal_error", kind="server_error")
        self._send_json(status, payload)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering the error (411/400/413) when it cannot be read."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._refuse_body(411, error_body("send a Content-Length; chunked bodies are not accepted"))
            return None
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            self._refuse_body(411, error_body("Content-Length is required", code="length_required"))
            return None
        if not raw_length.strip().isdigit():
            self._refuse_body(400, error_body("Content-Length must be a non-negative integer", code="invalid_length"))
            return None
        length = int(raw_length)
        if length > MAX_BODY_BYTES:
            message = f"the body has {length} bytes; at most {MAX_BODY_BYTES}"
            self._refuse_body(413, error_body(message, code="body_too_large"))
            return None
        body = self.rfile.read(length)
        if len(body) < length:  # the client went away mid-body: nobody to answer
            self.close_connection = True
            return None
        return body

    def _refuse_body(self, status: int, payload: dict[str, Any], allow: str | None = None) -> None:
        # The body was not read, so the connection's byte stream is out of step: answer and close it.
        self.close_connection = True
        self._send_json(status, payload, allow=allow)

    def _send_json(self, status: int, payload: dict[str, Any], allow: str | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if allow is not None:
            self.send_header("Allow", allow)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()  # into wfile's buffer, not yet on the wire
        self.wfile.write(body)
        self.wfile.flush()  # one send for the whole response

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """JSON instead of http.server's HTML, for the errors it raises itself (malformed request line, 501...)."""
        self.close_connection = True
        text = message or self.responses.get(code, ("error",))[0]
        kind = "server_error" if code >= 500 else "invalid_request_error"
        self._send_json(code, error_body(text if explain is None else f"{text}: {explain}", kind=kind))

    def log_message(self, format: str, *args: Any) -> None:
        # Per-request lines go to logging (debug), not to stderr on the request path.
        logger.debug("%s " + format, self.address_string(), *args)


class ModelServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer bound at construction; `start()` loads the model and serves from a thread,
    `close()` stops it and drops open keep-alive connections."""

    daemon_threads = True
    handler_class: type[BaseHTTPRequestHandler] = ModerationRequestHandler

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, service: ModerationService | None = None) -> None:
        self.service = service if service is not None else ModerationService()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__((host, port), self.handler_class)

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    @property
    def url(self) -> str:
        host = self.server_address[0]
        return f"http://{host if isinstance(host, str) else host.decode()}:{self.port}"

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        # Small responses otherwise sit in the kernel until the peer's delayed ACK: 40-200 ms per request.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def start(self) -> ModelServer:
        """Load the model (so /ping answers 200 from the first request), then serve in a daemon thread."""
        self.service.load()
        self._thread = threading.Thread(target=self.serve_forever, name="prescreen-model-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.shutdown()  # returns once serve_forever has left its loop
            self._thread.join()
            self._thread = None
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            # Wakes handler threads blocked reading an idle keep-alive connection; it may already be closed.
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue
        self.server_close()


@contextmanager
def running(host: str = "127.0.0.1", port: int = 0, service: ModerationService | None = None) -> Iterator[ModelServer]:
    """A started server for tests and benchmarks (port 0: any free port; read it from `.url`)."""
    server = ModelServer(host, port, service)
    try:
        server.start()
        yield server
    finally:
        server.close()


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
    service: ModerationService | None = None,
) -> None:
    """Serve until `stop` is set (or forever). The model is loaded before `ready` is set and before any request
    is answered; requests arriving meanwhile wait in the listen backlog. A model that fails to load raises."""
    server = ModelServer(host, port, service)
    try:
        server.service.load()
        if stop is not None:

            def stop_when_asked(stop: threading.Event = stop) -> None:
                stop.wait()
                server.shutdown()

            threading.Thread(target=stop_when_asked, name="prescreen-model-stop", daemon=True).start()
        logger.info("serving %s on %s", server.service.model, server.url)
        if ready is not None:
            ready.set()
        server.serve_forever()
    finally:
        server.server_close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prescreen_model.server", description="the classifier service")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 inside a container")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        serve(args.host, args.port)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
