"""The webhook over real HTTP on loopback, storing in a real DynamoDB-compatible server (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from prescreen.api.screen import create_app
from prescreen.local.dynamodb import free_port
from prescreen.settings import Settings
from prescreen.wiring import build_screen_service
from support.servers import serving
from support.signing import dev_secret, listing_body, signed

PROBLEM = "application/problem+json"


@pytest.fixture
def webhook(local_settings: Settings) -> Iterator[str]:
    service = build_screen_service(local_settings)
    with serving(create_app(lambda: service)) as base:
        yield f"{base}/v1/marketplaces"


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=10)


def stored_decisions(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items = dynamodb.scan(TableName=table)["Items"]
    return [json.loads(item["record"]["S"]) for item in items if item["sk"]["S"] == "DECISION"]


@pytest.mark.parametrize("listing", ["childlike_doll_fr", "childlike_doll_en"])
def test_a_childlike_doll_is_blocked_with_evidence_and_stored(
    webhook: str, dynamodb: Any, local_settings: Settings, listing: str
) -> None:
    body = listing_body(listing)
    response = post(f"{webhook}/demo/screen", body, signed(body))

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["decision"] == "block"
    assert answer["categories"][0] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    original = json.loads(body)
    for evidence in answer["reasons"][0]["evidence"]:
        # Evidence points at the seller's own words, in code points of the original field value.
        field_value = original[evidence["field"].split("/")[1]] if evidence["field"].count("/") == 1 else None
        if isinstance(field_value, str):
            assert field_value[evidence["start"]:evidence["end"]] == evidence["text"]
    [stored] = stored_decisions(dynamodb, local_settings.table_name)
    assert stored["decision_id"] == answer["decision_id"]
    assert stored["decision"] == "block"
    assert stored["listing"]["title"] == original["title"]  # the snapshot of what was screened


def test_a_reborn_doll_for_children_is_allowed_and_stored(
    webhook: str, dynamodb: Any, local_settings: Settings
) -> None:
    body = listing_body("reborn_doll")
    response = post(f"{webhook}/demo/screen", body, signed(body))
    assert response.status_code == 200
    assert (response.json()["decision"], response.json()["reasons"]) == ("allow", [])
    assert [d["listing_id"] for d in stored_decisions(dynamodb, local_settings.table_name)] == ["fr-3003"]


def test_a_retry_returns_the_identical_decision_and_stores_one_record(
    webhook: str, dynamodb: Any, local_settings: Settings
) -> None:
    body = listing_body("childlike_doll_fr")
    headers = signed(body, webhook_id="msg_retry_1")
    first = post(f"{webhook}/demo/screen", body, headers)
    second = post(f"{webhook}/demo/screen", body, signed(body, webhook_id="msg_retry_1"))
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(stored_decisions(dynamodb, local_settings.table_name)) == 1


def test_a_reused_webhook_id_with_another_body_is_a_conflict(
    webhook: str, dynamodb: Any, local_settings: Settings
) -> None:
    first_body, other_body = listing_body("kettle"), listing_body("reborn_doll")
    assert post(f"{webhook}/demo/screen", first_body, signed(first_body, webhook_id="msg_same")).status_code == 200
    response = post(f"{webhook}/demo/screen", other_body, signed(other_body, webhook_id="msg_same"))
    assert response.status_code == 409
    assert response.json()["errors"][0]["pointer"] == "/headers/webhook-id"
    assert len(stored_decisions(dynamodb, local_settings.table_name)) == 1


def test_an_unsigned_request_is_refused_and_nothing_is_stored(
    webhook: str, dynamodb: Any, local_settings: Settings
) -> None:
    response = post(f"{webhook}/demo/screen", listing_body("kettle"), {"content-type": "application/json"})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["pointer"] == "/headers/webhook-id"
    assert stored_decisions(dynamodb, local_settings.table_name) == []


def test_an_unknown_marketplace_looks_exactly_like_a_bad_signature(webhook: str) -> None:
    body = listing_body("kettle")
    unknown = post(f"{webhook}/nobody/screen", body, signed(body))
    wrong_secret = post(f"{webhook}/demo/screen", body,
                        signed(body, secret="whsec_bm90LXRoZS1tYXJrZXRwbGFjZS1zZWNyZXQtYXQtYWxs"))
    assert unknown.status_code == wrong_secret.status_code == 401
    assert unknown.json() == wrong_secret.json()


def test_rotation_accepts_each_active_secret(webhook: str) -> None:
    body = listing_body("kettle")
    new_secret = "whsec_cHJlc2NyZWVuLWRldi1yb3RhdGVkLXNlY3JldC0yMDI2LTEx"
    for secret in (dev_secret("demo-rotating"), new_secret):
        assert post(f"{webhook}/demo-rotating/screen", body, signed(body, secret=secret)).status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "status", "pointer"),
    [
        (b'{"id": "x", "title": ', "application/json", 400, ""),
        (b"", "application/json", 400, ""),
        (b"id=x&title=y", "application/x-www-form-urlencoded", 415, "/headers/content-type"),
        (b'{"id": "x"}', "application/json", 422, "/title"),
        (b'{"id": "x", "title": "t", "price": {"amount": -5, "currency": "EUR"}}', "application/json", 422,
         "/price/amount"),
        (b'["not", "an", "object"]', "application/json", 422, ""),
    ],
)
def test_bad_input_gets_a_problem_naming_the_field_and_nothing_is_stored(
    webhook: str, dynamodb: Any, local_settings: Settings, body: bytes, content_type: str, status: int, pointer: str
) -> None:
    headers = signed(body)
    headers["content-type"] = content_type
    response = post(f"{webhook}/demo/screen", body, headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert problem["detail"]
    assert [e["pointer"] for e in problem["errors"]][:1] == [pointer]
    assert stored_decisions(dynamodb, local_settings.table_name) == []


def test_an_oversize_body_is_refused_with_413(webhook: str, dynamodb: Any, local_settings: Settings) -> None:
    body = json.dumps({"id": "big", "title": "t", "description": "x" * (257 * 1024)}).encode()
    response = post(f"{webhook}/demo/screen", body, signed(body))
    assert response.status_code == 413
    assert stored_decisions(dynamodb, local_settings.table_name) == []


def test_a_store_outage_answers_503_with_retry_after_and_no_decision(
    local_settings: Settings, dynamodb: Any
) -> None:
    # Given a webhook whose decision log is a closed port on loopback
    down = local_settings.model_copy(update={"dynamodb_endpoint": f"http://127.0.0.1:{free_port()}",
                                             "store_connect_timeout_seconds": 0.2, "store_max_attempts": 2})
    service = build_screen_service(down)
    with serving(create_app(lambda: service)) as base:
        body = listing_body("childlike_doll_fr")
        response = post(f"{base}/v1/marketplaces/demo/screen", body, signed(body))
    # Then the marketplace is told to retry, and no decision exists anywhere
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(down.retry_after_seconds)
    assert response.headers["content-type"] == PROBLEM
    assert stored_decisions(dynamodb, local_settings.table_name) == []
