"""Domain errors of the webhook. api/problems.py turns them into problem+json, the one mapping to HTTP."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldProblem:
    pointer: str  # JSON pointer into the body ("/title"), or "/headers/<name>" for a request header
    detail: str


class WebhookError(Exception):
    status: int = 500
    title: str = "Error"
    slug: str = "error"

    def __init__(self, detail: str, errors: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class MalformedJson(WebhookError):
    status, title, slug = 400, "Body is not valid JSON", "malformed-json"


class Unauthorized(WebhookError):
    status, title, slug = 401, "Signature verification failed", "unauthorized"


class IdempotencyConflict(WebhookError):
    status, title, slug = 409, "webhook-id reused with a different body", "idempotency-conflict"


class PayloadTooLarge(WebhookError):
    status, title, slug = 413, "Body too large", "payload-too-large"


class UnsupportedMediaType(WebhookError):
    status, title, slug = 415, "Body must be JSON", "unsupported-media-type"


class ContractViolation(WebhookError):
    status, title, slug = 422, "Listing breaks the webhook contract", "contract-violation"


class ServiceUnavailable(WebhookError):
    status, title, slug = 503, "Decision could not be stored; retry later", "store-unavailable"

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class OperatorUnauthorized(WebhookError):
    status, title, slug = 401, "Authentication required", "operator-unauthorized"


class Forbidden(WebhookError):
    status, title, slug = 403, "Not allowed for this operator", "forbidden"


class NotFound(WebhookError):
    status, title, slug = 404, "Not found", "not-found"


class ReviewConflict(WebhookError):
    status, title, slug = 409, "The decision is not in a state that allows this", "review-conflict"


class InvalidQuery(WebhookError):
    status, title, slug = 400, "Invalid query", "invalid-query"


class ReviewUnavailable(ServiceUnavailable):
    title, slug = "The decision log or the callback queue is unavailable; retry later", "review-unavailable"
