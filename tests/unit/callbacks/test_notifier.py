"""The notifier use case with the in-memory decision log and a scripted sender."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from prescreen.callbacks.notifier import ORPHAN_GRACE_SECONDS, Notifier
from prescreen.callbacks.payload import build_callback
from prescreen.callbacks.queue import CallbackMessage
from prescreen.callbacks.sender import DeliveryResult
from prescreen.marketplaces import MarketplaceConfig, MarketplaceConfigError
from prescreen.records import AuditEntry, CallbackRecord, DecisionRecord, Verdict
from prescreen.settings import Settings
from prescreen.store.memory import InMemoryDecisionStore

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
SECRET = "whsec_bm90aWZpZXItdW5pdC10ZXN0LXNlY3JldC0wMDE="
CALLBACK_URL = "https://shop.example/hooks/prescreen?token=s3cr3t-query"


class ScriptedSender:
    """Answers each send with the next scripted result (the last one repeats)."""

    def __init__(self, *results: DeliveryResult) -> None:
        self.results = list(results) or [DeliveryResult.delivered(204)]
        self.calls: list[tuple[CallbackRecord, str, str]] = []

    def send(self, callback: CallbackRecord, url: str, secret: str) -> DeliveryResult:
        self.calls.append((callback, url, secret))
        return self.results.pop(0) if len(self.results) > 1 else self.results[0]


class Marketplaces:
    def __init__(self, configs: dict[str, MarketplaceConfig], readable: bool = True) -> None:
        self.configs = configs
        self.readable = readable

    def get(self, marketplace: str) -> MarketplaceConfig | None:
        if not self.readable:
            raise MarketplaceConfigError("parameter store unreachable")
        return self.configs.get(marketplace)


class RecordingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logs() -> Iterator[RecordingHandler]:
    recorder = RecordingHandler()
    logging.getLogger("prescreen").addHandler(recorder)
    yield recorder
    logging.getLogger("prescreen").removeHandler(recorder)


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"stage": "local", "callback_backoff_base_seconds": 30,
                                 "callback_backoff_max_seconds": 200, "callback_max_attempts": 5}
    return Settings.model_validate({**values, **overrides})


def reviewed_decision(store: InMemoryDecisionStore, marketplace: str = "shop") -> CallbackRecord:
    """A listing held for review, then blocked by an operator: the store holds the pending callback."""
    before = DecisionRecord(
        decision_id="dec_01KBNOTIFIERUNITTEST000001", marketplace=marketplace, listing_id="l-42",
        webhook_id="msg_1", body_sha256="ab" * 32, decision="review", categories=[], reasons=[],
        policy_version="test+000000000000", decided_at=NOW - timedelta(hours=1), latency_ms=1.0,
        listing={"id": "l-42", "title": "a doll"}, review_status="pending",
        expires_at=int((NOW + timedelta(days=30)).timestamp()),
    )
    store.save_decision(before)
    after = before.model_copy(update={
        "revision": 1, "review_status": "decided", "updated_at": NOW,
        "verdict": Verdict(verdict="block", operator="op-1", note="private note", decided_at=NOW),
    })
    audit = AuditEntry(decision_id=before.decision_id, revision=1, at=NOW, operator="op-1", action="review",
                       note="private note", before=before.review_state(), after=after.review_state())
    callback = build_callback(after, before.final_decision, NOW)
    store.apply_change(before, after, audit, callback)
    return callback


def message_of(callback: CallbackRecord) -> CallbackMessage:
    return CallbackMessage(callback.decision_id, callback.revision)


@pytest.fixture
def store() -> InMemoryDecisionStore:
    return InMemoryDecisionStore()


@pytest.fixture
def marketplaces() -> Marketplaces:
    return Marketplaces({
        "shop": MarketplaceConfig(secrets=[SECRET], callback_url=CALLBACK_URL),
        "no-url": MarketplaceConfig(secrets=[SECRET]),
    })


def notifier_with(store: InMemoryDecisionStore, marketplaces: Marketplaces, sender: ScriptedSender,
                  **overrides: object) -> Notifier:
    return Notifier(store, marketplaces, sender, settings(**overrides), clock=lambda: NOW.timestamp())


def test_given_a_pending_callback_when_the_marketplace_answers_2xx_then_it_is_delivered_and_acked(
    store: InMemoryDecisionStore, marketplaces: Marketplaces
) -> None:
    callback = reviewed_decision(store)
    sender = ScriptedSender(DeliveryResult.delivered(204))

    outcome = notifier_with(store, marketplaces, sender).deliver(message_of(callback), 1, NOW)

    assert outcome.action == "done"
    [(sent, url, secret)] = sender.calls
    assert (sent.message_id, url, secret) == (callback.message_id, CALLBACK_URL, SECRET)
    stored = store.get_callback(callback.decision_id, callback.revision)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.last_error, stored.delivered_at) == ("delivered", 1, None, NOW)


def test_given_a_failing_marketplace_when_delivered_repeatedly_then_the_delay_doubles_up_to_the_cap(
    store: InMemoryDecisionStore, marketplaces: Marketplaces
) -> None:
    callback = reviewed_decision(store)
    sender = ScriptedSender(DeliveryResult.retry("HTTP 503", 503))
    notifier = notifier_with(store, marketplaces, sender, callback_max_attempts=10)

    outcomes = [notifier.deliver(message_of(callback), receive, NOW) for receive in range(1, 6)]

    assert [o.action for o in outcomes] == ["retry"] * 5
    assert [o.delay_seconds for o in outcomes] == [30, 60, 120, 200, 200]
    stored = store.get_callback(callback.decision_id, callback.revision)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.last_error) == ("pending", 5, "HTTP 503")


def test_given_the_last_allowed_receive_when_delivery_fails_then_it_still_retries_and_the_record_stays_pending(
    store: InMemoryDecisionStore, marketplaces: Marketplaces, logs: RecordingHandler
) -> None:
    # The queue's redrive policy moves the message to the dead-letter queue; the record shows why.
    callback = reviewed_decision(store)
    sender = ScriptedSender(DeliveryResult.retry("timeout"))

    outcome = notifier_with(store, marketplaces, sender).deliver(message_of(callback), 5, NOW)

    assert outcome.action == "retry"
    stored = store.get_callback(callback.decision_id, callback.revision)
    assert stored is not None
    assert (stored.status, stored.last_error) == ("pending", "timeout")
    assert any("dead-letter" in record.getMessage() for record in logs.records)


def test_given_a_zero_backoff_base_when_delivery_fails_then_the_retry_is_immediate(
    store: InMemoryDecisionStore, marketplaces: Marketplaces
) -> None:
    callback = reviewed_decision(store)
    sender = ScriptedSender(DeliveryResult.retry("HTTP 500", 500))

    outcome = notifier_with(store, marketplaces, sender, callback_backoff_base_seconds=0).deliver(
        message_of(callback), 3, NOW)

    assert (outcome.action, outcome.delay_seconds) == ("retry", 0)


@pytest.mark.parametrize("status", ["delivered", "undeliverable"])
def test_given_a_settled_callback_when_its_message_comes_again_then_nothing_is_sent(
    store: InMemoryDecisionStore, marketplaces: Marketplaces, status: str
) -> None:
    callback = reviewed_decision(store)
    store.save_callback(callback.model_copy(update={"status": status, "attempts": 1}))
    sender = ScriptedSender()

    outcome = notifier_with(store, marketplaces, sender).deliver(message_of(callback), 2, NOW)

    assert outcome.action == "done"
    assert sender.calls == []
    stored = store.get_callback(callback.decision_id, callback.revision)
    assert stored is not None
    assert stored.attempts == 1


def test_given_a_message_without_record_when_it_is_young_then_it_is_retried_within_the_grace_period(
    store: InMemoryDecisionStore, marketplaces: Marketplaces
) -> None:
    # The review service queues first, then writes: the transaction may not be visible yet.
    sender = ScriptedSender()
    notifier = notifier_with(store, marketplaces, sender)

    outcome = notifier.deliver(CallbackMessage("dec_unknown", 1), 1, NOW - timedelta(seconds=100))

    assert outcome.action == "retry"
    assert 1 <= outcome.delay_seconds <= ORPHAN_GRACE_SECONDS - 100
    assert sender.calls == []


def test_given_a_message_without_record_when_it_is_older_than_the_grace_period_then_it_is_acked(
    store: InMemoryDecisionStore, marketplaces: Marketplaces, logs: RecordingHandler
) -> None:
    sender = ScriptedSender()

    outcome = notifier_with(store, marketplaces, sender).deliver(
        CallbackMessage("dec_unknown", 1), 4, NOW - timedelta(seconds=ORPHAN_GRACE_SECONDS + 1))

    assert outcome.action == "done"
    assert sender.calls == []
    assert any("verdict was never stored" in record.getMessage() for record in logs.records)


@pytest.mark.parametrize(("marketplace", "reason"), [("gone", "unknown marketplace"),
                                                     ("no-url", "no callback_url configured")])
def test_given_no_place_to_deliver_when_delivered_then_the_callback_is_undeliverable_and_acked(
    store: InMemoryDecisionStore, marketplaces: Marketplaces, marketplace: str, reason: str
) -> None:
    callback = reviewed_decision(store, marketplace=marketplace)
    sender = ScriptedSender()

    outcome = notifier_with(store, marketplaces, sender).deliver(message_of(callback), 1, NOW)

    assert outcome.action == "done"
    assert sender.calls == []
    stored = store.get_callback(callback.decision_id, callback.revision)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.last_error, stored.delivered_at) == (
        "undeliverable", 1, reason, None)


def test_given_an_unsafe_url_when_the_sender_refuses_it_then_the_callback_is_undeliverable(
    store: InMemoryDecisionStore, marketplaces: Marketplaces
) -> None:
    callback = reviewed_decision(store)
    sender = ScriptedSender(DeliveryResult.undeliverable("unsafe callback URL: resolves to a private address"))

    outcome = notifier_with(store, marketplaces, sender).deliver(message_of(callback), 1, NOW)

    assert outcome.action == "done"
    stored = store.get_callback(callback.decision_id, callback.revision)
    assert stored is not None
    assert stored.status == "undeliverable"
    assert stored.last_error is not None
    assert "private address" in stored.last_error


def test_given_the_decision_log_down_when_a_message_comes_then_it_is_retried(
    store: InMemoryDecisionStore, marketplaces: Marketplaces
) -> None:
    callback = reviewed_decision(store)
    store.available = False
    sender = ScriptedSender()

    outcome = notifier_with(store, marketplaces, sender).deliver(message_of(callback), 2, NOW)

    assert (outcome.action, outcome.delay_seconds) == ("retry", 60)
    assert sender.calls == []


def test_given_the_marketplace_configuration_unreadable_when_delivered_then_it_is_retried_not_dropped(
    store: InMemoryDecisionStore
) -> None:
    callback = reviewed_decision(store)
    sender = ScriptedSender()

    outcome = notifier_with(store, Marketplaces({}, readable=False), sender).deliver(message_of(callback), 1, NOW)

    assert outcome.action == "retry"
    stored = store.get_callback(callback.decision_id, callback.revision)
    assert stored is not None
    assert (stored.status, stored.last_error) == ("pending", "marketplace configuration unavailable")


def test_given_any_delivery_when_logged_then_neither_secret_url_nor_payload_appears(
    store: InMemoryDecisionStore, marketplaces: Marketplaces, logs: RecordingHandler
) -> None:
    callback = reviewed_decision(store)
    notifier = notifier_with(store, marketplaces, ScriptedSender(DeliveryResult.retry("HTTP 500", 500),
                                                                 DeliveryResult.delivered(200)))

    notifier.deliver(message_of(callback), 1, NOW)
    notifier.deliver(message_of(callback), 2, NOW)

    assert logs.records
    for record in logs.records:
        logged = repr(record.__dict__)
        assert SECRET not in logged
        assert "s3cr3t-query" not in logged
        assert "statement_of_reasons" not in logged
        assert "private note" not in logged


def test_given_a_callback_superseded_by_a_later_verdict_when_its_retry_comes_then_it_is_not_sent(
    store: InMemoryDecisionStore, marketplaces: Marketplaces
) -> None:
    # Blocked (revision 1, its callback still retrying), reopened (2), allowed (3): the block must not arrive last.
    first = reviewed_decision(store)
    decided = store.get_decision(first.decision_id)
    assert decided is not None
    reopened = decided.model_copy(update={"revision": 2, "review_status": "pending", "verdict": None})
    store.apply_change(decided, reopened, AuditEntry(
        decision_id=first.decision_id, revision=2, at=NOW, operator="op-1", action="reopen",
        before=decided.review_state(), after=reopened.review_state()), None)
    allowed = reopened.model_copy(update={"revision": 3, "review_status": "decided", "verdict": Verdict(
        verdict="allow", operator="op-1", decided_at=NOW)})
    store.apply_change(reopened, allowed, AuditEntry(
        decision_id=first.decision_id, revision=3, at=NOW, operator="op-1", action="review",
        before=reopened.review_state(), after=allowed.review_state()), build_callback(allowed, "block", NOW))
    sender = ScriptedSender(DeliveryResult.delivered(204))

    outcome = notifier_with(store, marketplaces, sender).deliver(message_of(first), 4, NOW)

    assert outcome.action == "done"
    assert sender.calls == []
    stale = store.get_callback(first.decision_id, 1)
    assert stale is not None
    assert (stale.status, stale.last_error) == ("undeliverable", "superseded by revision 3")
    latest = store.get_callback(first.decision_id, 3)
    assert latest is not None
    assert latest.payload["data"]["previous_decision"] == "block"
