"""Reads the policy YAML files, applies an overlay, validates everything and reports errors with their place.

A policy is built from a mapping of relative path -> bytes, so the same code serves the bundled directory,
an S3 zip or prefix, and AppConfig (see provider.py). Layout of that mapping (FORMAT.md):

    base.yaml  terms/<family>.yaml  rules/<family>.yaml  overlays/<name>.yaml
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

try:  # libyaml's parser when PyYAML was built with it: the pure-Python one takes ~0.5 s for the bundled files
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML wheels ship libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

from prescreen.classifier.policy import ClassifierPolicy
from prescreen.policy.matcher import TermForms, term_form
from prescreen.policy.schema import (
    BasePolicy,
    Language,
    Overlay,
    PlacedRule,
    PolicyIssue,
    Rule,
    RulesFile,
    TermFile,
    check_policy,
)

DEFAULT_POLICY_DIR = Path(__file__).resolve().parent / "policies"
BASE = "base"
_NAME = re.compile(r"^[a-z0-9_]+$")
_TERM_FILE = re.compile(r"^terms/[a-z0-9_]+\.yaml$")
_RULES_FILE = re.compile(r"^rules/[a-z0-9_]+\.yaml$")
_OVERLAY_FILE = re.compile(r"^overlays/([a-z0-9_]+)\.yaml$")
_MAX_SHOWN = 25  # issues listed in the exception message; all are kept on .issues

PolicyFiles = Mapping[str, bytes]


class PolicyError(Exception):
    """A policy that cannot be used. The message names each file and the path of the error inside it."""

    def __init__(self, issues: Sequence[PolicyIssue]) -> None:
        self.issues = list(issues)
        lines = [str(issue) for issue in self.issues[:_MAX_SHOWN]]
        if len(self.issues) > _MAX_SHOWN:
            lines.append(f"... and {len(self.issues) - _MAX_SHOWN} more")
        super().__init__("\n".join(lines))


class UnknownPolicyError(PolicyError):
    """The policy name is neither `base` nor an overlay that exists."""


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated policy: the base plus at most one overlay, with overrides and disables applied."""

    name: str
    human_version: str
    version: str  # "<human version>+<12 hex of the content hash>"
    sets: Mapping[str, Mapping[Language, Sequence[str]]]  # set name -> language -> terms as written
    reference_prices: Mapping[str, float]  # EUR
    category_families: Mapping[str, Sequence[str]]  # family -> seller category words
    family_categories: Mapping[str, str]  # family -> DSA statement category
    rules: Sequence[PlacedRule]  # enabled rules, in file order, overrides applied
    files: Sequence[str]  # every file that went into the policy (and into its hash)
    classifier: ClassifierPolicy = field(default_factory=ClassifierPolicy)  # thresholds and fallbacks
    # Normalised text of (at least) every term of the sets and families, by the term's text: worked out once
    # for the loader's checks and reused by the matcher. A memo of a pure function, so sharing it between
    # the policies of one set of files is safe; it takes no part in comparisons.
    term_forms: TermForms = field(default_factory=dict, compare=False, repr=False)


def read_policy_dir(directory: Path) -> dict[str, bytes]:
    """Every YAML file under a policy directory, by POSIX path relative to it (stable across machines)."""
    if not directory.is_dir():
        raise PolicyError([PolicyIssue(str(directory), "", "policy directory does not exist")])
    return {path.relative_to(directory).as_posix(): path.read_bytes() for path in sorted(directory.rglob("*.yaml"))}


def policy_names(files: PolicyFiles) -> list[str]:
    """`base` and every overlay name found in the files."""
    overlays = sorted(m.group(1) for path in files if (m := _OVERLAY_FILE.match(path)))
    return [BASE, *overlays]


def load_policy(name: str = BASE, directory: Path | None = None) -> Policy:
    """Loads the bundled policies (or a directory laid out the same way) and returns policy `name`."""
    return build_policy(read_policy_dir(directory or DEFAULT_POLICY_DIR), name)


def files_digest(files: PolicyFiles) -> str:
    """sha256 (hex) over (path, bytes) of each file, sorted by path, with lengths framed so that moving
    bytes from one file to the next can never give the same hash."""
    digest = hashlib.sha256()
    for path in sorted(files):
        data = files[path]
        encoded = path.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big") + encoded + len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def policy_version(human_version: str, files: PolicyFiles) -> str:
    """`<human>+<12 hex>`: the human version and the start of the files' digest."""
    return f"{human_version}+{files_digest(files)[:12]}"


