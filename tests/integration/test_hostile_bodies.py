"""Every hostile body of tests/support/hostile.py, signed, over real HTTP, to the real webhook and decision log.

Each case must get exactly its status: never a 5xx, a problem+json naming the field for a 4xx, nothing
stored for a refusal (no DECISION and no REQUEST item), and for an odd-but-valid body the decision it
deserves with the listing stored verbatim. Afterwards the same server still screens a normal listing.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message

from prescreen.api.screen import create_app
from prescreen.local.dynamodb import create_decisions_table, dynamodb_client
from prescreen.settings import Settings
from prescreen.store import keys
from prescreen.wiring import build_screen_service
from support.hostile import CASES, MAX_BODY_BYTES, HostileCase, sized
from support.servers import serving
from support.signing import listing_body, signed

PROBLEM = "application/problem+json"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@dataclass(frozen=True)
class Webhook:
    url: str
    dynamodb: Any
    table: str
    app: FastAPI

    def send(self, case: HostileCase) -> tuple[str, httpx.Response]:
        webhook_id = f"msg_{uuid.uuid4().hex}"
        headers = signed(case.body, webhook_id=webhook_id)
        if case.content_type is None:
            del headers["content-type"]
        else:
            headers["content-type"] = case.content_type
        return webhook_id, httpx.post(self.url, content=case.body, headers=headers, timeout=10)

    def items(self) -> list[dict[str, Any]]:
        pages = self.dynamodb.get_paginator("scan").paginate(TableName=self.table)
        return [item for page in pages for item in page["Items"]]

    def stored(self, webhook_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The REQUEST items and DECISION records that a request with this webhook-id left behind."""
        items = self.items()
        requests = [item for item in items if item["pk"]["S"] == keys.request_pk("demo", webhook_id)]
        decisions = [json.loads(item["record"]["S"]) for item in items if item["sk"]["S"] == keys.DECISION_SK]
        return requests, [record for record in decisions if record["webhook_id"] == webhook_id]


@pytest.fixture(scope="module")
def webhook(dynamodb_endpoint: str) -> Iterator[Webhook]:
    # One server and one table for the whole corpus (module scope, so not conftest's per-test table): the
    # last test checks that the server the corpus was thrown at still works.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "local")
        env.setenv("AWS_SECRET_ACCESS_KEY", "local")
        dynamodb = dynamodb_client(dynamodb_endpoint)
        table = f"hostile-{uuid.uuid4().hex[:10]}"
        create_decisions_table(dynamodb, TEMPLATE, table)
        service = build_screen_service(Settings(stage="local", table_name=table, dynamodb_endpoint=dynamodb_endpoint))
        app = create_app(lambda: service)
        try:
            with serving(app) as base:
                yield Webhook(f"{base}/v1/marketplaces/demo/screen", dynamodb, table, app)
        finally:
            dynamodb.delete_table(TableName=table)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_hostile_body_gets_exactly_its_answer(webhook: Webhook, case: HostileCase) -> None:
    items_before = len(webhook.items())
    webhook_id, response = webhook.send(case)

    assert response.status_code < 500, response.text
    assert response.status_code == case.status, response.text
    requests, decisions = webhook.stored(webhook_id)
    if case.status == 200:
        answer = response.json()
        if case.decision is not None:
            assert answer["decision"] == case.decision, answer
        assert len(requests) == len(decisions) == 1
        [record] = decisions
        assert record["decision_id"] == answer["decision_id"]
        sent = json.loads(case.body)
        for field in case.verbatim:
            assert record["listing"][field] == sent[field], field
        return
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == case.status
    assert problem["detail"]
    assert case.pointer in [error["pointer"] for error in problem["errors"]], problem
    assert (requests, decisions) == ([], [])
    assert len(webhook.items()) == items_before  # nothing at all, under any key


def test_an_oversize_chunked_body_is_refused_with_413(webhook: Webhook) -> None:
    body = sized(MAX_BODY_BYTES + 1)
    headers = signed(body)

    def chunks() -> Iterator[bytes]:  # a generator: httpx sends it chunked, with no content-length
        yield from (body[start:start + 16 * 1024] for start in range(0, len(body), 16 * 1024))

    response = httpx.post(webhook.url, content=chunks(), headers=headers, timeout=10)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["pointer"] == ""
    assert webhook.stored(headers["webhook-id"]) == ([], [])


def test_the_app_stops_reading_a_chunked_body_at_the_limit(webhook: Webhook) -> None:
    # Over a socket the server discards what it does not read, so ask the app itself (ASGI, in process) how
    # much of a 64 MB body without content-length it took in before answering 413: the limit, not 64 MB.
    piece, total = b"x" * (64 * 1024), 64 * 1024 * 1024
    delivered = 0
    statuses: list[int] = []

    async def receive() -> Message:
        nonlocal delivered
        if delivered >= total:
            return {"type": "http.disconnect"}
        delivered += len(piece)
        return {"type": "http.request", "body": piece, "more_body": delivered < total}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/marketplaces/demo/screen", "raw_path": b"/v1/marketplaces/demo/screen",
             "query_string": b"", "root_path": "", "headers": [(b"content-type", b"application/json")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(asyncio.wait_for(webhook.app(scope, receive, send), timeout=10))
    assert statuses == [413]
    assert delivered <= MAX_BODY_BYTES + len(piece)


def test_after_the_whole_corpus_the_webhook_still_screens_a_normal_listing(webhook: Webhook) -> None:
    # Self-contained, whatever order the tests run in: the corpus once more, then an ordinary listing.
    statuses = {case.name: webhook.send(case)[1].status_code for case in CASES}
    assert statuses == {case.name: case.status for case in CASES}

    body = listing_body("kettle")
    response = httpx.post(webhook.url, content=body, headers=signed(body, webhook_id="msg_after_corpus"),
                          timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["decision"] == "allow"
    requests, decisions = webhook.stored("msg_after_corpus")
    assert len(requests) == len(decisions) == 1
