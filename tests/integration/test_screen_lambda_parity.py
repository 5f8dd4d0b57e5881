"""The screening function answers on Lambda (prescreen/api/lambda_screen.py, no web framework) exactly as the
FastAPI app answers under `prescreen serve`. Each scenario is a sequence of API Gateway events (the files in
events/screen/, and variations of the allowed listing's event re-signed: a retry, a reused webhook-id, another
content type, a field that breaks the contract); it is replayed through both adapters, each with a decision
log table of its own on moto, and every answer must agree on status, content type, Retry-After and body (ids
and timings aside, which differ by design)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
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
from support.signing import signed

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events" / "screen"
EVENT_FILES = sorted(path.name for path in EVENTS.glob("*.json") if path.name != "expected.json")
VOLATILE = {"decision_id", "decided_at", "latency_ms"}  # a fresh id, clock reading and timing per answer

Event = dict[str, Any]
Answer = tuple[int, str, str | None, dict[str, Any]]  # status, content type, Retry-After, body


def load_event(name: str) -> Event:
    event: Event = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def resigned(event: Event, body: bytes, webhook_id: str, content_type: str = "application/json") -> Event:
    """`event` carrying another body, signed at the event's own timestamp with the demo marketplace's secret."""
    headers = signed(body, webhook_id=webhook_id, timestamp=int(event["headers"]["webhook-timestamp"]))
    headers["content-type"] = content_type
    return {**event, "headers": {**event["headers"], **headers, "content-length": str(len(body))},
            "body": body.decode()}


def allowed_body(**changes: Any) -> bytes:
    listing = json.loads(load_event("allow_reborn_doll.json")["body"])
    return json.dumps({**listing, **changes}).encode()


def scenarios() -> dict[str, list[Event]]:
    allowed = load_event("allow_reborn_doll.json")
    own_id = allowed["headers"]["webhook-id"]
    derived = {
        "a retry of the same message": [allowed, allowed],
        "a reused webhook-id with another body": [
            allowed, resigned(allowed, allowed_body(title="Poupée reborn, autre annonce"), own_id)],
        "another content type": [resigned(allowed, allowed_body(), "msg_parity_415", "text/plain")],
        "a field that breaks the contract": [resigned(allowed, allowed_body(price="free"), "msg_parity_422")],
    }
    return {**{name: [load_event(name)] for name in EVENT_FILES}, **derived}


SCENARIOS = scenarios()


def service_for(settings: Settings, dynamodb: Any, signed_at: float) -> ScreenService:
    """A service on a fresh table of its own, its clock at the events' signing time (they are signed once,
    with a fixed timestamp, so that `sam local invoke -e` and the tests can replay them)."""
    table = f"parity-{uuid.uuid4().hex[:10]}"
    create_decisions_table(dynamodb, REPO / "template.yaml", table)
    own = settings.model_copy(update={"table_name": table})
    return ScreenService(own, DynamoDBDecisionStore.from_settings(own), build_marketplaces(own),
                         build_screener(own), clock=lambda: signed_at)


def signed_at(event: Event) -> float:
    return float(event["headers"].get("webhook-timestamp") or 0)


def on_lambda(service: ScreenService, event: Event) -> Answer:
    answer = answer_screen_event(event, lambda: service)
    return (answer["statusCode"], answer["headers"]["content-type"], answer["headers"].get("Retry-After"),
            json.loads(answer["body"]))


@pytest.fixture
def under_serve() -> Iterator[Callable[[ScreenService, Event], Answer]]:
    """POSTs an event's request, as API Gateway received it, to the FastAPI app over real HTTP."""
    current: list[ScreenService] = []
    with serving(create_app(lambda: current[-1])) as base:
        def answer(service: ScreenService, event: Event) -> Answer:
            current.append(service)
            headers = {key: value for key, value in event["headers"].items() if key not in {"host", "content-length"}}
            response = httpx.post(f"{base}{event['rawPath']}", content=event["body"].encode(), headers=headers,
                                  timeout=10)
            return (response.status_code, response.headers["content-type"], response.headers.get("retry-after"),
                    response.json())

        yield answer


