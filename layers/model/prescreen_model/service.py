"""Request handling for the classifier, free of any HTTP framework: the server and the Lambda handler both
call `ModerationService.handle(body)` and only translate transport.

Request:  {"input": "text" | ["text", ...], "model": optional}
Response: the OpenAI moderation shape, {"id": "modr-…", "model": "<name>-<version>+<weights digest>",
          "results": [{"flagged", "categories": {label: bool}, "category_scores": {label: float}}]}
Errors:   {"error": {"message", "type": "invalid_request_error", "param", "code"}} with a 4xx status.

Scores are the head's softmax probabilities (so they sum to at most 1 over the labels, 'none' taking the rest);
a listing is flagged when any label's score reaches that label's threshold (head.json, 0.5 by default).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from prescreen_model import embedder
from prescreen_model.head import HeadError, LinearHead, default_head

MAX_INPUTS = 32
MAX_TEXT_CHARS = 20_000

Embed = Callable[[Sequence[str]], npt.NDArray[np.float32]]


class RequestError(ValueError):
    """A request the service refuses; `status` and `body()` are what the client receives."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status

    def body(self) -> dict[str, Any]:
        return error_body(self.message, param=self.param, code=self.code)


def error_body(
    message: str, *, param: str | None = None, code: str | None = None, kind: str = "invalid_request_error"
) -> dict[str, Any]:
    """OpenAI's error envelope, so clients written against /v1/moderations read our errors too."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


@dataclass(frozen=True)
class ModerationRequest:
    inputs: list[str]
    model: str | None = None


def validate_inputs(value: object) -> list[str]:
    """`input` as a list of texts: a string or a non-empty list of at most 32 strings of at most 20,000 chars."""
    if value is None:
        raise RequestError("'input' is required: a string or a list of strings", param="input", code="missing_input")
    texts: list[object]
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list):
        texts = value
    else:
        raise RequestError(
            f"'input' must be a string or a list of strings, not {_json_type(value)}",
            param="input",
            code="invalid_type",
        )
    if not texts:
        raise RequestError("'input' must not be an empty list", param="input", code="empty_input")
    if len(texts) > MAX_INPUTS:
        raise RequestError(
            f"'input' has {len(texts)} texts; at most {MAX_INPUTS} per request", param="input", code="too_many_inputs"
        )
    result: list[str] = []
    for position, text in enumerate(texts):
        param = "input" if isinstance(value, str) else f"input[{position}]"
        if not isinstance(text, str):
            raise RequestError(f"'{param}' must be a string, not {_json_type(text)}", param=param, code="invalid_type")
        if len(text) > MAX_TEXT_CHARS:
            raise RequestError(
                f"'{param}' has {len(text)} characters; at most {MAX_TEXT_CHARS}", param=param, code="input_too_long"
            )
        result.append(text)
    return result


def parse_payload(payload: object) -> ModerationRequest:
    if not isinstance(payload, dict):
        raise RequestError(f"the body must be a JSON object, not {_json_type(payload)}", code="invalid_body")
    model = payload.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError(f"'model' must be a string, not {_json_type(model)}", param="model", code="invalid_type")
    return ModerationRequest(inputs=validate_inputs(payload.get("input")), model=model)


def parse_request(body: bytes | str) -> ModerationRequest:
    """Parse and validate a raw JSON request body."""
    if not body or not body.strip():
        raise RequestError("the body is empty; send a JSON object with 'input'", code="invalid_body")
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RequestError(f"the body is not valid JSON: {error}", code="invalid_json") from error
    except RecursionError as error:  # a megabyte of '[' nests deeper than the decoder's stack
        raise RequestError("the body nests too deeply to be a moderation request", code="invalid_json") from error
    return parse_payload(payload)


def _json_type(value: object) -> str:
    names: list[tuple[type, str]] = [(bool, "a boolean"), (int, "a number"), (float, "a number"), (str, "a string")]
    names += [(list, "an array"), (dict, "an object")]
    if value is None:
        return "null"
    return next((name for kind, name in names if isinstance(value, kind)), type(value).__name__)


def _valid_unicode(text: str) -> str:
    # JSON can carry lone surrogates (a client cutting an emoji in half), which the tokenizer cannot encode to
    # UTF-8; replacing them keeps the rest of the listing screenable instead of failing the whole request.
    return text.encode("utf-8", "replace").decode("utf-8")


class ModerationService:
    """Embeds texts, scores them with the linear head and shapes the moderation response."""

    def __init__(
        self,
        head: LinearHead | None = None,
        embed: Embed | None = None,
        thresholds: Mapping[str, float] | None = None,
    ) -> None:
        self._head = head
        self._embed: Embed = embed if embed is not None else embedder.embed
        # Only the packaged embedder can be checked against the one the head was trained on.
        self._check_embedder = embed is None
        self._threshold_overrides = dict(thresholds or {})
        self._lock = threading.Lock()
        self._loaded = threading.Event()

    @property
    def head(self) -> LinearHead:
        with self._lock:
            if self._head is None:
                self._head = default_head()
            return self._head

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    @property
    def model(self) -> str:
        return self.head.metadata.model_id

    def accepted_models(self) -> frozenset[str]:
        """Model names a request may pin: the exact id, name-version, or the bare name."""
        metadata = self.head.metadata
        return frozenset({metadata.model_id, f"{metadata.name}-{metadata.version}", metadata.name})

    def thresholds(self) -> dict[str, float]:
        head = self.head
        return {
            label: self._threshold_overrides.get(label, head.threshold(label)) for label in head.metadata.harmful_labels
        }

    def load(self) -> None:
        """Load the head and the embedding model and check they belong together; idempotent."""
        head = self.head
        unknown = set(self._threshold_overrides) - set(head.metadata.harmful_labels)
        if unknown:
            raise HeadError(f"thresholds given for unknown labels {sorted(unknown)}")
        if self._check_embedder:
            embedder.load()
            installed = embedder.embedder_id()
            if installed != head.metadata.embedder:
                # A head on another embedder's vectors would return confident nonsense: refuse to serve.
                raise HeadError(f"head trained on {head.metadata.embedder}, but {installed} is installed")
        else:
            self._embed(["warm-up"])
        self._loaded.set()

    def moderate(self, inputs: Sequence[str]) -> dict[str, Any]:
        texts = validate_inputs(list(inputs) if not isinstance(inputs, str) else inputs)
        head = self.head
        thresholds = self.thresholds()
        probabilities = head.predict(self._embed([_valid_unicode(text) for text in texts]))
        results: list[dict[str, Any]] = []
        for row in probabilities:
            scores = {
                label: float(row[column]) for column, label in enumerate(head.labels) if label in thresholds
            }  # 'none' is the absence of a category, not a category: it is not reported
            categories = {label: score >= thresholds[label] for label, score in scores.items()}
            results.append({"flagged": any(categories.values()), "categories": categories, "category_scores": scores})
        return {"id": f"modr-{uuid.uuid4().hex}", "model": self.model, "results": results}

    def handle(self, body: bytes | str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for a raw request body: 200 with the moderation, or 4xx with an error."""
        try:
            request = parse_request(body)
            if request.model is not None and request.model not in self.accepted_models():
                raise RequestError(
                    f"model {request.model!r} is not served here; this service serves {self.model!r}",
                    param="model",
                    code="model_not_found",
                )
            return 200, self.moderate(request.inputs)
        except RequestError as error:
            return error.status, error.body()


__all__ = [
    "MAX_INPUTS",
    "MAX_TEXT_CHARS",
    "ModerationRequest",
    "ModerationService",
    "RequestError",
    "error_body",
    "parse_payload",
    "parse_request",
    "validate_inputs",
]
