"""The policy file format (FORMAT.md) as pydantic models, plus the checks that span several files.

Every model refuses unknown keys: a misspelt key in a policy would otherwise silently switch a rule off.
Models are frozen so a compiled policy can share them without copying.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from prescreen.classifier.policy import ClassifierPolicy
from prescreen.models import STATEMENT_CATEGORIES, CountryCode, RuleAction, RuleMode

LANGUAGES: tuple[str, ...] = ("fr", "en", "de", "es", "it", "pl", "nl", "pt", "ru", "zh", "any")
Language = Literal["fr", "en", "de", "es", "it", "pl", "nl", "pt", "ru", "zh", "any"]

LENGTH_UNITS: frozenset[str] = frozenset({"cm", "in", "ft", "m"})
MASS_UNITS: frozenset[str] = frozenset({"kg", "lb", "g"})
SizeUnit = Literal["cm", "in", "ft", "m", "kg", "lb", "g"]

_SET_NAME = r"^[a-z][a-z0-9_]*$"
_FIELD_POINTER = r"^/(title|description|category|attributes(/.+)?)$"

SetName = Annotated[str, StringConstraints(pattern=_SET_NAME, max_length=64)]
Term = Annotated[str, StringConstraints(min_length=1, max_length=200)]
RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.-]+$", max_length=100)]
Family = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$", max_length=64)]
ReferenceName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$", max_length=64)]
# No '+': the policy version appends "+<hash>" and must stay unambiguous.
HumanVersion = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")]
FieldPointer = Annotated[str, StringConstraints(pattern=_FIELD_POINTER, max_length=200)]


def _check_category(value: str) -> str:
    if value not in STATEMENT_CATEGORIES:
        raise ValueError(f"'{value}' is not a DSA statement category (STATEMENT_CATEGORY_*)")
    return value


def _check_regex(value: str) -> str:
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"regular expression does not compile: {exc}") from exc
    if compiled.match("") is not None:
        # A pattern that matches nothing-at-all is true for every listing: always an authoring mistake.
        raise ValueError("regular expression matches the empty string, so it would match every listing")
    return value


def _one_or_many(value: object) -> object:
    # `terms: doll` and `terms: [doll, toy]` mean the same; a single name is the common case.
    return [value] if isinstance(value, str) else value


Category = Annotated[
    str,
    AfterValidator(_check_category),
    WithJsonSchema({"type": "string", "enum": sorted(STATEMENT_CATEGORIES)}),
]
Regex = Annotated[str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_check_regex)]
SetRef = Annotated[
    list[SetName],
    BeforeValidator(_one_or_many),
    Field(min_length=1),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _SET_NAME},
                {"type": "array", "items": {"type": "string", "pattern": _SET_NAME}, "minItems": 1},
            ]
        }
    ),
]
TermList = Annotated[list[Term], Field(min_length=1)]
TermSet = Annotated[dict[Language, TermList], Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- conditions -----------------------------------------------------------------------------------------


class TermsIn(_Model):
    sets: SetRef
    fields: Annotated[list[FieldPointer], Field(min_length=1)]


class Near(_Model):
    a: SetRef
    b: SetRef
    within: Annotated[int, Field(gt=0, le=1000)]


class Size(_Model):
    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None
    unit: SizeUnit
    keys: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(default_factory=list)
    # Extension: compare only the largest value of the unit's kind in the listing (a doll's body height
    # rather than its bust or waist measurements, which are small for every doll).
    largest: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.lt is None and self.le is None and self.gt is None and self.ge is None:
            raise ValueError("size needs at least one of lt, le, gt, ge")
        upper = min((v for v in (self.lt, self.le) if v is not None), default=None)
        lower = max((v for v in (self.gt, self.ge) if v is not None), default=None)
        if upper is not None and lower is not None and lower >= upper:
            raise ValueError(f"size bounds can never hold together (lower {lower} >= upper {upper})")
        return self


class PriceBelow(_Model):
    reference: ReferenceName
    ratio: Annotated[float, Field(gt=0, le=10)]


class SellerCondition(_Model):
    max_account_age_days: Annotated[int, Field(ge=0, le=100_000)] | None = None
    countries: Annotated[list[CountryCode], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.max_account_age_days is None and self.countries is None:
            raise ValueError("seller needs max_account_age_days or countries")
        return self


CONDITION_KEYS: tuple[str, ...] = (
    "terms", "terms_in", "regex", "near", "size", "price_below", "seller", "all", "any", "not",
)


class Condition(_Model):
    """A mapping with exactly one key (FORMAT.md, Conditions)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    terms: SetRef | None = None
    terms_in: TermsIn | None = None
    regex: Regex | None = None
    near: Near | None = None
    size: Size | None = None
    price_below: PriceBelow | None = None
    seller: SellerCondition | None = None
    all_: Annotated[list[Condition], Field(min_length=1)] | None = Field(None, alias="all")
    any_: Annotated[list[Condition], Field(min_length=1)] | None = Field(None, alias="any")
    not_: Condition | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _exactly_one_key(self) -> Self:
        given = [key for key in CONDITION_KEYS if self.value_of(key) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            keys = ", ".join(CONDITION_KEYS)
            raise ValueError(f"a condition has exactly one of the keys {keys} (found: {found})")
        return self

    def value_of(self, key: str) -> Any:
        """The value under a YAML key (`all`, `any`, `not` are stored as all_, any_, not_)."""
        return getattr(self, key + "_" if key in ("all", "any", "not") else key)

    @property
    def kind(self) -> str:
        return next(key for key in CONDITION_KEYS if self.value_of(key) is not None)


# --- rules and files ------------------------------------------------------------------------------------


class Rule(_Model):
    id: RuleId
    description: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    category: Category
    family: Family
    action: RuleAction
    mode: RuleMode = "enforce"
    legal_ground: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    explanation: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    fields: Annotated[list[FieldPointer], Field(min_length=1)] | None = None
    when: Condition
    unless: list[Condition] = Field(default_factory=list)


class RuleOverride(_Model):
    action: RuleAction | None = None
    mode: RuleMode | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.action is None and self.mode is None:
            raise ValueError("an override sets action or mode")
        return self


ReferencePrices = dict[ReferenceName, Annotated[float, Field(gt=0)]]
CategoryFamilies = dict[Family, TermList]


class TermFile(_Model):
    """policies/terms/<family>.yaml"""

    sets: dict[SetName, TermSet]


class RulesFile(_Model):
    """policies/rules/<family>.yaml"""

    rules: list[Rule]


class BasePolicy(_Model):
    """policies/base.yaml"""

    version: HumanVersion
    reference_prices: ReferencePrices = Field(default_factory=dict)
    category_families: CategoryFamilies = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    classifier: ClassifierPolicy = Field(default_factory=ClassifierPolicy,
                                         description="how classifier scores act: thresholds and fallbacks")


class Overlay(_Model):
    """policies/overlays/<name>.yaml"""

    extends: Literal["base"]
    version: HumanVersion
    sets: dict[SetName, TermSet] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    disable: list[RuleId] = Field(default_factory=list)
    override: dict[RuleId, RuleOverride] = Field(default_factory=dict)
    # Extensions: a marketplace may price things differently or map more seller categories.
    reference_prices: ReferencePrices = Field(default_factory=dict)
    category_families: CategoryFamilies = Field(default_factory=dict)
    classifier: ClassifierPolicy | None = Field(None, description="replaces the base's classifier block")


# --- checks across files --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One problem, located: the file relative to the policy directory and the path inside it."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.path else f"{self.file}: {self.message}"


@dataclass(frozen=True, slots=True)
class PlacedRule:
    """A rule and where it was written (for error messages and the authors' reports)."""

    rule: Rule
    file: str
    path: str  # e.g. "rules[3]"


def as_list(ref: str | Sequence[str]) -> list[str]:
    return [ref] if isinstance(ref, str) else list(ref)


def iter_conditions(condition: Condition, path: str) -> Iterator[tuple[str, Condition]]:
    """Every node of a condition tree with its path, depth first (the root first)."""
    yield path, condition
    kind = condition.kind
    if kind in ("all", "any"):
        for index, child in enumerate(condition.value_of(kind)):
            yield from iter_conditions(child, f"{path}.{kind}[{index}]")
    elif kind == "not":
        yield from iter_conditions(condition.value_of(kind), f"{path}.not")


def rule_conditions(rule: Rule, path: str) -> Iterator[tuple[str, Condition]]:
    yield from iter_conditions(rule.when, f"{path}.when")
    for index, exception in enumerate(rule.unless):
        yield from iter_conditions(exception, f"{path}.unless[{index}]")


def referenced_sets(condition: Condition) -> list[tuple[str, str]]:
    """(key path relative to the node, set name) for each set a single node names."""
    if condition.terms is not None:
        return [(f"terms[{i}]", name) for i, name in enumerate(condition.terms)]
    if condition.terms_in is not None:
        return [(f"terms_in.sets[{i}]", name) for i, name in enumerate(condition.terms_in.sets)]
    if condition.near is not None:
        return [(f"near.a[{i}]", name) for i, name in enumerate(condition.near.a)] + [
            (f"near.b[{i}]", name) for i, name in enumerate(condition.near.b)
        ]
    return []


def check_policy(
    rules: Sequence[PlacedRule],
    sets: Mapping[str, object],
    reference_prices: Mapping[str, float],
) -> list[PolicyIssue]:
    """Checks no single file can make: unique rule ids, and that named sets and reference prices exist."""
    issues: list[PolicyIssue] = []
    first_seen: dict[str, PlacedRule] = {}
    for placed in rules:
        rule = placed.rule
        earlier = first_seen.setdefault(rule.id, placed)
        if earlier is not placed:
            where = f"{earlier.file} {earlier.path}"
            message = f"duplicate rule id '{rule.id}' (first in {where})"
            issues.append(PolicyIssue(placed.file, f"{placed.path}.id", message))
        for path, node in rule_conditions(rule, placed.path):
            for key_path, name in referenced_sets(node):
                if name not in sets:
                    message = f"unknown term set '{name}'"
                    issues.append(PolicyIssue(placed.file, f"{path}.{key_path}", message))
            if node.price_below is not None and node.price_below.reference not in reference_prices:
                issues.append(PolicyIssue(placed.file, f"{path}.price_below.reference",
                                          f"unknown reference price '{node.price_below.reference}'"))
    return issues


# --- JSON Schema for policy authors ---------------------------------------------------------------------


class _AuthorSchema(GenerateJsonSchema):
    """Optional keys are written as `X | None` in Python; in a policy file null is never meaningful."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])


def export_json_schema() -> dict[str, Any]:
    """One JSON Schema accepting any policy file (term file, rules file, base policy or overlay)."""
    models: list[tuple[type[BaseModel], Literal["validation"]]] = [
        (TermFile, "validation"),
        (RulesFile, "validation"),
        (BasePolicy, "validation"),
        (Overlay, "validation"),
    ]
    refs, top = models_json_schema(models, ref_template="#/$defs/{model}", schema_generator=_AuthorSchema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "prescreen policy file",
        "description": "A term file, rules file, base policy or overlay (see prescreen/policy/FORMAT.md).",
        "anyOf": [refs[(model, mode)] for model, mode in models],
        "$defs": top["$defs"],
    }


JSON_SCHEMA_PATH = Path(__file__).resolve().parent / "policy.schema.json"


def json_schema_text() -> str:
    """The committed policy.schema.json, byte for byte (regenerate: python -m prescreen.policy.schema)."""
    return json.dumps(export_json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    JSON_SCHEMA_PATH.write_text(json_schema_text(), encoding="utf-8")
