"""RFC 9457 problem+json: what every refusal looks like on the wire, with no web framework imported.

The FastAPI apps (api/errors.py) and the screening function's Lambda adapter (api/lambda_screen.py) both
build their error answers here, so a refusal reads the same whichever way the request came in.
"""

from __future__ import annotations

from pydantic import BaseModel

from prescreen.errors import FieldProblem, ServiceUnavailable, WebhookError

PROBLEM_JSON = "application/problem+json"


class ProblemField(BaseModel):
    pointer: str
    detail: str


class Problem(BaseModel):
    """The body of every 4xx and 5xx answer."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemField] = []


def problem(status: int, slug: str, title: str, detail: str, errors: list[FieldProblem]) -> Problem:
    return Problem(
        type=f"urn:prescreen:problem:{slug}",
        title=title,
        status=status,
        detail=detail,
        errors=[ProblemField(pointer=e.pointer, detail=e.detail) for e in errors],
    )


def webhook_problem(error: WebhookError) -> tuple[Problem, dict[str, str]]:
    """The problem body and the extra headers (Retry-After on a 503) that answer a domain error."""
    headers = {"Retry-After": str(error.retry_after_seconds)} if isinstance(error, ServiceUnavailable) else {}
    return problem(error.status, error.slug, error.title, error.detail, error.errors), headers
