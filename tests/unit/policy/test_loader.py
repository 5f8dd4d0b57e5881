"""Loading policy files: layout, overlays, the policy version, and errors that name the file and the path."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from prescreen.policy.loader import (
    DEFAULT_POLICY_DIR,
    PolicyError,
    UnknownPolicyError,
    build_policy,
    load_policy,
    policy_names,
    read_policy_dir,
)

BASE = """\
version: "1.0"
reference_prices: {rolex: 5000}
category_families:
  toys: [toy*, jouet*]
"""
TERMS = """\
sets:
  toy:
    en: [toy, toys]
    fr: [jouet*]
  gun:
    en: [gun]
"""
RULES = """\
rules:
  - id: toys.toy_gun
    description: toy guns
    category: STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS
    family: toys
    action: review
    legal_ground: a law
    explanation: why
    when:
      all:
        - terms: toy
        - near: {a: toy, b: gun, within: 2}
  - id: toys.cheap_rolex
    description: cheap watches
    category: STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS
    family: toys
    action: block
    legal_ground: a law
    explanation: why
    when: {price_below: {reference: rolex, ratio: 0.1}}
"""
STRICT_OVERLAY = """\
extends: base
version: "1.0-strict"
sets:
  gun:
    en: [gun, pistol]
rules:
  - id: strict.any_toy
    description: any toy
    category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC
    family: strict_toys
    action: block
    legal_ground: terms and conditions
    explanation: no toys here
    when: {terms: toy}
disable: [toys.cheap_rolex]
override:
  toys.toy_gun: {action: block, mode: shadow}
