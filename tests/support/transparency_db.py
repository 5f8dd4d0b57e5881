"""An independent check of a statement-of-reasons body against the EU Transparency Database API's rules.

Written from /work/shared/REFERENCE.md ("EU DSA Transparency Database: statement of reasons", API schema v2)
and deliberately sharing no code with prescreen.review.statements: the tests compare two readings of the
rules, so a mistake in one shows up against the other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from prescreen.iso_codes import COUNTRY_CODES

REQUIRED = (
    "decision_ground", "content_type", "category", "content_date", "application_date", "decision_facts",
    "source_type", "automated_detection", "automated_decision", "puid",
)
DECISION_FIELDS = ("decision_visibility", "decision_monetary", "decision_provision", "decision_account")
OPTIONAL = (
    *DECISION_FIELDS,
    "illegal_content_legal_ground", "illegal_content_explanation",
    "incompatible_content_ground", "incompatible_content_explanation",
    "territorial_scope", "category_addition", "category_specification", "content_id", "content_language",
    "decision_ground_reference_url",
)
KNOWN = frozenset(REQUIRED) | frozenset(OPTIONAL)

DECISION_GROUNDS = {"DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"}
SOURCE_TYPES = {"SOURCE_VOLUNTARY", "SOURCE_ARTICLE_16", "SOURCE_TRUSTED_FLAGGER", "SOURCE_TYPE_OTHER_NOTIFICATION"}
AUTOMATED_DETECTION = {"Yes", "No"}
AUTOMATED_DECISIONS = {"AUTOMATED_DECISION_FULLY", "AUTOMATED_DECISION_PARTIALLY",
                       "AUTOMATED_DECISION_NOT_AUTOMATED"}
VISIBILITY = {"DECISION_VISIBILITY_" + name for name in (
    "CONTENT_REMOVED", "CONTENT_DISABLED", "CONTENT_DEMOTED", "CONTENT_AGE_RESTRICTED",
    "CONTENT_INTERACTION_RESTRICTED", "CONTENT_LABELLED", "OTHER")}
CATEGORIES = {"STATEMENT_CATEGORY_" + name for name in (
    "ANIMAL_WELFARE", "CONSUMER_INFORMATION", "CYBER_VIOLENCE", "CYBER_VIOLENCE_AGAINST_WOMEN",
    "DATA_PROTECTION_AND_PRIVACY_VIOLATIONS", "ILLEGAL_OR_HARMFUL_SPEECH", "INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS", "NOT_SPECIFIED_NOTICE", "OTHER_VIOLATION_TC",
    "PROTECTION_OF_MINORS", "RISK_FOR_PUBLIC_SECURITY", "SCAMS_AND_FRAUD", "SELF_HARM",
    "UNSAFE_AND_PROHIBITED_PRODUCTS", "VIOLENCE")}
# The DSA's territory: the EU 27 plus Iceland, Liechtenstein and Norway.
EEA = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU", "LV",
       "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "IS", "LI", "NO"}

TEXT_LIMITS = {
    "decision_facts": 5000,
    "illegal_content_legal_ground": 500,
    "illegal_content_explanation": 2000,
    "incompatible_content_ground": 500,
    "incompatible_content_explanation": 2000,
}
GROUND_PAIRS = {
    "DECISION_GROUND_ILLEGAL_CONTENT": ("illegal_content_legal_ground", "illegal_content_explanation"),
    "DECISION_GROUND_INCOMPATIBLE_CONTENT": ("incompatible_content_ground", "incompatible_content_explanation"),
}
PUID = re.compile(r"[A-Za-z0-9_-]{1,500}")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
KEYWORD = re.compile(r"KEYWORD_[A-Z_]+")


def statement_problems(body: dict[str, Any]) -> list[str]:
    """Everything the API would refuse in `body` (one message per problem); [] when it is acceptable."""
    problems = [f"unknown field '{name}'" for name in sorted(body) if name not in KNOWN]
    problems += [f"'{name}' is required" for name in REQUIRED if _absent(body.get(name))]
    if all(_absent(body.get(name)) for name in DECISION_FIELDS):
        problems.append(f"at least one of {', '.join(DECISION_FIELDS)} is required")

    problems += _one_of(body, "decision_ground", DECISION_GROUNDS)
    problems += _one_of(body, "category", CATEGORIES)
    problems += _one_of(body, "source_type", SOURCE_TYPES)
    problems += _one_of(body, "automated_detection", AUTOMATED_DETECTION)
    problems += _one_of(body, "automated_decision", AUTOMATED_DECISIONS)
    problems += _list_of(body, "decision_visibility", lambda value: value in VISIBILITY)
    problems += _list_of(body, "category_addition", lambda value: value in CATEGORIES)
    problems += _list_of(body, "category_specification", lambda value: KEYWORD.fullmatch(value) is not None)
    problems += _list_of(body, "content_type", lambda value: value.startswith("CONTENT_TYPE_"))
    if isinstance(body.get("content_type"), list) and "CONTENT_TYPE_PRODUCT" not in body["content_type"]:
        problems.append("content_type: a listing is CONTENT_TYPE_PRODUCT")
    problems += _list_of(body, "territorial_scope", lambda value: value in COUNTRY_CODES and value in EEA)
    for name in ("decision_monetary", "decision_provision", "decision_account"):
        if name in body and not (isinstance(body[name], str) and body[name]):
            problems.append(f"{name}: must be a non-empty string")

    for name, limit in TEXT_LIMITS.items():
        if name in body:
            value = body[name]
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{name}: must be a non-empty string")
            elif len(value) > limit:
                problems.append(f"{name}: {len(value)} characters, at most {limit}")
    ground = body.get("decision_ground")
    if ground in GROUND_PAIRS:
        problems += [f"'{name}' is required with {ground}" for name in GROUND_PAIRS[ground] if _absent(body.get(name))]

    puid = body.get("puid")
    if puid is not None and not (isinstance(puid, str) and PUID.fullmatch(puid)):
        problems.append("puid: at most 500 characters of A-Z, a-z, 0-9, '-' and '_'")
    for name in ("content_date", "application_date"):
        if name in body and not _is_date(body[name]):
            problems.append(f"{name}: must be a date written YYYY-MM-DD")
    language = body.get("content_language")
    if language is not None and not (isinstance(language, str) and re.fullmatch(r"[A-Z]{2}", language)):
        problems.append("content_language: two upper-case letters (ISO 639-1)")
    content_id = body.get("content_id")
    if content_id is not None:
        if not isinstance(content_id, dict) or not content_id:
            problems.append("content_id: must be an object such as {\"EAN-13\": \"...\"}")
        elif "EAN-13" in content_id and not (isinstance(content_id["EAN-13"], str)
                                            and re.fullmatch(r"[0-9]{13}", content_id["EAN-13"])):
            problems.append("content_id: an EAN-13 is 13 digits")
    url = body.get("decision_ground_reference_url")
    if url is not None and not (isinstance(url, str) and re.fullmatch(r"https?://\S+", url)):
        problems.append("decision_ground_reference_url: must be an http(s) URL")
    return problems


def _absent(value: object) -> bool:
    return value is None or value == "" or value == []


def _one_of(body: dict[str, Any], name: str, allowed: set[str]) -> list[str]:
    if name in body and body[name] not in allowed:
        return [f"{name}: '{body[name]}' is not an allowed value"]
    return []


def _list_of(body: dict[str, Any], name: str, valid: Callable[[str], bool]) -> list[str]:
    if name not in body:
        return []
    values = body[name]
    if not isinstance(values, list) or not values:
        return [f"{name}: must be a non-empty list"]
    return [f"{name}: '{value}' is not an allowed value" for value in values
            if not (isinstance(value, str) and valid(value))]


def _is_date(value: object) -> bool:
    if not isinstance(value, str) or not DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
