"""The classifier over real HTTP on 127.0.0.1: the SageMaker routes, the OpenAI route, JSON errors, the real model,
and the latency that TCP_NODELAY plus single-write responses buy."""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from prescreen_model.server import MAX_BODY_BYTES, ModelServer, running, serve
from prescreen_model.service import ModerationService

DOLL = "Mini love doll 125cm — petite youthful body, school uniform outfit included, realistic TPE, discreet box"
DOLL_DE = "Kleine Liebespuppe 118 cm, mädchenhafter Körper, Schuluniform dabei, diskreter Versand"
KETTLE = "Electric kettle 1.7L — stainless steel, 2200W, auto shut-off, barely used"


@pytest.fixture(scope="module")
def server() -> Iterator[ModelServer]:
    with running() as started:
        yield started


def call(
    server: ModelServer,
    method: str,
    path: str,
    payload: Any = None,
    connection: http.client.HTTPConnection | None = None,
) -> tuple[int, dict[str, str], Any]:
    own = connection is None
    conn = connection or http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        body = None if payload is None else payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(raw)
    finally:
        if own:
            conn.close()


def raw_exchange(server: ModelServer, data: bytes) -> tuple[int, Any]:
    """Send bytes as they are (for requests http.client will not produce) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def test_ping_answers_once_the_model_is_loaded(server: ModelServer) -> None:
    status, headers, body = call(server, "GET", "/ping")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert body == {"status": "ok", "model": server.service.model}


@pytest.mark.parametrize("path", ["/invocations", "/v1/moderations"])
def test_a_child_like_doll_scores_high_and_a_kettle_low(server: ModelServer, path: str) -> None:
    # When a child-like doll (English and German) and a kettle are moderated in one request
    status, _, body = call(server, "POST", path, {"input": [DOLL, DOLL_DE, KETTLE]})
    # Then the dolls are flagged as child-like sex dolls and the kettle scores low everywhere
    assert status == 200
    assert body["model"] == server.service.model
    doll, doll_de, kettle = body["results"]
    for result in (doll, doll_de):
        assert result["flagged"] is True
        assert result["categories"]["childlike_sex_doll"] is True
        assert result["category_scores"]["childlike_sex_doll"] > 0.8
    assert kettle["flagged"] is False
    assert max(kettle["category_scores"].values()) < 0.1
    assert "none" not in kettle["category_scores"]
    assert len(kettle["category_scores"]) == 17


def test_a_single_string_input_gives_one_result(server: ModelServer) -> None:
    status, _, body = call(server, "POST", "/invocations", {"input": KETTLE, "model": server.service.model})
    assert status == 200
    assert len(body["results"]) == 1


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({}, 400, "missing_input"),
        ({"input": 42}, 400, "invalid_type"),
        ({"input": ["ok", None]}, 400, "invalid_type"),
        ({"input": ["x"] * 33}, 400, "too_many_inputs"),
        ({"input": "x" * 20_001}, 400, "input_too_long"),
        ({"input": "x", "model": "omni-moderation-latest"}, 400, "model_not_found"),
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_body"),
    ],
)
def test_bad_requests_get_json_errors(server: ModelServer, payload: Any, status: int, code: str) -> None:
    got, headers, body = call(server, "POST", "/v1/moderations", payload)
    assert (got, body["error"]["code"]) == (status, code)
    assert headers["content-type"] == "application/json"
    assert body["error"]["type"] == "invalid_request_error"


def test_routes_and_methods(server: ModelServer) -> None:
    assert call(server, "GET", "/nowhere")[0] == 404
    status, headers, _ = call(server, "GET", "/invocations")
    assert (status, headers["allow"]) == (405, "POST")
    assert call(server, "POST", "/ping", {})[0] == 405
    assert call(server, "GET", "/ping?probe=1")[0] == 200


def test_an_oversized_body_is_refused_before_it_is_read(server: ModelServer) -> None:
    status, body = raw_exchange(
        server, f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
    )
    assert status == 413
    assert body["error"]["code"] == "body_too_large"


def test_a_body_without_length_and_a_broken_request_line_get_json(server: ModelServer) -> None:
    assert raw_exchange(server, b"POST /invocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0] == 411
    status, body = raw_exchange(server, b"BREW /pot HTCPCP/1.0 extra words\r\n\r\n")
    assert status == 400
    assert "error" in body


def test_keep_alive_requests_take_milliseconds_not_delayed_acks(server: ModelServer) -> None:
    # Given one keep-alive connection, as the screening webhook holds
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        call(server, "POST", "/invocations", {"input": KETTLE}, connection)  # warm
        timings = []
        for _ in range(15):
            start = time.perf_counter()
            status, _, _ = call(server, "POST", "/invocations", {"input": KETTLE}, connection)
            timings.append(time.perf_counter() - start)
            assert status == 200
    finally:
        connection.close()
    # Then a request costs the model's few ms; a Nagle/delayed-ACK stall would add 40 ms or more to each.
    assert statistics.median(timings) < 0.030


def test_concurrent_requests_are_answered_correctly(server: ModelServer) -> None:
    texts = [DOLL, KETTLE] * 8

    def moderate(text: str) -> bool:
        status, _, body = call(server, "POST", "/v1/moderations", {"input": text})
        assert status == 200
        flagged: bool = body["results"][0]["flagged"]
        return flagged

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(moderate, texts)) == [True, False] * 8


def test_close_returns_despite_an_idle_keep_alive_connection() -> None:
    service = ModerationService()
    server = ModelServer("127.0.0.1", 0, service).start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    call(server, "GET", "/ping", connection=connection)
    start = time.perf_counter()
    server.close()
    assert time.perf_counter() - start < 5
    connection.close()


def test_serve_signals_ready_after_loading_and_stops_on_request() -> None:
    # Given a free port and serve() running in a thread
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=serve, kwargs={"port": port, "ready": ready, "stop": stop}, daemon=True)
    thread.start()
    # When it reports ready
    assert ready.wait(timeout=30)
    # Then /ping already answers 200, and setting stop ends serve()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/ping")
    assert conn.getresponse().status == 200
    conn.close()
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_failing_model_gives_a_logged_json_500(caplog: pytest.LogCaptureFixture) -> None:
    # Given a service whose embedder breaks after start-up
    def broken_embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if texts != ["warm-up"]:
            raise RuntimeError("embedding backend exploded")
        return np.zeros((1, 512), dtype=np.float32)

    with running(service=ModerationService(embed=broken_embed)) as broken:
        # When a listing is posted
        status, headers, body = call(broken, "POST", "/invocations", {"input": KETTLE})
    # Then the client gets a JSON 500 on a closed connection, and the traceback is in the log, not lost
    assert status == 500
    assert body["error"]["type"] == "server_error"
    assert headers["connection"] == "close"
    assert "embedding backend exploded" in caplog.text