"""


def write(directory: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return directory


@pytest.fixture
def toy_policy_dir(tmp_path: Path) -> Path:
    return write(tmp_path / "policies", {"base.yaml": BASE, "terms/toys.yaml": TERMS, "rules/toys.yaml": RULES,
                                         "overlays/strict.yaml": STRICT_OVERLAY})


def problems(directory: Path, name: str = "base") -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load_policy(name, directory)
    return [str(issue) for issue in raised.value.issues]


def test_base_policy_gathers_every_file_of_the_layout(toy_policy_dir: Path) -> None:
    policy = load_policy("base", toy_policy_dir)
    assert policy.name == "base"
    assert policy.human_version == "1.0"
    assert re.fullmatch(r"1\.0\+[0-9a-f]{12}", policy.version)
    assert [p.rule.id for p in policy.rules] == ["toys.toy_gun", "toys.cheap_rolex"]
    assert policy.sets["toy"]["fr"] == ["jouet*"]
    assert policy.reference_prices == {"rolex": 5000}
    assert policy.family_categories == {"toys": "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"}
    assert policy.files == ["base.yaml", "rules/toys.yaml", "terms/toys.yaml"]  # the overlay is not part of it


def test_policy_version_hashes_sorted_paths_and_bytes_of_loaded_files(toy_policy_dir: Path) -> None:
    # Given the documented recipe: sha256 over (length-framed path, length-framed bytes), sorted by path
    digest = hashlib.sha256()
    for relative in ["base.yaml", "rules/toys.yaml", "terms/toys.yaml"]:
        data = (toy_policy_dir / relative).read_bytes()
        path = relative.encode()
        digest.update(len(path).to_bytes(8, "big") + path + len(data).to_bytes(8, "big") + data)
    # Then the version is that digest's first 12 hex digits
    assert load_policy("base", toy_policy_dir).version == f"1.0+{digest.hexdigest()[:12]}"


def test_policy_version_is_stable_across_copies_and_changes_with_any_byte(toy_policy_dir: Path,
                                                                          tmp_path: Path) -> None:
    # Given a copy of the same files elsewhere
    copy = shutil.copytree(toy_policy_dir, tmp_path / "elsewhere")
    base_version = load_policy("base", toy_policy_dir).version
    assert load_policy("base", copy).version == base_version
    # When only the overlay changes, Then the base keeps its version (the overlay is not loaded for it)
    (copy / "overlays/strict.yaml").write_text(STRICT_OVERLAY + "\n# note\n", encoding="utf-8")
    assert load_policy("base", copy).version == base_version
    # When a term file gains a comment, Then the version changes
    (copy / "terms/toys.yaml").write_text(TERMS + "# note\n", encoding="utf-8")
    assert load_policy("base", copy).version != base_version


def test_overlay_replaces_sets_adds_rules_disables_and_overrides(toy_policy_dir: Path) -> None:
    policy = load_policy("strict", toy_policy_dir)
    assert policy.human_version == "1.0-strict"
    assert policy.version.startswith("1.0-strict+")
    rules = {p.rule.id: p.rule for p in policy.rules}
    assert list(rules) == ["toys.toy_gun", "strict.any_toy"]  # cheap_rolex disabled, the new rule appended
    assert (rules["toys.toy_gun"].action, rules["toys.toy_gun"].mode) == ("block", "shadow")
    assert policy.sets["gun"] == {"en": ["gun", "pistol"]}
    assert policy.family_categories["strict_toys"] == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
    assert "overlays/strict.yaml" in policy.files


def test_unknown_policy_name_is_its_own_error(toy_policy_dir: Path) -> None:
    with pytest.raises(UnknownPolicyError, match="no policy named 'lenient'"):
        load_policy("lenient", toy_policy_dir)
    with pytest.raises(UnknownPolicyError, match="not a valid policy name"):
        load_policy("../base", toy_policy_dir)
    assert policy_names(read_policy_dir(toy_policy_dir)) == ["base", "strict"]


def test_error_names_the_file_and_the_path_inside_it(toy_policy_dir: Path) -> None:
    # Given a rule whose near.within is 0
    (toy_policy_dir / "rules/toys.yaml").write_text(RULES.replace("within: 2", "within: 0"), encoding="utf-8")
    # Then the message points at it the way an author reads the file
    assert problems(toy_policy_dir) == [
        "rules/toys.yaml: rules[0].when.all[1].near.within: Input should be greater than 0"]


def test_all_problems_are_reported_at_once(toy_policy_dir: Path) -> None:
    write(toy_policy_dir, {
        "rules/toys.yaml": RULES.replace("terms: toy", "terms: toi").replace("reference: rolex", "reference: x"),
        "terms/more.yaml": "sets:\n  gun:\n    en: [rifle]\n",
    })
    assert problems(toy_policy_dir) == [
        "terms/toys.yaml: sets.gun: term set 'gun' is already defined in terms/more.yaml",
        "rules/toys.yaml: rules[0].when.all[0].terms[0]: unknown term set 'toi'",
        "rules/toys.yaml: rules[1].when.price_below.reference: unknown reference price 'x'",
    ]


def test_yaml_syntax_errors_give_the_line(toy_policy_dir: Path) -> None:
    write(toy_policy_dir, {"terms/toys.yaml": "sets:\n  toy:\n    en: [toy\n"})
    [problem] = problems(toy_policy_dir)
    assert problem.startswith("terms/toys.yaml: line 4 column 1: YAML:")


def test_a_key_written_twice_is_an_error_not_a_silent_overwrite(toy_policy_dir: Path) -> None:
    write(toy_policy_dir, {"terms/toys.yaml": TERMS + "  toy:\n    en: [plaything]\n"})
    [problem] = problems(toy_policy_dir)
    assert problem.startswith("terms/toys.yaml: ")
    assert "duplicate key 'toy'" in problem


def test_yaml_anchors_and_aliases_are_allowed(toy_policy_dir: Path) -> None:
    write(toy_policy_dir, {"rules/toys.yaml": RULES.replace("        - terms: toy\n", "        - &toy {terms: toy}\n")
                           .replace("when: {price_below: {reference: rolex, ratio: 0.1}}",
                                    "when: {all: [*toy, {price_below: {reference: rolex, ratio: 0.1}}]}")})
    policy = load_policy("base", toy_policy_dir)
    assert policy.rules[1].rule.when.kind == "all"


@pytest.mark.parametrize(("files", "expected"), [
    ({"rules/zz_extra.yaml": RULES}, "rules/zz_extra.yaml: rules[0].id: duplicate rule id 'toys.toy_gun' "
                                     "(first in rules/toys.yaml rules[0])"),
    ({"rules/nested/x.yaml": "rules: []\n"}, "rules/nested/x.yaml: not part of the policy layout"),
    ({"terms/empty.yaml": ""}, "terms/empty.yaml: the file is empty; a policy file is a mapping"),
    ({"terms/list.yaml": "- a\n"}, "terms/list.yaml: the file is a list; a policy file is a mapping"),
    ({"terms/punct.yaml": "sets:\n  punct:\n    any: ['!!!']\n"},
     "terms/punct.yaml: sets.punct.any[0]: term '!!!' has no letter or digit once normalised"),
    ({"base.yaml": BASE + "  dolls: [doll*]\n"},
     "base.yaml: category_families.dolls: no rule has family 'dolls', so it has no DSA category"),
    ({"base.yaml": BASE.replace('"1.0"', "1.0")}, "base.yaml: version: Input should be a valid string"),
    ({"rules/zz_other.yaml": RULES.replace("toys.", "other.").replace("UNSAFE_AND_PROHIBITED_PRODUCTS", "VIOLENCE")},
     "rules/zz_other.yaml: rules[0].category: family 'toys' is STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS "
     "in rules/toys.yaml (toys.toy_gun); a family has one category"),
])
def test_layout_and_consistency_problems(toy_policy_dir: Path, files: dict[str, str], expected: str) -> None:
    write(toy_policy_dir, files)
    found = problems(toy_policy_dir)
    assert any(problem.startswith(expected) for problem in found), found


def test_not_utf8_is_reported(toy_policy_dir: Path) -> None:
    (toy_policy_dir / "terms/toys.yaml").write_bytes(b"sets:\n  toy:\n    fr: [jou\xe9t]\n")
    [problem] = problems(toy_policy_dir)
    assert problem.startswith("terms/toys.yaml: not UTF-8")


@pytest.mark.parametrize(("overlay", "expected"), [
    ("disable: [toys.nope]", "overlays/strict.yaml: disable[0]: no base rule 'toys.nope' to disable"),
    ("override: {toys.nope: {action: block}}",
     "overlays/strict.yaml: override.toys.nope: no base rule 'toys.nope' to override"),
    ("override: {toys.cheap_rolex: {action: review}}\ndisable: [toys.cheap_rolex]",
     "overlays/strict.yaml: override.toys.cheap_rolex: rule 'toys.cheap_rolex' is also disabled"),
    ("override: {toys.toy_gun: {}}", "overlays/strict.yaml: override.toys.toy_gun: an override sets action or mode"),
    ("extends: other", "overlays/strict.yaml: extends: Input should be 'base'"),
])
def test_overlay_mistakes(toy_policy_dir: Path, overlay: str, expected: str) -> None:
    text = 'version: "1.0-strict"\n' + ("" if overlay.startswith("extends") else "extends: base\n") + overlay
    write(toy_policy_dir, {"overlays/strict.yaml": text + "\n"})
    found = problems(toy_policy_dir, "strict")
    assert any(problem.startswith(expected) for problem in found), found


def test_missing_base_is_reported(tmp_path: Path) -> None:
    write(tmp_path, {"terms/toys.yaml": TERMS})
    assert problems(tmp_path) == ["base.yaml: missing: every policy extends the base"]


def test_error_message_lists_the_problems(toy_policy_dir: Path) -> None:
    (toy_policy_dir / "rules/toys.yaml").write_text(RULES.replace("within: 2", "within: 0"), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"^rules/toys\.yaml: rules\[0\]\.when\.all\[1\]\.near\.within: "):
        load_policy("base", toy_policy_dir)


def test_build_policy_works_on_files_in_memory(toy_policy_dir: Path) -> None:
    files = read_policy_dir(toy_policy_dir)
    assert set(files) == {"base.yaml", "terms/toys.yaml", "rules/toys.yaml", "overlays/strict.yaml"}
    assert build_policy(files, "strict").version == load_policy("strict", toy_policy_dir).version


@pytest.mark.parametrize("name", policy_names(read_policy_dir(DEFAULT_POLICY_DIR)))
def test_every_bundled_policy_loads(name: str) -> None:
    # Given the policies shipped in the package (every family's files, whoever wrote them)
    policy = load_policy(name)
    # Then each validates, and every rule family has a DSA category
    assert policy.rules
    assert {p.rule.family for p in policy.rules} <= set(policy.family_categories)
