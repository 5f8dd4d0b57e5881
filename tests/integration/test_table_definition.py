"""The table the tests (and `prescreen serve`) create is the one template.yaml deploys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prescreen.local.template import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def test_created_table_matches_the_template(dynamodb: Any, decisions_table: str) -> None:
    declared = load_template(TEMPLATE)["Resources"]["DecisionsTable"]["Properties"]
    described = dynamodb.describe_table(TableName=decisions_table)["Table"]

    assert described["KeySchema"] == declared["KeySchema"]
    assert sorted(described["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        declared["AttributeDefinitions"], key=lambda a: a["AttributeName"])
    created_indexes = {i["IndexName"]: i["KeySchema"] for i in described["GlobalSecondaryIndexes"]}
    declared_indexes = {i["IndexName"]: i["KeySchema"] for i in declared["GlobalSecondaryIndexes"]}
    assert created_indexes == declared_indexes
    ttl = dynamodb.describe_time_to_live(TableName=decisions_table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == declared["TimeToLiveSpecification"]["AttributeName"] == "expires_at"


def test_the_template_keeps_decisions_safe() -> None:
    table = load_template(TEMPLATE)["Resources"]["DecisionsTable"]
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    assert table["DeletionPolicy"] == "Retain"
