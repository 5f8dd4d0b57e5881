"""The queue between a verdict and its delivery: SQS in AWS and locally (moto's SQS server)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError


class QueueUnavailable(Exception):
    """The callback could not be queued; the verdict is not stored either (the caller retries)."""


@dataclass(frozen=True, slots=True)
class CallbackMessage:
    decision_id: str
    revision: int

    def to_json(self) -> str:
        return json.dumps({"decision_id": self.decision_id, "revision": self.revision})

    @classmethod
    def from_json(cls, body: str) -> CallbackMessage:
        document = json.loads(body)
        return cls(decision_id=str(document["decision_id"]), revision=int(document["revision"]))


class CallbackQueue(Protocol):
    def enqueue(self, message: CallbackMessage) -> None:
        """Queue a delivery; QueueUnavailable when it could not be queued."""


class SqsCallbackQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    @classmethod
    def connect(cls, queue_url: str, region: str, endpoint_url: str | None = None) -> SqsCallbackQueue:
        import boto3
        from botocore.config import Config

        config = Config(region_name=region, connect_timeout=1, read_timeout=2,
                        retries={"total_max_attempts": 3, "mode": "standard"})
        return cls(boto3.session.Session().client("sqs", endpoint_url=endpoint_url, config=config), queue_url)

    def enqueue(self, message: CallbackMessage) -> None:
        try:
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=message.to_json())
        except (ClientError, BotoCoreError) as error:
            raise QueueUnavailable(str(error)) from error


class UnconfiguredQueue:
    """No queue configured: a verdict that needs a callback is refused (503) rather than silently unsent."""

    def enqueue(self, message: CallbackMessage) -> None:
        raise QueueUnavailable("no callback queue is configured (PRESCREEN_CALLBACK_QUEUE_URL)")


class ListQueue:
    """In-memory queue for unit tests only."""

    def __init__(self) -> None:
        self.messages: list[CallbackMessage] = []
        self.available = True

    def enqueue(self, message: CallbackMessage) -> None:
        if not self.available:
            raise QueueUnavailable("in-memory queue switched off")
        self.messages.append(message)
