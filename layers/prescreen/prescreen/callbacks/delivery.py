"""One queued callback message settled: parsed, delivered by the `Notifier`, postponed on a retry.

Shared by the two consumers of the callback queue, which differ only in how they acknowledge:
functions/notifier/handler.py (Lambda's SQS event source: an ack is a record left out of
batchItemFailures) and callbacks/worker.py (`prescreen serve`: an ack is DeleteMessage).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from prescreen.callbacks.notifier import Notifier, logger
from prescreen.callbacks.queue import CallbackMessage


@dataclass(frozen=True, slots=True)
class QueuedCallback:
    """An SQS message as received; `body` is parsed by `settle`, where a malformed one is acknowledged."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_at: datetime

    @classmethod
    def from_lambda_record(cls, record: Mapping[str, Any]) -> QueuedCallback:
        """A record of Lambda's SQS event (messageId, receiptHandle, body, attributes)."""
        return cls._of(str(record.get("messageId", "")), record["receiptHandle"], record.get("body", ""),
                       record.get("attributes") or {})

    @classmethod
    def from_sqs_message(cls, message: Mapping[str, Any]) -> QueuedCallback:
        """A message of ReceiveMessage's answer (MessageId, ReceiptHandle, Body, Attributes)."""
        return cls._of(str(message.get("MessageId", "")), message["ReceiptHandle"], message.get("Body", ""),
                       message.get("Attributes") or {})

    @classmethod
    def _of(cls, message_id: str, receipt_handle: str, body: str, attributes: Mapping[str, Any]) -> QueuedCallback:
        return cls(message_id=message_id, receipt_handle=receipt_handle, body=body,
                   receive_count=int(attributes.get("ApproximateReceiveCount", 1)), sent_at=_sent_at(attributes))


def _sent_at(attributes: Mapping[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(attributes["SentTimestamp"]) / 1000, UTC)
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC)  # young: an orphan check errs on the side of waiting


def settle(notifier: Notifier, sqs: Any, queue_url: Callable[[], str], queued: QueuedCallback) -> bool:
    """Deliver `queued`: True to acknowledge it, False to leave it on the queue for a later receive.

    On a retry its visibility becomes the outcome's delay. `queue_url` is only asked then (on Lambda it
    is derived from the event source ARN); its failure, like the call's, is logged and not raised.
    """
    try:
        message = CallbackMessage.from_json(queued.body)
    except (KeyError, TypeError, ValueError) as error:
        # It can never succeed: retrying would only carry it to the dead-letter queue later.
        logger.error("malformed callback message acked", extra={"sqs_message_id": queued.message_id,
                                                                "error": type(error).__name__})
        return True
    outcome = notifier.deliver(message, queued.receive_count, queued.sent_at)
    if not outcome.is_retry:
        return True
    try:
        # Without this the message returns after the queue's fixed visibility timeout: no backoff.
        sqs.change_message_visibility(QueueUrl=queue_url(), ReceiptHandle=queued.receipt_handle,
                                      VisibilityTimeout=outcome.delay_seconds)
    except (BotoCoreError, ClientError, ValueError):
        logger.exception("visibility not changed; the queue's timeout applies",
                         extra={"sqs_message_id": queued.message_id})
    return False


def queue_url_from_arn(arn: str, configured: str | None = None) -> str:
    """The queue URL of an event source ARN (arn:aws:sqs:<region>:<account>:<name>).

    A configured URL naming the same queue wins (a local endpoint has URLs of its own).
    """
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"not an SQS queue ARN: {arn!r}")
    _, partition, _, region, account, name = parts
    if configured and configured.rstrip("/").rsplit("/", 1)[-1] == name:
        return configured
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{domain}/{account}/{name}"
