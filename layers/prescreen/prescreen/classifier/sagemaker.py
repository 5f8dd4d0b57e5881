"""SageMaker runtime InvokeEndpoint with the same JSON as the moderation shape (our container answers it)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from prescreen.classifier.base import ClassifierScores, ClassifierUnavailable
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
        try:
            response = self._client.invoke_endpoint(
                EndpointName=self._endpoint,
                ContentType="application/json",
                Accept="application/json",
                Body=json.dumps({"input": text}).encode(),
            )
            payload = response["Body"].read()
        except (ConnectTimeoutError, ReadTimeoutError) as error:
            raise ClassifierUnavailable("timeout", f"{self.name}: {error}") from error
        except ClientError as error:
            raise ClassifierUnavailable("http_error", f"{self.name}: {error}") from error
        except BotoCoreError as error:
            raise ClassifierUnavailable("connection", f"{self.name}: {error}") from error
        return parse_moderation(payload, self._labels, self.name)
