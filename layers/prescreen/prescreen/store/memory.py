"""In-memory fake of the decision log, for unit tests only (the contract test keeps it honest)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime

from prescreen.records import AuditEntry, CallbackRecord, DecisionRecord
from prescreen.store import keys
from prescreen.store.base import (
    DecisionQuery,
    DuplicateRequest,
    Page,
    RequestRecord,
    StaleRevision,
    StoreUnavailable,
)


class InMemoryDecisionStore:
    def __init__(self) -> None:
        self._requests: dict[tuple[str, str], RequestRecord] = {}
        self._decisions: dict[str, DecisionRecord] = {}
        self._audit: dict[str, list[AuditEntry]] = {}
        self._callbacks: dict[tuple[str, int], CallbackRecord] = {}
        self._lock = threading.Lock()
        self.available = True  # unit tests flip this to exercise the outage path

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("in-memory store switched off")

    def find_request(self, marketplace: str, webhook_id: str) -> RequestRecord | None:
        self._check()
        return self._requests.get((marketplace, webhook_id))

    def save_decision(self, record: DecisionRecord) -> None:
        self._check()
        with self._lock:
            key = (record.marketplace, record.webhook_id)
            if key in self._requests or record.decision_id in self._decisions:
                raise DuplicateRequest(record.webhook_id)
            self._requests[key] = RequestRecord(
                record.marketplace, record.webhook_id, record.body_sha256, record.decision_id
            )
            self._decisions[record.decision_id] = record.model_copy(deep=True)

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        self._check()
        found = self._decisions.get(decision_id)
        return None if found is None else found.model_copy(deep=True)

    def apply_change(
        self, before: DecisionRecord, after: DecisionRecord, audit: AuditEntry, callback: CallbackRecord | None
    ) -> None:
        self._check()
        with self._lock:
            stored = self._decisions.get(after.decision_id)
            if stored is None or stored.revision != before.revision:
                raise StaleRevision(after.decision_id)
            self._decisions[after.decision_id] = after.model_copy(deep=True)
            self._audit.setdefault(after.decision_id, []).append(audit.model_copy(deep=True))
            if callback is not None:
                self._callbacks[(callback.decision_id, callback.revision)] = callback.model_copy(deep=True)

    def audit_trail(self, decision_id: str) -> list[AuditEntry]:
        self._check()
        return sorted(self._audit.get(decision_id, []), key=lambda entry: entry.revision)

    def callbacks(self, decision_id: str) -> list[CallbackRecord]:
        self._check()
        found = [c for (owner, _), c in self._callbacks.items() if owner == decision_id]
        return sorted(found, key=lambda c: c.revision)

    def get_callback(self, decision_id: str, revision: int) -> CallbackRecord | None:
        self._check()
        return self._callbacks.get((decision_id, revision))

    def save_callback(self, callback: CallbackRecord) -> None:
        self._check()
        key = (callback.decision_id, callback.revision)
        if key not in self._callbacks:
            raise StoreUnavailable(f"no callback {callback.decision_id}@{callback.revision} to update")
        self._callbacks[key] = callback.model_copy(deep=True)

    def _sorted(self, records: list[DecisionRecord], oldest_first: bool, limit: int) -> list[DecisionRecord]:
        ordered = sorted(records, key=lambda r: (r.decided_at, r.decision_id), reverse=not oldest_first)
        return ordered[:limit]

    def listing_history(self, marketplace: str, listing_id: str, limit: int = 50) -> list[DecisionRecord]:
        self._check()
        found = [r for r in self._decisions.values() if (r.marketplace, r.listing_id) == (marketplace, listing_id)]
        return self._sorted(found, False, limit)

    def decisions_by_seller(self, marketplace: str, seller_id: str, limit: int = 50) -> list[DecisionRecord]:
        self._check()
        found = [r for r in self._decisions.values() if (r.marketplace, r.seller_id) == (marketplace, seller_id)]
        return self._sorted(found, False, limit)

    def decisions_by_day(self, day: date, limit: int = 100) -> list[DecisionRecord]:
        self._check()
        return self._sorted([r for r in self._decisions.values() if r.decided_at.astimezone(UTC).date() == day],
                            True, limit)

    def review_queue(self, marketplace: str, limit: int = 50) -> list[DecisionRecord]:
        self._check()
        found = [r for r in self._decisions.values() if r.marketplace == marketplace and r.review_status == "pending"]
        return self._sorted(found, True, limit)

    def query_decisions(self, query: DecisionQuery) -> Page[DecisionRecord]:
        self._check()

        def matches(record: DecisionRecord) -> bool:
            return (
                record.marketplace == query.marketplace
                and (query.decision is None or record.final_decision == query.decision)
                and (query.review_status is None or record.review_status == query.review_status)
                and (query.category is None or query.category in record.categories)
            )

        if query.review_status == "pending":
            partitions = [keys.queue_key(query.marketplace)]
            return self._page(partitions, lambda _: partitions[0], lambda r: r.queued_at or r.decided_at, matches,
                              query.since, query.until, True, query.limit, query.cursor)
        partitions = [keys.marketplace_month_key(query.marketplace, month)
                      for month in keys.months_between(query.since, query.until)]
        return self._page(
            partitions, lambda r: keys.marketplace_month_key(r.marketplace, keys.month_of(r.decided_at)),
            lambda r: r.decided_at, matches, query.since, query.until, False, query.limit, query.cursor)

    def statements_page(
        self, marketplace: str, since: datetime, until: datetime, limit: int, cursor: str | None
    ) -> Page[DecisionRecord]:
        self._check()
        partitions = [keys.statements_month_key(marketplace, month)
                      for month in reversed(keys.months_between(since, until))]
        return self._page(
            partitions, lambda r: keys.statements_month_key(r.marketplace, keys.month_of(r.applied_at)),
            lambda r: r.applied_at,
            lambda r: r.marketplace == marketplace and r.final_decision == "block",
            since, until, True, limit, cursor)

    def _page(
        self, partitions: list[str], partition_of: Callable[[DecisionRecord], str],
        moment_of: Callable[[DecisionRecord], datetime], matches: Callable[[DecisionRecord], bool],
        since: datetime, until: datetime, oldest_first: bool, limit: int, cursor: str | None,
    ) -> Page[DecisionRecord]:
        low, high = keys.time_range(since, until)
        ordered: list[tuple[int, str, DecisionRecord]] = []
        for record in self._decisions.values():
            sort_key = keys.time_key(moment_of(record), record.decision_id)
            partition = partition_of(record)
            if matches(record) and partition in partitions and low <= sort_key <= high:
                ordered.append((partitions.index(partition), sort_key, record))
        ordered.sort(key=lambda entry: entry[1], reverse=not oldest_first)
        ordered.sort(key=lambda entry: entry[0])  # stable: partitions in order, each sorted as above
        if cursor is not None:
            partition, last_key = keys.decode_cursor(cursor, partitions)
            position = partitions.index(partition)
            after = last_key["sk"]["S"] if "sk" in last_key else None

            def later(entry: tuple[int, str, DecisionRecord]) -> bool:
                if entry[0] != position:
                    return entry[0] > position
                if after is None:
                    return True
                return bool(entry[1] > after) if oldest_first else bool(entry[1] < after)

            ordered = [entry for entry in ordered if later(entry)]
        page = ordered[:limit]
        if len(ordered) <= limit:
            return Page([entry[2].model_copy(deep=True) for entry in page], None)
        last = page[-1]
        next_cursor = keys.encode_cursor(partitions[last[0]], {"sk": {"S": last[1]}})
        return Page([entry[2].model_copy(deep=True) for entry in page], next_cursor)

