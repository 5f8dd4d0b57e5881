"""Our model function called with Lambda `Invoke` (IAM-authorised by the SDK's SigV4; no public URL).

The payload is the Function URL event shape the model function already routes, so one handler serves both.
"""

from __future__ import annotations

import json
from typing import Any

from prescreen.classifier.aws import aws_call
from prescreen.classifier.base import ClassifierScores, ClassifierUnavailable
from prescreen.classifier.http import parse_moderation


class LambdaInvokeClassifier:
    def __init__(self, client: Any, function_name: str, model: str,
                 label_to_family: dict[str, str] | None = None) -> None:
        """`client` is a boto3 `lambda` client whose read timeout fits the budget."""
        self._client = client
        self._function = function_name
        self._model = model
        self._labels = label_to_family or {}

    @property
    def name(self) -> str:
        return self._model

    def classify(self, text: str, timeout_seconds: float) -> ClassifierScores:
        event = {
            "version": "2.0",
            "rawPath": "/v1/moderations",
            "requestContext": {"http": {"method": "POST", "path": "/v1/moderations"}},
            "headers": {"content-type": "application/json"},
            "body": json.dumps({"model": self._model, "input": text}),
            "isBase64Encoded": False,
        }
        with aws_call(f"lambda:{self._function}"):
            response = self._client.invoke(FunctionName=self._function, Payload=json.dumps(event).encode())
            payload = response["Payload"].read()
        if response.get("FunctionError"):
            raise ClassifierUnavailable("http_error", f"lambda:{self._function} failed: {payload[:200]!r}")
        try:
            proxy = json.loads(payload)
            status, body = int(proxy["statusCode"]), proxy["body"]
        except (ValueError, KeyError, TypeError) as error:
            raise ClassifierUnavailable("malformed", f"not a proxy response: {error}") from error
        if status != 200:
            raise ClassifierUnavailable("http_error", f"lambda:{self._function} answered {status}")
        return parse_moderation(str(body).encode(), self._labels, self._model)
