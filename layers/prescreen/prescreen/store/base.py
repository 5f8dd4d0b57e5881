from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from prescreen.models import DecisionOutcome
from prescreen.records import AuditEntry, CallbackRecord, DecisionRecord, ReviewStatus


class StoreUnavailable(Exception):
    """The decision log could not be read or written (after bounded retries)."""


class DuplicateRequest(Exception):
    """A decision for this (marketplace, webhook-id) is already stored (a retry, or a concurrent copy)."""


class StaleRevision(Exception):
    """Another change to the decision was stored first (optimistic concurrency on `revision`)."""


class InvalidCursor(ValueError):
    """A pagination cursor that this store did not hand out for this query."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """Remembers a webhook-id: replay protection and idempotent retries."""

    marketplace: str
    webhook_id: str
    body_sha256: str
    decision_id: str


@dataclass(frozen=True, slots=True)
class DecisionQuery:
    """Decisions of one marketplace screened in [since, until]; None filters match everything.

    `review_status="pending"` reads the review queue (oldest first); every other query reads newest first.
    """

    marketplace: str
    since: datetime
    until: datetime
    decision: DecisionOutcome | None = None
    review_status: ReviewStatus | None = None
    category: str | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Page[T]:
    items: list[T] = field(default_factory=list)
    next_cursor: str | None = None


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

    def query_decisions(self, query: DecisionQuery) -> Page[DecisionRecord]:
        """One page of a marketplace's decisions; `next_cursor` is None on the last page."""

    def statements_page(
        self, marketplace: str, since: datetime, until: datetime, limit: int, cursor: str | None
    ) -> Page[DecisionRecord]:
        """Decisions whose final decision is `block`, by the time it took effect, oldest first."""

    def apply_change(
        self, before: DecisionRecord, after: DecisionRecord, audit: AuditEntry, callback: CallbackRecord | None
    ) -> None:
        """Store `after`, its audit entry and its callback atomically, if the stored revision is still
        `before.revision`; StaleRevision otherwise (nothing is written)."""

    def audit_trail(self, decision_id: str) -> list[AuditEntry]:
        """Oldest first."""

    def callbacks(self, decision_id: str) -> list[CallbackRecord]:
        """Oldest first."""

    def get_callback(self, decision_id: str, revision: int) -> CallbackRecord | None: ...

    def save_callback(self, callback: CallbackRecord) -> None:
        """Record a delivery attempt's outcome on an existing callback."""
