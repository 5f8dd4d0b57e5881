"""The policy file models: what a valid file looks like and how each mistake is refused, with its path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from prescreen.policy.schema import (
    JSON_SCHEMA_PATH,
    Condition,
    PlacedRule,
    Rule,
    RulesFile,
    TermFile,
    check_policy,
    export_json_schema,
    json_schema_text,
)

POLICIES = Path(JSON_SCHEMA_PATH).parent / "policies"


def rule(when: dict[str, Any], **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "toys.example",
        "description": "an example",
        "category": "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
        "family": "toys",
        "action": "block",
        "legal_ground": "a law",
        "explanation": "why",
        "when": when,
    }
    document.update(changes)
    return document


def errors_of(document: dict[str, Any]) -> list[tuple[tuple[int | str, ...], str]]:
    with pytest.raises(ValidationError) as raised:
        RulesFile.model_validate(document)
    return [(tuple(e["loc"]), e["msg"]) for e in raised.value.errors()]


def test_every_condition_kind_is_accepted() -> None:
    # Given one rule using each condition once
    when = {"all": [
        {"terms": "doll"},
        {"terms_in": {"sets": ["doll"], "fields": ["/category"]}},
        {"regex": r"\bdoll\d+"},
        {"near": {"a": "doll", "b": ["adult", "young"], "within": 3}},
        {"size": {"lt": 140, "unit": "cm", "keys": ["height"], "largest": True}},
        {"price_below": {"reference": "rolex", "ratio": 0.2}},
        {"seller": {"max_account_age_days": 30, "countries": ["CN"]}},
        {"any": [{"terms": "doll"}, {"not": {"terms": "toy"}}]},
    ]}
    # When validated
    parsed = RulesFile.model_validate({"rules": [rule(when)]})
    # Then each condition kept its meaning, a single set name became a list
    children = parsed.rules[0].when.all_
    assert children is not None
    assert [child.kind for child in children] == [
        "terms", "terms_in", "regex", "near", "size", "price_below", "seller", "any"]
    assert children[0].terms == ["doll"]
    assert children[3].near is not None
    assert children[3].near.b == ["adult", "young"]
    assert parsed.rules[0].mode == "enforce"
    assert parsed.rules[0].unless == []


@pytest.mark.parametrize(("when", "location", "message"), [
    ({"terms": "doll", "regex": "x"}, ("rules", 0, "when"), "exactly one of the keys"),
    ({}, ("rules", 0, "when"), "(found: none)"),
    ({"trems": "doll"}, ("rules", 0, "when", "trems"), "Extra inputs are not permitted"),
    ({"terms": "Doll"}, ("rules", 0, "when", "terms", 0), "should match pattern"),
    ({"regex": "(unclosed"}, ("rules", 0, "when", "regex"), "does not compile"),
    ({"regex": "x*"}, ("rules", 0, "when", "regex"), "matches the empty string"),
    ({"all": []}, ("rules", 0, "when", "all"), "at least 1 item"),
    ({"all": [{"terms": "a"}, {"near": {"a": "a", "b": "b", "within": 0}}]},
     ("rules", 0, "when", "all", 1, "near", "within"), "greater than 0"),
    ({"size": {"unit": "cm"}}, ("rules", 0, "when", "size"), "at least one of lt, le, gt, ge"),
    ({"size": {"gt": 150, "lt": 140, "unit": "cm"}}, ("rules", 0, "when", "size"), "can never hold"),
    ({"size": {"lt": 140, "unit": "furlong"}}, ("rules", 0, "when", "size", "unit"), "Input should be"),
    ({"seller": {}}, ("rules", 0, "when", "seller"), "max_account_age_days or countries"),
    ({"seller": {"countries": ["XX"]}}, ("rules", 0, "when", "seller", "countries", 0), "ISO 3166-1"),
    ({"price_below": {"reference": "rolex", "ratio": 0}},
     ("rules", 0, "when", "price_below", "ratio"), "greater than 0"),
])
def test_a_bad_condition_is_refused_at_its_path(when: dict[str, Any], location: tuple[int | str, ...],
                                                message: str) -> None:
    errors = errors_of({"rules": [rule(when)]})
    assert any(loc == location and message in msg for loc, msg in errors), errors


@pytest.mark.parametrize(("changes", "location", "message"), [
    ({"category": "STATEMENT_CATEGORY_WEAPONS"}, ("rules", 0, "category"), "not a DSA statement category"),
    ({"action": "allow"}, ("rules", 0, "action"), "Input should be 'block' or 'review'"),
    ({"mode": "dry-run"}, ("rules", 0, "mode"), "Input should be 'enforce' or 'shadow'"),
    ({"id": "Bad Id"}, ("rules", 0, "id"), "should match pattern"),
    ({"legal_ground": "x" * 501}, ("rules", 0, "legal_ground"), "at most 500 characters"),
    ({"explanation": "x" * 2001}, ("rules", 0, "explanation"), "at most 2000 characters"),
    ({"fields": ["/price"]}, ("rules", 0, "fields", 0), "should match pattern"),
    ({"colour": "red"}, ("rules", 0, "colour"), "Extra inputs are not permitted"),
])
def test_a_bad_rule_field_is_refused_at_its_path(changes: dict[str, Any], location: tuple[int | str, ...],
                                                 message: str) -> None:
    errors = errors_of({"rules": [rule({"terms": "doll"}, **changes)]})
    assert any(loc == location and message in msg for loc, msg in errors), errors


def test_a_rule_may_restrict_fields_and_run_in_shadow_mode() -> None:
    parsed = Rule.model_validate(rule({"terms": "doll"}, mode="shadow",
                                      fields=["/title", "/attributes", "/attributes/height_cm"]))
    assert parsed.mode == "shadow"
    assert parsed.fields == ["/title", "/attributes", "/attributes/height_cm"]


def test_term_files_know_the_ten_languages_and_any() -> None:
    # Given a set written in two languages plus a language-neutral brand name
    parsed = TermFile.model_validate({"sets": {"doll": {"fr": ["poupée*"], "zh": ["娃娃"], "any": ["Barbie"]}}})
    assert parsed.sets["doll"]["fr"] == ["poupée*"]
    # When a language outside the list is used, Then it is refused under the set
    with pytest.raises(ValidationError, match=r"sets\.doll\.xx"):
        TermFile.model_validate({"sets": {"doll": {"xx": ["doll"]}}})
    # And an empty term list is refused too
    with pytest.raises(ValidationError, match="at least 1 item"):
        TermFile.model_validate({"sets": {"doll": {"en": []}}})


def placed(when: dict[str, Any], rule_id: str = "toys.example", file: str = "rules/toys.yaml",
           index: int = 0) -> PlacedRule:
    return PlacedRule(Rule.model_validate(rule(when, id=rule_id)), file, f"rules[{index}]")


def test_cross_file_check_finds_unknown_sets_and_reference_prices() -> None:
    # Given a rule naming one known and two unknown sets, and an unknown reference price
    rules = [placed({"all": [{"terms": ["doll", "dol"]},
                             {"near": {"a": "doll", "b": "yuong", "within": 2}},
                             {"price_below": {"reference": "rollex", "ratio": 0.1}}]})]
    # When checked
    issues = check_policy(rules, sets={"doll": {}}, reference_prices={"rolex": 5000.0})
    # Then each problem is located in its file
    assert [str(issue) for issue in issues] == [
        "rules/toys.yaml: rules[0].when.all[0].terms[1]: unknown term set 'dol'",
        "rules/toys.yaml: rules[0].when.all[1].near.b[0]: unknown term set 'yuong'",
        "rules/toys.yaml: rules[0].when.all[2].price_below.reference: unknown reference price 'rollex'",
    ]


def test_cross_file_check_finds_unknown_sets_in_exceptions() -> None:
    rules = [PlacedRule(Rule.model_validate(rule({"terms": "doll"}, unless=[{"not": {"terms": "toy"}}])),
                        "base.yaml", "rules[2]")]
    issues = check_policy(rules, sets={"doll": {}}, reference_prices={})
    assert [str(issue) for issue in issues] == ["base.yaml: rules[2].unless[0].not.terms[0]: unknown term set 'toy'"]


def test_cross_file_check_finds_duplicate_rule_ids() -> None:
    rules = [placed({"terms": "doll"}, "a.b", "rules/one.yaml", 0),
             placed({"terms": "doll"}, "a.b", "rules/two.yaml", 4)]
    issues = check_policy(rules, sets={"doll": {}}, reference_prices={})
    assert [str(issue) for issue in issues] == [
        "rules/two.yaml: rules[4].id: duplicate rule id 'a.b' (first in rules/one.yaml rules[0])"]


def test_committed_json_schema_equals_the_export() -> None:
    # Regenerate with: .venv/bin/python -m prescreen.policy.schema
    assert json.loads(JSON_SCHEMA_PATH.read_text(encoding="utf-8")) == export_json_schema()
    assert JSON_SCHEMA_PATH.read_text(encoding="utf-8") == json_schema_text()


def test_json_schema_accepts_the_bundled_policies_and_refuses_a_two_key_condition() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(export_json_schema())
    files = sorted(POLICIES.rglob("*.yaml"))
    assert files, "the bundled policy files are missing"
    for path in files:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
        assert errors == [], f"{path}: {errors[0].message if errors else ''}"
    bad = {"rules": [rule({"terms": "doll", "regex": "x"})]}
    assert list(validator.iter_errors(bad)), "a condition with two keys must not validate"


def test_condition_kind_and_value_use_the_yaml_key() -> None:
    condition = Condition.model_validate({"not": {"terms": "toy"}})
    assert condition.kind == "not"
    assert condition.value_of("not").kind == "terms"
