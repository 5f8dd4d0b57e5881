from __future__ import annotations

import pytest

from prescreen.classifier.base import ClassifierScores, ClassifierUnavailable
from prescreen.classifier.breaker import CircuitBreaker
from prescreen.classifier.guarded import GuardedClassifier


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ScriptedClassifier:
    """Plays back outcomes; each call advances the shared clock by its duration."""

    name = "scripted"

    def __init__(self, clock: Clock, outcomes: list[tuple[float, ClassifierUnavailable | None]]) -> None:
        self.clock = clock
        self.outcomes = outcomes
        self.timeouts: list[float] = []

    def classify(self, text: str, timeout_seconds: float) -> ClassifierScores:
        self.timeouts.append(timeout_seconds)
        duration, failure = self.outcomes.pop(0)
        self.clock.now += min(duration, timeout_seconds)
        if failure is not None:
            raise failure
        if duration > timeout_seconds:
            raise ClassifierUnavailable("timeout", "too slow")
        return ClassifierScores({"drugs": 0.9}, "scripted")


def test_one_retry_inside_the_budget_after_a_server_error() -> None:
    clock = Clock()
    inner = ScriptedClassifier(clock, [(0.1, ClassifierUnavailable("http_error", "500")), (0.1, None)])
    scores = GuardedClassifier(inner, budget_seconds=0.8, clock=clock).classify("x")
    assert (scores.attempts, scores.scores) == (2, {"drugs": 0.9})
    assert inner.timeouts == pytest.approx([0.8, 0.7])  # the retry gets only what is left
    assert scores.latency_ms == pytest.approx(200.0)


def test_a_timeout_spends_the_budget_and_is_not_retried() -> None:
    clock = Clock()
    inner = ScriptedClassifier(clock, [(5.0, None)])
    with pytest.raises(ClassifierUnavailable) as failed:
        GuardedClassifier(inner, budget_seconds=0.8, clock=clock).classify("x")
    assert failed.value.kind == "timeout"
    assert clock.now == pytest.approx(0.8)
    assert len(inner.timeouts) == 1


def test_two_failures_give_up_without_a_third_call() -> None:
    clock = Clock()
    failures: list[tuple[float, ClassifierUnavailable | None]] = [
        (0.01, ClassifierUnavailable("malformed", "x")), (0.01, ClassifierUnavailable("malformed", "y"))]
    inner = ScriptedClassifier(clock, failures)
    with pytest.raises(ClassifierUnavailable) as failed:
        GuardedClassifier(inner, clock=clock).classify("x")
    assert failed.value.detail == "y"
    assert inner.outcomes == []


def test_the_breaker_opens_after_repeated_failures_and_half_opens_after_cool_down() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, cool_down_seconds=30, clock=clock)
    inner = ScriptedClassifier(clock, [(0.01, ClassifierUnavailable("connection", "refused"))] * 4 + [(0.01, None)])
    guarded = GuardedClassifier(inner, breaker=breaker, clock=clock)
    for _ in range(2):
        with pytest.raises(ClassifierUnavailable):
            guarded.classify("x")
    assert breaker.state == "open"
    calls_before = len(inner.timeouts)
    with pytest.raises(ClassifierUnavailable) as short_circuited:
        guarded.classify("x")
    assert short_circuited.value.kind == "circuit_open"
    assert len(inner.timeouts) == calls_before  # no call went out while open
    clock.now += 30
    assert breaker.state == "half_open"  # type: ignore[comparison-overlap]
    assert guarded.classify("x").scores == {"drugs": 0.9}
    assert breaker.state == "closed"


def test_a_failed_half_open_trial_reopens_at_once() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, cool_down_seconds=10, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now = 10
    assert breaker.allow()
    assert not breaker.allow()  # only one trial at a time
    breaker.record_failure()
    assert breaker.state == "open"
