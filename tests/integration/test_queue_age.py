"""The oldest undecided review per marketplace: what the queue-age metric and its alarm watch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prescreen.records import DecisionRecord, new_decision_id
from prescreen.review.queue_age import measure_queue_ages
from prescreen.settings import Settings
from prescreen.store.dynamodb import DynamoDBDecisionStore


def held_since(moment: datetime, marketplace: str, decision: str = "review") -> DecisionRecord:
    return DecisionRecord.model_validate({
        "decision_id": new_decision_id(moment.timestamp()), "marketplace": marketplace, "listing_id": "l-1",
        "webhook_id": f"w-{moment.timestamp()}-{marketplace}", "body_sha256": "0" * 64, "decision": decision,
        "categories": [], "reasons": [], "policy_version": "p", "decided_at": moment, "latency_ms": 1.0,
        "listing": {"id": "l-1", "title": "t"}, "review_status": "pending" if decision == "review" else None,
        "expires_at": int((moment + timedelta(days=30)).timestamp()),
    })


def test_the_oldest_undecided_review_of_each_marketplace_is_measured(local_settings: Settings) -> None:
    store = DynamoDBDecisionStore.from_settings(local_settings)
    now = datetime.now(UTC)
    store.save_decision(held_since(now - timedelta(hours=2), "demo"))
    store.save_decision(held_since(now - timedelta(minutes=5), "demo"))
    store.save_decision(held_since(now - timedelta(days=3), "demo", decision="block"))  # not waiting for anyone
    store.save_decision(held_since(now - timedelta(minutes=30), "demo-rotating"))

    ages = measure_queue_ages(local_settings)

    assert ages.ages["demo"] == pytest.approx(7200, abs=60)
    assert ages.ages["demo-rotating"] == pytest.approx(1800, abs=60)
    assert ages.ages["demo-adult-free"] is None
    assert ages.oldest == pytest.approx(7200, abs=60)


def test_an_empty_queue_measures_zero(local_settings: Settings) -> None:
    assert measure_queue_ages(local_settings).oldest == 0.0
