"""`prescreen receive` as a marketplace developer runs it: a real process on 127.0.0.1, real HTTP."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

import httpx
import pytest

from prescreen.local.dynamodb import free_port
from prescreen.signatures import signed_headers

RECEIVE = [sys.executable, "-m", "prescreen.receiver"]
SECRET = "whsec_cmVjZWl2ZXItdGVzdC1zZWNyZXQtMDAwMDAx"
OTHER_SECRET = "whsec_c29tZW9uZS1lbHNlcy1zZWNyZXQtMDAwMDAw"
PAYLOAD = {"type": "decision.reviewed", "timestamp": "2026-11-27T10:00:00+00:00",
           "data": {"decision_id": "dec_1", "decision": "block", "listing_id": "l-1", "title": "poupée"}}


def lines_of(stream: IO[str]) -> queue.Queue[str]:
    """Lines as the process writes them (a reader thread): unflushed output would never arrive."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


@dataclass
class Receiver:
    url: str
    process: subprocess.Popen[str]
    stdout: queue.Queue[str]
    stderr: queue.Queue[str]


def wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prescreen receive exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    port = free_port()
    process = subprocess.Popen([*RECEIVE, "--port", str(port), "--secret", SECRET], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, encoding="utf-8")
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        wait_for_port(port, process)
        url = f"http://127.0.0.1:{port}/callbacks"
        stderr = lines_of(process.stderr)
        assert stderr.get(timeout=5) == f"prescreen receive: listening on {url}\n"
        yield Receiver(url, process, lines_of(process.stdout), stderr)
    finally:
        process.terminate()
        process.wait(timeout=10)
    # SIGTERM is a normal way to stop it
    assert process.returncode == 0


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers={**headers, "content-type": "application/json"}, timeout=5)


def test_given_a_correctly_signed_callback_when_posted_then_it_gets_204_and_one_json_line(
    receiver: Receiver,
) -> None:
    body = json.dumps(PAYLOAD, ensure_ascii=False).encode()

    response = post(receiver.url, body, signed_headers(SECRET, "cb_dec_1_1", int(time.time()), body))

    assert response.status_code == 204
    line = receiver.stdout.get(timeout=5)
    assert json.loads(line) == {"webhook_id": "cb_dec_1_1", "verified": True, "payload": PAYLOAD}
    assert line.endswith("\n")
    assert receiver.stdout.empty()


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("another secret", lambda body: signed_headers(OTHER_SECRET, "cb_forged", int(time.time()), body)),
        ("stale timestamp", lambda body: signed_headers(SECRET, "cb_old", int(time.time()) - 3600, body)),
        ("no signature", lambda body: {"webhook-id": "cb_bare", "webhook-timestamp": str(int(time.time()))}),
    ],
)
def test_given_a_callback_that_does_not_verify_when_posted_then_401_and_nothing_on_stdout(
    receiver: Receiver, case: str, headers: Callable[[bytes], dict[str, str]],
) -> None:
    body = json.dumps(PAYLOAD).encode()

    response = post(receiver.url, body, headers(body))

    assert response.status_code == 401, case
    assert response.json()["error"]  # a short reason for the developer
    assert "refused" in receiver.stderr.get(timeout=5)
    time.sleep(0.2)  # anything printed would have been written before the answer
    assert receiver.stdout.empty()


def test_given_a_tampered_body_when_posted_then_401(receiver: Receiver) -> None:
    body = json.dumps(PAYLOAD).encode()
    headers = signed_headers(SECRET, "cb_tampered", int(time.time()), body)

    response = post(receiver.url, body.replace(b"block", b"allow"), headers)

    assert response.status_code == 401
    assert receiver.stderr.get(timeout=5)
    assert receiver.stdout.empty()


def test_given_an_invalid_secret_when_started_then_it_exits_with_a_usage_error() -> None:
    completed = subprocess.run([*RECEIVE, "--port", "0", "--secret", "not-a-secret"], capture_output=True,
                               text=True, timeout=20, check=False)
    assert completed.returncode == 2
    assert "whsec_" in completed.stderr
    assert completed.stdout == ""