def used_files(files: PolicyFiles, name: str = BASE) -> dict[str, bytes]:
    """The files policy `name` is built from (base.yaml, terms/, rules/ and its own overlay): what its version
    hashes. Other overlays and stray files are left out."""
    used = {p: files[p] for p in files if p == "base.yaml" or _TERM_FILE.match(p) or _RULES_FILE.match(p)}
    overlay_path = f"overlays/{name}.yaml"
    if name != BASE and overlay_path in files:
        used[overlay_path] = files[overlay_path]
    return used


def build_policy(files: PolicyFiles, name: str = BASE, *, term_forms: TermForms | None = None) -> Policy:
    """Validates and assembles policy `name` from the files; raises PolicyError listing every problem.

    `term_forms` is a table of normalised term texts to read and fill: pass the same one when building
    several policies from the same files, and each distinct term is normalised once."""
    if not _NAME.match(name):
        raise UnknownPolicyError([PolicyIssue("<policy name>", "", f"'{name}' is not a valid policy name")])
    overlay_path = f"overlays/{name}.yaml"
    if name != BASE and overlay_path not in files:
        raise UnknownPolicyError([PolicyIssue(overlay_path, "", f"no policy named '{name}'")])
    if "base.yaml" not in files:
        raise PolicyError([PolicyIssue("base.yaml", "", "missing: every policy extends the base")])

    issues: list[PolicyIssue] = []
    unreadable: list[PolicyIssue] = []  # files that do not parse or validate on their own
    stray = [p for p in files if p != "base.yaml" and not (_TERM_FILE.match(p) or _RULES_FILE.match(p)
                                                           or _OVERLAY_FILE.match(p))]
    issues += [PolicyIssue(p, "", "not part of the policy layout (base.yaml, terms/, rules/, overlays/)")
               for p in sorted(stray)]

    used = used_files(files, name)
    forms: TermForms = {} if term_forms is None else term_forms

    base = _parse("base.yaml", files["base.yaml"], BasePolicy, unreadable)
    sets: dict[str, Mapping[Language, Sequence[str]]] = {}
    set_origin: dict[str, str] = {}
    placed: list[PlacedRule] = []
    if base is not None:
        placed += _place(base.rules, "base.yaml")
    for path in sorted(p for p in used if _TERM_FILE.match(p)):
        term_file = _parse(path, used[path], TermFile, unreadable)
        if term_file is None:
            continue
        for set_name, term_set in term_file.sets.items():
            if set_name in sets:
                issues.append(PolicyIssue(path, f"sets.{set_name}",
                                          f"term set '{set_name}' is already defined in {set_origin[set_name]}"))
                continue
            sets[set_name], set_origin[set_name] = term_set, path
            issues += _check_terms(path, f"sets.{set_name}", term_set, forms)
    for path in sorted(p for p in used if _RULES_FILE.match(p)):
        rules_file = _parse(path, used[path], RulesFile, unreadable)
        if rules_file is not None:
            placed += _place(rules_file.rules, path)

    human_version = base.version if base is not None else "invalid"
    reference_prices = dict(base.reference_prices) if base is not None else {}
    category_families: dict[str, Sequence[str]] = dict(base.category_families) if base is not None else {}
    classifier = base.classifier if base is not None else ClassifierPolicy()
    if name != BASE:
        overlay = _parse(overlay_path, used[overlay_path], Overlay, unreadable)
        if overlay is not None:
            human_version = overlay.version
            for set_name, term_set in overlay.sets.items():  # replaces a base set of the same name
                sets[set_name], set_origin[set_name] = term_set, overlay_path
                issues += _check_terms(overlay_path, f"sets.{set_name}", term_set, forms)
            reference_prices.update(overlay.reference_prices)
            category_families.update(overlay.category_families)
            classifier = overlay.classifier or classifier
            placed += _place(overlay.rules, overlay_path)
            placed = _apply_overlay(overlay, overlay_path, placed, issues)

    if unreadable:
        # A file that did not parse may hold the sets and rules the others refer to: checking references now
        # would bury the real problem under consequences of it.
        raise PolicyError(issues + unreadable)
    issues += check_policy(placed, sets, reference_prices)
    family_categories = _family_categories(placed, issues)
    for family in category_families:
        if family not in family_categories:
            where = "base.yaml" if base is not None and family in base.category_families else overlay_path
            issues.append(PolicyIssue(where, f"category_families.{family}",
                                      f"no rule has family '{family}', so it has no DSA category"))
    if issues:
        raise PolicyError(issues)
    for family_terms in category_families.values():
        for term in family_terms:
            term_form(term, forms)
    return Policy(
        name=name,
        human_version=human_version,
        version=policy_version(human_version, used),
        sets=sets,
        reference_prices=reference_prices,
        category_families=category_families,
        family_categories=family_categories,
        rules=[p for p in placed if not _is_disabled(p)],
        files=sorted(used),
        term_forms=forms,
        classifier=classifier,
    )


