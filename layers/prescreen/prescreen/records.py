"""What is stored for each decision: the answer, its evidence, and a snapshot of what was screened."""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from prescreen.models import DecisionOutcome, DecisionResponse, Reason

ClassifierStatus = Literal["ok", "skipped", "unavailable", "disabled"]
ReviewStatus = Literal["pending", "decided"]
VerdictOutcome = Literal["allow", "block"]
AuditAction = Literal["claim", "release", "review", "reopen"]
# undeliverable: never will be (no URL, unsafe URL, or superseded by a later verdict's callback)
CallbackStatus = Literal["pending", "delivered", "undeliverable"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_decision_id(now: float | None = None) -> str:
    """A ULID-style id: sortable by time (ms) with 80 random bits, so ids never collide across Lambdas."""
    millis = int((time.time() if now is None else now) * 1000)
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "dec_" + "".join(reversed(chars))


class ClassifierInfo(BaseModel):
    """Part of every stored decision: whether the classifier answered, which model, how fast."""

    status: ClassifierStatus = "disabled"
    model: str | None = None
    latency_ms: float | None = None
    failure: str | None = Field(None, description="why it was unavailable: timeout, connection, ...")
    scores: dict[str, float] = Field(default_factory=dict)


class Claim(BaseModel):
    """A lease: while it runs, only its operator may record a verdict (two operators never work one item)."""

    operator: str
    expires_at: datetime


class Verdict(BaseModel):
    verdict: VerdictOutcome
    operator: str
    note: str | None = None
    decided_at: datetime


class DecisionRecord(BaseModel):
    """One stored decision. `response()` is exactly what the marketplace was (and on retry is again) told."""

    decision_id: str
    marketplace: str
    listing_id: str
    webhook_id: str
    body_sha256: str
    decision: DecisionOutcome
    categories: list[str]
    reasons: list[Reason]
    shadow_reasons: list[Reason] = Field(default_factory=list)
    policy_version: str
    decided_at: datetime
    latency_ms: float
    listing: dict[str, Any] = Field(description="snapshot of the validated listing that was screened")
    seller_id: str | None = None
    review_status: ReviewStatus | None = None
    classifier: ClassifierInfo = Field(default_factory=ClassifierInfo)
    expires_at: int = Field(description="Unix seconds; DynamoDB's TTL deletes the record after it")
    # Operators' review. `revision` counts changes: every change is a conditional write on it.
    revision: int = 0
    claim: Claim | None = None
    verdict: Verdict | None = None
    reopened: int = Field(0, description="how many times a decided item was reopened (appeals, mistakes)")
    updated_at: datetime | None = None
    queued_at: datetime | None = Field(None, description="when a reopened decision re-entered the queue")

    @property
    def final_decision(self) -> DecisionOutcome:
        """What holds now: the operator's verdict, `review` while one is awaited, else the automatic answer."""
        if self.review_status == "pending":
            return "review"
        if self.verdict is not None:
            return self.verdict.verdict
        return self.decision

    @property
    def applied_at(self) -> datetime:
        """When the final decision took effect (a statement of reasons' application date)."""
        if self.review_status != "pending" and self.verdict is not None:
            return self.verdict.decided_at
        return self.decided_at

    def review_state(self) -> dict[str, Any]:
        """The part of a decision an operator can change: the before/after of an audit entry."""
        return {
            "final_decision": self.final_decision,
            "review_status": self.review_status,
            "claim": self.claim.model_dump(mode="json") if self.claim else None,
            "verdict": self.verdict.model_dump(mode="json") if self.verdict else None,
            "revision": self.revision,
        }

    def response(self) -> DecisionResponse:
        return DecisionResponse(
            decision_id=self.decision_id,
            listing_id=self.listing_id,
            marketplace=self.marketplace,
            decision=self.decision,
            categories=self.categories,
            reasons=self.reasons,
            policy_version=self.policy_version,
            decided_at=self.decided_at,
            latency_ms=self.latency_ms,
        )


class AuditEntry(BaseModel):
    """One change to a decision: appended, never edited or deleted (the API has no route for either)."""

    decision_id: str
    revision: int = Field(description="the decision's revision this change produced")
    at: datetime
    operator: str
    action: AuditAction
    note: str | None = Field(None, description="the verdict's note or the reopening's reason")
    before: dict[str, Any]
    after: dict[str, Any]


class CallbackRecord(BaseModel):
    """An outgoing callback (outbox): written with the verdict, delivered by the notifier."""

    decision_id: str
    revision: int
    marketplace: str
    message_id: str = Field(description="the webhook-id the marketplace sees; the same on every retry")
    payload: dict[str, Any]
    status: CallbackStatus = "pending"
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None
