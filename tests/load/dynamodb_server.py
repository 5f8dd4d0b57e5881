"""LOAD-ONLY: prescreen's LocalDynamoDB (moto's threaded server, werkzeug request log off) in a process of its
own, so the webhook under load talks to its database over loopback HTTP and never shares its GIL with it.

    .venv/bin/python tests/load/dynamodb_server.py --port 8100 [--stock] [--no-freeze] [--gc-log PATH]

Two costs of the stand-in that DynamoDB does not have, both removed here so that the load test measures the
webhook (each can be put back to see it):

- moto's TransactWriteItems deep-copies the whole table per call; LocalDynamoDB (so `prescreen serve` too)
  snapshots only the items a transaction touches (prescreen/local/moto_transactions.py). `--stock`: moto
  as released, whose cost per request grows with every decision stored.
- werkzeug's server closes every connection after one request; LocalDynamoDB keeps them alive
  (prescreen/local/moto_server.py), which took moto from ~2.3 to ~1.8 ms of CPU per webhook request and
  the webhook from ~2.4 to ~2.2 ms (no TCP set-up per call).
- moto keeps every stored item as Python objects, and CPython's full collections walk all of them: measured
  in one `make load`, pauses of 76, 106, 147, 177 and 187 ms as moto's heap grew from 150k to 500k objects,
  each stalling every request in flight. This process therefore moves what it holds into the permanent
  generation once a second (gc.freeze), so a full collection walks only the last second's objects. Cyclic
  garbage alive at a freeze is never collected; moto makes little, and the soak watches the webhook's
  memory, not this process's. `--no-freeze`: every collection walks the whole store again.
- moto parses a condition expression with its own Python tokenizer at every use, twice per item of a
  transaction: 17 % of its CPU under `make load` (py-spy). Expressions without placeholder values (the
  webhook's `attribute_not_exists(pk)`) are parsed once here and the parsed condition reused; evaluating it
  is unchanged. `--stock` turns this off with the transaction snapshots.

Runs until terminated (SIGTERM or SIGINT). Started and stopped by tests/load/run_load.py.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from prescreen.local.dynamodb import LocalDynamoDB

FREEZE_INTERVAL_SECONDS = 1.0


def log_full_collections(path: str) -> None:
    """A probe: appends 'milliseconds tracked-objects' for every full collection of this process to PATH."""
    started: dict[str, float] = {}

    def callback(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started["at"] = time.perf_counter()
        elif "at" in started:
            with open(path, "a", encoding="utf-8") as log:
                log.write(f"{(time.perf_counter() - started.pop('at')) * 1000:.1f} {len(gc.get_objects())}\n")

    gc.callbacks.append(callback)


def reuse_parsed_conditions() -> None:
    """Parse each condition expression that has no placeholder names or values once (see the docstring)."""
    import functools

    from moto.dynamodb import comparisons, models
    from moto.dynamodb.models import table

    parse = comparisons.get_filter_expression
    parsed_once = functools.lru_cache(maxsize=256)(lambda expression: parse(expression, None, None))

    def get_filter_expression(expression: str | None, names: Any, values: Any) -> Any:
        if expression and not names and not values:
            return parsed_once(expression)
        return parse(expression, names, values)

    models.get_filter_expression = get_filter_expression  # type: ignore[attr-defined,assignment]
    table.get_filter_expression = get_filter_expression  # type: ignore[attr-defined,assignment]


def freeze_periodically(stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.wait(FREEZE_INTERVAL_SECONDS):
            gc.freeze()

    thread = threading.Thread(target=run, name="gc-freeze", daemon=True)
    thread.start()
    return thread


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stock", action="store_true", help="moto as released (whole-table transaction copies)")
    parser.add_argument("--no-freeze", action="store_true", help="full collections walk every stored item")
    parser.add_argument("--gc-log", metavar="PATH", help="append each full collection's milliseconds to PATH")
    args = parser.parse_args(argv)
    if args.gc_log:
        log_full_collections(args.gc_log)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    database = LocalDynamoDB(args.port, per_item_transactions=not args.stock).start()
    if not args.stock:
        reuse_parsed_conditions()
    if not args.no_freeze:
        freeze_periodically(stop)
    transactions = "stock moto" if args.stock else "per-item transaction snapshots"
    print(f"dynamodb_server: {database.endpoint} ({transactions}, {'no freeze' if args.no_freeze else 'frozen'})",
          file=sys.stderr, flush=True)
    try:
        stop.wait()
    finally:
        database.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
