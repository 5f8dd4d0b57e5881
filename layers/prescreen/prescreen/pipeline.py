"""The screening pipeline: normalise -> rules -> classifier -> decision policy, with no I/O of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from prescreen.decide import DecisionDraft, decide
from prescreen.models import Listing, RuleHit
from prescreen.records import ClassifierInfo


class RulePolicy(Protocol):
    """A compiled policy as the pipeline needs it (prescreen.policy.CompiledPolicy is the real one)."""

    @property
    def version(self) -> str: ...

    def evaluate(self, listing: Listing) -> list[RuleHit]: ...


class PolicySource(Protocol):
    def get(self, name: str) -> RulePolicy: ...


@dataclass(frozen=True, slots=True)
class Screening:
    draft: DecisionDraft
    policy_version: str
    classifier: ClassifierInfo


class Screener:
    def __init__(self, policies: PolicySource) -> None:
        self._policies = policies

    def screen(self, listing: Listing, policy_name: str) -> Screening:
        policy = self._policies.get(policy_name)
        hits = policy.evaluate(listing)  # normalisation happens inside, once per field
        draft = decide(hits)
        return Screening(draft=draft, policy_version=policy.version, classifier=ClassifierInfo(status="disabled"))
