"""Reads template.yaml (CloudFormation tags included) so local tables are built from the real definition."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that turns short-form intrinsics (!Ref, !Sub, ...) into their long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CloudFormationLoader)
    if not isinstance(document, dict) or "Resources" not in document:
        raise ValueError(f"{path} is not a CloudFormation template")
    return document


def find_template() -> Path:
    """template.yaml of this checkout: $PRESCREEN_TEMPLATE, else the nearest one above cwd or the package."""
    explicit = os.environ.get("PRESCREEN_TEMPLATE")
    if explicit:
        return Path(explicit)
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            candidate = folder / "template.yaml"
            if candidate.is_file() and (folder / "layers").is_dir():
                return candidate
    raise FileNotFoundError("template.yaml not found; run from the checkout or set PRESCREEN_TEMPLATE")


def table_definition(template: dict[str, Any], logical_id: str, table_name: str) -> dict[str, Any]:
    """create_table arguments for a DynamoDB table resource of the template."""
    properties = template["Resources"][logical_id]["Properties"]
    definition: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if properties.get("GlobalSecondaryIndexes"):
        definition["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    return definition


def ttl_attribute(template: dict[str, Any], logical_id: str) -> str | None:
    spec = template["Resources"][logical_id]["Properties"].get("TimeToLiveSpecification")
    return str(spec["AttributeName"]) if spec and spec.get("Enabled") else None
