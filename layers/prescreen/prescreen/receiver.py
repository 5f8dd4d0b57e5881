"""`prescreen receive`: a tiny callback receiver for marketplace developers integrating with us.

It verifies each POST exactly as a marketplace should (Standard Webhooks, 5-minute tolerance), answers
204 when the signature holds and 401 with a short reason when it does not, and prints each verified
callback as one JSON line on stdout (invalid attempts go to stderr), so it can be piped into `jq`.
Standard library only: it must run wherever the CLI runs.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, TextIO

from prescreen.signatures import SignatureError, decode_secret, read_headers, verify

TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 1024 * 1024
DEFAULT_PATH = "/callbacks"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        receiver = self.server.receiver
        if self.path.split("?", 1)[0] != receiver.path:
            self._answer(404, f"no route {self.path.split('?', 1)[0]}; callbacks go to {receiver.path}")
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > MAX_BODY_BYTES:
            # The body is left unread: the connection cannot be reused.
            self.close_connection = True
            if length is None or not length.isdigit():
                self._answer(411, "a Content-Length header is required")
            else:
                self._answer(413, f"at most {MAX_BODY_BYTES} bytes")
            return
        body = self.rfile.read(int(length))
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, reason = receiver.accept(headers, body)
        self._answer(status, reason)

    def do_GET(self) -> None:
        self._answer(405, "callbacks are POSTed")

    do_PUT = do_DELETE = do_PATCH = do_GET

    def _answer(self, status: int, reason: str | None) -> None:
        body = b"" if status == 204 else json.dumps({"error": reason}).encode()
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the receiver reports each callback itself, one line each."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], receiver: ReceiverServer) -> None:
        self.receiver = receiver
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class ReceiverServer:
    """Verifies and records callbacks. `start()` serves in a background thread; `serve_forever()` blocks."""

    def __init__(
        self, secrets: Sequence[str], host: str = "127.0.0.1", port: int = 0, path: str = DEFAULT_PATH,
        out: TextIO | None = None, err: TextIO | None = None, tolerance_seconds: int = TOLERANCE_SECONDS,
    ) -> None:
        if not secrets:
            raise ValueError("at least one whsec_ secret is needed")
        for secret in secrets:
            decode_secret(secret)
        self.secrets = list(secrets)
        self.path = path if path.startswith("/") else "/" + path
        self.received: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self._out = out if out is not None else sys.stdout
        self._err = err if err is not None else sys.stderr
        self._tolerance = tolerance_seconds
        self._host = host
        self._lock = threading.Lock()
        self._httpd = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        shown = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{shown}:{self._httpd.server_port}{self.path}"

    def accept(self, headers: dict[str, str], body: bytes) -> tuple[int, str | None]:
        """(status, reason) for one POST; a verified callback is recorded and printed."""
        try:
            message = read_headers(headers, time.time(), self._tolerance)
            verify(message, body, self.secrets)
        except SignatureError as error:
            self._reject(error.detail, headers.get("webhook-id"))
            return 401, error.detail
        try:
            payload = json.loads(body)
        except ValueError:
            self._reject("the body is not JSON", message.message_id)
            return 400, "the body is not JSON"
        line = {"webhook_id": message.message_id, "verified": True, "payload": payload}
        with self._lock:
            self.received.append(line)
            self._out.write(json.dumps(line, ensure_ascii=False) + "\n")
            self._out.flush()  # one line per callback, visible at once through a pipe
        return 204, None

    def _reject(self, reason: str, webhook_id: str | None) -> None:
        with self._lock:
            self.rejected.append(reason)
            self._err.write(f"prescreen receive: refused (webhook-id {webhook_id or '-'}): {reason}\n")
            self._err.flush()

    def start(self) -> ReceiverServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                            name="prescreen-receiver", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ReceiverServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    try:
        server = ReceiverServer(args.secret, host=args.host, port=args.port, path=args.path)
    except ValueError as error:
        print(f"prescreen receive: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"prescreen receive: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    print(f"prescreen receive: listening on {server.url}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `receive` on the CLI's subparsers (`run` returns the exit code)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "receive", help="receive and verify our signed callbacks (for marketplace developers)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port (printed on stderr)")
    parser.add_argument("--secret", action="append", required=True,
                        help="whsec_ secret the callbacks are signed with; repeat during a rotation")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--path", default=DEFAULT_PATH)
    parser.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prescreen")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["receive", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
