"""NotifierFunction's handler on SQS events as Lambda delivers them (events/notifier/*.json)."""

from __future__ import annotations

import copy
import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prescreen.callbacks.delivery import queue_url_from_arn
from prescreen.callbacks.notifier import Notifier
from prescreen.callbacks.payload import build_callback
from prescreen.callbacks.sender import DeliveryResult
from prescreen.marketplaces import MarketplaceConfig
from prescreen.records import AuditEntry, CallbackRecord, DecisionRecord, Verdict
from prescreen.settings import Settings, get_settings
from prescreen.store.memory import InMemoryDecisionStore

REPO = Path(__file__).resolve().parents[3]
EVENTS = REPO / "events" / "notifier"
HANDLER = REPO / "functions" / "notifier" / "handler.py"
SECRET = "whsec_bm90aWZpZXItaGFuZGxlci10ZXN0LXNlY3JldA=="


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def load_handler() -> Any:
    spec = importlib.util.spec_from_file_location("notifier_handler_under_test", HANDLER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EVENT = load_event("sqs_callback.json")
[RECORD] = EVENT["Records"]
SENT_AT = datetime.fromtimestamp(int(RECORD["attributes"]["SentTimestamp"]) / 1000, UTC)


class ScriptedSender:
    def __init__(self, result: DeliveryResult | Exception) -> None:
        self.result = result
        self.calls = 0

    def send(self, callback: CallbackRecord, url: str, secret: str) -> DeliveryResult:
        self.calls += 1
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


class Marketplaces:
    def get(self, marketplace: str) -> MarketplaceConfig | None:
        return MarketplaceConfig(secrets=[SECRET], callback_url="https://shop.example/callbacks")


class RecordingSqs:
    """Stands in for the boto3 SQS client: the one call that crosses to AWS."""

    def __init__(self) -> None:
        self.visibility_changes: list[dict[str, Any]] = []

    def change_message_visibility(self, **request: Any) -> None:
        self.visibility_changes.append(request)


def store_with_pending_callback(decision_id: str, revision: int) -> InMemoryDecisionStore:
    store = InMemoryDecisionStore()
    before = DecisionRecord(
        decision_id=decision_id, marketplace="shop", listing_id="l-1", webhook_id="msg_1", body_sha256="cd" * 32,
        decision="review", categories=[], reasons=[], policy_version="test+000000000000",
        decided_at=SENT_AT - timedelta(hours=1), latency_ms=1.0, listing={"id": "l-1", "title": "a doll"},
        review_status="pending", expires_at=int((SENT_AT + timedelta(days=30)).timestamp()),
    )
    store.save_decision(before)
    after = before.model_copy(update={
        "revision": revision, "review_status": "decided",
        "verdict": Verdict(verdict="allow", operator="op-1", decided_at=SENT_AT),
    })
    audit = AuditEntry(decision_id=decision_id, revision=revision, at=SENT_AT, operator="op-1", action="review",
                       before=before.review_state(), after=after.review_state())
    store.apply_change(before, after, audit, build_callback(after, before.final_decision, SENT_AT))
    return store


def body_message() -> tuple[str, int]:
    body = json.loads(RECORD["body"])
    return str(body["decision_id"]), int(body["revision"])


def notifier(sender: ScriptedSender, store: InMemoryDecisionStore | None = None,
             clock_seconds_after_sending: float = 1.0) -> Notifier:
    settings = Settings(stage="local", callback_backoff_base_seconds=30, callback_max_attempts=5)
    return Notifier(store if store is not None else store_with_pending_callback(*body_message()), Marketplaces(),
                    sender, settings, clock=lambda: SENT_AT.timestamp() + clock_seconds_after_sending)


@pytest.fixture(scope="module")
def handler() -> Any:
    return load_handler()


def handle(handler: Any, event: dict[str, Any], notifier: Notifier, sqs: RecordingSqs) -> dict[str, Any]:
    result: dict[str, Any] = handler.handle(event, notifier, sqs, queue_url_from_arn)
    return result


def test_given_a_callback_the_marketplace_accepts_when_handled_then_no_item_fails(handler: Any) -> None:
    sqs, sender = RecordingSqs(), ScriptedSender(DeliveryResult.delivered(204))

    result = handle(handler, EVENT, notifier(sender), sqs)

    assert result == {"batchItemFailures": []}
    assert sender.calls == 1
    assert sqs.visibility_changes == []


def test_given_a_failing_marketplace_when_handled_then_the_item_fails_with_its_backoff_as_visibility(
    handler: Any,
) -> None:
    sqs, sender = RecordingSqs(), ScriptedSender(DeliveryResult.retry("HTTP 503", 503))
    event = copy.deepcopy(EVENT)
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "3"

    result = handle(handler, event, notifier(sender), sqs)

    assert result == {"batchItemFailures": [{"itemIdentifier": RECORD["messageId"]}]}
    assert sqs.visibility_changes == [{
        "QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/prescreen-callbacks",
        "ReceiptHandle": RECORD["receiptHandle"],
        "VisibilityTimeout": 120,  # 30 s doubled per receive: 30, 60, 120
    }]


def test_given_a_malformed_body_when_handled_then_it_is_acked_without_sending(handler: Any) -> None:
    sqs, sender = RecordingSqs(), ScriptedSender(DeliveryResult.delivered(204))

    result = handle(handler, load_event("sqs_malformed_body.json"), notifier(sender), sqs)

    assert result == {"batchItemFailures": []}
    assert sender.calls == 0
    assert sqs.visibility_changes == []


def test_given_a_message_whose_verdict_is_not_stored_yet_when_handled_then_it_is_retried_soon(
    handler: Any,
) -> None:
    sqs, sender = RecordingSqs(), ScriptedSender(DeliveryResult.delivered(204))

    result = handle(handler, EVENT, notifier(sender, store=InMemoryDecisionStore()), sqs)

    assert result == {"batchItemFailures": [{"itemIdentifier": RECORD["messageId"]}]}
    [change] = sqs.visibility_changes
    assert 1 <= change["VisibilityTimeout"] <= 30
    assert sender.calls == 0


def test_given_an_orphan_older_than_the_grace_period_when_handled_then_it_is_acked(handler: Any) -> None:
    sqs, sender = RecordingSqs(), ScriptedSender(DeliveryResult.delivered(204))

    result = handle(handler, EVENT, notifier(sender, store=InMemoryDecisionStore(), clock_seconds_after_sending=600),
                    sqs)

    assert result == {"batchItemFailures": []}


def test_given_a_batch_where_one_delivery_crashes_when_handled_then_only_that_item_fails(handler: Any) -> None:
    # A second record in the same batch: an orphan past its grace period, which is acked.
    orphan = copy.deepcopy(RECORD)
    orphan["messageId"] = "orphan-1"
    orphan["body"] = json.dumps({"decision_id": "dec_never_stored", "revision": 1})
    orphan["attributes"]["SentTimestamp"] = str(int((SENT_AT - timedelta(hours=1)).timestamp() * 1000))
    event = {"Records": [RECORD, orphan]}
    sqs, sender = RecordingSqs(), ScriptedSender(RuntimeError("sender bug"))

    result = handle(handler, event, notifier(sender), sqs)

    assert result == {"batchItemFailures": [{"itemIdentifier": RECORD["messageId"]}]}


def test_given_a_broken_environment_when_the_handler_module_is_imported_then_nothing_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Settings are read on the first invocation: importing (Lambda's init phase) must not fail on them.
    monkeypatch.setenv("PRESCREEN_STAGE", "Not A Stage!")
    get_settings.cache_clear()
    try:
        module = load_handler()
        assert callable(module.lambda_handler)
    finally:
        get_settings.cache_clear()
