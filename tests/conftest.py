"""Shared fixtures: a real DynamoDB-compatible server (moto, server mode) on loopback, tables from template.yaml."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prescreen.local.dynamodb import LocalDynamoDB, create_decisions_table, dynamodb_client
from prescreen.settings import Settings

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "template.yaml"


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    server = LocalDynamoDB().start()
    yield server.endpoint
    server.stop()


@pytest.fixture
def dynamodb(dynamodb_endpoint: str) -> Any:
    return dynamodb_client(dynamodb_endpoint)


@pytest.fixture
def decisions_table(dynamodb: Any) -> Iterator[str]:
    """A fresh decision log table per test, created from template.yaml's own definition."""
    name = f"decisions-{uuid.uuid4().hex[:10]}"
    create_decisions_table(dynamodb, TEMPLATE, name)
    yield name
    dynamodb.delete_table(TableName=name)


@pytest.fixture
def local_settings(dynamodb_endpoint: str, decisions_table: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    return Settings(stage="local", table_name=decisions_table, dynamodb_endpoint=dynamodb_endpoint)
