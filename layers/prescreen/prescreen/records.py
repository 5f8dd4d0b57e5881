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
