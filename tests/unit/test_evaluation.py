"""Scoring a screening function against a labelled corpus: shares, per-category scores, slices, targets."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from prescreen.evaluation import (
    RULES_ONLY_TARGETS,
    EvaluationReport,
    Targets,
    check_targets,
    evaluate_corpus,
    format_report,
    load_corpus,
)
from prescreen.models import Listing

MINORS = "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
UNSAFE = "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
IP = "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"


def line(listing_id: str, decision: str, category: str | None = None, family: str | None = None,
         kind: str | None = None, lang: str | None = None, locale: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"id": listing_id, "title": f"listing {listing_id}",
                                "expected": {"decision": decision, "category": category, "family": family}}
    if locale:
        document["locale"] = locale
    tags = {key: value for key, value in (("kind", kind), ("lang", lang)) if value}
    if tags:
        document["tags"] = tags
    return document


def write_corpus(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(item, ensure_ascii=False) for item in lines) + "\n", encoding="utf-8")
    return path


def screen_from(answers: Mapping[str, tuple[str, list[str]]]) -> Callable[[Listing], tuple[str, list[str]]]:
    return lambda listing: answers[listing.id]


@pytest.fixture
def mixed_corpus(tmp_path: Path) -> Path:
    """Ten listings: 2 child-like dolls, 3 weapons, 1 counterfeit (review), 4 legitimate."""
    return write_corpus(tmp_path / "corpus.jsonl", [
        line("doll-1", "block", MINORS, "childlike_sex_doll", kind="harmful", lang="fr"),
        line("doll-2", "block", MINORS, "childlike_sex_doll", kind="harmful", lang="en"),
        line("gun-1", "block", UNSAFE, "firearms", kind="harmful", lang="de"),
        line("gun-2", "block", UNSAFE, "firearms", kind="harmful", lang="de"),
        line("gun-3", "block", UNSAFE, "firearms", kind="harmful", locale="pl-PL"),
        line("fake-1", "review", IP, "counterfeits", kind="harmful", lang="en"),
        line("ok-1", "allow", kind="hard_negative", lang="fr"),
        line("ok-2", "allow", kind="hard_negative", lang="en"),
        line("ok-3", "allow", kind="plain", lang="en"),
        line("ok-4", "allow", kind="plain"),
    ])


@pytest.fixture
def mixed_answers() -> dict[str, tuple[str, list[str]]]:
    return {
        "doll-1": ("block", [MINORS]),
        "doll-2": ("review", [MINORS]),            # caught, but not blocked
        "gun-1": ("block", [UNSAFE]),
        "gun-2": ("block", [IP]),                  # caught with the wrong category
        "gun-3": ("allow", []),                    # missed
        "fake-1": ("block", [IP, UNSAFE]),         # over-enforced; both categories predicted
        "ok-1": ("block", [UNSAFE]),               # false block
        "ok-2": ("review", [MINORS]),              # false hold
        "ok-3": ("allow", []),
        "ok-4": ("allow", []),
    }


@pytest.fixture
def mixed_report(mixed_corpus: Path, mixed_answers: dict[str, tuple[str, list[str]]]) -> EvaluationReport:
    return evaluate_corpus(mixed_corpus, screen_from(mixed_answers))


def test_headline_shares_count_harmful_caught_and_legitimate_blocked_or_held(
        mixed_report: EvaluationReport) -> None:
    # Given the mixed corpus, When it is scored, Then block and review both count as caught
    assert (mixed_report.harmful_caught.hits, mixed_report.harmful_caught.total) == (5, 6)
    assert (mixed_report.childlike_caught.hits, mixed_report.childlike_caught.total) == (2, 2)
    assert (mixed_report.childlike_blocked.hits, mixed_report.childlike_blocked.total) == (1, 2)
    assert (mixed_report.legitimate_blocked.hits, mixed_report.legitimate_blocked.total) == (1, 4)
    assert (mixed_report.legitimate_held.hits, mixed_report.legitimate_held.total) == (1, 4)
    assert mixed_report.listings == 10


def test_per_category_precision_and_recall_need_the_expected_category_among_the_predicted(
        mixed_report: EvaluationReport) -> None:
    # Given gun-2 predicted as IP and fake-1 predicted as IP and UNSAFE
    scores = {score.category: score for score in mixed_report.categories}
    # Then UNSAFE: gun-1 right; gun-2 and gun-3 missed; fake-1 and ok-1 wrongly flagged UNSAFE
    unsafe = scores[UNSAFE]
    assert (unsafe.true_positives, unsafe.false_negatives, unsafe.false_positives) == (1, 2, 2)
    assert unsafe.recall.value == pytest.approx(1 / 3)
    assert unsafe.precision.value == pytest.approx(1 / 3)
    # And IP: fake-1 right (its category is among two), gun-2 a false positive
    ip = scores[IP]
    assert (ip.true_positives, ip.false_negatives, ip.false_positives) == (1, 0, 1)
    # And MINORS: both dolls right, ok-2 a false positive
    minors = scores[MINORS]
    assert (minors.true_positives, minors.false_negatives, minors.false_positives) == (2, 0, 1)


def test_confusion_matrix_is_expected_by_predicted(mixed_report: EvaluationReport) -> None:
    assert mixed_report.confusion == {
        "allow": {"allow": 2, "review": 1, "block": 1},
        "review": {"allow": 0, "review": 0, "block": 1},
        "block": {"allow": 1, "review": 1, "block": 3},
    }


def test_families_report_the_share_of_harmful_listings_caught(mixed_report: EvaluationReport) -> None:
    families = {name: (share.hits, share.total) for name, share in mixed_report.families.items()}
    assert families == {"childlike_sex_doll": (2, 2), "counterfeits": (1, 1), "firearms": (2, 3)}


def test_languages_come_from_tags_then_locale_then_unknown(mixed_report: EvaluationReport) -> None:
    languages = {group.name: group for group in mixed_report.by_language}
    assert set(languages) == {"de", "en", "fr", "pl", "unknown"}
    assert (languages["pl"].harmful_caught.hits, languages["pl"].harmful_caught.total) == (0, 1)
    assert (languages["fr"].legitimate_blocked.hits, languages["fr"].legitimate_blocked.total) == (1, 1)
    assert languages["en"].listings == 4


def test_kinds_slice_the_corpus_by_tags_kind(mixed_report: EvaluationReport) -> None:
    kinds = {group.name: group for group in mixed_report.by_kind}
    assert set(kinds) == {"harmful", "hard_negative", "plain"}
    hard = kinds["hard_negative"]
    assert (hard.legitimate_blocked.hits, hard.legitimate_held.hits, hard.legitimate_blocked.total) == (1, 1, 2)
    assert (kinds["plain"].exact.hits, kinds["plain"].exact.total) == (2, 2)


def test_misclassified_listings_are_named_with_their_problem(mixed_report: EvaluationReport) -> None:
    problems = {item.id: item.problem for item in mixed_report.misclassified}
    assert problems == {
        "doll-2": "under-enforced",
        "gun-2": "wrong category",
        "gun-3": "missed",
        "fake-1": "over-enforced",
        "ok-1": "false block",
        "ok-2": "false hold",
    }


def test_targets_report_each_miss(mixed_report: EvaluationReport) -> None:
    # Given 5/6 harmful caught, 1/4 legitimate blocked and 1/4 held, When checked against the rules targets
    failures = check_targets(mixed_report, RULES_ONLY_TARGETS)
    # Then three targets fail and the child-like target (2/2) passes
    assert len(failures) == 3
    assert any(f.startswith("harmful caught 83.3 % (5/6) < 97.0 %") for f in failures)
    assert any(f.startswith("legitimate blocked 25.0 % (1/4) > 1.0 %") for f in failures)
    assert any(f.startswith("legitimate held for review 25.0 % (1/4) > 5.0 %") for f in failures)


def test_targets_pass_for_a_perfect_screen(mixed_corpus: Path) -> None:
    truth = {item.listing.id: (item.decision, [item.category] if item.category else [])
             for item in load_corpus(mixed_corpus)}
    report = evaluate_corpus(mixed_corpus, screen_from(truth))
    assert check_targets(report) == []
    assert report.misclassified == []


def test_a_target_without_listings_to_measure_it_fails(tmp_path: Path) -> None:
    # Given a corpus with no child-like dolls
    corpus = write_corpus(tmp_path / "c.jsonl", [line("ok", "allow"), line("gun", "block", UNSAFE, "firearms")])
    report = evaluate_corpus(corpus, screen_from({"ok": ("allow", []), "gun": ("block", [UNSAFE])}))
    # Then the child-like target cannot be claimed
    assert check_targets(report) == ["child-like dolls caught: no listings in the corpus to measure it"]
    # And looser targets are honoured
    assert check_targets(report, Targets(min_childlike_caught=0.0)) == [
        "child-like dolls caught: no listings in the corpus to measure it"]


def test_report_formats_as_plain_text_tables(mixed_report: EvaluationReport) -> None:
    text = format_report(mixed_report)
    assert "harmful caught            83.3 % (5/6)" in text
    assert "PROTECTION_OF_MINORS" in text
    assert "misclassified (6)" in text
    assert "gun-3" in text
    confusion_row = next(row for row in text.splitlines() if row.startswith("block "))
    assert confusion_row.split() == ["block", "1", "1", "3"]


def test_report_serialises_to_json(mixed_report: EvaluationReport) -> None:
    data = json.loads(json.dumps(mixed_report.to_dict()))
    assert data["harmful_caught"] == {"hits": 5, "total": 6, "value": pytest.approx(5 / 6)}
    assert {m["id"] for m in data["misclassified"]} == {"doll-2", "gun-2", "gun-3", "fake-1", "ok-1", "ok-2"}


@pytest.mark.parametrize(("document", "message"), [
    ({"id": "x", "title": "t"}, 'missing "expected"'),
    ({"id": "x", "title": "t", "expected": {"decision": "maybe"}}, "expected.decision"),
    ({"id": "x", "title": "t", "expected": {"decision": "block"}}, "expected.category is required"),
    ({"id": "x", "title": "t", "expected": {"decision": "block", "category": "VIOLENCE"}},
     "not a DSA statement category"),
    ({"id": "x", "expected": {"decision": "allow"}}, "invalid listing"),
])
def test_malformed_corpus_lines_name_the_file_and_line(tmp_path: Path, document: dict[str, Any],
                                                       message: str) -> None:
    corpus = write_corpus(tmp_path / "bad.jsonl", [line("fine", "allow"), document])
    with pytest.raises(ValueError, match=message) as raised:
        load_corpus(corpus)
    assert f"{corpus}:2:" in str(raised.value)


def test_a_screen_answering_an_unknown_decision_is_refused(mixed_corpus: Path) -> None:
    with pytest.raises(ValueError, match="screen returned 'maybe'"):
        evaluate_corpus(mixed_corpus, lambda listing: ("maybe", []))
