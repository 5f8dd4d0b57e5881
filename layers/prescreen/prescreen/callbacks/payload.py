"""What a marketplace is told when an operator decides (no operator names, notes or seller data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prescreen.records import CallbackRecord, DecisionRecord

EVENT_TYPE = "decision.reviewed"


def callback_message_id(decision_id: str, revision: int) -> str:
    """The webhook-id of a callback: stable across retries, so the marketplace can de-duplicate."""
    return f"cb_{decision_id}_{revision}"


def build_callback(after: DecisionRecord, previous_decision: str, now: datetime) -> CallbackRecord:
    """`previous_decision` is what the marketplace was last told: the automatic answer, or the last verdict
    called back (after a reopening the item is `review` for a while, which the marketplace never heard)."""
    data: dict[str, Any] = {
        "decision_id": after.decision_id,
        "marketplace": after.marketplace,
        "listing_id": after.listing_id,
        "decision": after.final_decision,
        "previous_decision": previous_decision,
        "automatic_decision": after.decision,
        "categories": after.categories,
        "decided_at": after.applied_at.isoformat(),
        "revision": after.revision,
        "reopened": after.reopened,
        "statement_of_reasons": (f"/v1/decisions/{after.decision_id}/statement-of-reasons"
                                 if after.final_decision == "block" else None),
    }
    return CallbackRecord(
        decision_id=after.decision_id,
        revision=after.revision,
        marketplace=after.marketplace,
        message_id=callback_message_id(after.decision_id, after.revision),
        payload={"type": EVENT_TYPE, "timestamp": now.isoformat(), "data": data},
        created_at=now,
    )
