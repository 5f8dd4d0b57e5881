"""The product commands as a user runs them: `prescreen serve` + `prescreen send`, and `prescreen screen`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prescreen.local.dynamodb import free_port
from support.signing import LISTINGS

PRESCREEN = [sys.executable, "-m", "prescreen.cli"]


def wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prescreen serve exited: {process.stderr.read() if process.stderr else ''}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture
def served() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([*PRESCREEN, "serve", "--port", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)


def send(url: str, listing: str, *extra: str) -> tuple[int, dict[str, object]]:
    completed = subprocess.run([*PRESCREEN, "send", str(LISTINGS / f"{listing}.json"), "--url", url, *extra],
                               capture_output=True, text=True, timeout=30, check=False)
    return completed.returncode, json.loads(completed.stdout)


def test_serve_screens_signed_listings_out_of_the_box(served: str) -> None:
    code, blocked = send(served, "childlike_doll_en")
    assert (code, blocked["decision"]) == (0, "block")
    code, allowed = send(served, "reborn_doll")
    assert (code, allowed["decision"]) == (0, "allow")


def test_serve_answers_a_retry_with_the_same_decision(served: str) -> None:
    _, first = send(served, "childlike_doll_fr", "--webhook-id", "msg_cli_retry")
    _, second = send(served, "childlike_doll_fr", "--webhook-id", "msg_cli_retry")
    assert first == second


def test_screen_writes_one_decision_per_line(tmp_path: Path) -> None:
    # Given a catalogue file of webhook bodies, one of them not a valid listing
    names = ["childlike_doll_fr", "reborn_doll", "kettle", "adult_doll_weak_cue"]
    lines = [(LISTINGS / f"{name}.json").read_text().strip() for name in names] + [
        '{"id": "no-title"}', '{"id": "twice", "title": "kettle", "title": "sex doll"}']
    catalogue = tmp_path / "catalogue.jsonl"
    catalogue.write_text("\n".join(lines) + "\n")
    output = tmp_path / "decisions.jsonl"
    # When it is screened in batch
    completed = subprocess.run([*PRESCREEN, "screen", str(catalogue), "-o", str(output)],
                               capture_output=True, text=True, timeout=60, check=False)
    # Then every line gets a decision (or says why it could not), in order
    decisions = [json.loads(line) for line in output.read_text().splitlines()]
    assert [d.get("decision") for d in decisions] == ["block", "allow", "allow", "review", None, None]
    assert decisions[0]["reasons"][0]["evidence"]
    assert decisions[4] == {"line": 5, "error": "Field required", "pointer": "/title"}
    # A key given twice is refused as the webhook refuses it, not screened as whichever copy a parser keeps.
    assert (decisions[5]["line"], decisions[5]["pointer"]) == (6, "/title")
    assert completed.returncode == 1  # a bad line makes the run fail, after screening the rest
