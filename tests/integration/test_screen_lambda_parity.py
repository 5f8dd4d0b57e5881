"""The screening function answers on Lambda (prescreen/api/lambda_screen.py, no web framework) exactly as the
FastAPI app answers under `prescreen serve`: every event in events/screen/ goes through both, each with its
own decision log table on moto, and the two answers must agree on status, content type, Retry-After and
body (ids and timings aside, which differ by design)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prescreen.api.lambda_screen import answer_screen_event
from prescreen.api.screen import create_app
from prescreen.local.dynamodb import create_decisions_table
from prescreen.settings import Settings
from prescreen.store.dynamodb import DynamoDBDecisionStore
from prescreen.webhook import ScreenService
from prescreen.wiring import build_marketplaces, build_screener
from support.servers import serving

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events" / "screen"
EVENT_FILES = sorted(path.name for path in EVENTS.glob("*.json") if path.name != "expected.json")
VOLATILE = {"decision_id", "decided_at", "latency_ms"}  # a fresh id, clock reading and timing per answer


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def service_at_event_time(settings: Settings, dynamodb: Any, event: dict[str, Any]) -> ScreenService:
    """A service on a fresh table of its own, its clock at the event's signing time (the events are signed
    once, with a fixed timestamp, so that `sam local invoke -e` and the tests can replay them)."""
    table = f"parity-{uuid.uuid4().hex[:10]}"
    create_decisions_table(dynamodb, REPO / "template.yaml", table)
    own = settings.model_copy(update={"table_name": table})
    signed_at = float(event["headers"].get("webhook-timestamp", "0") or 0)
    return ScreenService(own, DynamoDBDecisionStore.from_settings(own), build_marketplaces(own),
                         build_screener(own), clock=lambda: signed_at)


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in VOLATILE}


@pytest.fixture
def fastapi_answers(local_settings: Settings, dynamodb: Any) -> Iterator[Any]:
    """POSTs an event's request, as API Gateway received it, to the FastAPI app over real HTTP."""
    services: dict[str, ScreenService] = {}
    current: list[str] = []

    def service() -> ScreenService:
        return services[current[-1]]

    with serving(create_app(service)) as base:
        def answer(name: str, event: dict[str, Any]) -> httpx.Response:
            services[name] = service_at_event_time(local_settings, dynamodb, event)
            current.append(name)
            headers = {key: value for key, value in event["headers"].items() if key not in {"host", "content-length"}}
            return httpx.post(f"{base}{event['rawPath']}", content=event["body"].encode(), headers=headers, timeout=10)

        yield answer


@pytest.mark.parametrize("name", EVENT_FILES)
def test_the_lambda_adapter_answers_every_event_as_the_fastapi_app_does(
    name: str, local_settings: Settings, dynamodb: Any, fastapi_answers: Any
) -> None:
    # Given one event from events/screen/
    event = load_event(name)
    expected = json.loads((EVENTS / "expected.json").read_text())[name]

    # When the Lambda adapter and the FastAPI app each answer it, on tables of their own
    lambda_service = service_at_event_time(local_settings, dynamodb, event)
    on_lambda = answer_screen_event(event, lambda: lambda_service)
    under_serve = fastapi_answers(name, event)

    # Then both give the documented status, the same content type, headers that matter and body
    assert on_lambda["statusCode"] == under_serve.status_code == expected["status"]
    assert on_lambda["headers"]["content-type"] == under_serve.headers["content-type"]
    assert on_lambda["headers"].get("Retry-After") == under_serve.headers.get("retry-after")
    lambda_body, serve_body = json.loads(on_lambda["body"]), under_serve.json()
    assert comparable(lambda_body) == comparable(serve_body)
    if "decision" in expected:
        assert lambda_body["decision"] == expected["decision"]
    assert on_lambda["isBase64Encoded"] is False


def test_a_store_outage_is_a_problem_503_with_retry_after_on_lambda_too(local_settings: Settings) -> None:
    # Given a service whose decision log is a closed port
    event = load_event("allow_reborn_doll.json")
    broken = local_settings.model_copy(update={"dynamodb_endpoint": "http://127.0.0.1:9", "store_max_attempts": 1})
    outage = ScreenService(broken, DynamoDBDecisionStore.from_settings(broken), build_marketplaces(broken),
                           build_screener(broken), clock=lambda: float(event["headers"]["webhook-timestamp"]))

    # When the Lambda adapter answers the event
    answer = answer_screen_event(event, lambda: outage)

    # Then it is the problem+json 503 with Retry-After that the FastAPI app gives (test_faults.py)
    assert answer["statusCode"] == 503
    assert answer["headers"]["content-type"] == "application/problem+json"
    assert answer["headers"]["Retry-After"] == str(broken.retry_after_seconds)
    assert json.loads(answer["body"])["status"] == 503


def test_an_event_for_another_route_is_a_404_naming_the_route_served(local_settings: Settings, dynamodb: Any) -> None:
    # Given an event API Gateway would only send through a misconfigured integration
    event = {**load_event("allow_reborn_doll.json"), "routeKey": "GET /v1/decisions"}

    # When the adapter answers it
    answer = answer_screen_event(event, lambda: service_at_event_time(local_settings, dynamodb, event))

    # Then nothing is screened and the 404 says which route this function serves
    assert answer["statusCode"] == 404
    assert "POST /v1/marketplaces/{marketplace}/screen" in json.loads(answer["body"])["detail"]


def test_a_base64_encoded_body_is_decoded_before_its_signature_is_checked(
    local_settings: Settings, dynamodb: Any
) -> None:
    # Given the allowed listing's event as API Gateway sends a body it treats as binary
    event = load_event("allow_reborn_doll.json")
    encoded = {**event, "body": base64.b64encode(event["body"].encode()).decode(), "isBase64Encoded": True}

    # When the adapter answers it
    answer = answer_screen_event(encoded, lambda: service_at_event_time(local_settings, dynamodb, event))

    # Then the signature verifies over the decoded bytes and the listing is allowed
    assert answer["statusCode"] == 200, answer["body"]
    assert json.loads(answer["body"])["decision"] == "allow"
