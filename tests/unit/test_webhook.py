"""The webhook use case with the in-memory decision log: every refusal, retries, outages."""

from __future__ import annotations

import json
import logging

import pytest

from prescreen.classifier.policy import ClassifierPolicy
from prescreen.errors import (
    ContractViolation,
    IdempotencyConflict,
    MalformedJson,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    WebhookError,
)
from prescreen.marketplaces import FileMarketplaceDirectory, MarketplaceConfigError, dev_marketplaces_path
from prescreen.models import Evidence, Listing, RuleHit
from prescreen.pipeline import RulePolicy, Screener
from prescreen.settings import Settings
from prescreen.store.base import RequestRecord
from prescreen.store.memory import InMemoryDecisionStore
from prescreen.webhook import ScreenService, mask
from support.signing import signed

NOW = 1_795_766_400


class WordPolicy:
    """A one-rule policy: blocks listings whose title holds 'forbidden' (policy content is tested elsewhere)."""

    version = "test+000000000000"
    classifier = ClassifierPolicy()

    def family_category(self, family: str) -> str:
        return "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"

    def families_for_category(self, category_path: str) -> list[str]:
        return []

    def evaluate(self, listing: Listing) -> list[RuleHit]:
        start = listing.title.find("forbidden")
        if start < 0:
            return []
        evidence = Evidence(field="/title", text="forbidden", start=start, end=start + 9)
        return [
            RuleHit(rule_id="test.forbidden", category="STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
                    family="test", action="block", evidence=[evidence]),
            RuleHit(rule_id="test.trial", category="STATEMENT_CATEGORY_SCAMS_AND_FRAUD", family="test",
                    action="block", mode="shadow", evidence=[evidence]),
        ]


class WordPolicies:
    def get(self, name: str) -> RulePolicy:
        return WordPolicy()


@pytest.fixture
def store() -> InMemoryDecisionStore:
    return InMemoryDecisionStore()


@pytest.fixture
def service(store: InMemoryDecisionStore) -> ScreenService:
    return ScreenService(
        settings=Settings(stage="local"),
        store=store,
        marketplaces=FileMarketplaceDirectory(dev_marketplaces_path()),
        screener=Screener(WordPolicies()),
        clock=lambda: float(NOW),
    )


def body_of(**fields: object) -> bytes:
    return json.dumps({"id": "l-1", "title": "a teapot", **fields}).encode()


def test_an_allowed_listing_is_stored_before_the_answer(service: ScreenService, store: InMemoryDecisionStore) -> None:
    body = body_of()
    answer = service.handle("demo", signed(body, timestamp=NOW), body)
    assert answer.decision == "allow"
    stored = store.get_decision(answer.decision_id)
    assert stored is not None
    assert stored.response() == answer


def test_shadow_hits_are_stored_but_never_returned(service: ScreenService, store: InMemoryDecisionStore) -> None:
    body = body_of(title="forbidden thing")
    answer = service.handle("demo", signed(body, timestamp=NOW), body)
    assert answer.decision == "block"
    assert [r.id for r in answer.reasons] == ["test.forbidden"]
    stored = store.get_decision(answer.decision_id)
    assert stored is not None
    assert [r.id for r in stored.shadow_reasons] == ["test.trial"]


def test_a_retry_is_answered_from_the_log(service: ScreenService, store: InMemoryDecisionStore) -> None:
    body = body_of(title="forbidden thing")
    first = service.handle("demo", signed(body, webhook_id="m-1", timestamp=NOW), body)
    second = service.handle("demo", signed(body, webhook_id="m-1", timestamp=NOW + 10), body)
    assert first == second
    assert len(store.listing_history("demo", "l-1")) == 1


