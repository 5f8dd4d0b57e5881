"""The single-table key design, in one place (see README, "Decision log table")."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, date, datetime
from typing import Any

from prescreen.records import DecisionRecord
from prescreen.store.base import InvalidCursor

DECISION_SK = "DECISION"
REQUEST_SK = "REQUEST"
AUDIT_PREFIX = "AUDIT#"
CALLBACK_PREFIX = "CALLBACK#"

BY_LISTING = "ByListing"
REVIEW_QUEUE = "ReviewQueue"
BY_SELLER = "BySeller"
BY_DAY = "ByDay"
BY_MARKETPLACE = "ByMarketplace"
STATEMENTS = "Statements"

# index name -> (partition attribute, sort attribute)
INDEX_KEYS = {
    BY_LISTING: ("gsi1pk", "gsi1sk"),
    REVIEW_QUEUE: ("gsi2pk", "gsi2sk"),
    BY_SELLER: ("gsi3pk", "gsi3sk"),
    BY_DAY: ("gsi4pk", "gsi4sk"),
    BY_MARKETPLACE: ("gsi5pk", "gsi5sk"),
    STATEMENTS: ("gsi6pk", "gsi6sk"),
}


def decision_pk(decision_id: str) -> str:
    return f"DECISION#{decision_id}"


def request_pk(marketplace: str, webhook_id: str) -> str:
    return f"REQUEST#{marketplace}#{webhook_id}"


def audit_sk(revision: int) -> str:
    return f"{AUDIT_PREFIX}{revision:08d}"


def callback_sk(revision: int) -> str:
    return f"{CALLBACK_PREFIX}{revision:08d}"


def listing_key(marketplace: str, listing_id: str) -> str:
    return f"LISTING#{marketplace}#{listing_id}"


def queue_key(marketplace: str) -> str:
    return f"QUEUE#{marketplace}"


def seller_key(marketplace: str, seller_id: str) -> str:
    return f"SELLER#{marketplace}#{seller_id}"


def day_key(day: date) -> str:
    return f"DAY#{day.isoformat()}"


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def marketplace_month_key(marketplace: str, month: str) -> str:
    # One partition per marketplace and month: a busy marketplace's writes spread over time.
    return f"MARKETPLACE#{marketplace}#{month}"


def statements_month_key(marketplace: str, month: str) -> str:
    return f"STATEMENTS#{marketplace}#{month}"


def time_key(moment: datetime, decision_id: str) -> str:
    return f"{moment.astimezone(UTC).isoformat()}#{decision_id}"


def time_range(since: datetime, until: datetime) -> tuple[str, str]:
    """Sort-key bounds covering every decision at or after `since` and at or before `until`."""
    return since.astimezone(UTC).isoformat(), until.astimezone(UTC).isoformat() + "#~"


def months_between(since: datetime, until: datetime) -> list[str]:
    """The months a [since, until] range touches, newest first."""
    start, end = since.astimezone(UTC), until.astimezone(UTC)
    year, month = end.year, end.month
    months = []
    while (year, month) >= (start.year, start.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


def index_attributes(record: DecisionRecord) -> dict[str, Any]:
    """Attributes that place a decision in the secondary indexes (sparse: absent means not indexed)."""
    sort_key = time_key(record.decided_at, record.decision_id)
    attributes: dict[str, Any] = {
        "gsi1pk": listing_key(record.marketplace, record.listing_id),
        "gsi1sk": sort_key,
        "gsi4pk": day_key(record.decided_at.astimezone(UTC).date()),
        "gsi4sk": sort_key,
        "gsi5pk": marketplace_month_key(record.marketplace, month_of(record.decided_at)),
        "gsi5sk": sort_key,
    }
    if record.review_status == "pending":
        # Ordered by when the item entered the queue (a reopened decision queues again at the back).
        attributes["gsi2pk"] = queue_key(record.marketplace)
        attributes["gsi2sk"] = time_key(record.queued_at or record.decided_at, record.decision_id)
    if record.seller_id:
        attributes["gsi3pk"] = seller_key(record.marketplace, record.seller_id)
        attributes["gsi3sk"] = sort_key
    if record.final_decision == "block":
        # A statement of reasons exists exactly while the final decision is a block, dated when it applied.
        attributes["gsi6pk"] = statements_month_key(record.marketplace, month_of(record.applied_at))
        attributes["gsi6sk"] = time_key(record.applied_at, record.decision_id)
    return attributes


def encode_cursor(partition: str, last_key: dict[str, Any]) -> str:
    raw = json.dumps({"p": partition, "k": last_key}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, allowed_partitions: list[str]) -> tuple[str, dict[str, Any]]:
    """The cursor's partition and last key; InvalidCursor unless it belongs to one of `allowed_partitions`.

    The check matters: a cursor is client input, and one crafted for another marketplace's partition
    must not read that marketplace's decisions.
    """
    try:
        document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise InvalidCursor("the cursor is not one this API handed out") from error
    if not isinstance(document, dict) or not isinstance(document.get("k"), dict):
        raise InvalidCursor("the cursor is not one this API handed out")
    partition = document.get("p")
    if partition not in allowed_partitions:
        raise InvalidCursor("the cursor belongs to another query")
    last_key: dict[str, Any] = document["k"]
    # Only our own key attributes, each a string: anything else is not a position we handed out.
    allowed_names = {"pk", "sk", *(name for pair in INDEX_KEYS.values() for name in pair)}
    for name, value in last_key.items():
        if name not in allowed_names or not (isinstance(value, dict) and list(value) == ["S"]
                                             and isinstance(value["S"], str)):
            raise InvalidCursor("the cursor is not one this API handed out")
    index_partitions = ("MARKETPLACE#", "QUEUE#", "STATEMENTS#")
    for value in last_key.values():
        text = str(value["S"])
        if text.startswith(index_partitions) and text != partition:
            raise InvalidCursor("the cursor belongs to another query")
    return partition, last_key
