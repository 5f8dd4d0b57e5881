"""Decision fusion: rules, classifier scores and fallbacks, with a scripted classifier and a stub policy."""

from __future__ import annotations

import pytest

from prescreen.classifier.base import ClassifierScores, ClassifierUnavailable
from prescreen.classifier.policy import ClassifierPolicy, Thresholds
from prescreen.models import Listing, RuleHit
from prescreen.pipeline import RulePolicy, Screener, Screening

FAMILY_CATEGORIES = {
    "childlike_sex_doll": "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "firearms": "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "counterfeits": "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
}


class StubPolicy:
    version = "stub+000000000000"
    classifier = ClassifierPolicy(thresholds={"childlike_sex_doll": Thresholds(review=0.4, block=0.8),
                                              "firearms": Thresholds(review=0.5, block=0.9)})

    def __init__(self, hits: list[RuleHit]) -> None:
        self.hits = hits

    def evaluate(self, listing: Listing) -> list[RuleHit]:
        return self.hits

    def family_category(self, family: str) -> str:
        return FAMILY_CATEGORIES[family]

    def families_for_category(self, category_path: str) -> list[str]:
        return ["firearms"] if "Weapons" in category_path else (["counterfeits"] if "Watches" in category_path else [])


class OnePolicy:
    def __init__(self, policy: StubPolicy) -> None:
        self.policy = policy

    def get(self, name: str) -> RulePolicy:
        return self.policy


class ScriptedClassifier:
    name = "scripted-model"

    def __init__(self, outcome: ClassifierScores | ClassifierUnavailable) -> None:
        self.outcome = outcome
        self.calls = 0

    def classify(self, text: str) -> ClassifierScores:
        self.calls += 1
        if isinstance(self.outcome, ClassifierUnavailable):
            raise self.outcome
        return self.outcome


def hit(action: str, family: str = "childlike_sex_doll", mode: str = "enforce") -> RuleHit:
    return RuleHit.model_validate({"rule_id": f"rule.{family}.{action}", "category": FAMILY_CATEGORIES[family],
                                   "family": family, "action": action, "mode": mode})


LISTING = Listing(id="l-1", title="item")


def screen(hits: list[RuleHit], outcome: ClassifierScores | ClassifierUnavailable,
           listing: Listing = LISTING) -> tuple[ScriptedClassifier, Screening]:
    classifier = ScriptedClassifier(outcome)
    return classifier, Screener(OnePolicy(StubPolicy(hits)), classifier).screen(listing, "base")


def test_the_classifier_is_skipped_when_rules_already_block() -> None:
    classifier, result = screen([hit("block")], ClassifierScores({"firearms": 0.99}, "m"))
    assert classifier.calls == 0
    assert result.classifier.status == "skipped"
    assert result.draft.decision == "block"


@pytest.mark.parametrize(("score", "decision"), [(0.95, "block"), (0.85, "review"), (0.3, "allow")])
def test_scores_act_at_their_family_thresholds(score: float, decision: str) -> None:
    _, result = screen([], ClassifierScores({"firearms": score, "unlisted_family": 0.99}, "m", 12.0))
    draft = result.draft
    assert draft.decision == decision
    if decision != "allow":
        assert [(r.source, r.id, r.score) for r in draft.reasons] == [("classifier", "classifier.firearms", score)]
    assert result.classifier.model == "m"
    assert result.classifier.latency_ms == 12.0


def test_a_classifier_review_does_not_weaken_a_rule_review() -> None:
    _, result = screen([hit("review")], ClassifierScores({"childlike_sex_doll": 0.9}, "m"))
    draft = result.draft
    assert draft.decision == "block"
    assert [r.source for r in draft.reasons] == ["classifier", "rule"]


def test_unavailable_with_a_suspected_grave_family_falls_back_to_review() -> None:
    _, result = screen([hit("review", mode="shadow")], ClassifierUnavailable("timeout", "slow"))
    draft = result.draft
    assert draft.decision == "review"
    assert [(r.source, r.id, r.action) for r in draft.reasons] == [
        ("fallback", "fallback.childlike_sex_doll", "review")]
    assert (result.classifier.status, result.classifier.failure) == ("unavailable", "timeout")


def test_unavailable_uses_the_sellers_category_when_rules_say_nothing() -> None:
    weapons = Listing(id="l-2", title="item", category="Sport > Weapons")
    _, result = screen([], ClassifierUnavailable("connection", "refused"), weapons)
    assert result.draft.decision == "review"
    watch = Listing(id="l-3", title="item", category="Fashion > Watches")
    _, flagged = screen([], ClassifierUnavailable("connection", "refused"), watch)
    # counterfeits are not grave enough to hold: allowed, with the fallback flagged in the reasons
    assert flagged.draft.decision == "allow"
    assert [(r.id, r.action) for r in flagged.draft.reasons] == [("fallback.counterfeits", "allow")]


def test_unavailable_with_no_signal_applies_the_configured_default() -> None:
    _, result = screen([], ClassifierUnavailable("malformed", "junk"))
    draft = result.draft
    assert draft.decision == "allow"
    assert [(r.source, r.id, r.action) for r in draft.reasons] == [("fallback", "fallback.no_signal", "allow")]
    assert draft.categories == []


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="block must be at or above review"):
        Thresholds(review=0.9, block=0.5)
