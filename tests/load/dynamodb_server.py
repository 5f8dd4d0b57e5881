"""LOAD-ONLY: prescreen's LocalDynamoDB (moto's threaded server, werkzeug request log off) in a process of its
own, so the webhook under load talks to its database over loopback HTTP and never shares its GIL with it.

    .venv/bin/python tests/load/dynamodb_server.py --port 8100 [--stock]

Why a patch (off with --stock): moto's TransactWriteItems deep-copies the *whole table* once per item of the
transaction, to roll back on failure (moto/dynamodb/models/__init__.py, transact_write_items). The webhook
stores every decision with a two-item transaction, so with stock moto each request costs time proportional
to every decision stored before it: after a few hundred requests the database, not the webhook, is what a
load test measures, and a 5-minute soak degrades without end. DynamoDB's cost per transaction does not grow
with the table. Here the table snapshot is replaced by a snapshot of the items the transaction touches,
restored on any failure: the same all-or-nothing outcome, at a cost independent of the table's size.

Runs until terminated (SIGTERM or SIGINT). Started and stopped by tests/load/run_load.py.
"""

from __future__ import annotations

import argparse
import copy
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from prescreen.local.dynamodb import LocalDynamoDB

_in_transaction = threading.local()


def patch_transactions() -> None:
    """Make moto's TransactWriteItems snapshot the touched items instead of the whole table (see above)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    def table_deepcopy(self: Table, memo: dict[int, Any]) -> Table:
        if getattr(_in_transaction, "active", False):
            return self  # the transaction's table "snapshot": the items it touches are saved by the wrapper
        # Anywhere else (backups), the ordinary deep copy of the object's state.
        clone: Table = object.__new__(type(self))
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            setattr(clone, name, copy.deepcopy(value, memo))
        return clone

    def key_of(table: Table, attributes: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
        range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
        return DynamoType(attributes[table.hash_key_attr]), range_key

    stock = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[Table, DynamoType, DynamoType | None, Any]] = []
        for entry in transact_items:
            operation = next(iter(entry.values()))
            table = self.tables.get(operation.get("TableName"))
            attributes = operation.get("Item") or operation.get("Key")
            if table is None or not isinstance(attributes, dict):
                continue  # stock moto reports these errors itself
            try:
                hash_key, range_key = key_of(table, attributes)
            except KeyError:
                continue
            saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        _in_transaction.active = True
        try:
            stock(self, transact_items)
        except Exception:
            # All or nothing, as DynamoDB: put back what the failed transaction had already changed.
            for table, hash_key, range_key, before in reversed(saved):
                partition = table.items[hash_key]
                if range_key is None:
                    if before is None:
                        table.items.pop(hash_key, None)
                    else:
                        table.items[hash_key] = before
                elif before is None:
                    partition.pop(range_key, None)
                else:
                    partition[range_key] = before
            raise
        finally:
            _in_transaction.active = False

    Table.__deepcopy__ = table_deepcopy  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stock", action="store_true", help="moto as released (whole-table transaction copies)")
    args = parser.parse_args(argv)
    if not args.stock:
        patch_transactions()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    database = LocalDynamoDB(args.port).start()
    print(f"dynamodb_server: {database.endpoint} ({'stock moto' if args.stock else 'patched transactions'})",
          file=sys.stderr, flush=True)
    try:
        stop.wait()
    finally:
        database.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
