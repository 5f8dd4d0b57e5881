"""LOAD-ONLY EXPERIMENTS, never product code: the webhook as `prescreen serve` serves it (ScreenService,
DynamoDB store, the same FastAPI app), with one product change at a time applied by monkeypatching here, so
`make load` can measure a proposed change before anyone edits layers/ or the uvicorn options in cli.py.

    .venv/bin/python tests/load/run_load.py --soak-seconds 0 \\
        --variant "quiet log=--quiet-log" --variant "2 workers=--workers 2"

Options (each a candidate product change or a probe, one at a time or combined):

--quiet-log          no INFO `decision` log line per request (logger level WARNING).
--no-metrics         Powertools metrics.add_metric made a no-op.
--inline             ScreenService.handle on the event loop instead of anyio's thread pool.
--switch-interval-ms the GIL switch interval (CPython's default is 5 ms).
--store memory       the in-memory store (store excluded) instead of DynamoDB.
--gc-freeze          the policy compiled and gc.freeze() called before serving, as `prescreen serve` now does
                     (prescreen/process.py): without it a full collection walks the ~110k long-lived objects
                     (policy, botocore models), ~60 ms on this machine while every request in flight waits.
                     This app is built without it, so the flag still shows the difference.
--gc-log PATH        append "milliseconds tracked-objects" for every collection of generation 2 to PATH.
--timing-log PATH    append, per request, the milliseconds spent waiting for a thread-pool thread, in
                     ScreenService.handle, and in its GetItem and TransactWriteItems calls: where a slow
                     request spent its time.
--workers/--http/--loop  uvicorn options (`prescreen serve` uses 1 worker, http auto = h11, loop auto = asyncio
                     unless uvloop/httptools are installed); --extra-path adds a folder to sys.path first (e.g.
                     a scratch `pip install --target` of uvloop and httptools, kept out of the locks).

Settings come from the environment, as for `prescreen serve` (run_load.py passes PRESCREEN_DYNAMODB_ENDPOINT).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

OPTIONS_ENV = "PRESCREEN_LOAD_EXPERIMENT"  # how the flags reach every uvicorn worker process


def create() -> FastAPI:
    """The app factory uvicorn calls in each worker process."""
    options: dict[str, Any] = json.loads(os.environ.get(OPTIONS_ENV, "{}"))
    if options.get("switch_interval_ms"):
        sys.setswitchinterval(options["switch_interval_ms"] / 1000)

    from prescreen import webhook
    from prescreen.api import screen
    from prescreen.settings import get_settings
    from prescreen.store.dynamodb import DynamoDBDecisionStore
    from prescreen.store.memory import InMemoryDecisionStore
    from prescreen.wiring import build_marketplaces, build_screener

    if options.get("quiet_log"):
        webhook.logger.setLevel("WARNING")
    if options.get("no_metrics"):
        webhook.metrics.add_metric = lambda *args, **kwargs: None  # type: ignore[method-assign]
    if options.get("inline"):

        async def inline(function: Any, *args: Any) -> Any:
            return function(*args)

        setattr(screen, "run_in_threadpool", inline)  # noqa: B010 (the route looks the name up per call)
    settings = get_settings()
    if options.get("gc_log"):
        from load.dynamodb_server import log_full_collections  # tests/ is on the path of every worker

        log_full_collections(options["gc_log"])
    store: Any = InMemoryDecisionStore() if options.get("store") == "memory" \
        else DynamoDBDecisionStore.from_settings(settings)
    if options.get("timing_log"):
        store = TimedStore(store)
    screener = build_screener(settings)
    service = webhook.ScreenService(settings, store, build_marketplaces(settings), screener)
    if options.get("timing_log"):
        _time_requests(service, store, screen, options["timing_log"])
    app = screen.create_app(lambda: service)
    if options.get("gc_freeze"):
        from prescreen.models import Listing

        # What a product change would do at start-up: load the policy (the first request does it otherwise),
        # then move everything alive into the permanent generation.
        screener.screen(Listing(id="warm-up", title="warm-up"), settings.default_policy)
        gc.collect()
        gc.freeze()
    return app


class TimedStore:
    """Times the two webhook calls of the store, per thread (one request per thread at a time)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.times = threading.local()

    def find_request(self, marketplace: str, webhook_id: str) -> Any:
        began = time.perf_counter()
        try:
            return self._inner.find_request(marketplace, webhook_id)
        finally:
            self.times.get = (time.perf_counter() - began) * 1000

    def save_decision(self, record: Any) -> None:
        began = time.perf_counter()
        try:
            self._inner.save_decision(record)
        finally:
            self.times.put = (time.perf_counter() - began) * 1000

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _time_requests(service: Any, store: TimedStore, screen: Any, path: str) -> None:
    log = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (open for the process's life)
    handle = service.handle
    lock = threading.Lock()

    def timed_handle(marketplace: str, headers: Any, body: bytes, queued: float) -> Any:
        began = time.perf_counter()
        store.times.get = store.times.put = 0.0
        try:
            return handle(marketplace, headers, body)
        finally:
            ended = time.perf_counter()
            with lock:
                log.write(f"{(began - queued) * 1000:.2f} {(ended - began) * 1000:.2f} "
                          f"{store.times.get:.2f} {store.times.put:.2f}\n")

    stock = screen.run_in_threadpool

    async def run_in_threadpool(function: Any, *args: Any) -> Any:
        if function == handle:
            return await stock(timed_handle, *args, time.perf_counter())
        return await stock(function, *args)

    setattr(screen, "run_in_threadpool", run_in_threadpool)  # noqa: B010 (the route looks the name up per call)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--quiet-log", action="store_true")
    parser.add_argument("--no-metrics", action="store_true")
    parser.add_argument("--inline", action="store_true")
    parser.add_argument("--switch-interval-ms", type=float)
    parser.add_argument("--store", choices=["dynamodb", "memory"], default="dynamodb")
    parser.add_argument("--gc-freeze", action="store_true")
    parser.add_argument("--gc-log")
    parser.add_argument("--timing-log")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--http", default="auto")
    parser.add_argument("--loop", default="auto")
    parser.add_argument("--extra-path", help="a folder put first on sys.path (scratch installs)")
    args = parser.parse_args(argv)
    if args.extra_path:
        sys.path.insert(0, args.extra_path)
        # Worker processes are spawned: they find the scratch folder and this module through the environment.
        os.environ["PYTHONPATH"] = os.pathsep.join([args.extra_path, os.environ.get("PYTHONPATH", "")])
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/load as the package `load`
    os.environ["PYTHONPATH"] = os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])
    sys.path.insert(0, tests)
    os.environ[OPTIONS_ENV] = json.dumps({
        "quiet_log": args.quiet_log, "no_metrics": args.no_metrics,
        "inline": args.inline, "switch_interval_ms": args.switch_interval_ms, "store": args.store,
        "gc_freeze": args.gc_freeze, "gc_log": args.gc_log, "timing_log": args.timing_log,
    })
    import uvicorn

    # The options `prescreen serve` passes (log level warning, no lifespan) plus the ones under test.
    uvicorn.run("load.experiment_app:create", factory=True, host="127.0.0.1", port=args.port, log_level="warning",
                lifespan="off", workers=args.workers, http=args.http, loop=args.loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
