from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from prescreen.records import DecisionRecord


class StoreUnavailable(Exception):
    """The decision log could not be read or written (after bounded retries)."""


class DuplicateRequest(Exception):
    """A decision for this (marketplace, webhook-id) was stored first by a concurrent request."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """Remembers a webhook-id: replay protection and idempotent retries."""

    marketplace: str
    webhook_id: str
    body_sha256: str
    decision_id: str


class DecisionStore(Protocol):
    def find_request(self, marketplace: str, webhook_id: str) -> RequestRecord | None: ...

    def save_decision(self, record: DecisionRecord) -> None:
        """Store the decision and its request record atomically; DuplicateRequest if the id was taken."""

    def get_decision(self, decision_id: str) -> DecisionRecord | None: ...

    def listing_history(self, marketplace: str, listing_id: str, limit: int = 50) -> list[DecisionRecord]:
        """Newest first."""

    def decisions_by_seller(self, marketplace: str, seller_id: str, limit: int = 50) -> list[DecisionRecord]:
        """Newest first."""

    def decisions_by_day(self, day: date, limit: int = 100) -> list[DecisionRecord]:
        """Oldest first within the day."""

    def review_queue(self, marketplace: str, limit: int = 50) -> list[DecisionRecord]:
        """Undecided `review` decisions of one marketplace, oldest first."""
