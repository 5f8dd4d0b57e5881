"""Quality of rules + our classifier, through the real pipeline and the model service over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prescreen.evaluation import EvaluationReport, evaluate_corpus
from prescreen.models import Listing
from prescreen.pipeline import Screener
from prescreen.policy.provider import BundledPolicyProvider
from prescreen.settings import Settings
from prescreen.wiring import build_classifier

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    from prescreen_model.server import running

    with running() as model:
        yield model.url


def evaluate(corpus: Path, screener: Screener) -> EvaluationReport:
    def screen(listing: Listing) -> tuple[str, list[str]]:
        draft = screener.screen(listing, "base").draft
        return draft.decision, draft.categories

    return evaluate_corpus(corpus, screen)


def with_classifier(model_url: str) -> Screener:
    classifier = build_classifier(Settings(stage="local", classifier="http", classifier_url=model_url,
                                           classifier_budget_ms=2000))
    return Screener(BundledPolicyProvider(), classifier)


def test_the_classifier_catches_paraphrases_that_no_rule_matches(model_url: str) -> None:
    corpus = DATA / "paraphrase_corpus.jsonl"
    rules = evaluate(corpus, Screener(BundledPolicyProvider()))
    fused = evaluate(corpus, with_classifier(model_url))
    # Given listings worded so that no rule matches them (the subset's own definition)
    assert rules.harmful_caught.hits == 0
    # Then the classifier catches >= 80 % of them while blocking <= 2 % of the look-alikes
    assert fused.harmful_caught.total >= 100
    assert fused.harmful_caught.value is not None
    assert fused.harmful_caught.value >= 0.80, fused.harmful_caught
    assert fused.legitimate_blocked.value is not None
    assert fused.legitimate_blocked.value <= 0.02, fused.legitimate_blocked


def test_on_the_development_corpus_the_classifier_adds_no_false_blocks(model_url: str) -> None:
    corpus = DATA / "dev_corpus.jsonl"
    rules = evaluate(corpus, Screener(BundledPolicyProvider()))
    fused = evaluate(corpus, with_classifier(model_url))
    assert fused.harmful_caught.hits >= rules.harmful_caught.hits
    assert fused.legitimate_blocked.hits <= rules.legitimate_blocked.hits