# Disabled rules stay in `placed` until the end so their families still get a category.
_DISABLED = "<disabled>"


def _is_disabled(placed: PlacedRule) -> bool:
    return placed.path.startswith(_DISABLED)


def _apply_overlay(overlay: Overlay, path: str, placed: list[PlacedRule],
                   issues: list[PolicyIssue]) -> list[PlacedRule]:
    base_ids = {p.rule.id for p in placed if p.file != path}
    for index, rule_id in enumerate(overlay.disable):
        if rule_id not in base_ids:
            issues.append(PolicyIssue(path, f"disable[{index}]", f"no base rule '{rule_id}' to disable"))
    for rule_id in overlay.override:
        if rule_id not in base_ids:
            issues.append(PolicyIssue(path, f"override.{rule_id}", f"no base rule '{rule_id}' to override"))
        elif rule_id in overlay.disable:
            issues.append(PolicyIssue(path, f"override.{rule_id}", f"rule '{rule_id}' is also disabled"))
    result: list[PlacedRule] = []
    for item in placed:
        rule: Rule = item.rule
        change = overlay.override.get(rule.id) if item.file != path else None
        if change is not None:
            update = {key: value for key, value in (("action", change.action), ("mode", change.mode)) if value}
            rule = rule.model_copy(update=update)
        disabled = item.file != path and rule.id in overlay.disable
        result.append(PlacedRule(rule, item.file, f"{_DISABLED}{item.path}" if disabled else item.path))
    return result


def _family_categories(placed: Sequence[PlacedRule], issues: list[PolicyIssue]) -> dict[str, str]:
    """family -> DSA category; a family is a finer key of one category, so its rules must agree."""
    categories: dict[str, PlacedRule] = {}
    for item in placed:
        first = categories.setdefault(item.rule.family, item)
        if first.rule.category != item.rule.category:
            issues.append(PolicyIssue(
                item.file, f"{item.path.removeprefix(_DISABLED)}.category",
                f"family '{item.rule.family}' is {first.rule.category} in {first.file} "
                f"({first.rule.id}); a family has one category"))
    return {family: item.rule.category for family, item in categories.items()}


def _place(rules: Sequence[Rule], path: str) -> list[PlacedRule]:
    return [PlacedRule(rule, path, f"rules[{index}]") for index, rule in enumerate(rules)]


def _check_terms(path: str, where: str, term_set: Mapping[Language, Sequence[str]],
                 forms: TermForms) -> list[PolicyIssue]:
    # A term without a letter or digit once normalised (punctuation, a lone '*') cannot be a word.
    issues = []
    for language, terms in term_set.items():
        for index, term in enumerate(terms):
            if not any(ch.isalnum() for ch in term_form(term, forms)[0]):
                issues.append(PolicyIssue(path, f"{where}.{language}[{index}]",
                                          f"term '{term}' has no letter or digit once normalised"))
    return issues


def _parse[M: BaseModel](path: str, data: bytes, model: type[M], issues: list[PolicyIssue]) -> M | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        issues.append(PolicyIssue(path, "", f"not UTF-8 ({exc.reason} at byte {exc.start})"))
        return None
    try:
        document = yaml.load(text, Loader=StrictYamlLoader)  # a SafeLoader subclass: as safe as yaml.safe_load
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        issues.append(PolicyIssue(path, where, f"YAML: {exc.problem or exc}"))
        return None
    except yaml.YAMLError as exc:
        issues.append(PolicyIssue(path, "", f"YAML: {exc}"))
        return None
    if not isinstance(document, dict):
        kind = "empty" if document is None else f"a {type(document).__name__}"
        issues.append(PolicyIssue(path, "", f"the file is {kind}; a policy file is a mapping"))
        return None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            message = str(error["msg"]).removeprefix("Value error, ")
            issues.append(PolicyIssue(path, format_location(error["loc"]), message))
        return None


def format_location(loc: Sequence[int | str]) -> str:
    """('rules', 3, 'when', 'all', 1) -> 'rules[3].when.all[1]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += f".{part}" if out else part
    return out


class StrictYamlLoader(_SafeLoader):
    """yaml.safe_load's loader, except that a key written twice in one mapping is an error.

    Plain YAML keeps the last value, which would silently drop e.g. the first of two `doll:` sets.
    """


def _construct_mapping(loader: StrictYamlLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Hashable] = set()
    for key_node, _value in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, Hashable):
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=True)
    return mapping


StrictYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
