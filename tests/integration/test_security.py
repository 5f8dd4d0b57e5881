"""Security properties over real HTTP on loopback (DynamoDB and SQS are moto's server): replaying a captured
request, the signature window, secret rotation, the body limit, and what reaches the logs and the metrics.

Proven elsewhere and not repeated here: a retry the marketplace re-signs returns the identical decision, a
webhook-id reused with another body is 409, both secrets of `demo-rotating` verify, and an unknown marketplace
answers exactly like a bad signature (test_screen_webhook.py); stale and future timestamps, missing headers and
several offered signatures (unit/test_signatures.py); the tolerance cannot be widened outside the `local` stage
(unit/test_settings.py); the seller hash in the decision line (unit/test_webhook.py); every operators' route
refusing a missing or unknown token, and tenant isolation (test_review_api.py).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from prescreen.api import review, screen
from prescreen.local.dynamodb import free_port
from prescreen.marketplaces import FileMarketplaceDirectory, dev_marketplaces_path
from prescreen.models import STATEMENT_CATEGORIES
from prescreen.settings import Settings
from prescreen.signatures import decode_secret
from prescreen.webhook import logger, mask, metrics
from prescreen.wiring import build_review_service, build_screen_service
from support.faulty_proxy import faulty_proxy
from support.moderation_faults import Behaviour, moderation_server
from support.servers import serving
from support.signing import dev_secret, listing_body, listing_json, signed

LIMIT = 256 * 1024
ROTATED_IN = "whsec_cHJlc2NyZWVuLWRldi1yb3RhdGVkLXNlY3JldC0yMDI2LTEx"  # demo-rotating's second secret
SELLER = "seller-8841-jeanne.dupont@example.fr"  # personal data: must never reach a log in clear
OPERATOR_TOKEN = "test-token-security-operator-7f3a9c"
UNKNOWN_TOKEN = "test-token-never-issued-0b1e44"
README = Path(__file__).resolve().parents[2] / "README.md"


def screen_url(base: str, marketplace: str = "demo") -> str:
    return f"{base}/v1/marketplaces/{marketplace}/screen"


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=10)


def table_items(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


@pytest.fixture
def webhook(local_settings: Settings) -> Iterator[str]:
    service = build_screen_service(local_settings)
    with serving(screen.create_app(lambda: service)) as base:
        yield base


# --- replays and the signature window ---------------------------------------------------------------------------

def test_a_captured_request_replayed_gets_the_stored_decision_and_changes_nothing(
    webhook: str, dynamodb: Any, local_settings: Settings
) -> None:
    # Given a signed request someone captured on its way (exact bytes, exact headers)
    body = listing_body("childlike_doll_fr")
    captured = signed(body)
    first = post(screen_url(webhook), body, captured)
    assert first.status_code == 200, first.text
    stored = table_items(dynamodb, local_settings.table_name)
    assert len(stored) == 2  # the decision and its request record

    # When it is sent again within the tolerance
    replayed = post(screen_url(webhook), body, captured)
    # Then it gets the stored decision and nothing is written: no second decision, no second request record
    assert replayed.status_code == 200
    assert replayed.json() == first.json()
    assert table_items(dynamodb, local_settings.table_name) == stored

    # And the captured headers cannot carry another body: the signature covers it (the marketplace itself,
    # re-signing the same webhook-id with another body, gets 409: test_screen_webhook.py)
    tampered = json.dumps({**json.loads(body), "title": "Poupée en porcelaine ancienne"}).encode()
    refused = post(screen_url(webhook), tampered, captured)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["pointer"] == "/headers/webhook-signature"
    assert table_items(dynamodb, local_settings.table_name) == stored


def test_a_request_older_than_five_minutes_is_refused_even_with_a_valid_signature(
    webhook: str, dynamodb: Any, local_settings: Settings
) -> None:
    body = listing_body("kettle")
    now = int(time.time())
    # Inside the window (with margin for a slow run) the request is fine
    inside = signed(body, webhook_id="msg_window", timestamp=now - 280)
    assert post(screen_url(webhook), body, inside).status_code == 200
    stored = table_items(dynamodb, local_settings.table_name)

    for webhook_id in ("msg_window", "msg_never_seen"):
        # A correctly signed request from 301 s ago, for a known and for an unknown webhook-id
        stale = signed(body, webhook_id=webhook_id, timestamp=now - 301)
        response = post(screen_url(webhook), body, stale)
        # is refused before the decision log is read: an old capture gets neither a decision nor a new record
        assert response.status_code == 401, webhook_id
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["pointer"] == "/headers/webhook-timestamp"
        assert "decision_id" not in response.json()
    assert table_items(dynamodb, local_settings.table_name) == stored


def test_a_rotated_out_secret_stops_verifying_while_the_active_ones_work(
    local_settings: Settings, tmp_path: Path
) -> None:
    old = dev_secret("demo")
    shipped = FileMarketplaceDirectory(dev_marketplaces_path()).get("demo-rotating")
    assert shipped is not None
    assert shipped.secrets == [old, ROTATED_IN]
    body = listing_body("kettle")

    # During the rotation (the development file): both secrets verify
    service = build_screen_service(local_settings)
    with serving(screen.create_app(lambda: service)) as base:
        for secret in (old, ROTATED_IN):
            assert post(screen_url(base, "demo-rotating"), body, signed(body, secret=secret)).status_code == 200

    # After it (the old secret removed; in AWS the 5-minute configuration cache expires)
    rotated = tmp_path / "marketplaces.json"
    rotated.write_text(json.dumps({"demo-rotating": {"secrets": [ROTATED_IN]}}))
    service = build_screen_service(local_settings.model_copy(update={"marketplaces_file": rotated}))
    with serving(screen.create_app(lambda: service)) as base:
        refused = post(screen_url(base, "demo-rotating"), body, signed(body, secret=old))
        accepted = post(screen_url(base, "demo-rotating"), body, signed(body, secret=ROTATED_IN))
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["pointer"] == "/headers/webhook-signature"
    assert accepted.status_code == 200


# --- the body limit ---------------------------------------------------------------------------------------------

def body_of(size: int) -> bytes:
    """A JSON listing of exactly `size` bytes."""
    empty = json.dumps({"id": "big-1", "title": "Kettle", "description": ""}).encode()
    body = json.dumps({"id": "big-1", "title": "Kettle", "description": "x" * (size - len(empty))}).encode()
    assert len(body) == size
    return body


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_256_kb_is_refused_with_or_without_content_length(
    webhook: str, dynamodb: Any, local_settings: Settings, chunked: bool
) -> None:
    body = body_of(LIMIT + 1)
    # A generator makes httpx stream the body with Transfer-Encoding: chunked and no Content-Length.
    content = (body[i:i + 65536] for i in range(0, len(body), 65536)) if chunked else body
    response = httpx.post(screen_url(webhook), content=content, headers=signed(body), timeout=10)

    assert ("content-length" in response.request.headers) is not chunked
    assert response.request.headers.get("transfer-encoding") == ("chunked" if chunked else None)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert table_items(dynamodb, local_settings.table_name) == []


def test_a_chunked_body_of_exactly_256_kb_passes_the_size_check(webhook: str) -> None:
    body = body_of(LIMIT)
    response = httpx.post(screen_url(webhook), content=iter([body]), headers=signed(body), timeout=10)
    # It reaches the contract instead (its description is over 20,000 characters): the limit is inclusive.
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == "/description"


# --- logs and metrics -------------------------------------------------------------------------------------------

@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every log record of the app at DEBUG, formatted exactly as Lambda ships it (the Powertools JSON line)."""
    stream = io.StringIO()
    ours, libraries = logging.StreamHandler(stream), logging.StreamHandler(stream)
    for handler in (ours, libraries):
        handler.setFormatter(logger.registered_formatter)
    # Our logger ("prescreen" and its children) whether or not it propagates, and the root for the libraries
    # (without our records a second time).
    libraries.addFilter(lambda record: not record.name.startswith("prescreen"))
    targets = [(logging.getLogger("prescreen"), ours), (logging.getLogger(), libraries)]
    level = logging.getLogger("prescreen").level
    for target, handler in targets:
        target.addHandler(handler)
    logging.getLogger("prescreen").setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        for target, handler in targets:
            target.removeHandler(handler)
        logging.getLogger("prescreen").setLevel(level)


