"""A bounded HTTP load generator for the screening webhook: signed requests, loopback only, stops by itself.

Usage (normally started by tests/load/run_load.py, one process per phase so it never shares the server's GIL):

    .venv/bin/python tests/load/loadgen.py --url http://127.0.0.1:8000 --mode max --seconds 10
    .venv/bin/python tests/load/loadgen.py --url http://127.0.0.1:8000 --mode rate --rate 120 --seconds 20

Modes (`--connections` keep-alive connections, 16 by default):

- `max`: closed loop. Every connection sends its next request as soon as the previous answer is in; the
  completions per second over `--seconds` (after `--warmup-seconds`, discarded) are the maximum rate.
- `rate`: open loop at a constant arrival rate. Request i is *scheduled* at start + i / rate and its latency
  is measured from that scheduled time, not from when a connection became free, so the time a request spends
  queued behind busy connections is counted (no coordinated omission). With all connections busy the next
  request waits for one, as a marketplace client with a 16-connection pool would.

Every request is a real webhook: a listing body rotated from tests/data/listings/*.json, a fresh
`webhook-id`, the current `webhook-timestamp` and a `v1` signature made with prescreen.signatures and the
`demo` development secret. Errors are non-2xx answers, timeouts (`--timeout`), connection errors and, in
`rate` mode, requests that waited longer than `--timeout` for a free connection (`unsent`: not sent at all,
the server having fallen that far behind the offered load).

Bounds: the target must be a loopback address; each phase stops at `--seconds` and at `--max-requests`,
whichever comes first, and a watchdog cancels everything 2 x `--timeout` + 5 s after the deadline.

The result is one JSON object on stdout (`--json`) or a short text summary.

The HTTP client is a minimal HTTP/1.1 keep-alive client on asyncio streams (`--client raw`, the default):
it costs a fraction of httpx.AsyncClient per request (`--client httpx` for comparison), so on 2 cores the
generator takes less CPU away from the server it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import math
import resource
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from prescreen.marketplaces import FileMarketplaceDirectory, dev_marketplaces_path
from prescreen.signatures import signed_headers

LISTINGS = Path(__file__).resolve().parents[1] / "data" / "listings"
DEFAULT_CONNECTIONS = 16
HARD_MAX_REQUESTS = 2_000_000  # whatever the arguments say, no phase sends more than this

Mode = Literal["max", "rate"]


class LoadError(Exception):
    """The generator was asked for something it refuses to do (a non-loopback target, bad bounds)."""


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (the value at or above `fraction` of them)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def require_loopback(url: str) -> tuple[str, int, str]:
    """(host, port, path prefix) of a loopback http:// URL; anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise LoadError(f"{url}: only http:// URLs on loopback are allowed")
    host = parts.hostname
    if host != "localhost":
        try:
            address = ipaddress.ip_address(host)
        except ValueError as error:
            raise LoadError(f"{url}: give a loopback IP address (127.0.0.0/8 or ::1), not a name") from error
        if not address.is_loopback:
            raise LoadError(f"{url}: {host} is not a loopback address; this generator only targets this machine")
    return host, parts.port or 80, parts.path.rstrip("/")


class RequestFactory:
    """Builds signed webhook requests: rotated bodies, a fresh webhook-id, the current timestamp."""

    def __init__(self, marketplace: str, secret: str, bodies: Sequence[bytes]) -> None:
        if not bodies:
            raise LoadError("no listing bodies to send")
        self._secret = secret
        self._bodies = list(bodies)
        self._count = 0
        self.path = f"/v1/marketplaces/{marketplace}/screen"

    def next(self) -> tuple[bytes, dict[str, str]]:
        body = self._bodies[self._count % len(self._bodies)]
        self._count += 1
        headers = signed_headers(self._secret, f"load_{uuid.uuid4().hex}", int(time.time()), body)
        headers["content-type"] = "application/json"
        return body, headers


def load_bodies(folder: Path = LISTINGS) -> list[bytes]:
    return [path.read_bytes() for path in sorted(folder.glob("*.json"))]


