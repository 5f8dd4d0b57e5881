"""The wire contract: what a marketplace sends (a listing) and what it gets back (a decision).

One name per idea: a *decision* is what screening answers; a *reason* explains it; *evidence* points at
the seller's own words (code-point offsets into the original field value, end exclusive).
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
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


def _check_text(value: str) -> str:
    # NUL has no place in listing text, and what happens to it downstream differs by system: PostgreSQL refuses
    # it, C strings end at it, sanitisers strip it. A marketplace that strips it would publish "s<NUL>ex" as a
    # word we might not see whole (it is not a control character the normaliser removes inside a word), so
    # refuse it here.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


# An https URL: its authority has no userinfo ('@'), no backslash (URL parsers read it as '/', so the host would
# end earlier than it seems to), no whitespace and no control characters; the path none of the last two.
_HTTPS_URL = re.compile(r"^https://([^\s/?#@\\\x00-\x1f\x7f]+)(/[^\s\x00-\x1f\x7f]*)?$")
_AUTHORITY = re.compile(r"^(?:\[(?P<ipv6>[^\]]*)\]|(?P<host>[^:\[\]]+))(?::(?P<port>[0-9]{0,5}))?$")
# Names that never lead to a public host: loopback (RFC 6761), mDNS (.local), private use (.internal, which
# holds metadata.google.internal) and home networks.
_PRIVATE_NAMES = ("localhost", "local", "internal", "home.arpa")
_IDNA_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
type _Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _whatwg_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address a WHATWG URL parser (browsers, Node, most fetchers) reads from a host ending in a number.

    Such parsers read 127.1, 2130706433, 0x7f.0.0.1 and 0177.0.0.1 as 127.0.0.1, so comparing the text with
    dotted quads is not enough. Raises ValueError when the host ends in a number but is no address (those
    parsers refuse the URL).
    """
    parts = host.removesuffix(".").split(".")
    if not re.fullmatch(r"[0-9]+|0[xX][0-9a-fA-F]*", parts[-1]):
        return None
    numbers = []
    for part in parts:
        try:
            if part[:2] in ("0x", "0X"):
                numbers.append(int(part[2:] or "0", 16))
            elif part.startswith("0") and len(part) > 1:
                numbers.append(int(part, 8))
            else:
                numbers.append(int(part, 10))
        except ValueError:
            raise ValueError("the host ends in a number but is not an IPv4 address") from None
    if len(numbers) > 4 or any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise ValueError("the host ends in a number but is not an IPv4 address")
    return ipaddress.IPv4Address(numbers[-1] + sum(n << (8 * (3 - i)) for i, n in enumerate(numbers[:-1])))


def _non_public(address: _Address) -> bool:
    # The classes of address callbacks refuse too (callbacks/sender.py): loopback, private, link-local (the
    # metadata service's 169.254.169.254), CGNAT (100.100.100.200), unspecified, reserved and multicast. An
    # IPv6 address embedding an IPv4 one (mapped, 6to4, NAT64) is also judged by the address it reaches.
    embedded: ipaddress.IPv4Address | None = None
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return any(candidate.is_multicast or not candidate.is_global
               for candidate in (address, embedded) if candidate is not None)


def _check_https(value: str) -> str:
    # Only https images: a javascript:, file: or plain-http URL in a listing is a contract breach.
    url = _HTTPS_URL.match(value)
    authority = _AUTHORITY.match(url.group(1)) if url else None
    if authority is None or int(authority["port"] or 0) > 65535:
        raise ValueError("must be an https:// URL")
    # Nor images on private, loopback, link-local or metadata hosts. We never fetch image_urls today, but the
    # marketplace's thumbnailer or a future image screener may, and a URL that points one of them at
    # 169.254.169.254 or a VPC-internal service is server-side request forgery. The check lives here, in the
    # contract, so every consumer of a screened listing only ever sees URLs that passed it. It reads the URL
    # only: a public name can still resolve to a private address, so whatever fetches must check the address
    # it connects to, as callbacks do.
    address: _Address | None
    if authority["ipv6"] is not None:
        try:
            address = ipaddress.IPv6Address(authority["ipv6"])
        except ValueError:
            raise ValueError("must be an https:// URL") from None
    else:
        if "%" in authority["host"]:
            # Parsers percent-decode hosts (https://%31%32%37.0.0.1/ is 127.0.0.1); no image host needs it.
            raise ValueError("the host must not be percent-encoded")
        # Parsers map hosts through IDNA (NFKC, lower case, ideographic full stops): judge the mapped host.
        host = unicodedata.normalize("NFKC", authority["host"]).translate(_IDNA_DOTS).lower()
        address = _whatwg_ipv4(host)
        name = host.removesuffix(".")
        if address is None and ("." not in name or name in _PRIVATE_NAMES
                                or name.endswith(tuple(f".{private}" for private in _PRIVATE_NAMES))):
            raise ValueError("must name a public host (not a local, internal or single-label name)")
    if address is not None and _non_public(address):
        raise ValueError("must not point at a private, loopback, link-local or metadata address")
    return value


ShortText = Annotated[str, StringConstraints(max_length=128), AfterValidator(_check_text)]
ListingId = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_check_text)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(_check_text)]
Description = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(_check_text)]
CategoryPath = Annotated[str, StringConstraints(max_length=500), AfterValidator(_check_text)]
AttributeKey = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_check_text)]
CountryCode = Annotated[str, AfterValidator(_check_country)]
# The JSON schemas below say what the validators check, so the listing's OpenAPI schema (and clients generated
# from it, and the fuzzing tests) know the codes, the tag shape and the scheme, not just "a string". The seller's
# country is its own type: CountryCode also types policy files, whose committed JSON schema stays as it is.
SellerCountry = Annotated[CountryCode, WithJsonSchema({"type": "string", "enum": sorted(COUNTRY_CODES)})]
CurrencyCode = Annotated[str, AfterValidator(_check_currency),
                         WithJsonSchema({"type": "string", "enum": sorted(CURRENCY_CODES)})]
LocaleTag = Annotated[str, StringConstraints(max_length=35), AfterValidator(_check_locale),
                      WithJsonSchema({"type": "string", "maxLength": 35, "pattern": _BCP47.pattern})]
HttpsUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_check_https),
                     WithJsonSchema({"type": "string", "maxLength": 2048, "pattern": "^https://",
                                     "description": "an https URL on a public host"})]


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
        return _check_text(value)
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
    # A JSON number only (see _numbers_only): Decimal's own schema would also offer a string.
    amount: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4),
                      WithJsonSchema({"type": "number", "minimum": 0, "exclusiveMaximum": 1e14,
                                      "description": "at most 4 decimal places"})]
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
    country: SellerCountry | None = None
    account_age_days: Annotated[int, Field(ge=0, le=100_000)] | None = None


class Listing(BaseModel):
    """A webhook body. Unknown top-level fields are ignored so marketplaces can send more than we read."""

    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)

    id: ListingId
    title: Title
    description: Description | None = None
    category: CategoryPath | None = None
    locale: LocaleTag | None = None
    price: Price | None = None
    seller: Seller | None = None
    attributes: Annotated[dict[AttributeKey, AttributeValue], Field(max_length=100)] = Field(default_factory=dict)
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
