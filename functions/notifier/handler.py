"""NotifierFunction: delivers verdict callbacks from the SQS queue. The use case lives in the layer
(prescreen.callbacks.notifier); this module turns an SQS batch into calls and a partial-batch answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from prescreen.callbacks.notifier import Notifier, build_notifier, logger
from prescreen.callbacks.queue import CallbackMessage
from prescreen.settings import Settings, get_settings


@cache
def _runtime() -> tuple[Notifier, Any, Settings]:
    """Built on the first invocation, not at import: settings come from the environment Lambda sets."""
    import boto3
    from botocore.config import Config

    settings = get_settings()
    config = Config(region_name=settings.aws_region, connect_timeout=1, read_timeout=2,
                    retries={"total_max_attempts": 3, "mode": "standard"})
    sqs = boto3.session.Session().client("sqs", endpoint_url=settings.sqs_endpoint, config=config)
    return build_notifier(settings), sqs, settings


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


def _sent_at(attributes: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(attributes["SentTimestamp"]) / 1000, UTC)
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC)  # young: an orphan check errs on the side of waiting


def handle(
    event: dict[str, Any], notifier: Notifier, sqs: Any, queue_url_for: Callable[[str], str]
) -> dict[str, Any]:
    """Deliver each record; the retries are reported as batchItemFailures (ReportBatchItemFailures)."""
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        message_id = str(record.get("messageId", ""))
        attributes: dict[str, Any] = record.get("attributes") or {}
        try:
            message = CallbackMessage.from_json(record["body"])
        except (KeyError, TypeError, ValueError) as error:
            # It can never succeed: retrying would only carry it to the dead-letter queue later.
            logger.error("malformed callback message acked", extra={"sqs_message_id": message_id,
                                                                    "error": type(error).__name__})
            continue
        try:
            receive_count = int(attributes.get("ApproximateReceiveCount", 1))
            outcome = notifier.deliver(message, receive_count, _sent_at(attributes))
        except Exception:  # noqa: BLE001 -- logged with its traceback just below
            # The batch boundary: one bad record must not fail (and redeliver) the whole batch.
            logger.exception("callback delivery crashed; retried", extra={"sqs_message_id": message_id})
            failures.append({"itemIdentifier": message_id})
            continue
        if not outcome.is_retry:
            continue
        failures.append({"itemIdentifier": message_id})
        try:
            # Without this the message returns after the queue's fixed visibility timeout: no backoff.
            sqs.change_message_visibility(QueueUrl=queue_url_for(str(record.get("eventSourceARN", ""))),
                                          ReceiptHandle=record["receiptHandle"],
                                          VisibilityTimeout=outcome.delay_seconds)
        except (BotoCoreError, ClientError, KeyError, ValueError):
            logger.exception("visibility not changed; the queue's timeout applies",
                             extra={"sqs_message_id": message_id})
    return {"batchItemFailures": failures}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notifier, sqs, settings = _runtime()
    return handle(event, notifier, sqs, lambda arn: queue_url_from_arn(arn, settings.callback_queue_url))

