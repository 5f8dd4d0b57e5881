"""In-memory fake of the decision log, for unit tests only (the contract test keeps it honest)."""

from __future__ import annotations

import threading
from datetime import date

from prescreen.records import DecisionRecord
from prescreen.store.base import DuplicateRequest, RequestRecord, StoreUnavailable


class InMemoryDecisionStore:
    def __init__(self) -> None:
        self._requests: dict[tuple[str, str], RequestRecord] = {}
        self._decisions: dict[str, DecisionRecord] = {}
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
        return self._decisions.get(decision_id)

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
        return self._sorted([r for r in self._decisions.values() if r.decided_at.date() == day], True, limit)

    def review_queue(self, marketplace: str, limit: int = 50) -> list[DecisionRecord]:
        self._check()
        found = [
            r for r in self._decisions.values()
            if r.marketplace == marketplace and r.decision == "review" and r.review_status == "pending"
        ]
        return self._sorted(found, True, limit)
