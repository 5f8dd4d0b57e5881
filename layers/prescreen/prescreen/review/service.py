"""Operators' review as use cases: list, read, claim, release, decide, reopen, statements of reasons.

Every change is an optimistic, conditional write of the decision together with its audit entry (and, for
a verdict, the callback to the marketplace). The callback message is queued *before* the write, so a
stored verdict always has its message; a message whose verdict was never stored is dropped by the
notifier (see callbacks/notifier.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prescreen.callbacks.payload import build_callback
from prescreen.callbacks.queue import CallbackMessage, CallbackQueue, QueueUnavailable
from prescreen.errors import FieldProblem, Forbidden, InvalidQuery, NotFound, ReviewUnavailable
from prescreen.marketplaces import MarketplaceConfig, MarketplaceConfigError, MarketplaceDirectory
from prescreen.models import DecisionOutcome
from prescreen.records import AuditAction, AuditEntry, CallbackRecord, DecisionRecord, ReviewStatus, VerdictOutcome
from prescreen.review import transitions
from prescreen.review.operators import Operator
from prescreen.review.statements import NoStatement, build_statement
from prescreen.settings import Settings
from prescreen.store import DecisionQuery, DecisionStore, InvalidCursor, Page, StaleRevision, StoreUnavailable

DEFAULT_RANGE = timedelta(days=30)
MAX_RANGE = timedelta(days=800)
MAX_PAGE = 200
_ATTEMPTS = 3  # re-reads after a concurrent change before giving up with 503


@dataclass(frozen=True, slots=True)
class DecisionView:
    record: DecisionRecord
    audit: list[AuditEntry]
    callbacks: list[CallbackRecord]


@dataclass(frozen=True, slots=True)
class ListRequest:
    marketplace: str | None = None
    decision: DecisionOutcome | None = None
    review_status: ReviewStatus | None = None
    category: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    cursor: str | None = None


class ReviewService:
    def __init__(
        self,
        settings: Settings,
        store: DecisionStore,
        marketplaces: MarketplaceDirectory,
        queue: CallbackQueue,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._store = store
        self._marketplaces = marketplaces
        self._queue = queue
        self._clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # ---- reading -------------------------------------------------------------------------------------

    def list_decisions(self, operator: Operator, request: ListRequest) -> Page[DecisionRecord]:
        marketplace = self._marketplace_for(operator, request.marketplace)
        until = self.now() if request.until is None else _utc(request.until, "until")
        if request.since is not None:
            since = _utc(request.since, "since")
        elif request.review_status == "pending":
            since = until - MAX_RANGE  # the whole queue: nothing waits that long without an alarm
        else:
            since = until - DEFAULT_RANGE
        self._check_range(since, until)
        query = DecisionQuery(
            marketplace=marketplace, since=since, until=until, decision=request.decision,
            review_status=request.review_status, category=request.category,
            limit=_page_size(request.limit), cursor=request.cursor,
        )
        return self._read(lambda: self._store.query_decisions(query))

    def get(self, operator: Operator, decision_id: str) -> DecisionView:
        record = self._visible(operator, decision_id)
        audit = self._read(lambda: self._store.audit_trail(decision_id))
        callbacks = self._read(lambda: self._store.callbacks(decision_id))
        return DecisionView(record, audit, callbacks)

    def statement(self, operator: Operator, decision_id: str) -> dict[str, Any]:
        record = self._visible(operator, decision_id)
        try:
            statement = build_statement(record, self._config(record.marketplace))
        except NoStatement as error:
            raise NotFound(str(error)) from error
        body: dict[str, Any] = statement.model_dump(mode="json", exclude_none=True)
        return body

    def statements(self, operator: Operator, marketplace: str | None, since: datetime | None,
                   until: datetime | None, limit: int, cursor: str | None) -> Page[dict[str, Any]]:
        """Statements of reasons that took effect in [since, until], oldest first, for bulk submission."""
        name = self._marketplace_for(operator, marketplace)
        if since is None or until is None:
            raise InvalidQuery("since and until are required", [
                FieldProblem("/query/since" if since is None else "/query/until", "required (ISO 8601)")])
        start, end = _utc(since, "since"), _utc(until, "until")
        self._check_range(start, end, bounded=False)  # an export has no total cap: pages go on
        page = self._read(lambda: self._store.statements_page(name, start, end, _page_size(limit), cursor))
        config = self._config(name)
        items = [build_statement(record, config).model_dump(mode="json", exclude_none=True) for record in page.items]
        return Page(items, page.next_cursor)

    def oldest_pending_age_seconds(self, marketplace: str) -> float | None:
        """Age of the oldest undecided item in a marketplace's queue (the queue-age metric and alarm)."""
        now = self.now()
        query = DecisionQuery(marketplace=marketplace, since=now - MAX_RANGE, until=now, review_status="pending",
                              limit=1)
        page = self._read(lambda: self._store.query_decisions(query))
        if not page.items:
            return None
        return (now - transitions.queued_since(page.items[0])).total_seconds()

    # ---- changing ------------------------------------------------------------------------------------

    def claim(self, operator: Operator, decision_id: str) -> DecisionView:
        lease = timedelta(seconds=self._settings.claim_lease_seconds)
        return self._change(operator, decision_id, "claim", None,
                            lambda record, now: transitions.claim(record, operator, now, lease))

    def release(self, operator: Operator, decision_id: str) -> DecisionView:
        return self._change(operator, decision_id, "release", None,
                            lambda record, now: transitions.release(record, operator, now))

    def review(self, operator: Operator, decision_id: str, verdict: VerdictOutcome, note: str | None) -> DecisionView:
        return self._change(operator, decision_id, "review", note,
                            lambda record, now: transitions.review(record, operator, verdict, note, now))

    def reopen(self, operator: Operator, decision_id: str, reason: str) -> DecisionView:
        return self._change(operator, decision_id, "reopen", reason,
                            lambda record, now: transitions.reopen(record, now))

    def _change(
        self, operator: Operator, decision_id: str, action: AuditAction, note: str | None,
        transition: Callable[[DecisionRecord, datetime], DecisionRecord],
    ) -> DecisionView:
        for _ in range(_ATTEMPTS):
            before = self._visible(operator, decision_id)
            now = self.now()
            after = transition(before, now)  # raises ReviewConflict (409) when the state forbids it
            audit = AuditEntry(decision_id=decision_id, revision=after.revision, at=now, operator=operator.name,
                               action=action, note=note, before=before.review_state(), after=after.review_state())
            callback = None
            if action == "review" and self._config(after.marketplace).callback_url:
                told = self._read(lambda: self._store.callbacks(decision_id))
                previous = str(told[-1].payload["data"]["decision"]) if told else before.decision
                callback = build_callback(after, previous, now)
                try:
                    self._queue.enqueue(CallbackMessage(after.decision_id, after.revision))
                except QueueUnavailable as error:
                    raise ReviewUnavailable("the callback queue is unavailable; nothing was changed",
                                            self._settings.retry_after_seconds) from error
            try:
                self._store.apply_change(before, after, audit, callback)
            except StaleRevision:
                continue  # someone changed it first: re-read and judge the new state
            except StoreUnavailable as error:
                raise self._unavailable() from error
            return self.get(operator, decision_id)
        raise ReviewUnavailable("the decision kept changing under this request; retry",
                                self._settings.retry_after_seconds)

    # ---- helpers -------------------------------------------------------------------------------------

    def _visible(self, operator: Operator, decision_id: str) -> DecisionRecord:
        record = self._read(lambda: self._store.get_decision(decision_id))
        # Another marketplace's decision reads as absent: its existence is not this operator's business.
        if record is None or not operator.may_see(record.marketplace):
            raise NotFound(f"no decision '{decision_id}' for this operator")
        return record

    def _marketplace_for(self, operator: Operator, marketplace: str | None) -> str:
        if marketplace is None:
            if len(operator.marketplaces) == 1:
                return next(iter(operator.marketplaces))
            raise InvalidQuery("name a marketplace", [FieldProblem(
                "/query/marketplace", f"required; you may see: {', '.join(sorted(operator.marketplaces))}")])
        if not operator.may_see(marketplace):
            raise Forbidden(f"operator {operator.name} may not see marketplace '{marketplace}'",
                            [FieldProblem("/query/marketplace", "not one of your marketplaces")])
        return marketplace

    def _config(self, marketplace: str) -> MarketplaceConfig:
        try:
            config = self._marketplaces.get(marketplace)
        except MarketplaceConfigError as error:
            raise self._unavailable() from error
        if config is None:
            # A marketplace removed since its decisions were made: no callback, default statement details.
            # Built without validation because it carries no secrets to validate.
            return MarketplaceConfig.model_construct(secrets=[], policy="base", callback_url=None,
                                                     callback_secret=None, territorial_scope=None, terms_url=None)
        return config

    def _check_range(self, since: datetime, until: datetime, bounded: bool = True) -> None:
        if since > until:
            raise InvalidQuery("since is after until", [FieldProblem("/query/since", "must not be after until")])
        if bounded and until - since > MAX_RANGE:
            raise InvalidQuery(f"the range spans more than {MAX_RANGE.days} days",
                               [FieldProblem("/query/since", f"at most {MAX_RANGE.days} days before until")])

    def _read[T](self, read: Callable[[], T]) -> T:
        try:
            return read()
        except InvalidCursor as error:
            raise InvalidQuery(str(error), [FieldProblem("/query/cursor", str(error))]) from error
        except StoreUnavailable as error:
            raise self._unavailable() from error

    def _unavailable(self) -> ReviewUnavailable:
        return ReviewUnavailable("the decision log is unavailable", self._settings.retry_after_seconds)


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise InvalidQuery(f"{name} needs a time zone", [FieldProblem(f"/query/{name}", "add Z or an offset")])
    return moment.astimezone(UTC)


def _page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(f"limit must be 1..{MAX_PAGE}", [FieldProblem("/query/limit", f"1..{MAX_PAGE}")])
    return limit
