"""The OpenAI-shape HTTP adapter, guarded by budget and breaker, against real servers on loopback."""

from __future__ import annotations

import time

import pytest

from prescreen.classifier.base import ClassifierUnavailable
from prescreen.classifier.guarded import GuardedClassifier
from prescreen.classifier.http import ModerationHttpClassifier
from prescreen.local.dynamodb import free_port
from support.moderation_faults import Behaviour, moderation_server

BUDGET = 0.3


def guarded(url: str) -> GuardedClassifier:
    return GuardedClassifier(ModerationHttpClassifier(url, "test-model"), budget_seconds=BUDGET)


def test_scores_come_back_with_model_and_latency() -> None:
    with moderation_server(Behaviour(scores={"childlike_sex_doll": 0.91})) as url:
        scores = guarded(url).classify("mini love doll")
    assert scores.scores == {"childlike_sex_doll": 0.91}
    assert scores.model == "fault-server"
    assert 0 < scores.latency_ms < BUDGET * 1000


def test_openai_labels_are_mapped_to_families() -> None:
    with moderation_server(Behaviour(scores={"sexual/minors": 0.8, "violence": 0.1})) as url:
        classifier = ModerationHttpClassifier(url, "omni-moderation-2024-09-26",
                                              label_to_family={"sexual/minors": "childlike_sex_doll"})
        scores = classifier.classify("x", 1.0)
    assert (scores.scores, scores.unmapped) == ({"childlike_sex_doll": 0.8}, {"violence": 0.1})


@pytest.mark.parametrize(
    ("behaviour", "kind", "requests"),
    [
        (Behaviour(mode="slow", delay_seconds=2.0), "timeout", 1),
        (Behaviour(mode="error"), "http_error", 2),
        (Behaviour(mode="malformed"), "malformed", 2),
    ],
)
def test_faults_are_unavailable_within_the_budget(behaviour: Behaviour, kind: str, requests: int) -> None:
    with moderation_server(behaviour) as url:
        started = time.monotonic()
        with pytest.raises(ClassifierUnavailable) as failed:
            guarded(url).classify("x")
        elapsed = time.monotonic() - started
    assert failed.value.kind == kind
    assert behaviour.requests == requests  # one retry for errors, none after a timeout
    assert elapsed < BUDGET + 0.1


def test_a_closed_port_is_a_connection_failure_within_the_budget() -> None:
    started = time.monotonic()
    with pytest.raises(ClassifierUnavailable) as failed:
        guarded(f"http://127.0.0.1:{free_port()}").classify("x")
    assert failed.value.kind == "connection"
    assert time.monotonic() - started < BUDGET + 0.1
