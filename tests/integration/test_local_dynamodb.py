"""The embedded DynamoDB stand-in (`prescreen serve`, every test here): its TransactWriteItems snapshots only
the items a transaction touches (prescreen/local/moto_transactions.py), and must stay all-or-nothing. Its
cost no longer growing with the table is what `make load` shows (`--stock-moto` for the difference)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "ITEM"}}


def put(table: str, pk: str, value: str, condition: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"TableName": table, "Item": {**key(pk), "value": {"S": value}}}
    if condition:
        operation["ConditionExpression"] = condition
    return {"Put": operation}


def value_of(dynamodb: Any, table: str, pk: str) -> str | None:
    item = dynamodb.get_item(TableName=table, Key=key(pk)).get("Item")
    return None if item is None else str(item["value"]["S"])


def test_a_failed_transaction_leaves_every_item_as_it_was(dynamodb: Any, decisions_table: str) -> None:
    # Given an existing item
    dynamodb.put_item(TableName=decisions_table, Item={**key("kept"), "value": {"S": "before"}})

    # When a transaction writes a new item, overwrites the existing one, and then fails its last condition
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=[
            put(decisions_table, "new", "written"),
            put(decisions_table, "kept", "overwritten"),
            put(decisions_table, "kept-too", "x", condition="attribute_exists(pk)"),
        ])

    # Then DynamoDB's answer, and nothing of the transaction remains
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert value_of(dynamodb, decisions_table, "new") is None
    assert value_of(dynamodb, decisions_table, "kept") == "before"


def test_a_successful_transaction_writes_every_item(dynamodb: Any, decisions_table: str) -> None:
    # When a transaction's conditions hold
    dynamodb.transact_write_items(TransactItems=[
        put(decisions_table, "a", "1", condition="attribute_not_exists(pk)"),
        put(decisions_table, "b", "2", condition="attribute_not_exists(pk)"),
    ])

    # Then both items are stored
    assert (value_of(dynamodb, decisions_table, "a"), value_of(dynamodb, decisions_table, "b")) == ("1", "2")


def test_concurrent_transactions_on_one_key_let_exactly_one_through(
    dynamodb_endpoint: str, decisions_table: str
) -> None:
    # Given eight clients sending, at once, the same conditional write of one key (a retried webhook request)
    from concurrent.futures import ThreadPoolExecutor

    from prescreen.local.dynamodb import dynamodb_client

    def attempt(index: int) -> str:
        client = dynamodb_client(dynamodb_endpoint)
        try:
            client.transact_write_items(TransactItems=[
                put(decisions_table, "request", str(index), condition="attribute_not_exists(pk)"),
                put(decisions_table, f"decision-{index}", str(index), condition="attribute_not_exists(pk)"),
            ])
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "stored"

    # When they all run
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(8)))

    # Then one transaction stored both its items; every other one was refused whole
    assert sorted(outcomes) == ["TransactionCanceledException"] * 7 + ["stored"]
    winner = outcomes.index("stored")
    reader = dynamodb_client(dynamodb_endpoint)
    assert value_of(reader, decisions_table, "request") == str(winner)
    stored = [index for index in range(8) if value_of(reader, decisions_table, f"decision-{index}") is not None]
    assert stored == [winner]
