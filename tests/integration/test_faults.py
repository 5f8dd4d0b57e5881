"""Faults against real servers on loopback: DynamoDB throttling and outage (a proxy in front of moto's server),
and a crash between storing a decision and answering (a proxy that drops the webhook's answer)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from prescreen.api.screen import create_app
from prescreen.settings import Settings
from prescreen.wiring import build_screen_service
from support.faulty_proxy import Faults, faulty_proxy
from support.servers import serving
from support.signing import listing_body, signed


def items(dynamodb: Any, table: str) -> list[str]:
    return sorted(item["sk"]["S"] for item in dynamodb.scan(TableName=table)["Items"])


@pytest.fixture
def webhook_behind_a_faulty_store(local_settings: Settings) -> Iterator[tuple[str, Faults]]:
    with faulty_proxy(str(local_settings.dynamodb_endpoint)) as (store_url, faults):
        settings = local_settings.model_copy(update={"dynamodb_endpoint": store_url, "store_max_attempts": 2})
        service = build_screen_service(settings)
        with serving(create_app(lambda: service)) as base:
            yield f"{base}/v1/marketplaces/demo/screen", faults


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=30)


def test_when_dynamodb_throttles_the_write_the_webhook_answers_503_and_stores_nothing(
    webhook_behind_a_faulty_store: tuple[str, Faults], dynamodb: Any, local_settings: Settings
) -> None:
    url, faults = webhook_behind_a_faulty_store
    faults.throttle_operations = {"TransactWriteItems"}
    body = listing_body("childlike_doll_fr")

    response = post(url, body, signed(body))

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    # botocore retried the throttled write (standard mode) before giving up: bounded, then 503.
    assert faults.seen.count("TransactWriteItems") == 2
    assert items(dynamodb, local_settings.table_name) == []  # no partial record: not the request, not the decision


def test_when_dynamodb_throttles_reads_a_retry_answers_503_and_a_new_request_is_still_screened(
    webhook_behind_a_faulty_store: tuple[str, Faults], dynamodb: Any, local_settings: Settings
) -> None:
    # Given a stored decision, then reads throttled
    url, faults = webhook_behind_a_faulty_store
    body = listing_body("kettle")
    headers = signed(body)
    assert post(url, body, headers).status_code == 200
    faults.throttle_operations = {"GetItem"}

    # When the marketplace retries that message, and sends a new one
    retried = post(url, body, headers)
    other = listing_body("reborn_doll")
    fresh = post(url, other, signed(other))

    # Then the retry, which must read the stored decision, is a 503 and changes nothing; the new request
    # needs no read (its write is the duplicate check) and is screened and stored
    assert retried.status_code == 503
    assert int(retried.headers["retry-after"]) > 0
    assert fresh.status_code == 200, fresh.text
    assert "GetItem" in faults.seen
    assert items(dynamodb, local_settings.table_name) == ["DECISION", "DECISION", "REQUEST", "REQUEST"]


def test_when_dynamodb_is_down_then_back_the_webhook_answers_503_then_200(
    webhook_behind_a_faulty_store: tuple[str, Faults], dynamodb: Any, local_settings: Settings
) -> None:
    url, faults = webhook_behind_a_faulty_store
    body = listing_body("kettle")
    headers = signed(body)
    faults.down = True
    assert post(url, body, headers).status_code == 503
    assert items(dynamodb, local_settings.table_name) == []
    faults.down = False
    # The marketplace retries the same message (same webhook-id): now it is screened and stored once.
    retried = post(url, body, headers)
    assert retried.status_code == 200, retried.text
    assert items(dynamodb, local_settings.table_name) == ["DECISION", "REQUEST"]


def test_a_crash_between_storing_and_answering_is_safe_to_retry(
    local_settings: Settings, dynamodb: Any
) -> None:
    service = build_screen_service(local_settings)
    with serving(create_app(lambda: service)) as base, faulty_proxy(base) as (proxy, faults):
        url = f"{proxy}/v1/marketplaces/demo/screen"
        body = listing_body("childlike_doll_en")
        headers = signed(body)
        faults.drop_answers = 1
        with pytest.raises(httpx.TransportError):
            post(url, body, headers)  # the decision was stored; the answer was lost on the way
        assert items(dynamodb, local_settings.table_name) == ["DECISION", "REQUEST"]

        retried = post(url, body, headers)

    assert retried.status_code == 200, retried.text
    stored = [json.loads(item["record"]["S"]) for item in dynamodb.scan(TableName=local_settings.table_name)["Items"]
              if item["sk"]["S"] == "DECISION"]
    assert [record["decision_id"] for record in stored] == [retried.json()["decision_id"]]
    assert retried.json()["decision"] == "block"
