"""The webhook with a failing classifier, over real HTTP on loopback: a defined decision within the budget,
never a 5xx, and the classifier's status stored with the decision."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from prescreen.api.screen import create_app
from prescreen.local.dynamodb import free_port
from prescreen.policy.provider import BundledPolicyProvider
from prescreen.settings import Settings
from prescreen.wiring import build_screen_service
from support.moderation_faults import Behaviour, moderation_server
from support.servers import serving
from support.signing import listing_body, signed

BUDGET_MS = 300
# Loopback HTTP, two DynamoDB calls to moto and the rules: what a request costs beside the classifier.
OVERHEAD_SECONDS = 0.5


@contextmanager
def classifier_endpoint(fault: str) -> Iterator[str]:
    if fault == "down":
        yield f"http://127.0.0.1:{free_port()}"
        return
    behaviour = {"slow": Behaviour(mode="slow", delay_seconds=3.0), "error": Behaviour(mode="error"),
                 "malformed": Behaviour(mode="malformed")}[fault]
    with moderation_server(behaviour) as url:
        yield url


def stored(dynamodb: Any, table: str, decision_id: str) -> dict[str, Any]:
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"DECISION#{decision_id}"}, "sk": {"S": "DECISION"}})
    record: dict[str, Any] = json.loads(item["Item"]["record"]["S"])
    return record


@pytest.fixture(scope="module", autouse=True)
def compiled_policy() -> None:
    # As Lambda does at init: the timing below is about the classifier, not the policy's first compile.
    BundledPolicyProvider().get("base")


@pytest.mark.parametrize("fault", ["down", "slow", "error", "malformed"])
@pytest.mark.parametrize(
    ("listing", "decision", "reason"),
    [("kettle", "allow", "fallback.no_signal"), ("holster_in_weapons_category", "review", "fallback.firearms")],
)
def test_a_failing_classifier_gives_the_fallback_decision_within_the_budget(
    local_settings: Settings, dynamodb: Any, fault: str, listing: str, decision: str, reason: str
) -> None:
    with classifier_endpoint(fault) as url:
        settings = local_settings.model_copy(
            update={"classifier": "http", "classifier_url": url, "classifier_budget_ms": BUDGET_MS})
        service = build_screen_service(settings)
        with serving(create_app(lambda: service)) as base:
            body = listing_body(listing)
            started = time.monotonic()
            response = httpx.post(f"{base}/v1/marketplaces/demo/screen", content=body, headers=signed(body),
                                  timeout=10)
            elapsed = time.monotonic() - started

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["decision"] == decision
    assert [(r["source"], r["id"]) for r in answer["reasons"]] == [("fallback", reason)]
    assert elapsed < BUDGET_MS / 1000 + OVERHEAD_SECONDS
    classifier = stored(dynamodb, local_settings.table_name, answer["decision_id"])["classifier"]
    assert classifier["status"] == "unavailable"
    assert classifier["failure"] in {"connection", "timeout", "http_error", "malformed"}


def test_our_model_service_scores_each_listing_and_the_status_is_stored(
    local_settings: Settings, dynamodb: Any
) -> None:
    from prescreen_model.server import running

    with running() as model:
        settings = local_settings.model_copy(update={"classifier": "http", "classifier_url": model.url})
        service = build_screen_service(settings)
        with serving(create_app(lambda: service)) as base:
            body = listing_body("kettle")
            response = httpx.post(f"{base}/v1/marketplaces/demo/screen", content=body, headers=signed(body),
                                  timeout=10)
    assert response.status_code == 200
    assert response.json()["decision"] == "allow"
    classifier = stored(dynamodb, local_settings.table_name, response.json()["decision_id"])["classifier"]
    assert classifier["status"] == "ok"
    assert classifier["model"].startswith("prescreen-listing-classifier")
    assert 0 < classifier["latency_ms"] < 800