class ReadCountingStore(InMemoryDecisionStore):
    """The in-memory log, counting the look-ups of earlier requests."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def find_request(self, marketplace: str, webhook_id: str) -> RequestRecord | None:
        self.reads += 1
        return super().find_request(marketplace, webhook_id)


def test_a_new_request_is_written_without_a_read_and_only_a_retry_reads_the_log() -> None:
    # Given a service whose log counts reads
    store = ReadCountingStore()
    service = ScreenService(Settings(stage="local"), store, FileMarketplaceDirectory(dev_marketplaces_path()),
                            Screener(WordPolicies()), clock=lambda: float(NOW))
    body = body_of()

    # When a new message is screened, then retried
    first = service.handle("demo", signed(body, webhook_id="m-w", timestamp=NOW), body)
    reads_for_new = store.reads
    second = service.handle("demo", signed(body, webhook_id="m-w", timestamp=NOW + 5), body)

    # Then the new one cost no read (its conditional write is the duplicate check), the retry one
    assert (reads_for_new, store.reads) == (0, 1)
    assert second == first


def test_a_reused_webhook_id_with_a_body_that_breaks_the_contract_gets_the_contract_error(
    service: ScreenService, store: InMemoryDecisionStore
) -> None:
    # Given a stored decision under webhook-id m-3
    service.handle("demo", signed(body_of(), webhook_id="m-3", timestamp=NOW), body_of())

    # When the id comes back with a body that breaks the contract
    broken = body_of(title="")
    with pytest.raises(ContractViolation) as refused:
        service.handle("demo", signed(broken, webhook_id="m-3", timestamp=NOW), broken)

    # Then the answer names the field (the body is checked before the write that detects the reuse), and
    # the log still holds the one decision
    assert [problem.pointer for problem in refused.value.errors] == ["/title"]
    assert len(store.listing_history("demo", "l-1")) == 1


def test_a_reused_webhook_id_with_another_body_conflicts(service: ScreenService) -> None:
    service.handle("demo", signed(body_of(), webhook_id="m-2", timestamp=NOW), body_of())
    other = body_of(title="another")
    with pytest.raises(IdempotencyConflict):
        service.handle("demo", signed(other, webhook_id="m-2", timestamp=NOW), other)


@pytest.mark.parametrize(
    ("marketplace", "body", "headers", "error"),
    [
        ("demo", b"{", None, MalformedJson),
        ("demo", b"   ", None, MalformedJson),
        ("demo", body_of(title=""), None, ContractViolation),
        ("demo", body_of(), {"content-type": "text/plain"}, UnsupportedMediaType),
        ("demo", body_of(), {"webhook-signature": "v1,AAAA"}, Unauthorized),
        ("demo", body_of(), {"webhook-timestamp": str(NOW - 301)}, Unauthorized),
        ("nobody", body_of(), None, Unauthorized),
        ("demo", body_of(description="x" * 300_000), None, PayloadTooLarge),
    ],
)
def test_refusals_store_nothing(
    service: ScreenService, store: InMemoryDecisionStore, marketplace: str, body: bytes,
    headers: dict[str, str] | None, error: type[WebhookError],
) -> None:
    request_headers = signed(body, timestamp=NOW) | (headers or {})
    with pytest.raises(error) as refused:
        service.handle(marketplace, request_headers, body)
    assert refused.value.errors, "every refusal names what was wrong"
    assert store.listing_history("demo", "l-1") == []


def test_an_unknown_marketplace_is_indistinguishable_from_a_bad_signature(service: ScreenService) -> None:
    body = body_of()
    with pytest.raises(Unauthorized) as unknown:
        service.handle("nobody", signed(body, timestamp=NOW), body)
    wrong = signed(body, secret="whsec_bm90LXRoZS1tYXJrZXRwbGFjZS1zZWNyZXQtYXQtYWxs", timestamp=NOW)
    with pytest.raises(Unauthorized) as bad_signature:
        service.handle("demo", wrong, body)
    assert (unknown.value.detail, unknown.value.errors) == (bad_signature.value.detail, bad_signature.value.errors)


def test_a_store_outage_is_a_503_with_retry_after(service: ScreenService, store: InMemoryDecisionStore) -> None:
    store.available = False
    body = body_of()
    with pytest.raises(ServiceUnavailable) as refused:
        service.handle("demo", signed(body, timestamp=NOW), body)
    assert refused.value.retry_after_seconds == 5


def test_seller_ids_are_masked_for_logs() -> None:
    assert mask("seller-42") == mask("seller-42") != "seller-42"
    assert "seller-42" not in str(mask("seller-42"))



class UnreadableMarketplaces:
    def get(self, marketplace: str) -> None:
        raise MarketplaceConfigError(f"/prescreen/marketplaces/{marketplace}: SSM unavailable")


def test_an_unreadable_marketplace_configuration_is_a_503(store: InMemoryDecisionStore) -> None:
    service = ScreenService(settings=Settings(stage="local"), store=store, marketplaces=UnreadableMarketplaces(),
                            screener=Screener(WordPolicies()), clock=lambda: float(NOW))
    body = body_of()
    with pytest.raises(ServiceUnavailable):
        service.handle("demo", signed(body, timestamp=NOW), body)


class RecordingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_decision_log_line_shows_shadow_hits_with_their_mode(service: ScreenService) -> None:
    # Given a listing that a shadow rule matches, and a handler listening to the service's logger
    recorder = RecordingHandler()
    logging.getLogger("prescreen").addHandler(recorder)
    body = body_of(title="forbidden item", seller={"id": "seller-77"})
    try:
        service.handle("demo", signed(body, timestamp=NOW), body)
    finally:
        logging.getLogger("prescreen").removeHandler(recorder)
    # Then the decision line names the shadow rule with mode shadow, and the seller only as a hash
    [line] = [r for r in recorder.records if r.getMessage() == "decision"]
    assert line.__dict__["shadow"] == [{"rule": "test.trial", "mode": "shadow", "action": "block"}]
    assert line.__dict__["rules"] == ["test.forbidden"]
    assert line.__dict__["seller"] == mask("seller-77")
