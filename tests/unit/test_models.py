from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from prescreen.models import Listing


def minimal(**extra: Any) -> bytes:
    return json.dumps({"id": "l-1", "title": "Teapot", **extra}).encode()


def pointers(error: ValidationError) -> set[str]:
    return {"/" + "/".join(str(part) for part in item["loc"]) for item in error.errors()}


def test_unknown_top_level_fields_are_ignored_for_forward_compatibility() -> None:
    listing = Listing.model_validate_json(minimal(new_field={"x": 1}, expected={"decision": "allow"}))
    assert listing.id == "l-1"
    assert "new_field" not in listing.model_dump()


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"id": "x" * 129}, "/id"),
        ({"title": ""}, "/title"),
        ({"title": "t" * 501}, "/title"),
        ({"description": "d" * 20_001}, "/description"),
        ({"locale": "french please"}, "/locale"),
        ({"price": {"amount": -1, "currency": "EUR"}}, "/price/amount"),
        ({"price": {"amount": 1, "currency": "EURO"}}, "/price/currency"),
        ({"price": {"amount": "12", "currency": "EUR"}}, "/price/amount"),
        ({"seller": {"country": "XX"}}, "/seller/country"),
        ({"seller": {"account_age_days": -3}}, "/seller/account_age_days"),
        ({"seller": {"nickname": "bob"}}, "/seller/nickname"),
        ({"attributes": {"nested": {"a": 1}}}, "/attributes/nested"),
        ({"image_urls": ["http://insecure.example/a.jpg"]}, "/image_urls/0"),
        ({"image_urls": ["javascript:alert(1)"]}, "/image_urls/0"),
        ({"gtin": "12ab"}, "/gtin"),
        ({"id": 12}, "/id"),
    ],
)
def test_a_contract_breach_names_the_field(fields: dict[str, Any], pointer: str) -> None:
    body = json.loads(minimal())
    body.update(fields)
    with pytest.raises(ValidationError) as refused:
        Listing.model_validate_json(json.dumps(body))
    assert any(found.startswith(pointer) for found in pointers(refused.value)), pointers(refused.value)


def test_attributes_are_limited_to_100_keys() -> None:
    with pytest.raises(ValidationError) as refused:
        Listing.model_validate_json(minimal(attributes={f"k{i}": i for i in range(101)}))
    assert pointers(refused.value) == {"/attributes"}


def test_image_urls_are_limited_to_50() -> None:
    with pytest.raises(ValidationError):
        Listing.model_validate_json(minimal(image_urls=[f"https://img.test/{i}.jpg" for i in range(51)]))


def test_text_fields_name_every_screened_text_with_a_json_pointer() -> None:
    listing = Listing.model_validate_json(
        minimal(description="d", category="Home > Dolls", attributes={"a/b": "x", "height_cm": 100, "ok": True})
    )
    assert listing.text_fields() == [
        ("/title", "Teapot"), ("/description", "d"), ("/category", "Home > Dolls"), ("/attributes/a~1b", "x"),
    ]