def marketplace_secrets() -> list[str]:
    document = json.loads(dev_marketplaces_path().read_text())
    return sorted({secret for config in document.values() for secret in config["secrets"]})


def test_no_secret_signature_token_or_seller_id_reaches_the_logs(
    local_settings: Settings, dynamodb_endpoint: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Given the webhook and the operators' API, with an operator's bearer token
    sqs = boto3.session.Session().client("sqs", endpoint_url=dynamodb_endpoint, region_name="eu-west-1",
                                         aws_access_key_id="local", aws_secret_access_key="local")
    queue_url = sqs.create_queue(QueueName=f"callbacks-security-{tmp_path.name[-12:]}")["QueueUrl"]
    (tmp_path / "operators.json").write_text(json.dumps(
        {OPERATOR_TOKEN: {"operator": "security-operator", "marketplaces": ["demo"]}}))
    settings = local_settings.model_copy(update={
        "operators_file": tmp_path / "operators.json", "callback_queue_url": queue_url,
        "sqs_endpoint": dynamodb_endpoint})
    screening, reviews = build_screen_service(settings), build_review_service(settings)
    authenticate = review.authenticator_for(settings)
    review_app = review.create_app(lambda: reviews, lambda: authenticate, lambda: review.console_config_for(settings))
    listing = {**listing_json("adult_doll_weak_cue"), "seller": {"id": SELLER, "country": "FR", "account_age_days": 3}}
    body = json.dumps(listing).encode()
    bad_seller = json.dumps({**listing, "seller": {"id": SELLER, "account_age_days": -1}}).encode()
    signatures: list[str] = []

    def send(base: str, payload: bytes, headers: dict[str, str]) -> httpx.Response:
        signatures.append(headers["webhook-signature"])
        return post(screen_url(base), payload, headers)

    # When a run exercises accepted, replayed, refused and invalid requests and an operator's whole review
    with captured_logs() as logs, serving(screen.create_app(lambda: screening)) as hook, serving(review_app) as api:
        headers = signed(body)
        answer = send(hook, body, headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["decision"] == "review"
        assert send(hook, body, headers).status_code == 200  # replayed
        wrong = signed(body, secret="whsec_bm90LXRoZS1tYXJrZXRwbGFjZS1zZWNyZXQtYXQtYWxs")
        assert send(hook, body, wrong).status_code == 401
        assert send(hook, bad_seller, signed(bad_seller)).status_code == 422

        decision = f"/v1/decisions/{answer.json()['decision_id']}"
        with httpx.Client(base_url=api, headers={"authorization": f"Bearer {OPERATOR_TOKEN}"}, timeout=10) as ops:
            assert ops.get("/v1/me").status_code == 200
            queue = ops.get("/v1/decisions", params={"marketplace": "demo", "review_status": "pending"})
            assert queue.status_code == 200
            assert ops.get(decision).json()["listing"]["seller"]["id"] == SELLER  # the operator may see it
            assert ops.post(f"{decision}/claim").status_code == 200
            verdict = ops.post(f"{decision}/review", json={"verdict": "block", "note": "adult doll, child-like"})
            assert verdict.status_code == 200, verdict.text
        unknown = httpx.get(f"{api}/v1/me", headers={"authorization": f"Bearer {UNKNOWN_TOKEN}"}, timeout=10)
        assert unknown.status_code == 401

    out, err = capfd.readouterr()
    text = logs.getvalue() + out + err
    # Then the logs were captured (the decision line, with the seller's hash) ...
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    [decided] = [line for line in lines if line.get("message") == "decision"]
    assert decided["seller"] == mask(SELLER)
    assert any(line.get("message") == "retry answered from the decision log" for line in lines)
    # ... and hold none of the secrets, signatures, tokens or the seller id
    secrets = marketplace_secrets()
    needles = {
        "seller id": [SELLER],
        "marketplace secret": secrets + [base64.b64encode(decode_secret(s)).decode() for s in secrets],
        "HMAC key": [decode_secret(s).decode("latin-1") for s in secrets],
        "webhook-signature": signatures + [s.removeprefix("v1,") for s in signatures],
        "bearer token": [OPERATOR_TOKEN, UNKNOWN_TOKEN],
    }
    for kind, values in needles.items():
        for value in values:
            assert value not in text, f"a {kind} reached the logs"
    assert "whsec_" not in text
    assert not re.search(r"bearer\s", text, re.IGNORECASE)


def emitted_metrics(stdout: str) -> list[dict[str, Any]]:
    """The EMF documents printed by a flush (one JSON object per line with an `_aws` key)."""
    documents = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            document: dict[str, Any] = json.loads(line)
            if "_aws" in document:
                documents.append(document)
    return documents


def documented_metric_names() -> set[str]:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Observability\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert section
    return set(re.findall(r"`([^`\n]+)`", section.group(1)))


def test_the_emf_metrics_name_each_decision_and_classifier_status(
    local_settings: Settings, dynamodb_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics.clear_metrics()  # the Powertools metric set is process-wide: start from nothing

    def screened(settings: Settings, listing: str) -> int:
        service = build_screen_service(settings)
        with serving(screen.create_app(lambda: service)) as base:
            body = listing_body(listing)
            return post(screen_url(base), body, signed(body)).status_code

    # Every classifier status and decision outcome, and a decision the log refused
    with moderation_server(Behaviour(mode="ok", scores={"childlike_sex_doll": 0.01})) as healthy:
        answering = local_settings.model_copy(update={"classifier": "http", "classifier_url": healthy})
        assert screened(answering, "kettle") == 200  # ok, allow
        assert screened(answering, "childlike_doll_fr") == 200  # skipped: the rules blocked
    down = local_settings.model_copy(update={"classifier": "http", "classifier_url": f"http://127.0.0.1:{free_port()}"})
    assert screened(down, "holster_in_weapons_category") == 200  # unavailable: the fallback holds it for review
    assert screened(local_settings, "reborn_doll") == 200  # disabled
    # DecisionNotStored counts the webhook's 503s: here a log that reads but refuses the write.
    with faulty_proxy(dynamodb_endpoint) as (failing, faults):
        faults.throttle_operations = {"TransactWriteItems"}
        cannot_store = local_settings.model_copy(update={"dynamodb_endpoint": failing, "store_max_attempts": 1})
        assert screened(cannot_store, "kettle") == 503

    capsys.readouterr()
    metrics.flush_metrics()  # what @metrics.log_metrics does at the end of each Lambda invocation
    documents = emitted_metrics(capsys.readouterr().out)

    assert documents
    names: set[str] = set()
    for document in documents:
        # The alarms and the dashboard select exactly this namespace and this one dimension.
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Prescreen"
        assert directive["Dimensions"] == [["service"]]
        assert document["service"] == "prescreen"
        assert {metric["Unit"] for metric in directive["Metrics"]} == {"Count"}
        names |= {metric["Name"] for metric in directive["Metrics"]}
    assert {"Decision_allow", "Decision_review", "Decision_block", "Classifier_ok", "Classifier_unavailable",
            "Classifier_skipped", "Classifier_disabled", "DecisionNotStored", "PROTECTION_OF_MINORS"} <= names
    categories = {category.removeprefix("STATEMENT_CATEGORY_") for category in STATEMENT_CATEGORIES}
    assert names - categories <= documented_metric_names(), "emitted but not in README's Observability section"
