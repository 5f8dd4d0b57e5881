"""What operators may do to a decision: claim leases, verdicts, reopening (pure functions, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prescreen.errors import ReviewConflict
from prescreen.records import DecisionRecord
from prescreen.review import transitions
from prescreen.review.operators import Operator

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=15)
ALICE = Operator("alice", frozenset({"demo"}))
BOB = Operator("bob", frozenset({"demo"}))


def held(decision: str = "review") -> DecisionRecord:
    return DecisionRecord.model_validate({
        "decision_id": "dec_1", "marketplace": "demo", "listing_id": "l-1", "webhook_id": "w-1",
        "body_sha256": "0" * 64, "decision": decision, "categories": [], "reasons": [], "policy_version": "p",
        "decided_at": T0, "latency_ms": 1.0, "listing": {"id": "l-1", "title": "t"},
        "review_status": "pending" if decision == "review" else None, "expires_at": 2_000_000_000,
    })


def test_given_a_pending_item_when_alice_claims_it_then_bob_cannot_claim_or_decide_until_the_lease_ends() -> None:
    claimed = transitions.claim(held(), ALICE, T0, LEASE)
    assert claimed.claim is not None
    assert claimed.claim.operator == "alice"
    assert claimed.revision == 1
    with pytest.raises(ReviewConflict, match="claimed by alice"):
        transitions.claim(claimed, BOB, T0 + timedelta(minutes=5), LEASE)
    with pytest.raises(ReviewConflict, match="claimed by alice"):
        transitions.review(claimed, BOB, "block", None, T0 + timedelta(minutes=5))
    # After the lease, the item is free again.
    taken_over = transitions.claim(claimed, BOB, T0 + LEASE + timedelta(seconds=1), LEASE)
    assert taken_over.claim is not None
    assert taken_over.claim.operator == "bob"


def test_given_alice_holds_the_claim_when_she_decides_then_the_item_is_decided_and_unclaimed() -> None:
    claimed = transitions.claim(held(), ALICE, T0, LEASE)
    decided = transitions.review(claimed, ALICE, "block", "child-like body", T0 + timedelta(minutes=1))
    assert (decided.review_status, decided.final_decision, decided.claim, decided.revision) == (
        "decided", "block", None, 2)
    assert decided.verdict is not None
    assert decided.verdict.note == "child-like body"
    assert decided.applied_at == T0 + timedelta(minutes=1)


def test_given_a_decided_item_when_a_second_verdict_comes_then_it_conflicts() -> None:
    decided = transitions.review(held(), ALICE, "allow", None, T0)
    with pytest.raises(ReviewConflict, match="already decided"):
        transitions.review(decided, BOB, "block", None, T0)
    with pytest.raises(ReviewConflict, match="already decided"):
        transitions.claim(decided, BOB, T0, LEASE)


def test_given_a_decided_item_when_reopened_then_it_queues_again_without_its_verdict() -> None:
    decided = transitions.review(held(), ALICE, "allow", None, T0)
    reopened = transitions.reopen(decided, T0 + timedelta(days=2))
    assert (reopened.review_status, reopened.final_decision, reopened.verdict, reopened.reopened) == (
        "pending", "review", None, 1)
    assert transitions.queued_since(reopened) == T0 + timedelta(days=2)
    with pytest.raises(ReviewConflict, match="already awaiting review"):
        transitions.reopen(reopened, T0 + timedelta(days=2))


def test_given_an_automatic_block_when_appealed_then_it_can_be_reopened_but_not_decided_directly() -> None:
    blocked = held("block")
    with pytest.raises(ReviewConflict, match="awaits no review"):
        transitions.review(blocked, ALICE, "allow", None, T0)
    reopened = transitions.reopen(blocked, T0)
    assert transitions.review(reopened, ALICE, "allow", "appeal upheld", T0).final_decision == "allow"


def test_only_the_holder_releases_a_claim() -> None:
    claimed = transitions.claim(held(), ALICE, T0, LEASE)
    with pytest.raises(ReviewConflict, match="no claim"):
        transitions.release(claimed, BOB, T0)
    assert transitions.release(claimed, ALICE, T0).claim is None


def test_the_review_state_is_what_an_audit_entry_records() -> None:
    decided = transitions.review(held(), ALICE, "block", "n", T0)
    state = decided.review_state()
    assert state["final_decision"] == "block"
    assert state["verdict"]["operator"] == "alice"
    assert state["revision"] == 1
