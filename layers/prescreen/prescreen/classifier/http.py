"""HTTP JSON classifier in the OpenAI moderation shape: OpenAI's hosted moderation, or our own model service.

`POST {base_url}/v1/moderations {"model": ..., "input": text}` -> `{"model", "results": [{"category_scores"}]}`.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import urllib3

from prescreen.classifier.base import ClassifierScores, ClassifierUnavailable, scores_from_labels


class ModerationHttpClassifier:
    def __init__(self, base_url: str, model: str, label_to_family: dict[str, str] | None = None,
                 api_key: Callable[[], str | None] | None = None, max_connections: int = 10) -> None:
        self._url = base_url.rstrip("/") + "/v1/moderations"
        self._model = model
        self._labels = label_to_family or {}
        self._api_key = api_key
        # urllib3 sets TCP_NODELAY on its sockets; keep-alive avoids a handshake per listing.
        self._pool = urllib3.PoolManager(maxsize=max_connections, retries=False)

    @property
    def name(self) -> str:
        return self._model

    def classify(self, text: str, timeout_seconds: float) -> ClassifierScores:
        headers = {"content-type": "application/json"}
        key = self._api_key() if self._api_key else None
        if key:
            headers["authorization"] = f"Bearer {key}"
        body = json.dumps({"model": self._model, "input": text}).encode()
        try:
            response = self._pool.request(
                "POST", self._url, body=body, headers=headers,
                timeout=urllib3.Timeout(connect=min(timeout_seconds, 0.5), read=timeout_seconds),
            )
        except urllib3.exceptions.NewConnectionError as error:
            # Checked first: urllib3 makes a refused connection a subclass of its connect timeout.
            raise ClassifierUnavailable("connection", f"{self._url}: {error}") from error
        except urllib3.exceptions.TimeoutError as error:
            raise ClassifierUnavailable("timeout", f"{self._url}: {error}") from error
        except urllib3.exceptions.HTTPError as error:  # reset connections, DNS, TLS
            raise ClassifierUnavailable("connection", f"{self._url}: {error}") from error
        if response.status != 200:
            raise ClassifierUnavailable("http_error", f"{self._url} answered {response.status}")
        return parse_moderation(response.data, self._labels, self._model)


def parse_moderation(payload: bytes, label_to_family: dict[str, str], requested_model: str) -> ClassifierScores:
    try:
        document = json.loads(payload)
        result = document["results"][0]
        raw_scores = result["category_scores"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise ClassifierUnavailable("malformed", f"not a moderation response: {error}") from error
    model = document.get("model") if isinstance(document.get("model"), str) else requested_model
    return scores_from_labels(raw_scores, label_to_family, str(model))
