"""How classifier scores become decisions: per-family thresholds and fallbacks (the `classifier:` block of a
policy file)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

FallbackAction = Literal["review", "allow"]

# Families whose harm is grave enough that an unavailable classifier must not let them through unseen.
DEFAULT_REVIEW_ON_FALLBACK = (
    "childlike_sex_doll", "firearms", "weapon_parts", "prohibited_weapons", "drugs", "drug_precursors",
)


def _review_all(families: tuple[str, ...]) -> dict[str, FallbackAction]:
    return dict.fromkeys(families, "review")


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    review: float = Field(ge=0.0, le=1.0, description="hold for review at or above this score")
    block: float = Field(ge=0.0, le=1.0, description="block at or above this score")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.block < self.review:
            raise ValueError("block must be at or above review")
        return self


class ClassifierPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds: dict[str, Thresholds] = Field(
        default_factory=dict, description="family -> thresholds; families not listed never act on scores")
    fallback: dict[str, FallbackAction] = Field(
        default_factory=lambda: _review_all(DEFAULT_REVIEW_ON_FALLBACK),
        description="family -> what to do when the classifier is unavailable and this family is suspected",
    )
    fallback_default: FallbackAction = Field("allow", description="for a suspected family not listed above")
    no_signal: FallbackAction = Field("allow", description="when the classifier is unavailable and nothing hints")

    def action_for(self, family: str, score: float) -> Literal["block", "review"] | None:
        thresholds = self.thresholds.get(family)
        if thresholds is None:
            return None
        if score >= thresholds.block:
            return "block"
        if score >= thresholds.review:
            return "review"
        return None

    def fallback_for(self, family: str) -> FallbackAction:
        return self.fallback.get(family, self.fallback_default)
