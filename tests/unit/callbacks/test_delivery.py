"""One queued callback message settled, whichever consumer received it (Lambda's event source or the
local worker): parsed, delivered, postponed on a retry."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from prescreen.callbacks.delivery import QueuedCallback, queue_url_from_arn, settle
from prescreen.callbacks.notifier import Notifier, Outcome
from prescreen.callbacks.queue import CallbackMessage

REPO = Path(__file__).resolve().parents[3]
EVENT: dict[str, Any] = json.loads((REPO / "events" / "notifier" / "sqs_callback.json").read_text())
[RECORD] = EVENT["Records"]
QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/prescreen-callbacks"


def as_received(record: dict[str, Any]) -> dict[str, Any]:
    """The same message as ReceiveMessage answers it (the local worker's shape)."""
    return {"MessageId": record["messageId"], "ReceiptHandle": record["receiptHandle"], "Body": record["body"],
            "Attributes": record["attributes"], "MD5OfBody": record["md5OfBody"]}


class ScriptedNotifier(Notifier):
    """The use case with its answer scripted: settle() is what is under test."""

    def __init__(self, outcome: Outcome) -> None:  # no adapters: deliver() never reaches them
        self.outcome = outcome
        self.calls: list[tuple[CallbackMessage, int, datetime]] = []

    def deliver(self, message: CallbackMessage, receive_count: int, sent_at: datetime) -> Outcome:
        self.calls.append((message, receive_count, sent_at))
        return self.outcome


class RecordingSqs:
    """Stands in for the boto3 SQS client; `error` makes its call fail."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.visibility_changes: list[dict[str, Any]] = []

    def change_message_visibility(self, **request: Any) -> None:
        if self.error is not None:
            raise self.error
        self.visibility_changes.append(request)


def test_given_the_same_message_from_lambda_and_from_receive_message_then_both_read_it_the_same_way() -> None:
    from_lambda = QueuedCallback.from_lambda_record(RECORD)
    from_worker = QueuedCallback.from_sqs_message(as_received(RECORD))

    assert from_lambda == from_worker
    assert from_lambda == QueuedCallback(
        message_id=RECORD["messageId"], receipt_handle=RECORD["receiptHandle"], body=RECORD["body"],
        receive_count=1, sent_at=datetime.fromtimestamp(int(RECORD["attributes"]["SentTimestamp"]) / 1000, UTC),
    )


@pytest.mark.parametrize("sent_timestamp", [None, "", "not a number"])
def test_given_no_readable_sent_timestamp_when_read_then_the_message_counts_as_sent_now(
    sent_timestamp: str | None,
) -> None:
    record = json.loads(json.dumps(RECORD))
    if sent_timestamp is None:
        del record["attributes"]["SentTimestamp"]
    else:
        record["attributes"]["SentTimestamp"] = sent_timestamp
    before = datetime.now(UTC)

    queued = QueuedCallback.from_lambda_record(record)

    assert before <= queued.sent_at <= datetime.now(UTC)


def test_given_a_well_formed_message_when_settled_then_the_notifier_gets_it_with_its_receive_count() -> None:
    notifier, sqs = ScriptedNotifier(Outcome.done("delivered")), RecordingSqs()
    queued = QueuedCallback.from_lambda_record(RECORD)

    acked = settle(notifier, sqs, lambda: QUEUE_URL, queued)

    assert acked is True
    assert notifier.calls == [(CallbackMessage("dec_01KBNOTIFIEREVENT00000001", 1), 1, queued.sent_at)]
    assert sqs.visibility_changes == []


@pytest.mark.parametrize("body", ['{"decision": "block"}', "not json", ""])
def test_given_a_malformed_body_when_settled_then_it_is_acked_without_a_delivery(
    body: str, caplog: pytest.LogCaptureFixture,
) -> None:
    notifier, sqs = ScriptedNotifier(Outcome.retry("unused", 30)), RecordingSqs()
    queued = QueuedCallback.from_sqs_message({**as_received(RECORD), "Body": body})

    acked = settle(notifier, sqs, lambda: QUEUE_URL, queued)

    assert acked is True
    assert notifier.calls == []
    assert sqs.visibility_changes == []
    assert "malformed callback message acked" in caplog.messages


def test_given_a_retry_outcome_when_settled_then_the_visibility_becomes_its_delay() -> None:
    notifier, sqs = ScriptedNotifier(Outcome.retry("HTTP 503", 240)), RecordingSqs()

    acked = settle(notifier, sqs, lambda: QUEUE_URL, QueuedCallback.from_lambda_record(RECORD))

    assert acked is False
    assert sqs.visibility_changes == [
        {"QueueUrl": QUEUE_URL, "ReceiptHandle": RECORD["receiptHandle"], "VisibilityTimeout": 240},
    ]


def test_given_a_done_outcome_when_settled_then_the_queue_url_is_not_even_asked() -> None:
    def no_queue_url() -> str:
        raise AssertionError("only a retry needs the queue URL")

    acked = settle(ScriptedNotifier(Outcome.done("delivered")), RecordingSqs(), no_queue_url,
                   QueuedCallback.from_lambda_record(RECORD))

    assert acked is True


def unknown_queue_url() -> str:
    return queue_url_from_arn("arn:aws:sns:eu-west-1:123456789012:topic")


@pytest.mark.parametrize(("sqs", "queue_url"), [
    (RecordingSqs(ClientError({"Error": {"Code": "ReceiptHandleIsInvalid", "Message": "gone"}},
                              "ChangeMessageVisibility")), lambda: QUEUE_URL),
    (RecordingSqs(), unknown_queue_url),
], ids=["the call fails", "the queue URL is unknown"])
def test_given_the_visibility_cannot_be_changed_when_settled_then_it_still_answers_retry(
    sqs: RecordingSqs, queue_url: Callable[[], str], caplog: pytest.LogCaptureFixture,
) -> None:
    acked = settle(ScriptedNotifier(Outcome.retry("HTTP 503", 240)), sqs, queue_url,
                   QueuedCallback.from_lambda_record(RECORD))

    assert acked is False
    assert sqs.visibility_changes == []
    assert "visibility not changed; the queue's timeout applies" in caplog.messages


def test_given_a_configured_queue_url_naming_the_event_source_queue_then_it_is_used() -> None:
    arn = RECORD["eventSourceARN"]
    local = "http://127.0.0.1:5000/000000000000/prescreen-callbacks"
    assert queue_url_from_arn(arn, local) == local
    assert queue_url_from_arn(arn, "http://127.0.0.1:5000/000000000000/other") == (
        "https://sqs.eu-west-1.amazonaws.com/123456789012/prescreen-callbacks")
    with pytest.raises(ValueError, match="not an SQS queue ARN"):
        queue_url_from_arn("arn:aws:sns:eu-west-1:123456789012:topic")
