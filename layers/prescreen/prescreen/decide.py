"""Decision policy: rule hits, classifier scores and fallbacks -> one decision."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from prescreen.classifier.base import ClassifierScores
from prescreen.classifier.policy import ClassifierPolicy
from prescreen.models import DecisionOutcome, Reason, RuleHit

_SEVERITY: dict[str, int] = {"block": 2, "review": 1, "allow": 0}
# A suspected family the policy has no rule for still needs a DSA category on its fallback reason.
UNKNOWN_FAMILY_CATEGORY = "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"

FamilyCategory = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class DecisionDraft:
    decision: DecisionOutcome
    categories: list[str]
    reasons: list[Reason]
    shadow_reasons: list[Reason] = field(default_factory=list)


def decide(hits: Sequence[RuleHit], extra_reasons: Sequence[Reason] = ()) -> DecisionDraft:
    """The strictest enforced action wins; shadow hits are kept aside and never change the decision."""
    enforced = [hit.to_reason() for hit in hits if hit.mode == "enforce"] + list(extra_reasons)
    shadow = [hit.to_reason() for hit in hits if hit.mode == "shadow"]
    # Strictest first (stable), so the first reason is the one that explains the decision.
    enforced.sort(key=lambda reason: -_SEVERITY[reason.action])
    decision: DecisionOutcome = "allow"
    if enforced and enforced[0].action in ("block", "review"):
        decision = "block" if enforced[0].action == "block" else "review"
    categories: list[str] = []
    for reason in enforced:
        if reason.action != "allow" and reason.category not in categories:
            categories.append(reason.category)
    return DecisionDraft(decision=decision, categories=categories, reasons=enforced, shadow_reasons=shadow)


def rules_block(hits: Sequence[RuleHit]) -> bool:
    return any(hit.mode == "enforce" and hit.action == "block" for hit in hits)


def _category(family: str, family_category: FamilyCategory) -> str:
    try:
        return family_category(family)
    except KeyError:
        return UNKNOWN_FAMILY_CATEGORY


def classifier_reasons(
    scores: ClassifierScores, policy: ClassifierPolicy, family_category: FamilyCategory
) -> list[Reason]:
    """One reason per family whose score reaches its review or block threshold."""
    reasons = []
    for family, score in sorted(scores.scores.items(), key=lambda item: -item[1]):
        action = policy.action_for(family, score)
        if action is not None:
            reasons.append(Reason(source="classifier", id=f"classifier.{family}",
                                  category=_category(family, family_category), action=action,
                                  score=round(score, 4)))
    return reasons


def fallback_reasons(
    suspected_families: Sequence[str], policy: ClassifierPolicy, family_category: FamilyCategory
) -> list[Reason]:
    """What stands in for an unavailable classifier: per suspected family its fallback action, else the
    configured default. Always at least one reason, so every such decision says it was a fallback."""
    if not suspected_families:
        return [Reason(source="fallback", id="fallback.no_signal", category="STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
                       action=policy.no_signal)]
    return [
        Reason(source="fallback", id=f"fallback.{family}", category=_category(family, family_category),
               action=policy.fallback_for(family))
        for family in dict.fromkeys(suspected_families)
    ]