def dev_secret(marketplace: str) -> str:
    config = FileMarketplaceDirectory(dev_marketplaces_path()).get(marketplace)
    if config is None:
        raise LoadError(f"no development secret for marketplace '{marketplace}'")
    return config.secrets[0]


class HttpError(Exception):
    """The connection broke or the server answered something that is not HTTP/1.1."""


class RawConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: just enough for JSON request/response."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> int:
        if self._writer is None or self._reader is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._reader, self._writer
        lines = [f"POST {path} HTTP/1.1", f"host: {self._host}:{self._port}", f"content-length: {len(body)}"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            raise HttpError("the connection closed before a response head") from error
        status_line, _, header_block = head.decode("latin-1").partition("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise HttpError(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
        response_headers: dict[str, str] = {}
        for line in header_block.split("\r\n"):
            name, _, value = line.partition(":")
            if name:
                response_headers[name.strip().lower()] = value.strip()
        if response_headers.get("transfer-encoding", "").lower() == "chunked":
            await self._drain_chunked(reader)
        else:
            await reader.readexactly(int(response_headers.get("content-length", "0")))
        if response_headers.get("connection", "").lower() == "close":
            await self.close()
        return int(parts[1])

    @staticmethod
    async def _drain_chunked(reader: asyncio.StreamReader) -> None:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF; the last chunk is size 0
            if size == 0:
                return

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):  # already reset by the peer: nothing left to close
                await writer.wait_closed()


Sender = Callable[[str, dict[str, str], bytes], Awaitable[int]]


@dataclass
class PhaseResult:
    mode: Mode
    connections: int
    seconds: float
    target_rate: float | None
    scheduled: int = 0
    completed: int = 0
    ok: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    timeouts: int = 0
    connection_errors: int = 0
    unsent: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    offsets_s: list[float] = field(default_factory=list)  # when each measured request was due, from the start
    error_offsets_s: list[float] = field(default_factory=list)
    origin: float = 0.0
    loop_lag_ms: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    stopped_by: str = "time"
    cpu_seconds: float = 0.0

    @property
    def errors(self) -> int:
        return self.timeouts + self.connection_errors + self.unsent + sum(n for code, n in self.statuses.items()
                                                            if not 200 <= code < 300)

    def windows(self, seconds: float) -> list[dict[str, Any]]:
        """Latency and errors per window of `seconds` (by due time): drift over a soak shows here."""
        count = max(1, math.ceil(self.seconds / seconds))  # due times fall inside the requested duration
        buckets: list[list[float]] = [[] for _ in range(count)]
        errors = [0] * count
        for offset, latency in zip(self.offsets_s, self.latencies_ms, strict=True):
            buckets[min(count - 1, max(0, int(offset // seconds)))].append(latency)
        for offset in self.error_offsets_s:
            errors[min(count - 1, max(0, int(offset // seconds)))] += 1
        rows = []
        for index, values in enumerate(buckets):
            ordered = sorted(values)
            rows.append({"start_s": index * seconds, "completed": len(values), "errors": errors[index],
                         "p50": round(percentile(ordered, 0.5), 3), "p99": round(percentile(ordered, 0.99), 3)})
        return rows

    def summary(self, window_seconds: float | None = None) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        lag = sorted(self.loop_lag_ms)
        return {
            "mode": self.mode,
            "connections": self.connections,
            "seconds": round(self.elapsed, 3),
            "target_rate": self.target_rate,
            "scheduled": self.scheduled,
            "completed": self.completed,
            "ok": self.ok,
            "achieved_rate": round(self.completed / self.elapsed, 2) if self.elapsed else 0.0,
            "ok_rate": round(self.ok / self.elapsed, 2) if self.elapsed else 0.0,
            "errors": self.errors,
            "statuses": {str(code): n for code, n in sorted(self.statuses.items())},
            "timeouts": self.timeouts,
            "connection_errors": self.connection_errors,
            "unsent": self.unsent,
            "latency_ms": {name: round(percentile(ordered, q), 3)
                           for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))},
            # How late the generator woke for a request while it had a free connection: when this is
            # large, the generator (not the server) is the bottleneck and the numbers are not trustworthy.
            "generator_lag_ms": {"p99": round(percentile(lag, 0.99), 3), "max": round(percentile(lag, 1.0), 3)},
            "generator_cpu_seconds": round(self.cpu_seconds, 3),
            "stopped_by": self.stopped_by,
            "windows": self.windows(window_seconds) if window_seconds else [],
        }


class LoadGenerator:
    def __init__(self, base_url: str, factory: RequestFactory, connections: int, timeout: float,
                 client: Literal["raw", "httpx"] = "raw") -> None:
        self._host, self._port, prefix = require_loopback(base_url)
        if not 1 <= connections <= 256:
            raise LoadError("connections must be between 1 and 256")
        self._factory = factory
        self._path = prefix + factory.path
        self._connections = connections
        self._timeout = timeout
        self._client = client

    async def run(self, mode: Mode, seconds: float, rate: float | None, max_requests: int,
                  warmup_seconds: float = 0.0) -> PhaseResult:
        if seconds <= 0 or max_requests <= 0:
            raise LoadError("seconds and max-requests must be positive")
        if mode == "rate" and (rate is None or rate <= 0):
            raise LoadError("an open-loop phase needs a positive --rate")
        max_requests = min(max_requests, HARD_MAX_REQUESTS)
        senders, closers = await self._open_senders()
        try:
            if warmup_seconds > 0:
                # Discarded: connections opened, the server's first-request work (policy load) done.
                await self._guarded(self._closed_loop(senders, warmup_seconds, max_requests, None), warmup_seconds)
            result = PhaseResult(mode, self._connections, seconds, rate if mode == "rate" else None)
            # run_load.py takes its CPU baselines of the servers when this line arrives (warm-up excluded).
            print("measuring", file=sys.stderr, flush=True)
            cpu_before = time.process_time()
            if mode == "max":
                await self._guarded(self._closed_loop(senders, seconds, max_requests, result), seconds, result)
            else:
                assert rate is not None
                await self._guarded(self._open_loop(senders, seconds, rate, max_requests, result), seconds, result)
            result.cpu_seconds = time.process_time() - cpu_before
            return result
        finally:
            for close in closers:
                await close()

    async def _guarded(self, phase: Awaitable[None], seconds: float, result: PhaseResult | None = None) -> None:
        # The watchdog: a phase never outlives its deadline by more than two request timeouts (a request due
        # at the end may wait one for a connection, then take one) and a margin; requests still in flight
        # then are cancelled, and the result says so.
        try:
            await asyncio.wait_for(phase, timeout=seconds + 2 * self._timeout + 5)
        except TimeoutError:
            if result is None:
                raise
            result.stopped_by = "watchdog"
            result.elapsed = result.elapsed or seconds + 2 * self._timeout + 5

    async def _open_senders(self) -> tuple[list[Sender], list[Callable[[], Awaitable[None]]]]:
        if self._client == "httpx":
            import httpx

            limits = httpx.Limits(max_connections=self._connections, max_keepalive_connections=self._connections)
            client = httpx.AsyncClient(base_url=f"http://{self._host}:{self._port}", limits=limits, timeout=None)

            async def post(path: str, headers: dict[str, str], body: bytes) -> int:
                response = await client.post(path, content=body, headers=headers)
                return response.status_code

            return [post] * self._connections, [client.aclose]
        connections = [RawConnection(self._host, self._port) for _ in range(self._connections)]
        return [c.post for c in connections], [c.close for c in connections]

    async def _send(self, sender: Sender, result: PhaseResult | None, started: float) -> None:
        body, headers = self._factory.next()
        try:
            async with asyncio.timeout(self._timeout):
                status = await sender(self._path, headers, body)
        except TimeoutError:
            if result is not None:
                result.timeouts += 1
                result.error_offsets_s.append(started - result.origin)
            await self._reset(sender)
            return
        except (OSError, HttpError, asyncio.IncompleteReadError, ValueError):
            if result is not None:
                result.connection_errors += 1
                result.error_offsets_s.append(started - result.origin)
            await self._reset(sender)
            return
        if result is not None:
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.offsets_s.append(started - result.origin)
            result.completed += 1
            result.statuses[status] += 1
            if 200 <= status < 300:
                result.ok += 1
            else:
                result.error_offsets_s.append(started - result.origin)

    @staticmethod
    async def _reset(sender: Sender) -> None:
        # A timed-out or broken raw connection may hold half a response: start the next request afresh.
        owner = getattr(sender, "__self__", None)
        if isinstance(owner, RawConnection):
            await owner.close()

    async def _closed_loop(self, senders: list[Sender], seconds: float, max_requests: int,
                           result: PhaseResult | None) -> None:
        start = time.perf_counter()
        deadline = start + seconds
        budget = [max_requests]
        if result is not None:
            result.origin = start

        async def worker(sender: Sender) -> None:
            while time.perf_counter() < deadline and budget[0] > 0:
                budget[0] -= 1
                if result is not None:
                    result.scheduled += 1
                await self._send(sender, result, time.perf_counter())

        await asyncio.gather(*(worker(sender) for sender in senders))
        if result is not None:
            # Completions counted over the measured window: answers that arrive after the deadline
            # belong to requests sent inside it, so the window ends at the last answer.
            result.elapsed = time.perf_counter() - start
            result.stopped_by = "count" if budget[0] <= 0 else "time"

    async def _open_loop(self, senders: list[Sender], seconds: float, rate: float, max_requests: int,
                         result: PhaseResult) -> None:
        by_time = math.floor(rate * seconds)
        total = min(max_requests, by_time)
        result.stopped_by = "count" if max_requests < by_time else "time"
        interval = 1.0 / rate
        start = time.perf_counter() + 0.05  # every worker is waiting before the first scheduled send
        result.origin = start
        next_ticket = [0]

        async def worker(sender: Sender) -> None:
            while True:
                ticket = next_ticket[0]
                if ticket >= total:
                    return
                next_ticket[0] += 1
                scheduled = start + ticket * interval
                if time.perf_counter() - scheduled > self._timeout:
                    # It waited longer than a request may take for a free connection: an error, as a timeout
                    # (the server fell behind the offered load). Not sending it keeps the phase's end bounded.
                    result.unsent += 1
                    result.error_offsets_s.append(scheduled - start)
                    continue
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                    # This worker had a free connection: any lateness now is the generator's own.
                    result.loop_lag_ms.append(max(0.0, (time.perf_counter() - scheduled) * 1000))
                result.scheduled += 1
                await self._send(sender, result, scheduled)

        await asyncio.gather(*(worker(sender) for sender in senders))
        result.elapsed = time.perf_counter() - start


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="base URL on loopback, e.g. http://127.0.0.1:8000")
    parser.add_argument("--mode", choices=["max", "rate"], required=True)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured duration of the phase")
    parser.add_argument("--rate", type=float, help="requests per second (mode rate)")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)
    parser.add_argument("--max-requests", type=int, default=500_000, help="hard stop by count")
    parser.add_argument("--warmup-seconds", type=float, default=0.0, help="closed-loop warm-up, discarded")
    parser.add_argument("--timeout", type=float, default=5.0, help="per request, seconds (counted as an error)")
    parser.add_argument("--marketplace", default="demo")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--window-seconds", type=float, help="also report p50/p99 and errors per window")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        factory = RequestFactory(args.marketplace, dev_secret(args.marketplace), load_bodies())
        generator = LoadGenerator(args.url, factory, args.connections, args.timeout, args.client)
        result = asyncio.run(generator.run(args.mode, args.seconds, args.rate, args.max_requests,
                                           args.warmup_seconds))
    except LoadError as error:
        print(f"loadgen: {error}", file=sys.stderr)
        return 2
    summary = result.summary(args.window_seconds)
    summary["generator_max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if args.json:
        print(json.dumps(summary))
    else:
        latency = summary["latency_ms"]
        print(f"{summary['mode']}: {summary['achieved_rate']} req/s over {summary['seconds']} s, "
              f"p50 {latency['p50']} p95 {latency['p95']} p99 {latency['p99']} max {latency['max']} ms, "
              f"errors {summary['errors']} {summary['statuses']}, generator CPU {summary['generator_cpu_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
