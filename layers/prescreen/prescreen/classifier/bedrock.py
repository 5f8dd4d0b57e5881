"""Bedrock Guardrails `ApplyGuardrail`: an intervention and its assessments mapped onto our families.

Denied topics named after our families (e.g. a topic `childlike_sex_doll`) map one to one; content filters map
by `filter_to_family` with their confidence as the score.
"""

from __future__ import annotations

from typing import Any

from prescreen.classifier.aws import aws_call
from prescreen.classifier.base import ClassifierScores, ClassifierUnavailable

CONFIDENCE_SCORE: dict[str, float] = {"NONE": 0.0, "LOW": 0.35, "MEDIUM": 0.65, "HIGH": 0.95}
BLOCKED_TOPIC_SCORE = 0.95
DEFAULT_FILTER_FAMILIES: dict[str, str] = {"SEXUAL": "adult_products", "MISCONDUCT": "drugs"}


class BedrockGuardrailClassifier:
    def __init__(self, client: Any, guardrail_id: str, guardrail_version: str,
                 topic_to_family: dict[str, str] | None = None,
                 filter_to_family: dict[str, str] | None = None) -> None:
        self._client = client
        self._guardrail = guardrail_id
        self._version = guardrail_version
        self._topics = topic_to_family or {}
        self._filters = DEFAULT_FILTER_FAMILIES if filter_to_family is None else filter_to_family

    @property
    def name(self) -> str:
        return f"bedrock-guardrail:{self._guardrail}:{self._version}"

    def classify(self, text: str, timeout_seconds: float) -> ClassifierScores:
        with aws_call(self.name):
            response = self._client.apply_guardrail(
                guardrailIdentifier=self._guardrail,
                guardrailVersion=self._version,
                source="INPUT",
                content=[{"text": {"text": text}}],
            )
        return self._scores(response)

    def _scores(self, response: dict[str, Any]) -> ClassifierScores:
        action = response.get("action")
        if action not in ("NONE", "GUARDRAIL_INTERVENED"):
            raise ClassifierUnavailable("malformed", f"unexpected guardrail action {action!r}")
        scores: dict[str, float] = {}
        unmapped: dict[str, float] = {}

        def note(label: str, family: str | None, score: float) -> None:
            if family:
                scores[family] = max(scores.get(family, 0.0), score)
            else:
                unmapped[label] = max(unmapped.get(label, 0.0), score)

        for assessment in response.get("assessments", []):
            for topic in assessment.get("topicPolicy", {}).get("topics", []):
                if topic.get("action") == "BLOCKED":
                    name = str(topic.get("name", ""))
                    note(name, self._topics.get(name, name if not self._topics else None), BLOCKED_TOPIC_SCORE)
            for content_filter in assessment.get("contentPolicy", {}).get("filters", []):
                label = str(content_filter.get("type", ""))
                confidence = CONFIDENCE_SCORE.get(str(content_filter.get("confidence", "NONE")), 0.0)
                note(label, self._filters.get(label), confidence)
        return ClassifierScores(scores=scores, model=self.name, unmapped=unmapped)
