"""Decision policy: rule hits (and, once wired, classifier scores and fallbacks) -> one decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from prescreen.models import DecisionOutcome, Reason, RuleHit

_SEVERITY: dict[str, int] = {"block": 2, "review": 1, "allow": 0}


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
    # Strictest first so the first reason is the one that explains the decision.
    enforced.sort(key=lambda reason: -_SEVERITY[reason.action])
    decision: DecisionOutcome = "allow"
    if enforced and enforced[0].action in ("block", "review"):
        decision = "block" if enforced[0].action == "block" else "review"
    categories: list[str] = []
    for reason in enforced:
        if reason.action != "allow" and reason.category not in categories:
            categories.append(reason.category)
    return DecisionDraft(decision=decision, categories=categories, reasons=enforced, shadow_reasons=shadow)
