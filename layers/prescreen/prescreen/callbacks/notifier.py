"""The notifier use case: one queued callback message in, one delivery attempt, an ack-or-retry answer out.

Independent of Lambda: functions/notifier/handler.py (SQS event source) and callbacks/worker.py
(`prescreen serve`) both call `Notifier.deliver` through `delivery.settle`.

Retries belong to SQS. A retry answer asks the caller to leave the message on the queue and make it
visible again after `delay_seconds`. After `callback_max_attempts` receives the queue's redrive policy
(maxReceiveCount = callback_max_attempts, see template.yaml and worker.create_callback_queues) moves it
to the dead-letter queue; the notifier itself never gives up on a pending callback, so the record stays
"pending" with its `last_error`, for operators to see and redrive.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, Protocol

from prescreen.callbacks.queue import CallbackMessage
from prescreen.callbacks.sender import CallbackSender, DeliveryResult
from prescreen.marketplaces import MarketplaceConfigError, MarketplaceDirectory
from prescreen.records import CallbackRecord
from prescreen.store.base import DecisionStore, StoreUnavailable
from prescreen.webhook import logger as webhook_logger

if TYPE_CHECKING:
    from prescreen.settings import Settings

# The webhook's logger itself (stderr, service "prescreen"): a second Logger(service="prescreen",
# logger_handler=...) would be left unconfigured by Powertools, and whichever module created it second
# would fail on append_keys (inject_lambda_context, set_correlation_id).
logger = webhook_logger

# The review service queues the message before its transaction: the record may not be readable yet.
ORPHAN_GRACE_SECONDS = 120


class Sender(Protocol):
    def send(self, callback: CallbackRecord, url: str, secret: str) -> DeliveryResult: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """`done`: ack (delete) the message. `retry`: make it visible again after `delay_seconds`."""

    action: Literal["done", "retry"]
    detail: str
    delay_seconds: int = 0

    @classmethod
    def done(cls, detail: str) -> Outcome:
        return cls("done", detail)

    @classmethod
    def retry(cls, detail: str, delay_seconds: int) -> Outcome:
        return cls("retry", detail, delay_seconds)

    @property
    def is_retry(self) -> bool:
        return self.action == "retry"


class Notifier:
    def __init__(
        self,
        store: DecisionStore,
        marketplaces: MarketplaceDirectory,
        sender: Sender,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._marketplaces = marketplaces
        self._sender = sender
        self._settings = settings
        self._clock = clock

    def backoff_seconds(self, receive_count: int) -> int:
        """Exponential: base, 2 x base, 4 x base, ... capped (SQS allows at most 12 hours)."""
        base = self._settings.callback_backoff_base_seconds
        cap = self._settings.callback_backoff_max_seconds
        exponent = min(max(receive_count, 1) - 1, 30)  # 2**30 x base is past any cap; keeps the int small
        return int(min(base * 2**exponent, cap))

    def deliver(self, message: CallbackMessage, receive_count: int, sent_at: datetime) -> Outcome:
        ids = {"decision_id": message.decision_id, "revision": message.revision, "receive_count": receive_count}
        try:
            callback = self._store.get_callback(message.decision_id, message.revision)
        except StoreUnavailable as error:
            logger.warning("decision log unavailable; callback retried", extra={**ids, "error": str(error)})
            return self._retry("decision log unavailable", receive_count, ids)
        if callback is None:
            return self._orphan(receive_count, sent_at, ids)
        ids["message_id"] = callback.message_id
        ids["marketplace"] = callback.marketplace
        if callback.status != "pending":
            # SQS delivers at least once: a duplicate message must not send the callback twice.
            logger.info("callback already settled; not sent again", extra={**ids, "status": callback.status})
            return Outcome.done(f"already {callback.status}")
        try:
            newer = [c.revision for c in self._store.callbacks(message.decision_id) if c.revision > callback.revision]
        except StoreUnavailable as error:
            logger.warning("decision log unavailable; callback retried", extra={**ids, "error": str(error)})
            return self._retry("decision log unavailable", receive_count, ids)
        if newer:
            # A later verdict (after a reopening) replaced this one: sending it late would tell the marketplace
            # an outdated decision after the current one.
            result = DeliveryResult.undeliverable(f"superseded by revision {max(newer)}")
            return self._record(callback, result, receive_count, ids)
        result = self._attempt(callback)
        return self._record(callback, result, receive_count, ids)

    def _attempt(self, callback: CallbackRecord) -> DeliveryResult:
        try:
            config = self._marketplaces.get(callback.marketplace)
        except MarketplaceConfigError as error:
            logger.warning("marketplace configuration unreadable", extra={"error": str(error)})
            return DeliveryResult.retry("marketplace configuration unavailable")
        if config is None:
            return DeliveryResult.undeliverable("unknown marketplace")
        if not config.callback_url:
            return DeliveryResult.undeliverable("no callback_url configured")
        return self._sender.send(callback, config.callback_url, config.signing_secret)

    def _record(
        self, callback: CallbackRecord, result: DeliveryResult, receive_count: int, ids: dict[str, object]
    ) -> Outcome:
        now = datetime.fromtimestamp(self._clock(), UTC)
        status = "pending" if result.status == "retry" else result.status
        updated = callback.model_copy(update={
            "status": status,
            "attempts": callback.attempts + 1,
            "last_error": None if result.status == "delivered" else result.reason,
            "delivered_at": now if result.status == "delivered" else callback.delivered_at,
        })
        extra = {**ids, "attempt": updated.attempts, "result": result.status, "reason": result.reason}
        try:
            self._store.save_callback(updated)
        except StoreUnavailable as error:
            # Not recorded: retry. A delivered callback is then sent again; the marketplace de-duplicates
            # on webhook-id, which stays the same.
            logger.error("callback outcome not recorded; retried", extra={**extra, "error": str(error)})
            return self._retry("decision log unavailable", receive_count, ids)
        if result.status == "delivered":
            logger.info("callback delivered", extra=extra)
            return Outcome.done("delivered")
        if result.status == "undeliverable":
            logger.warning("callback undeliverable", extra=extra)
            return Outcome.done(f"undeliverable: {result.reason}")
        logger.warning("callback delivery failed", extra=extra)
        return self._retry(result.reason, receive_count, ids)

    def _orphan(self, receive_count: int, sent_at: datetime, ids: dict[str, object]) -> Outcome:
        age = self._clock() - sent_at.timestamp()
        if age < ORPHAN_GRACE_SECONDS:
            # Look again soon, but not after the grace period, and never in a tight loop.
            delay = max(1, min(self.backoff_seconds(receive_count), math.ceil(ORPHAN_GRACE_SECONDS - age)))
            logger.info("no callback record yet; checked again", extra={**ids, "age_seconds": round(age, 3)})
            return Outcome.retry("callback record not stored yet", delay)
        # The review transaction failed after the message was queued: there is nothing to deliver.
        logger.warning("orphan callback message dropped: verdict was never stored",
                       extra={**ids, "age_seconds": round(age, 3)})
        return Outcome.done("orphan: verdict was never stored")

    def _retry(self, reason: str, receive_count: int, ids: dict[str, object]) -> Outcome:
        if receive_count >= self._settings.callback_max_attempts:
            # Still a retry: SQS's redrive policy, not this code, moves the message to the dead-letter queue.
            logger.error("callback attempts exhausted; the message goes to the dead-letter queue",
                         extra={**ids, "reason": reason})
        return Outcome.retry(reason, self.backoff_seconds(receive_count))


def build_notifier(settings: Settings) -> Notifier:
    """The real adapters (DynamoDB, marketplace directory, HTTPS sender), built from settings."""
    from prescreen.store.dynamodb import DynamoDBDecisionStore
    from prescreen.wiring import build_marketplaces

    return Notifier(
        store=DynamoDBDecisionStore.from_settings(settings),
        marketplaces=build_marketplaces(settings),
        sender=CallbackSender.from_settings(settings),
        settings=settings,
    )