def comparable(answer: Answer) -> Answer:
    status, content_type, retry_after, body = answer
    return status, content_type, retry_after, {key: value for key, value in body.items() if key not in VOLATILE}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_lambda_adapter_answers_as_the_fastapi_app_does(
    scenario: str, local_settings: Settings, dynamodb: Any, under_serve: Callable[[ScreenService, Event], Answer]
) -> None:
    # Given a sequence of events, and one service (with its own table) behind each adapter
    events = SCENARIOS[scenario]
    lambda_service = service_for(local_settings, dynamodb, signed_at(events[0]))
    serve_service = service_for(local_settings, dynamodb, signed_at(events[0]))

    # When each adapter answers the events in order
    lambda_answers = [on_lambda(lambda_service, event) for event in events]
    serve_answers = [under_serve(serve_service, event) for event in events]

    # Then every answer agrees
    assert [comparable(a) for a in lambda_answers] == [comparable(a) for a in serve_answers]


def test_the_answers_are_the_documented_ones(
    local_settings: Settings, dynamodb: Any, under_serve: Callable[[ScreenService, Event], Answer]
) -> None:
    # Given the documented outcome of each event file, and of each variation
    expected = json.loads((EVENTS / "expected.json").read_text())
    statuses = {name: [expected[name]["status"]] for name in EVENT_FILES} | {
        "a retry of the same message": [200, 200],
        "a reused webhook-id with another body": [200, 409],
        "another content type": [415],
        "a field that breaks the contract": [422],
    }

    # When the Lambda adapter answers each scenario
    answered = {}
    for name, events in SCENARIOS.items():
        service = service_for(local_settings, dynamodb, signed_at(events[0]))
        answered[name] = [on_lambda(service, event) for event in events]

    # Then each status is the documented one, a retry gets the first decision again, and every refusal
    # is problem+json naming what was wrong
    assert {name: [answer[0] for answer in answers] for name, answers in answered.items()} == statuses
    first, again = answered["a retry of the same message"]
    assert first[3]["decision_id"] == again[3]["decision_id"]
    for answers in answered.values():
        for status, content_type, _, body in answers:
            if status >= 400:
                assert content_type == "application/problem+json"
                assert body["errors"], body


def test_a_store_outage_is_the_same_503_with_retry_after_on_both(
    local_settings: Settings, under_serve: Callable[[ScreenService, Event], Answer]
) -> None:
    # Given services whose decision log is a closed port
    event = load_event("allow_reborn_doll.json")
    broken = local_settings.model_copy(update={"dynamodb_endpoint": "http://127.0.0.1:9", "store_max_attempts": 1})

    def outage() -> ScreenService:
        return ScreenService(broken, DynamoDBDecisionStore.from_settings(broken), build_marketplaces(broken),
                             build_screener(broken), clock=lambda: signed_at(event))

    # When each adapter answers the allowed listing's event
    lambda_answer, serve_answer = on_lambda(outage(), event), under_serve(outage(), event)

    # Then both are the problem+json 503 with the configured Retry-After
    assert comparable(lambda_answer) == comparable(serve_answer)
    assert lambda_answer[:3] == (503, "application/problem+json", str(broken.retry_after_seconds))


def test_an_event_for_another_route_is_a_404_naming_the_route_served() -> None:
    # Given an event API Gateway would only send through a misconfigured integration
    event = {**load_event("allow_reborn_doll.json"), "routeKey": "GET /v1/decisions"}

    def no_service() -> ScreenService:
        raise AssertionError("nothing may be screened for another route")

    # When the adapter answers it
    answer = answer_screen_event(event, no_service)

    # Then nothing was screened and the 404 says which route this function serves
    assert answer["statusCode"] == 404
    assert "POST /v1/marketplaces/{marketplace}/screen" in json.loads(answer["body"])["detail"]


def test_a_base64_encoded_body_is_decoded_before_its_signature_is_checked(
    local_settings: Settings, dynamodb: Any
) -> None:
    # Given the allowed listing's event as API Gateway sends a body it treats as binary
    event = load_event("allow_reborn_doll.json")
    encoded = {**event, "body": base64.b64encode(event["body"].encode()).decode(), "isBase64Encoded": True}

    # When the adapter answers it
    status, _, _, body = on_lambda(service_for(local_settings, dynamodb, signed_at(event)), encoded)

    # Then the signature verifies over the decoded bytes and the listing is allowed
    assert (status, body.get("decision")) == (200, "allow"), body
