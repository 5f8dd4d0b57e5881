"""The classifier seam: a Protocol the decision pipeline calls, whatever service sits behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

FailureKind = Literal["timeout", "connection", "http_error", "malformed", "circuit_open"]


@dataclass(frozen=True, slots=True)
class ClassifierScores:
    """Scores in [0, 1] keyed by our product families (e.g. `childlike_sex_doll`)."""

    scores: dict[str, float]
    model: str
    latency_ms: float = 0.0
    attempts: int = 1
    unmapped: dict[str, float] = field(default_factory=dict)  # service labels we have no family for


class ClassifierUnavailable(Exception):
    """The classifier gave no usable answer; `kind` says why (the decision then falls back)."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class Classifier(Protocol):
    @property
    def name(self) -> str: ...

    def classify(self, text: str, timeout_seconds: float) -> ClassifierScores:
        """Raise ClassifierUnavailable on any failure; never wait longer than `timeout_seconds`."""


def scores_from_labels(raw: object, label_to_family: dict[str, str], model: str) -> ClassifierScores:
    """Map a service's `{label: score}` onto our families (max when several labels share one family)."""
    if not isinstance(raw, dict) or not raw:
        raise ClassifierUnavailable("malformed", "category_scores is missing or not an object")
    scores: dict[str, float] = {}
    unmapped: dict[str, float] = {}
    for label, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
            raise ClassifierUnavailable("malformed", f"score of '{label}' is not a number in [0, 1]")
        family = label_to_family.get(str(label), str(label) if not label_to_family else "")
        if family:
            scores[family] = max(scores.get(family, 0.0), float(value))
        else:
            unmapped[str(label)] = float(value)
    return ClassifierScores(scores=scores, model=model, unmapped=unmapped)


# OpenAI's moderation categories that mean something for product listings, mapped to our families.
OPENAI_LABELS: dict[str, str] = {
    "sexual/minors": "childlike_sex_doll",
    "illicit/violent": "firearms",
    "illicit": "drugs",
    "self-harm/instructions": "unsafe_products",
    "hate": "extremist_memorabilia",
    "sexual": "adult_products",
}
