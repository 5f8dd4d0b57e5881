"""The single-table key design, in one place (see README, "Decision log table")."""

from __future__ import annotations

from datetime import date
from typing import Any

from prescreen.records import DecisionRecord

DECISION_SK = "DECISION"
REQUEST_SK = "REQUEST"

BY_LISTING = "ByListing"
REVIEW_QUEUE = "ReviewQueue"
BY_SELLER = "BySeller"
BY_DAY = "ByDay"


def decision_pk(decision_id: str) -> str:
    return f"DECISION#{decision_id}"


def request_pk(marketplace: str, webhook_id: str) -> str:
    return f"REQUEST#{marketplace}#{webhook_id}"


def listing_key(marketplace: str, listing_id: str) -> str:
    return f"LISTING#{marketplace}#{listing_id}"


def queue_key(marketplace: str) -> str:
    return f"QUEUE#{marketplace}"


def seller_key(marketplace: str, seller_id: str) -> str:
    return f"SELLER#{marketplace}#{seller_id}"


def day_key(day: date) -> str:
    return f"DAY#{day.isoformat()}"


def index_attributes(record: DecisionRecord) -> dict[str, Any]:
    """Attributes that place a decision in the secondary indexes (sparse: absent means not indexed)."""
    sort_key = f"{record.decided_at.isoformat()}#{record.decision_id}"
    attributes: dict[str, Any] = {
        "gsi1pk": listing_key(record.marketplace, record.listing_id),
        "gsi1sk": sort_key,
        "gsi4pk": day_key(record.decided_at.date()),
        "gsi4sk": sort_key,
    }
    if record.decision == "review" and record.review_status == "pending":
        attributes["gsi2pk"] = queue_key(record.marketplace)
        attributes["gsi2sk"] = sort_key
    if record.seller_id:
        attributes["gsi3pk"] = seller_key(record.marketplace, record.seller_id)
        attributes["gsi3sk"] = sort_key
    return attributes
