"""The wire contract: what a marketplace sends (a listing) and what it gets back (a decision).

One name per idea: a *decision* is what screening answers; a *reason* explains it; *evidence* points at
the seller's own words (code-point offsets into the original field value, end exclusive).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from prescreen.iso_codes import COUNTRY_CODES, CURRENCY_CODES

DecisionOutcome = Literal["allow", "review", "block"]
RuleAction = Literal["block", "review"]
ReasonSource = Literal["rule", "classifier", "fallback"]
RuleMode = Literal["enforce", "shadow"]

# DSA Transparency Database statement categories (API schema v2).
STATEMENT_CATEGORIES: frozenset[str] = frozenset(
    "STATEMENT_CATEGORY_" + name
    for name in (
        "ANIMAL_WELFARE",
        "CONSUMER_INFORMATION",
        "CYBER_VIOLENCE",
        "CYBER_VIOLENCE_AGAINST_WOMEN",
        "DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        "ILLEGAL_OR_HARMFUL_SPEECH",
        "INTELLECTUAL_PROPERTY_INFRINGEMENTS",
        "NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
        "NOT_SPECIFIED_NOTICE",
        "OTHER_VIOLATION_TC",
        "PROTECTION_OF_MINORS",
        "RISK_FOR_PUBLIC_SECURITY",
        "SCAMS_AND_FRAUD",
        "SELF_HARM",
        "UNSAFE_AND_PROHIBITED_PRODUCTS",
        "VIOLENCE",
    )
)

# BCP 47 in the shape sellers send: language, optional script, region and variants.
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?(-[A-Za-z0-9]{5,8})*$")


def _check_country(value: str) -> str:
    if value not in COUNTRY_CODES:
        raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code")
    return value


def _check_currency(value: str) -> str:
    if value not in CURRENCY_CODES:
        raise ValueError(f"'{value}' is not an ISO 4217 currency code")
    return value


def _check_locale(value: str) -> str:
    if not _BCP47.match(value):
        raise ValueError(f"'{value}' is not a BCP 47 language tag")
    return value


def _check_https(value: str) -> str:
    # Only public https images: a javascript:, file: or plain-http URL in a listing is a contract breach.
    if not re.match(r"^https://[^\s/?#@]+(/[^\s]*)?$", value):
        raise ValueError("must be an https:// URL")
    return value


ShortText = Annotated[str, StringConstraints(max_length=128)]
CountryCode = Annotated[str, AfterValidator(_check_country)]
CurrencyCode = Annotated[str, AfterValidator(_check_currency)]
HttpsUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_check_https)]


def _check_attribute_value(value: object) -> str | bool | int | float:
    # One plain check instead of a union, so an error names the attribute, not each union member.
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise ValueError("must be a finite number")
    if isinstance(value, str):
        if len(value) > 1000:
            raise ValueError("a text attribute holds at most 1000 characters")
        return value
    raise ValueError("an attribute value must be a string, a number or a boolean (attributes are flat)")


AttributeValue = Annotated[
    str | bool | int | float,
    PlainValidator(_check_attribute_value),
    WithJsonSchema({"anyOf": [{"type": "string", "maxLength": 1000}, {"type": "number"}, {"type": "boolean"}]}),
]


class _Strict(BaseModel):
    """Nested objects refuse unknown keys: a typo there would otherwise be silently unscreened."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Price(_Strict):
    amount: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]
    currency: CurrencyCode

    @field_validator("amount", mode="before")
    @classmethod
    def _numbers_only(cls, value: object) -> object:
        # strict mode refuses JSON numbers for Decimal; accept numbers, refuse strings and bools.
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ValueError("must be a number")
        return Decimal(str(value))


class Seller(_Strict):
    id: ShortText | None = None
    country: CountryCode | None = None
    account_age_days: Annotated[int, Field(ge=0, le=100_000)] | None = None


class Listing(BaseModel):
    """A webhook body. Unknown top-level fields are ignored so marketplaces can send more than we read."""

    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)

    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    category: Annotated[str, StringConstraints(max_length=500)] | None = None
    locale: Annotated[str, StringConstraints(max_length=35), AfterValidator(_check_locale)] | None = None
    price: Price | None = None
    seller: Seller | None = None
    attributes: Annotated[dict[Annotated[str, StringConstraints(min_length=1, max_length=100)], AttributeValue],
                          Field(max_length=100)] = Field(default_factory=dict)
    image_urls: Annotated[list[HttpsUrl], Field(max_length=50)] = Field(default_factory=list)
    gtin: Annotated[str, StringConstraints(pattern=r"^[0-9]{8,14}$")] | None = None

    def text_fields(self) -> list[tuple[str, str]]:
        """Every screened text as (JSON pointer, value): what rules read and evidence points into."""
        fields = [("/title", self.title)]
        if self.description:
            fields.append(("/description", self.description))
        if self.category:
            fields.append(("/category", self.category))
        for key, value in self.attributes.items():
            if isinstance(value, str) and value:
                fields.append((attribute_pointer(key), value))
        return fields


def json_pointer(parts: Iterable[object]) -> str:
    """RFC 6901 pointer of a path ('' for the whole document); '~' and '/' inside a key are escaped."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def attribute_pointer(key: str) -> str:
    return json_pointer(("attributes", key))


class Evidence(BaseModel):
    field: str = Field(description="JSON pointer into the listing, e.g. /title or /attributes/height_cm")
    text: str = Field(description="the seller's original words at [start, end)")
    start: int = Field(ge=0, description="code-point offset into the original field value")
    end: int = Field(ge=0, description="code-point offset, exclusive")


class Reason(BaseModel):
    source: ReasonSource
    id: str
    category: str
    action: Literal["block", "review", "allow"]
    evidence: list[Evidence] = Field(default_factory=list)
    score: float | None = None


class RuleHit(BaseModel):
    """A rule that matched, as the policy engine reports it (shadow hits included)."""

    rule_id: str
    category: str
    family: str
    action: RuleAction
    mode: RuleMode = "enforce"
    evidence: list[Evidence] = Field(default_factory=list)

    def to_reason(self) -> Reason:
        return Reason(source="rule", id=self.rule_id, category=self.category, action=self.action,
                      evidence=self.evidence)


class DecisionResponse(BaseModel):
    """What the webhook answers (HTTP 200)."""

    decision_id: str
    listing_id: str
    marketplace: str
    decision: DecisionOutcome
    categories: list[str]
    reasons: list[Reason]
    policy_version: str
    decided_at: datetime
    latency_ms: float
