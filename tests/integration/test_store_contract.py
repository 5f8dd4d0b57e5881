"""The same cases against the in-memory fake and the DynamoDB adapter (moto's server over loopback HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prescreen.models import DecisionOutcome, Evidence, Reason
from prescreen.records import DecisionRecord, new_decision_id
from prescreen.settings import Settings
from prescreen.store import DecisionStore, DuplicateRequest
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
