"""Classifier latency: in-process embed + head per listing, against the same over loopback HTTP with the server.

Run: .venv/bin/python tests/bench/bench_classifier.py   (about 20 s, bounded to 60 s; prints medians and ratios)

Also shown, for scale: a long (~1.5 KB) listing, a 32-listing batch, a new TCP connection per request, and the
same server without TCP_NODELAY and with headers and body written separately (the delayed-ACK stall).
"""

from __future__ import annotations

import http.client
import json
import socketserver
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prescreen_model import embedder
from prescreen_model.head import default_head
from prescreen_model.server import ModelServer, ModerationRequestHandler, running
from prescreen_model.service import ModerationService

DATA = Path(__file__).resolve().parents[2] / "layers" / "model" / "training" / "listings.jsonl"
BUDGET_S = 60.0
LONG_LISTING = (
    "Handmade oak dining table, 180 x 90 cm, seats six. Solid wood top finished with natural oil, tapered legs, "
    "light wear on one corner (see photos). Comes from a smoke-free, pet-free home. Disassembles for transport: "
    "the legs unscrew and fit in an estate car. Pick-up only, ground floor, parking in front of the house. "
) * 5


def median_ms(action: Callable[[], object], repeat: int, deadline: float) -> float:
    timings: list[float] = []
    for _ in range(repeat):
        if time.monotonic() > deadline:
            break
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000 if timings else float("nan")


class _UnbufferedHandler(ModerationRequestHandler):
    wbufsize = 0  # headers, then body: two writes


class _NaiveServer(ModelServer):
    """The same server minus the two fixes: Nagle on, and headers and body leave in two writes."""

    handler_class = _UnbufferedHandler

    def get_request(self) -> tuple[Any, Any]:
        return socketserver.TCPServer.get_request(self)


def post(connection: http.client.HTTPConnection, body: bytes) -> None:
    connection.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}")


def main() -> int:
    deadline = time.monotonic() + BUDGET_S
    texts = [json.loads(line)["text"] for line in DATA.read_text(encoding="utf-8").splitlines()][::9][:200]
    head = default_head()

    start = time.perf_counter()
    embedder.load()
    load_ms = (time.perf_counter() - start) * 1000
    for text in texts[:20]:
        embedder.embed([text])  # warm caches and the allocator

    cursor = iter(range(10**9))

    def one_listing() -> None:
        head.predict(embedder.embed([texts[next(cursor) % len(texts)]]))

    def embed_only() -> None:
        embedder.embed([texts[next(cursor) % len(texts)]])

    in_process = median_ms(one_listing, 200, deadline)
    embed_ms = median_ms(embed_only, 200, deadline)
    long_ms = median_ms(lambda: head.predict(embedder.embed([LONG_LISTING])), 30, deadline)
    batch_ms = median_ms(lambda: head.predict(embedder.embed(texts[:32])), 10, deadline) / 32

    service = ModerationService()
    with running(service=service) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        bodies = [json.dumps({"input": text}).encode() for text in texts]
        for body in bodies[:10]:
            post(connection, body)
        over_http = median_ms(lambda: post(connection, bodies[next(cursor) % len(bodies)]), 200, deadline)
        connection.close()

        def fresh_connection() -> None:
            fresh = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            post(fresh, bodies[next(cursor) % len(bodies)])
            fresh.close()

        new_connection = median_ms(fresh_connection, 50, deadline)

    naive = _NaiveServer("127.0.0.1", 0, service).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", naive.port, timeout=10)
        post(connection, bodies[0])
        naive_ms = median_ms(lambda: post(connection, bodies[next(cursor) % len(bodies)]), 15, deadline)
        connection.close()
    finally:
        naive.close()

    rows = [
        ("model load (first embed, in-process)", load_ms),
        ("embed only, one short listing (~57 chars)", embed_ms),
        ("embed + head, one short listing, in-process", in_process),
        ("embed + head, one ~1.5 KB listing, in-process", long_ms),
        ("embed + head, per listing in a batch of 32", batch_ms),
        ("POST /invocations, one listing, keep-alive", over_http),
        ("POST /invocations, new connection each", new_connection),
        ("same, server without TCP_NODELAY + 2 writes", naive_ms),
    ]
    print(f"{'median per request':<50}{'ms':>10}")
    for name, value in rows:
        print(f"{name:<50}{value:>10.2f}")
    overhead = over_http - in_process
    print(f"HTTP keep-alive / in-process ratio: {over_http / in_process:.2f}x (HTTP adds {overhead:.2f} ms)")
    print(f"naive server / tuned server ratio: {naive_ms / over_http:.1f}x")
    elapsed = BUDGET_S - (deadline - time.monotonic())
    print(f"head weights: {head.weights.nbytes + head.bias.nbytes} bytes in memory; benchmark took {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
