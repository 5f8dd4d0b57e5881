"""Scores a screening function against a labelled corpus (JSONL) and checks it against quality targets.

Each line is a listing (the webhook body) plus
    "expected": {"decision": "allow|review|block", "category": "STATEMENT_CATEGORY_...", "family": "..."}
and optionally "tags": {"kind": "...", "lang": "fr"}.

Vocabulary: a listing is *harmful* if its expected decision is block or review, *legitimate* if allow;
it is *caught* if the predicted decision is block or review. A category prediction is correct when the
expected category is among the predicted categories.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

from pydantic import ValidationError

from prescreen.models import STATEMENT_CATEGORIES, DecisionOutcome, Listing

ScreenFn = Callable[[Listing], tuple[str, list[str]]]
DECISIONS: tuple[DecisionOutcome, ...] = cast(tuple[DecisionOutcome, ...], get_args(DecisionOutcome))
CHILDLIKE_FAMILY = "childlike_sex_doll"
_CAUGHT = ("block", "review")


@dataclass(frozen=True, slots=True)
class LabelledListing:
    listing: Listing
    decision: DecisionOutcome
    category: str | None
    family: str | None
    kind: str | None = None
    lang: str | None = None

    @property
    def harmful(self) -> bool:
        return self.decision in _CAUGHT

    @property
    def language(self) -> str:
        if self.lang:
            return self.lang
        if self.listing.locale:
            return self.listing.locale.split("-")[0].lower()
        return "unknown"


@dataclass(frozen=True, slots=True)
class Share:
    hits: int
    total: int

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None

    def __str__(self) -> str:
        value = self.value
        shown = "n/a" if value is None else f"{100 * value:.1f} %"
        return f"{shown} ({self.hits}/{self.total})"

    def to_dict(self) -> dict[str, Any]:
        return {"hits": self.hits, "total": self.total, "value": self.value}


@dataclass(frozen=True, slots=True)
class CategoryScore:
    category: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> Share:
        return Share(self.true_positives, self.true_positives + self.false_positives)

    @property
    def recall(self) -> Share:
        return Share(self.true_positives, self.true_positives + self.false_negatives)


@dataclass(frozen=True, slots=True)
class GroupScore:
    """Scores of one slice of the corpus (a language, a kind of listing)."""

    name: str
    listings: int
    harmful_caught: Share
    legitimate_blocked: Share
    legitimate_held: Share
    exact: Share  # predicted decision == expected decision


@dataclass(frozen=True, slots=True)
class Misclassified:
    id: str
    problem: str  # missed | false block | false hold | under-enforced | over-enforced | wrong category
    expected: str
    predicted: str
    expected_category: str | None
    predicted_categories: list[str]
    family: str | None
    language: str
    kind: str | None


@dataclass(slots=True)
class EvaluationReport:
    listings: int
    harmful_caught: Share
    childlike_caught: Share
    childlike_blocked: Share
    legitimate_blocked: Share
    legitimate_held: Share
    categories: list[CategoryScore]
    families: dict[str, Share]  # share of harmful listings caught, per expected family
    confusion: dict[str, dict[str, int]]  # expected -> predicted -> count
    by_language: list[GroupScore]
    by_kind: list[GroupScore]
    misclassified: list[Misclassified] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def group(score: GroupScore) -> dict[str, Any]:
            return {"name": score.name, "listings": score.listings,
                    "harmful_caught": score.harmful_caught.to_dict(),
                    "legitimate_blocked": score.legitimate_blocked.to_dict(),
                    "legitimate_held": score.legitimate_held.to_dict(), "exact": score.exact.to_dict()}

        return {
            "listings": self.listings,
            "harmful_caught": self.harmful_caught.to_dict(),
            "childlike_caught": self.childlike_caught.to_dict(),
            "childlike_blocked": self.childlike_blocked.to_dict(),
            "legitimate_blocked": self.legitimate_blocked.to_dict(),
            "legitimate_held": self.legitimate_held.to_dict(),
            "categories": [
                {"category": c.category, "precision": c.precision.to_dict(), "recall": c.recall.to_dict(),
                 "true_positives": c.true_positives, "false_positives": c.false_positives,
                 "false_negatives": c.false_negatives}
                for c in self.categories
            ],
            "families": {name: share.to_dict() for name, share in self.families.items()},
            "confusion": self.confusion,
            "by_language": [group(g) for g in self.by_language],
            "by_kind": [group(g) for g in self.by_kind],
            "misclassified": [
                {"id": m.id, "problem": m.problem, "expected": m.expected, "predicted": m.predicted,
                 "expected_category": m.expected_category, "predicted_categories": m.predicted_categories,
                 "family": m.family, "language": m.language, "kind": m.kind}
                for m in self.misclassified
            ],
        }


# --- corpus -----------------------------------------------------------------------------------------------


def load_corpus(path: Path) -> list[LabelledListing]:
    """Reads a JSONL corpus; a malformed line raises ValueError naming the file and line."""
    items: list[LabelledListing] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    items.append(parse_labelled(line))
                except ValueError as exc:  # includes pydantic's ValidationError and json's JSONDecodeError
                    raise ValueError(f"{path}:{number}: {exc}") from exc
    return items


def parse_labelled(line: str) -> LabelledListing:
    document = json.loads(line)
    if not isinstance(document, dict):
        raise ValueError("a corpus line is a JSON object")
    expected = document.get("expected")
    if not isinstance(expected, dict):
        raise ValueError("missing \"expected\" object")
    decision = expected.get("decision")
    if decision not in DECISIONS:
        raise ValueError(f"expected.decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    category = expected.get("category")
    if category is not None and category not in STATEMENT_CATEGORIES:
        raise ValueError(f"expected.category {category!r} is not a DSA statement category")
    if decision != "allow" and category is None:
        raise ValueError("expected.category is required when the expected decision is block or review")
    family = expected.get("family")
    tags = document.get("tags") or {}
    if not isinstance(tags, dict):
        raise ValueError("\"tags\" must be an object")
    try:
        listing = Listing.model_validate_json(line)  # extra keys (expected, tags) are ignored by Listing
    except ValidationError as exc:
        raise ValueError(f"invalid listing: {exc}") from exc
    return LabelledListing(
        listing=listing,
        decision=cast(DecisionOutcome, decision),
        category=category,
        family=family if isinstance(family, str) else None,
        kind=_optional_str(tags.get("kind")),
        lang=_optional_str(tags.get("lang")),
    )


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# --- scoring ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outcome:
    item: LabelledListing
    decision: DecisionOutcome
    categories: list[str]

    @property
    def caught(self) -> bool:
        return self.decision in _CAUGHT

    @property
    def category_correct(self) -> bool:
        return self.item.category is not None and self.item.category in self.categories


def evaluate_corpus(corpus: Path | Iterable[LabelledListing], screen: ScreenFn) -> EvaluationReport:
    """Screens every listing and scores the answers."""
    items = load_corpus(corpus) if isinstance(corpus, Path) else list(corpus)
    outcomes: list[_Outcome] = []
    for item in items:
        decision, categories = screen(item.listing)
        if decision not in DECISIONS:
            raise ValueError(f"screen returned {decision!r} for listing {item.listing.id}")
        outcomes.append(_Outcome(item, decision, list(categories)))
    return score(outcomes)


def score(outcomes: Sequence[_Outcome]) -> EvaluationReport:
    harmful = [o for o in outcomes if o.item.harmful]
    legitimate = [o for o in outcomes if not o.item.harmful]
    childlike = [o for o in harmful if o.item.family == CHILDLIKE_FAMILY]
    families: dict[str, list[_Outcome]] = {}
    for outcome in harmful:
        families.setdefault(outcome.item.family or "unspecified", []).append(outcome)
    confusion: dict[str, dict[str, int]] = {expected: dict.fromkeys(DECISIONS, 0) for expected in DECISIONS}
    for outcome in outcomes:
        confusion[outcome.item.decision][outcome.decision] += 1
    return EvaluationReport(
        listings=len(outcomes),
        harmful_caught=_share(harmful, lambda o: o.caught),
        childlike_caught=_share(childlike, lambda o: o.caught),
        childlike_blocked=_share(childlike, lambda o: o.decision == "block"),
        legitimate_blocked=_share(legitimate, lambda o: o.decision == "block"),
        legitimate_held=_share(legitimate, lambda o: o.decision == "review"),
        categories=_category_scores(outcomes),
        families={name: _share(group, lambda o: o.caught) for name, group in sorted(families.items())},
        confusion=confusion,
        by_language=_groups(outcomes, lambda o: o.item.language),
        by_kind=_groups(outcomes, lambda o: o.item.kind or "unlabelled"),
        misclassified=[m for m in (_misclassified(o) for o in outcomes) if m is not None],
    )


def _share(outcomes: Sequence[_Outcome], hit: Callable[[_Outcome], bool]) -> Share:
    return Share(sum(1 for o in outcomes if hit(o)), len(outcomes))


def _category_scores(outcomes: Sequence[_Outcome]) -> list[CategoryScore]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for o in outcomes:
        expected = o.item.category if o.item.harmful else None
        if expected is not None:
            if o.caught and expected in o.categories:
                tp[expected] += 1
            else:
                fn[expected] += 1
        if o.caught:
            for predicted in set(o.categories):
                if predicted != expected:
                    fp[predicted] += 1
    names = sorted(set(tp) | set(fp) | set(fn))
    return [CategoryScore(name, tp[name], fp[name], fn[name]) for name in names]


def _groups(outcomes: Sequence[_Outcome], key: Callable[[_Outcome], str]) -> list[GroupScore]:
    groups: dict[str, list[_Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(key(outcome), []).append(outcome)
    scores = []
    for name, group in sorted(groups.items()):
        harmful = [o for o in group if o.item.harmful]
        legitimate = [o for o in group if not o.item.harmful]
        scores.append(GroupScore(
            name=name,
            listings=len(group),
            harmful_caught=_share(harmful, lambda o: o.caught),
            legitimate_blocked=_share(legitimate, lambda o: o.decision == "block"),
            legitimate_held=_share(legitimate, lambda o: o.decision == "review"),
            exact=_share(group, lambda o: o.decision == o.item.decision),
        ))
    return scores


_PROBLEMS: Mapping[tuple[str, str], str] = {
    ("block", "allow"): "missed", ("review", "allow"): "missed",
    ("allow", "block"): "false block", ("allow", "review"): "false hold",
    ("block", "review"): "under-enforced", ("review", "block"): "over-enforced",
}


def _misclassified(o: _Outcome) -> Misclassified | None:
    problem = _PROBLEMS.get((o.item.decision, o.decision))
    if problem is None and o.item.harmful and o.caught and not o.category_correct:
        problem = "wrong category"
    if problem is None:
        return None
    return Misclassified(
        id=o.item.listing.id, problem=problem, expected=o.item.decision, predicted=o.decision,
        expected_category=o.item.category, predicted_categories=o.categories, family=o.item.family,
        language=o.item.language, kind=o.item.kind,
    )


# --- targets ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Targets:
    min_harmful_caught: float = 0.97
    min_childlike_caught: float = 1.0
    max_legitimate_blocked: float = 0.01
    max_legitimate_held: float = 0.05


RULES_ONLY_TARGETS = Targets()


def check_targets(report: EvaluationReport, targets: Targets = RULES_ONLY_TARGETS) -> list[str]:
    """One message per missed target; empty when all are met. A target with no listings to measure it
    counts as missed: a corpus without child-like dolls proves nothing about them."""
    checks: list[tuple[str, Share, Literal["min", "max"], float]] = [
        ("harmful caught", report.harmful_caught, "min", targets.min_harmful_caught),
        ("child-like dolls caught", report.childlike_caught, "min", targets.min_childlike_caught),
        ("legitimate blocked", report.legitimate_blocked, "max", targets.max_legitimate_blocked),
        ("legitimate held for review", report.legitimate_held, "max", targets.max_legitimate_held),
    ]
    failures = []
    for label, share, direction, limit in checks:
        value = share.value
        if value is None:
            failures.append(f"{label}: no listings in the corpus to measure it")
        elif direction == "min" and value < limit:
            failures.append(f"{label} {share} < {100 * limit:.1f} %")
        elif direction == "max" and value > limit:
            failures.append(f"{label} {share} > {100 * limit:.1f} %")
    return failures


# --- text report ------------------------------------------------------------------------------------------


def format_report(report: EvaluationReport) -> str:
    lines = [f"listings: {report.listings}", ""]
    lines += _table(["measure", "share"], [
        ["harmful caught", str(report.harmful_caught)],
        ["child-like dolls caught", str(report.childlike_caught)],
        ["child-like dolls blocked", str(report.childlike_blocked)],
        ["legitimate blocked", str(report.legitimate_blocked)],
        ["legitimate held", str(report.legitimate_held)],
    ])
    lines += ["", "confusion (rows expected, columns predicted)"]
    lines += _table(["expected", *DECISIONS],
                    [[e, *(str(report.confusion[e][p]) for p in DECISIONS)] for e in DECISIONS])
    lines += ["", "categories"]
    lines += _table(["category", "precision", "recall"],
                    [[c.category.removeprefix("STATEMENT_CATEGORY_"), str(c.precision), str(c.recall)]
                     for c in report.categories])
    lines += ["", "harmful caught by family"]
    lines += _table(["family", "caught"], [[name, str(share)] for name, share in report.families.items()])
    for title, groups in (("by language", report.by_language), ("by kind", report.by_kind)):
        lines += ["", title]
        lines += _table(["name", "listings", "harmful caught", "legit blocked", "legit held", "exact"],
                        [[g.name, str(g.listings), str(g.harmful_caught), str(g.legitimate_blocked),
                          str(g.legitimate_held), str(g.exact)] for g in groups])
    lines += ["", f"misclassified ({len(report.misclassified)})"]
    lines += _table(["id", "problem", "expected", "predicted", "expected category", "predicted categories"],
                    [[m.id, m.problem, m.expected, m.predicted,
                      (m.expected_category or "-").removeprefix("STATEMENT_CATEGORY_"),
                      ",".join(c.removeprefix("STATEMENT_CATEGORY_") for c in m.predicted_categories) or "-"]
                     for m in report.misclassified])
    return "\n".join(lines)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
    return [line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)]
