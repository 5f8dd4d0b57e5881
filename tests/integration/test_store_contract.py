"""The same cases against the in-memory fake and the DynamoDB adapter (moto's server over loopback HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prescreen.models import DecisionOutcome, Evidence, Reason
from prescreen.records import (
    AuditAction,
    AuditEntry,
    CallbackRecord,
    DecisionRecord,
    Verdict,
    VerdictOutcome,
    new_decision_id,
)
from prescreen.settings import Settings
from prescreen.store import DecisionQuery, DecisionStore, DuplicateRequest, InvalidCursor, Page, StaleRevision
from prescreen.store.dynamodb import DynamoDBDecisionStore
from prescreen.store.memory import InMemoryDecisionStore

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def record(webhook_id: str, decision: DecisionOutcome = "allow", listing_id: str = "l-1", seller: str | None = "s-1",
           at: datetime = T0, marketplace: str = "demo") -> DecisionRecord:
    reasons = [] if decision == "allow" else [Reason(
        source="rule", id="minors.childlike_sex_doll", category="STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
        action="block" if decision == "block" else "review",
        evidence=[Evidence(field="/title", text="poupée", start=0, end=6)])]
    return DecisionRecord(
        decision_id=new_decision_id(at.timestamp()), marketplace=marketplace, listing_id=listing_id,
        webhook_id=webhook_id, body_sha256="ab" * 32, decision=decision,
        categories=[r.category for r in reasons], reasons=reasons, policy_version="test+000000000000",
        decided_at=at, latency_ms=1.5, listing={"id": listing_id, "title": "poupée"}, seller_id=seller,
        review_status="pending" if decision == "review" else None,
        expires_at=int((at + timedelta(days=30)).timestamp()),
    )


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> DecisionStore:
    if request.param == "memory":
        return InMemoryDecisionStore()
    settings: Settings = request.getfixturevalue("local_settings")
    return DynamoDBDecisionStore.from_settings(settings)


def test_a_saved_decision_reads_back_identically(store: DecisionStore) -> None:
    saved = record("msg-1", "block")
    store.save_decision(saved)
    assert store.get_decision(saved.decision_id) == saved
    request = store.find_request("demo", "msg-1")
    assert request is not None
    assert (request.decision_id, request.body_sha256) == (saved.decision_id, saved.body_sha256)


def test_unknown_ids_read_as_none(store: DecisionStore) -> None:
    assert store.get_decision("dec_missing") is None
    assert store.find_request("demo", "never-sent") is None


def test_a_webhook_id_is_stored_once_per_marketplace(store: DecisionStore) -> None:
    first = record("msg-dup")
    store.save_decision(first)
    with pytest.raises(DuplicateRequest):
        store.save_decision(record("msg-dup"))
    # The loser of the race left nothing behind: the first decision is still the only one.
    assert store.listing_history("demo", "l-1") == [first]
    store.save_decision(record("msg-dup", marketplace="other"))  # another marketplace may reuse the id


def test_history_of_a_listing_is_newest_first(store: DecisionStore) -> None:
    older, newer = record("a", at=T0), record("b", at=T0 + timedelta(minutes=5))
    for item in (older, newer, record("c", listing_id="other")):
        store.save_decision(item)
    assert [r.webhook_id for r in store.listing_history("demo", "l-1")] == ["b", "a"]


def test_decisions_by_seller_and_by_day(store: DecisionStore) -> None:
    items = [record("a", seller="s-9", at=T0), record("b", seller="s-9", at=T0 + timedelta(hours=1)),
             record("c", seller="s-2", at=T0 + timedelta(days=1))]
    for item in items:
        store.save_decision(item)
    assert [r.webhook_id for r in store.decisions_by_seller("demo", "s-9")] == ["b", "a"]
    assert [r.webhook_id for r in store.decisions_by_day(T0.date())] == ["a", "b"]


def test_review_queue_holds_only_pending_reviews_oldest_first(store: DecisionStore) -> None:
    items: list[Callable[[], DecisionRecord]] = [
        lambda: record("r2", "review", at=T0 + timedelta(minutes=2)),
        lambda: record("r1", "review", at=T0),
        lambda: record("b1", "block", at=T0),
        lambda: record("r3", "review", at=T0, marketplace="elsewhere"),
    ]
    for make in items:
        store.save_decision(make())
    assert [r.webhook_id for r in store.review_queue("demo")] == ["r1", "r2"]


def test_the_dynamodb_item_carries_ttl_and_index_keys(local_settings: Settings, dynamodb: Any) -> None:
    saved = record("msg-ttl", "review")
    DynamoDBDecisionStore.from_settings(local_settings).save_decision(saved)
    item = dynamodb.get_item(TableName=local_settings.table_name,
                             Key={"pk": {"S": f"DECISION#{saved.decision_id}"}, "sk": {"S": "DECISION"}})["Item"]
    assert item["expires_at"]["N"] == str(saved.expires_at)
    assert item["gsi2pk"]["S"] == "QUEUE#demo"
    assert item["gsi3pk"]["S"] == "SELLER#demo#s-1"


# ---- operators' review: conditional changes, audit trail, callbacks, paged queries ----------------------

OPERATOR = "alice@example.com"


def decide(before: DecisionRecord, verdict: VerdictOutcome = "block",
           at: datetime = T0 + timedelta(hours=1)) -> DecisionRecord:
    return before.model_copy(update={
        "revision": before.revision + 1, "review_status": "decided", "updated_at": at,
        "verdict": Verdict(verdict=verdict, operator=OPERATOR, note="checked", decided_at=at)}, deep=True)


def audit_of(before: DecisionRecord, after: DecisionRecord, action: AuditAction = "review") -> AuditEntry:
    return AuditEntry(decision_id=after.decision_id, revision=after.revision, at=after.updated_at or T0,
                      operator=OPERATOR, action=action, before=before.review_state(), after=after.review_state())


def callback_of(after: DecisionRecord) -> CallbackRecord:
    return CallbackRecord(decision_id=after.decision_id, revision=after.revision, marketplace=after.marketplace,
                          message_id=f"cb_{after.decision_id}_{after.revision}", payload={"data": {"x": 1}},
                          created_at=T0)


def every_page(read: Callable[[str | None], Page[DecisionRecord]]) -> tuple[list[str], int]:
    """All items across pages, and how many pages it took."""
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = read(cursor)
        pages += 1
        seen.extend(r.webhook_id for r in page.items)
        if page.next_cursor is None:
            return seen, pages
        cursor = page.next_cursor
        assert pages < 50, "pagination does not end"


def test_a_change_is_stored_with_its_audit_entry_and_callback(store: DecisionStore) -> None:
    before = record("rev-1", "review")
    store.save_decision(before)
    after = decide(before)
    store.apply_change(before, after, audit_of(before, after), callback_of(after))
    assert store.get_decision(before.decision_id) == after
    assert [(e.action, e.revision, e.before["review_status"], e.after["final_decision"])
            for e in store.audit_trail(before.decision_id)] == [("review", 1, "pending", "block")]
    assert store.callbacks(before.decision_id) == [callback_of(after)]
    assert store.get_callback(before.decision_id, 1) == callback_of(after)


def test_a_change_based_on_a_stale_revision_writes_nothing(store: DecisionStore) -> None:
    before = record("rev-2", "review")
    store.save_decision(before)
    first = decide(before, "block")
    store.apply_change(before, first, audit_of(before, first), callback_of(first))
    second = decide(before, "allow")  # computed from the same, now stale, revision
    with pytest.raises(StaleRevision):
        store.apply_change(before, second, audit_of(before, second), callback_of(second))
    assert store.get_decision(before.decision_id) == first
    assert len(store.audit_trail(before.decision_id)) == 1
    assert [c.revision for c in store.callbacks(before.decision_id)] == [1]


def test_a_decided_item_leaves_the_queue_and_a_block_verdict_enters_the_statements(store: DecisionStore) -> None:
    before = record("rev-3", "review")
    store.save_decision(before)
    query = DecisionQuery(marketplace="demo", since=T0 - timedelta(days=1), until=T0 + timedelta(days=1),
                          review_status="pending")
    assert [r.webhook_id for r in store.query_decisions(query).items] == ["rev-3"]
    after = decide(before, "block", at=T0 + timedelta(days=3))
    store.apply_change(before, after, audit_of(before, after), None)
    assert store.query_decisions(query).items == []
    # Statements are dated by when the block applied (the verdict), not when the listing was screened.
    verdict_day = DecisionQuery(marketplace="demo", since=T0 + timedelta(days=2), until=T0 + timedelta(days=4))
    assert [r.webhook_id for r in store.statements_page("demo", verdict_day.since, verdict_day.until, 10, None).items
            ] == ["rev-3"]
    assert store.statements_page("demo", T0 - timedelta(days=1), T0 + timedelta(days=1), 10, None).items == []


def test_a_callback_records_its_delivery(store: DecisionStore) -> None:
    before = record("rev-4", "review")
    store.save_decision(before)
    after = decide(before)
    store.apply_change(before, after, audit_of(before, after), callback_of(after))
    delivered = callback_of(after).model_copy(update={"status": "delivered", "attempts": 2, "delivered_at": T0})
    store.save_callback(delivered)
    assert store.get_callback(after.decision_id, 1) == delivered


def test_queries_filter_and_page_through_months_newest_first(store: DecisionStore) -> None:
    # 13 decisions over two months, three outcomes, two marketplaces.
    for index in range(13):
        outcome: DecisionOutcome = ("allow", "review", "block")[index % 3]
        store.save_decision(record(f"q{index:02d}", outcome, at=T0 - timedelta(days=3 * index)))
    store.save_decision(record("elsewhere", "block", at=T0, marketplace="other"))
    def window(**filters: Any) -> Callable[[str | None], Page[DecisionRecord]]:
        return lambda cursor: store.query_decisions(DecisionQuery(
            marketplace="demo", since=T0 - timedelta(days=60), until=T0 + timedelta(days=1), cursor=cursor,
            **filters))

    everything, pages = every_page(window(limit=4))
    assert everything == [f"q{index:02d}" for index in range(13)]
    assert pages >= 4
    blocks, _ = every_page(window(decision="block", limit=2))
    assert blocks == [f"q{index:02d}" for index in range(13) if index % 3 == 2]
    none_of_that_category, _ = every_page(window(category="STATEMENT_CATEGORY_ANIMAL_WELFARE"))
    assert none_of_that_category == []
    minors, _ = every_page(window(category="STATEMENT_CATEGORY_PROTECTION_OF_MINORS", limit=3))
    assert minors == [f"q{index:02d}" for index in range(13) if index % 3 != 0]
    narrow = DecisionQuery(marketplace="demo", since=T0 - timedelta(days=6), until=T0 - timedelta(days=3))
    assert [r.webhook_id for r in store.query_decisions(narrow).items] == ["q01", "q02"]


def test_statements_page_oldest_first_across_months(store: DecisionStore) -> None:
    for index in range(7):
        store.save_decision(record(f"s{index}", "block", at=T0 - timedelta(days=10 * index)))
    store.save_decision(record("allowed", "allow", at=T0))
    since, until = T0 - timedelta(days=90), T0 + timedelta(days=1)
    found, pages = every_page(lambda cursor: store.statements_page("demo", since, until, 3, cursor))
    assert found == [f"s{index}" for index in reversed(range(7))]
    assert pages >= 3


def test_a_cursor_for_another_marketplace_is_refused(store: DecisionStore) -> None:
    for index in range(3):
        store.save_decision(record(f"o{index}", "block", at=T0 - timedelta(minutes=index), marketplace="other"))
    theirs = store.query_decisions(DecisionQuery(marketplace="other", since=T0 - timedelta(days=1), until=T0,
                                                 limit=1))
    assert theirs.next_cursor is not None
    with pytest.raises(InvalidCursor):
        store.query_decisions(DecisionQuery(marketplace="demo", since=T0 - timedelta(days=1), until=T0,
                                            cursor=theirs.next_cursor))
    with pytest.raises(InvalidCursor):
        store.query_decisions(DecisionQuery(marketplace="demo", since=T0 - timedelta(days=1), until=T0,
                                            cursor="not-a-cursor"))
