"""NotifierFunction: delivers verdict callbacks from the SQS queue. The use case lives in the layer
(prescreen.callbacks.delivery and .notifier); this module turns an SQS batch into calls and a
partial-batch answer."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from prescreen.callbacks.delivery import QueuedCallback, queue_url_from_arn, settle
from prescreen.callbacks.notifier import Notifier, build_notifier, logger
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


def handle(
    event: dict[str, Any], notifier: Notifier, sqs: Any, queue_url_for: Callable[[str], str]
) -> dict[str, Any]:
    """Settle each record; the retries are reported as batchItemFailures (ReportBatchItemFailures), so
    the event source deletes the rest."""
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        message_id = str(record.get("messageId", ""))
        try:
            queued = QueuedCallback.from_lambda_record(record)
            queue_url = partial(queue_url_for, str(record.get("eventSourceARN", "")))
            acked = settle(notifier, sqs, queue_url, queued)
        except Exception:  # noqa: BLE001 -- logged with its traceback just below
            # The batch boundary: one bad record must not fail (and redeliver) the whole batch.
            logger.exception("callback delivery crashed; retried", extra={"sqs_message_id": message_id})
            acked = False
        if not acked:
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notifier, sqs, settings = _runtime()
    return handle(event, notifier, sqs, lambda arn: queue_url_from_arn(arn, settings.callback_queue_url))
