"""The screening pipeline: normalise -> rules -> classifier -> decision policy, with no I/O of its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from prescreen.classifier.base import ClassifierScores, ClassifierUnavailable
from prescreen.classifier.policy import ClassifierPolicy
from prescreen.decide import DecisionDraft, classifier_reasons, decide, fallback_reasons, rules_block
from prescreen.models import Listing, Reason, RuleHit
from prescreen.records import ClassifierInfo

# The classifier reads what a person reads first; a 20k-character description adds cost, not signal.
CLASSIFIER_TEXT_LIMIT = 2000


class RulePolicy(Protocol):
    """A compiled policy as the pipeline needs it (prescreen.policy.CompiledPolicy is the real one)."""

    @property
    def version(self) -> str: ...

    @property
    def classifier(self) -> ClassifierPolicy: ...

    def evaluate(self, listing: Listing) -> list[RuleHit]: ...

    def family_category(self, family: str) -> str: ...

    def families_for_category(self, category_path: str) -> list[str]: ...


class PolicySource(Protocol):
    def get(self, name: str) -> RulePolicy: ...


class ListingClassifier(Protocol):
    """A classifier already bounded by its budget (prescreen.classifier.guarded.GuardedClassifier)."""

    @property
    def name(self) -> str: ...

    def classify(self, text: str) -> ClassifierScores: ...


@dataclass(frozen=True, slots=True)
class Screening:
    draft: DecisionDraft
    policy_version: str
    classifier: ClassifierInfo


def classifier_text(listing: Listing) -> str:
    parts = [listing.title, listing.category or "", (listing.description or "")[:CLASSIFIER_TEXT_LIMIT]]
    parts += [f"{key}: {value}" for key, value in listing.attributes.items() if isinstance(value, str)]
    return "\n".join(part for part in parts if part)[: CLASSIFIER_TEXT_LIMIT + 600]


def suspected_families(hits: Sequence[RuleHit], listing: Listing, policy: RulePolicy) -> list[str]:
    """Hints of a family without a block: review-level and shadow rule hits, then the seller's category."""
    families = [hit.family for hit in hits if not (hit.mode == "enforce" and hit.action == "block")]
    if listing.category:
        families += policy.families_for_category(listing.category)
    return list(dict.fromkeys(families))


class Screener:
    def __init__(self, policies: PolicySource, classifier: ListingClassifier | None = None) -> None:
        self._policies = policies
        self._classifier = classifier

    def screen(self, listing: Listing, policy_name: str) -> Screening:
        policy = self._policies.get(policy_name)
        hits = policy.evaluate(listing)  # normalisation happens inside, once per field
        extra: list[Reason] = []
        if self._classifier is None:
            info = ClassifierInfo(status="disabled")
        elif rules_block(hits):
            # Rules already block: a classifier call would cost latency and change nothing.
            info = ClassifierInfo(status="skipped", model=self._classifier.name)
        else:
            try:
                scores = self._classifier.classify(classifier_text(listing))
            except ClassifierUnavailable as error:
                info = ClassifierInfo(status="unavailable", model=self._classifier.name, failure=error.kind)
                extra = fallback_reasons(suspected_families(hits, listing, policy), policy.classifier,
                                         policy.family_category)
            else:
                info = ClassifierInfo(status="ok", model=scores.model, latency_ms=scores.latency_ms,
                                      scores=dict(scores.scores))
                extra = classifier_reasons(scores, policy.classifier, policy.family_category)
        return Screening(draft=decide(hits, extra), policy_version=policy.version, classifier=info)

