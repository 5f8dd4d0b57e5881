"""The operators' API over real HTTP on loopback: DynamoDB and SQS are moto's server, decisions come from
the real screening webhook."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from prescreen.api import review, screen
from prescreen.callbacks.worker import local_sqs_client
from prescreen.local.dynamodb import free_port
from prescreen.settings import Settings
from prescreen.wiring import build_review_service, build_screen_service
from support.servers import serving
from support.signing import listing_body, signed
from support.tenants import review_settings
from support.transparency_db import statement_problems

PROBLEM = "application/problem+json"
DEV = "test-token-dev-operator-0001"
ROTATING_ONLY = "test-token-rotating-only-0002"
BOB = "test-token-bob-also-demo-0003"


@dataclass
class Product:
    screen: str  # the webhook's base URL
    api: str  # the operators' API base URL
    settings: Settings
    sqs: Any

    def as_(self, token: str | None) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.api, headers=headers, timeout=10)

    def screened(self, listing: str, marketplace: str = "demo") -> dict[str, Any]:
        body = listing_body(listing)
        response = httpx.post(f"{self.screen}/v1/marketplaces/{marketplace}/screen", content=body,
                              headers=signed(body), timeout=10)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def queued_messages(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.settings.callback_queue_url, MaxNumberOfMessages=10,
                                            VisibilityTimeout=0)
        return [json.loads(message["Body"]) for message in messages.get("Messages", [])]


@pytest.fixture
def product(local_settings: Settings, dynamodb_endpoint: str, tmp_path: Path) -> Iterator[Product]:
    settings = review_settings(local_settings, dynamodb_endpoint, tmp_path, {
        DEV: {"operator": "dev-operator", "marketplaces": ["demo", "demo-rotating"]},
        ROTATING_ONLY: {"operator": "rotating-operator", "marketplaces": ["demo-rotating"]},
        BOB: {"operator": "bob", "marketplaces": ["demo"]},
    })
    sqs = local_sqs_client(dynamodb_endpoint)
    screening = build_screen_service(settings)
    reviews = build_review_service(settings)
    authenticate = review.authenticator_for(settings)
    review_app = review.create_app(lambda: reviews, lambda: authenticate, lambda: review.console_config_for(settings))
    with serving(screen.create_app(lambda: screening)) as screen_url, serving(review_app) as api_url:
        yield Product(screen_url, api_url, settings, sqs)


def test_given_a_listing_held_for_review_when_an_operator_claims_and_blocks_it_then_all_is_recorded(
    product: Product,
) -> None:
    held = product.screened("adult_doll_weak_cue")
    assert held["decision"] == "review"
    operator = product.as_(DEV)

    queue = operator.get("/v1/decisions", params={"marketplace": "demo", "review_status": "pending"})
    assert queue.status_code == 200, queue.text
    [item] = queue.json()["items"]
    assert item["decision_id"] == held["decision_id"]
    assert item["final_decision"] == "review"
    assert item["age_seconds"] >= 0

    claimed = operator.post(f"/v1/decisions/{held['decision_id']}/claim")
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["claim"]["operator"] == "dev-operator"
    # Bob works the same marketplace but cannot take or decide an item under another's lease.
    assert product.as_(BOB).post(f"/v1/decisions/{held['decision_id']}/claim").status_code == 409
    refused = product.as_(BOB).post(f"/v1/decisions/{held['decision_id']}/review", json={"verdict": "allow"})
    assert refused.status_code == 409
    assert "claimed by dev-operator" in refused.json()["detail"]

    decided = operator.post(f"/v1/decisions/{held['decision_id']}/review",
                            json={"verdict": "block", "note": "child-like proportions in the photos"})
    assert decided.status_code == 200, decided.text
    detail = decided.json()
    assert (detail["final_decision"], detail["review_status"], detail["revision"]) == ("block", "decided", 2)
    assert [(entry["action"], entry["operator"]) for entry in detail["audit"]] == [
        ("claim", "dev-operator"), ("review", "dev-operator")]
    assert detail["audit"][1]["before"]["final_decision"] == "review"
    assert detail["audit"][1]["after"]["final_decision"] == "block"
    assert detail["callbacks"] == [{"revision": 2, "status": "pending", "attempts": 0, "last_error": None,
                                    "delivered_at": None}]
    assert product.queued_messages() == [{"decision_id": held["decision_id"], "revision": 2}]

    # It left the queue, and a second verdict is refused without changing anything.
    assert operator.get("/v1/decisions", params={"marketplace": "demo", "review_status": "pending"}).json()[
        "items"] == []
    again = operator.post(f"/v1/decisions/{held['decision_id']}/review", json={"verdict": "allow"})
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM
    assert "already decided" in again.json()["detail"]
    assert operator.get(f"/v1/decisions/{held['decision_id']}").json()["revision"] == 2

    statement = operator.get(detail["links"]["statement_of_reasons"])
    assert statement.status_code == 200
    assert statement_problems(statement.json()) == []
    assert statement.json()["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"


def test_given_a_decided_item_when_reopened_then_the_next_verdict_sends_a_new_callback_and_statement(
    product: Product,
) -> None:
    held = product.screened("adult_doll_weak_cue")
    operator = product.as_(DEV)
    path = f"/v1/decisions/{held['decision_id']}"
    assert operator.post(f"{path}/review", json={"verdict": "block"}).status_code == 200
    first_statement = operator.get(f"{path}/statement-of-reasons").json()

    reopened = operator.post(f"{path}/reopen", json={"reason": "seller appeal (DSA Art. 20): adult model"})
    assert reopened.status_code == 200, reopened.text
    assert (reopened.json()["review_status"], reopened.json()["reopened"]) == ("pending", 1)
    assert operator.get(f"{path}/statement-of-reasons").status_code == 404  # nothing is blocked while pending
    queue = operator.get("/v1/decisions", params={"marketplace": "demo", "review_status": "pending"}).json()
    assert [item["decision_id"] for item in queue["items"]] == [held["decision_id"]]

    assert operator.post(f"{path}/review", json={"verdict": "block", "note": "appeal rejected"}).status_code == 200
    second_statement = operator.get(f"{path}/statement-of-reasons").json()
    assert statement_problems(second_statement) == []
    assert second_statement["puid"] != first_statement["puid"]
    detail = operator.get(path).json()
    assert [entry["action"] for entry in detail["audit"]] == ["review", "reopen", "review"]
    assert detail["audit"][1]["note"] == "seller appeal (DSA Art. 20): adult model"
    assert [callback["revision"] for callback in detail["callbacks"]] == [1, 3]
    assert sorted(message["revision"] for message in product.queued_messages()) == [1, 3]


def test_an_automatic_block_has_a_statement_and_can_be_reopened_on_appeal(product: Product) -> None:
    blocked = product.screened("childlike_doll_en")
    assert blocked["decision"] == "block"
    operator = product.as_(DEV)
    statement = operator.get(f"/v1/decisions/{blocked['decision_id']}/statement-of-reasons").json()
    assert statement_problems(statement) == []
    assert statement["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert operator.post(f"/v1/decisions/{blocked['decision_id']}/review",
                         json={"verdict": "allow"}).status_code == 409
    assert operator.post(f"/v1/decisions/{blocked['decision_id']}/reopen",
                         json={"reason": "appeal"}).json()["review_status"] == "pending"


def test_an_allowed_listing_has_no_statement_of_reasons(product: Product) -> None:
    allowed = product.screened("kettle")
    response = product.as_(DEV).get(f"/v1/decisions/{allowed['decision_id']}/statement-of-reasons")
    assert response.status_code == 404
    assert "allow" in response.json()["detail"]


def test_an_operator_never_sees_another_marketplaces_decisions(product: Product) -> None:
    held = product.screened("adult_doll_weak_cue")
    outsider = product.as_(ROTATING_ONLY)
    path = f"/v1/decisions/{held['decision_id']}"
    for method, url, body in [("GET", path, None), ("POST", f"{path}/claim", None),
                              ("POST", f"{path}/review", {"verdict": "allow"}),
                              ("POST", f"{path}/reopen", {"reason": "x"}),
                              ("GET", f"{path}/statement-of-reasons", None)]:
        response = outsider.request(method, url, json=body)
        assert response.status_code == 404, (method, url, response.text)  # not even its existence
    listing = outsider.get("/v1/decisions", params={"marketplace": "demo"})
    assert listing.status_code == 403
    assert listing.json()["errors"][0]["pointer"] == "/query/marketplace"
    # Without naming a marketplace, the outsider gets their only one: the demo item is not there.
    assert outsider.get("/v1/decisions").json()["items"] == []
    assert product.as_(DEV).get(path).json()["revision"] == 0


@pytest.mark.parametrize("token", [None, "not-a-known-token-at-all"])
def test_without_a_valid_token_every_api_route_answers_401(product: Product, token: str | None) -> None:
    client = product.as_(token)
    statements = "/v1/statements-of-reasons?since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z"
    for url in ["/v1/me", "/v1/decisions", "/v1/decisions/dec_x", statements]:
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"][0]["pointer"] == "/headers/authorization"
    assert client.get("/console").status_code == 200  # the page itself loads without credentials


@pytest.mark.parametrize(("method", "url", "body", "pointer"), [
    ("POST", "review", {"verdict": "maybe"}, "/body/verdict"),
    ("POST", "review", {"verdict": "block", "note": "x" * 2001}, "/body/note"),
    ("POST", "review", {"verdict": "block", "extra": 1}, "/body/extra"),
    ("POST", "reopen", {"reason": ""}, "/body/reason"),
    ("POST", "reopen", {}, "/body/reason"),
])
def test_bad_input_gets_a_4xx_naming_the_field_and_changes_nothing(
    product: Product, method: str, url: str, body: dict[str, Any], pointer: str
) -> None:
    held = product.screened("adult_doll_weak_cue")
    operator = product.as_(DEV)
    response = operator.request(method, f"/v1/decisions/{held['decision_id']}/{url}", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert pointer in [problem["pointer"] for problem in response.json()["errors"]]
    after = operator.get(f"/v1/decisions/{held['decision_id']}").json()
    assert (after["revision"], after["audit"]) == (0, [])


@pytest.mark.parametrize(("params", "status", "pointer"), [
    ({"marketplace": "demo", "limit": "0"}, 422, "/query/limit"),
    ({"marketplace": "demo", "decision": "maybe"}, 422, "/query/decision"),
    ({"marketplace": "demo", "since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, 400, "/query/since"),
    ({"marketplace": "demo", "since": "2026-11-01T00:00:00"}, 400, "/query/since"),
    ({"marketplace": "demo", "cursor": "garbage"}, 400, "/query/cursor"),
    ({}, 400, "/query/marketplace"),  # this operator sees two marketplaces: which one?
])
def test_bad_queries_are_refused_with_the_parameter_named(
    product: Product, params: dict[str, str], status: int, pointer: str
) -> None:
    response = product.as_(DEV).get("/v1/decisions", params=params)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["pointer"] == pointer


def test_two_operators_deciding_at_once_get_one_verdict_and_one_409(product: Product) -> None:
    held = product.screened("adult_doll_weak_cue")
    results: list[int] = []

    def decide(token: str, verdict: str) -> None:
        response = product.as_(token).post(f"/v1/decisions/{held['decision_id']}/review", json={"verdict": verdict})
        results.append(response.status_code)

    threads = [threading.Thread(target=decide, args=(DEV, "block")),
               threading.Thread(target=decide, args=(BOB, "allow"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(results) == [200, 409]
    detail = product.as_(DEV).get(f"/v1/decisions/{held['decision_id']}").json()
    assert [entry["action"] for entry in detail["audit"]] == ["review"]
    assert len(detail["callbacks"]) == 1


def test_when_the_callback_queue_is_down_a_verdict_gets_503_and_changes_nothing(
    product: Product, local_settings: Settings
) -> None:
    held = product.screened("adult_doll_weak_cue")
    broken = product.settings.model_copy(update={"sqs_endpoint": f"http://127.0.0.1:{free_port()}"})
    reviews = build_review_service(broken)
    app = review.create_app(lambda: reviews, lambda: review.authenticator_for(broken), lambda: {"auth": "token"})
    with serving(app) as api:
        response = httpx.post(f"{api}/v1/decisions/{held['decision_id']}/review", json={"verdict": "block"},
                              headers={"authorization": f"Bearer {DEV}"}, timeout=30)
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    after = product.as_(DEV).get(f"/v1/decisions/{held['decision_id']}").json()
    assert (after["review_status"], after["revision"], after["audit"], after["callbacks"]) == ("pending", 0, [], [])


def test_when_the_decision_log_is_down_the_api_answers_503(product: Product) -> None:
    broken = product.settings.model_copy(update={"dynamodb_endpoint": f"http://127.0.0.1:{free_port()}",
                                                 "store_max_attempts": 1})
    reviews = build_review_service(broken)
    app = review.create_app(lambda: reviews, lambda: review.authenticator_for(broken), lambda: {"auth": "token"})
    with serving(app) as api:
        response = httpx.get(f"{api}/v1/decisions", params={"marketplace": "demo"},
                             headers={"authorization": f"Bearer {DEV}"}, timeout=30)
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert "retry-after" in response.headers


def test_statements_export_pages_through_a_range_with_no_total_cap(product: Product) -> None:
    blocked = [product.screened(name)["decision_id"] for name in ["childlike_doll_en", "childlike_doll_fr"] * 3]
    product.screened("kettle")
    operator = product.as_(DEV)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"marketplace": "demo", "since": "2026-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z",
                  "limit": "2"}
        if cursor:
            params["cursor"] = cursor
        response = operator.get("/v1/statements-of-reasons", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        for statement in page["items"]:
            assert statement_problems(statement) == []
            seen.append(statement["puid"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages >= 3
    assert sorted(seen) == sorted(f"{decision_id}-r0" for decision_id in blocked)


@pytest.mark.parametrize("key", [{"pk": "x"}, {"pk": {"N": "1"}}, {"gsi5pk": {"S": "x"}, "evil": {"S": "y"}}])
def test_a_cursor_with_a_forged_position_in_ones_own_partition_is_a_400_not_a_503(
    product: Product, key: dict[str, Any]
) -> None:
    month = datetime.now(UTC).strftime("%Y-%m")
    raw = json.dumps({"p": f"MARKETPLACE#demo#{month}", "k": key}).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response = product.as_(DEV).get("/v1/decisions", params={"marketplace": "demo", "cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["pointer"] == "/query/cursor"
