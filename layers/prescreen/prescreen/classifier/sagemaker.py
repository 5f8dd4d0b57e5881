"""SageMaker runtime InvokeEndpoint with the same JSON as the moderation shape (our container answers it)."""

from __future__ import annotations

import json
from typing import Any

from prescreen.classifier.aws import aws_call
from prescreen.classifier.base import ClassifierScores
from prescreen.classifier.http import parse_moderation


class SageMakerClassifier:
    def __init__(self, client: Any, endpoint_name: str, label_to_family: dict[str, str] | None = None) -> None:
        """`client` is a boto3 `sagemaker-runtime` client whose read timeout fits the budget."""
        self._client = client
        self._endpoint = endpoint_name
        self._labels = label_to_family or {}

    @property
    def name(self) -> str:
        return f"sagemaker:{self._endpoint}"

    def classify(self, text: str, timeout_seconds: float) -> ClassifierScores:
        with aws_call(self.name):
            response = self._client.invoke_endpoint(
                EndpointName=self._endpoint,
                ContentType="application/json",
                Accept="application/json",
                Body=json.dumps({"input": text}).encode(),
            )
            payload = response["Body"].read()
        return parse_moderation(payload, self._labels, self.name)
