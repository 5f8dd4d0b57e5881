"""What operators may do to a decision, as pure functions: (record, who, when) -> the next record.

Every change increments `revision`; the store writes it only if nobody else changed the decision first.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prescreen.errors import ReviewConflict
from prescreen.records import Claim, DecisionRecord, Verdict, VerdictOutcome
from prescreen.review.operators import Operator


def _live_claim_of_another(record: DecisionRecord, operator: Operator, now: datetime) -> Claim | None:
    claim = record.claim
    if claim is not None and claim.operator != operator.name and claim.expires_at > now:
        return claim
    return None


def _require_pending(record: DecisionRecord, action: str) -> None:
    if record.review_status == "pending":
        return
    if record.verdict is not None:
        raise ReviewConflict(
            f"cannot {action}: already decided ({record.verdict.verdict} by {record.verdict.operator} at "
            f"{record.verdict.decided_at.isoformat()}); reopen it first")
    raise ReviewConflict(f"cannot {action}: the automatic decision '{record.decision}' awaits no review; "
                         "reopen it to review it")


def _next(record: DecisionRecord, now: datetime, **changes: object) -> DecisionRecord:
    return record.model_copy(update={**changes, "revision": record.revision + 1, "updated_at": now}, deep=True)


def claim(record: DecisionRecord, operator: Operator, now: datetime, lease: timedelta) -> DecisionRecord:
    _require_pending(record, "claim")
    other = _live_claim_of_another(record, operator, now)
    if other is not None:
        raise ReviewConflict(f"claimed by {other.operator} until {other.expires_at.isoformat()}")
    return _next(record, now, claim=Claim(operator=operator.name, expires_at=now + lease))


def release(record: DecisionRecord, operator: Operator, now: datetime) -> DecisionRecord:
    if record.claim is None or record.claim.operator != operator.name:
        raise ReviewConflict("you hold no claim on this decision")
    return _next(record, now, claim=None)


def review(record: DecisionRecord, operator: Operator, verdict: VerdictOutcome, note: str | None,
           now: datetime) -> DecisionRecord:
    _require_pending(record, "record a verdict")
    other = _live_claim_of_another(record, operator, now)
    if other is not None:
        raise ReviewConflict(f"claimed by {other.operator} until {other.expires_at.isoformat()}")
    return _next(record, now, review_status="decided", claim=None,
                 verdict=Verdict(verdict=verdict, operator=operator.name, note=note, decided_at=now))


def reopen(record: DecisionRecord, now: datetime) -> DecisionRecord:
    """Back to the queue (an appeal under DSA Art. 20, or a mistake); the old verdict stays in the audit trail."""
    if record.review_status == "pending":
        raise ReviewConflict("the decision is already awaiting review")
    return _next(record, now, review_status="pending", claim=None, verdict=None, reopened=record.reopened + 1,
                 queued_at=now)


def queued_since(record: DecisionRecord) -> datetime:
    """When the item entered the review queue: screening, or its latest reopening."""
    return record.queued_at or record.decided_at
