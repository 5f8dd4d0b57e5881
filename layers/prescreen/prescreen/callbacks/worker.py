"""The local stand-in for Lambda's SQS event source (`prescreen serve`, integration tests).

A daemon thread polls the (moto) SQS queue and settles each message as the Lambda function does
(`delivery.settle`): delete on ack, ChangeMessageVisibility(delay) on retry, so backoff and the redrive
policy behave as they do in AWS.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from prescreen.callbacks.delivery import QueuedCallback, settle
from prescreen.callbacks.notifier import Notifier, logger

DEAD_LETTER_SUFFIX = "-dlq"
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30


def local_sqs_client(endpoint: str, region: str = "eu-west-1") -> Any:
    import boto3

    from prescreen.local.dynamodb import LOCAL_ACCESS_KEY  # moto accepts any credentials

    return boto3.session.Session().client(
        "sqs", endpoint_url=endpoint, region_name=region,
        aws_access_key_id=LOCAL_ACCESS_KEY, aws_secret_access_key=LOCAL_ACCESS_KEY,
    )


def create_callback_queues(
    sqs_client: Any, name: str, max_receive_count: int | None = None,
    visibility_timeout_seconds: int = DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
) -> str:
    """Create `name` and `name-dlq` (idempotent); the queue's redrive policy moves a message to the
    dead-letter queue after `max_receive_count` receives (default: settings.callback_max_attempts).
    Returns the queue URL. In AWS the queues come from template.yaml."""
    if max_receive_count is None:
        from prescreen.settings import get_settings

        max_receive_count = get_settings().callback_max_attempts
    dlq_url = sqs_client.create_queue(QueueName=name + DEAD_LETTER_SUFFIX)["QueueUrl"]
    dlq_arn = sqs_client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url: str = sqs_client.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": str(visibility_timeout_seconds),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}),
    })["QueueUrl"]
    return queue_url


class LocalNotifierWorker:
    def __init__(self, notifier: Notifier, sqs_client: Any, queue_url: str, poll_interval: float = 0.2) -> None:
        self._notifier = notifier
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._poll_interval = poll_interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LocalNotifierWorker:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="prescreen-notifier", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Bounded: at most one delivery (itself bounded by callback_timeout_seconds) finishes first."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> LocalNotifierWorker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def poll_once(self) -> int:
        """Receive one batch (no long polling: stop() stays prompt) and handle it; returns its size."""
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url, AttributeNames=["All"], MaxNumberOfMessages=10, WaitTimeSeconds=0,
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        for message in messages:
            if self._stopping.is_set():
                break  # the rest become visible again after the visibility timeout
            try:
                self._handle(message)
            except Exception:  # noqa: BLE001 -- logged with its traceback just below
                # Like Lambda: a crash leaves the message to the visibility timeout, the worker lives on.
                logger.exception("callback delivery crashed", extra={"sqs_message_id": message.get("MessageId")})
        return len(messages)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                handled = self.poll_once()
            except (BotoCoreError, ClientError) as error:
                logger.warning("local callback queue unreachable", extra={"error": str(error)})
                handled = 0
            if not handled:
                self._stopping.wait(self._poll_interval)

    def _handle(self, message: dict[str, Any]) -> None:
        queued = QueuedCallback.from_sqs_message(message)
        # A retry just stays on the queue: settle() has made it visible again after the backoff.
        if settle(self._notifier, self._sqs, lambda: self._queue_url, queued):
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=queued.receipt_handle)
