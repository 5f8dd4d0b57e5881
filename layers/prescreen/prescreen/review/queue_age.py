"""How long the oldest undecided review of each marketplace has waited (for the metric and its alarm)."""

from __future__ import annotations

from dataclasses import dataclass

from prescreen.settings import Settings


@dataclass(frozen=True, slots=True)
class QueueAges:
    ages: dict[str, float | None]  # marketplace -> seconds, None for an empty queue

    @property
    def oldest(self) -> float:
        return max((age for age in self.ages.values() if age is not None), default=0.0)


def measure_queue_ages(settings: Settings) -> QueueAges:
    from prescreen.wiring import build_marketplace_names, build_review_service

    service = build_review_service(settings)
    return QueueAges({name: service.oldest_pending_age_seconds(name) for name in build_marketplace_names(settings)})
