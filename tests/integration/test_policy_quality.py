"""CI fails when the shipped policy misses the rules-only targets on the development corpus."""

from __future__ import annotations

from pathlib import Path

from prescreen.evaluation import check_targets, evaluate_corpus, format_report
from prescreen.models import Listing
from prescreen.pipeline import Screener
from prescreen.policy.provider import BundledPolicyProvider

CORPUS = Path(__file__).resolve().parents[1] / "data" / "dev_corpus.jsonl"


def test_rules_alone_meet_the_targets_on_the_development_corpus() -> None:
    # Given the shipped base policy, rules only
    screener = Screener(BundledPolicyProvider())

    def screen(listing: Listing) -> tuple[str, list[str]]:
        draft = screener.screen(listing, "base").draft
        return draft.decision, draft.categories

    # When every corpus listing is screened
    report = evaluate_corpus(CORPUS, screen)

    # Then >= 97 % harmful caught, 100 % child-like dolls, <= 1 % legitimate blocked, <= 5 % held
    assert report.listings >= 600
    assert check_targets(report) == [], format_report(report)
