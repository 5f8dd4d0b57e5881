"""moto's TransactWriteItems made to cost what DynamoDB's does: independent of how many items the table holds.

Stock moto deep-copies the *whole table* once per item of a transaction, to roll back on failure
(moto/dynamodb/models/__init__.py, transact_write_items). The webhook stores every decision with a two-item
transaction, so under stock moto each request costs time proportional to every decision stored before it:
`prescreen serve` slowed down as its log filled (a few thousand decisions: tens of milliseconds per
request), and a load test measured the database instead of the webhook. Here the table snapshot is replaced
by a snapshot of the items the transaction touches, restored on any failure: the same all-or-nothing outcome,
with transactions run one at a time (as DynamoDB serialises conflicting ones).

Applied by prescreen.local.dynamodb.LocalDynamoDB (moto is a development dependency; nothing here reaches
the Lambda layer's code path).
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_in_transaction = threading.local()
_patched = False
# moto's threaded server runs requests concurrently without a lock: two transactions could both pass a
# condition before either writes, and a failing one's rollback could undo the other's committed items.
# DynamoDB serialises conflicting transactions; one lock over every transaction does the same here.
_transactions = threading.Lock()


def patch_transactions() -> None:
    """Once per process: TransactWriteItems snapshots the items it touches, not the whole table."""
    global _patched
    if _patched:
        return
    _patched = True
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
        with _transactions:
            _all_or_nothing(self, transact_items)

    def _all_or_nothing(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
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
