"""Budget, one retry and a circuit breaker around any Classifier: the webhook never waits past its budget."""

from __future__ import annotations

import time
from collections.abc import Callable

from prescreen.classifier.base import Classifier, ClassifierScores, ClassifierUnavailable
from prescreen.classifier.breaker import CircuitBreaker

# A retry with less time than this left cannot finish: give up instead of starting it.
MIN_ATTEMPT_SECONDS = 0.05


class GuardedClassifier:
    def __init__(self, inner: Classifier, budget_seconds: float = 0.8, breaker: CircuitBreaker | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._inner = inner
        self._budget = budget_seconds
        self._breaker = breaker or CircuitBreaker()
        self._clock = clock

    @property
    def name(self) -> str:
        return self._inner.name

    def classify(self, text: str) -> ClassifierScores:
        if not self._breaker.allow():
            raise ClassifierUnavailable("circuit_open", f"{self.name} failed repeatedly; cooling down")
        started = self._clock()
        deadline = started + self._budget
        last_error: ClassifierUnavailable | None = None
        for attempt in (1, 2):  # at most one retry, inside the same budget
            remaining = deadline - self._clock()
            if remaining < MIN_ATTEMPT_SECONDS:
                break
            try:
                scores = self._inner.classify(text, remaining)
            except ClassifierUnavailable as error:
                last_error = error
                if error.kind == "timeout":
                    break  # the budget is spent: a retry could only overrun it
                continue
            self._breaker.record_success()
            elapsed = (self._clock() - started) * 1000
            return ClassifierScores(scores.scores, scores.model, round(elapsed, 3), attempt, scores.unmapped)
        self._breaker.record_failure()
        raise last_error or ClassifierUnavailable("timeout", f"no time left in the {self._budget:.3f} s budget")
