"""Every refusal becomes an RFC 9457 problem+json body here, and only here."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from prescreen.errors import FieldProblem, ServiceUnavailable, WebhookError
from prescreen.models import json_pointer

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


def problem_response(
    status: int, slug: str, title: str, detail: str, errors: list[FieldProblem], headers: dict[str, str] | None = None
) -> JSONResponse:
    body = Problem(
        type=f"urn:prescreen:problem:{slug}",
        title=title,
        status=status,
        detail=detail,
        errors=[ProblemField(pointer=e.pointer, detail=e.detail) for e in errors],
    )
    return JSONResponse(body.model_dump(), status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _webhook_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, WebhookError)
    headers = None
    if isinstance(error, ServiceUnavailable):
        headers = {"Retry-After": str(error.retry_after_seconds)}
    return problem_response(error.status, error.slug, error.title, error.detail, error.errors, headers)


async def _request_validation(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        FieldProblem(json_pointer(item["loc"]), str(item["msg"])) for item in error.errors()
    ]
    return problem_response(422, "invalid-request", "Request is invalid", "the request is invalid", problems)


async def _http_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    return problem_response(
        error.status_code, f"http-{error.status_code}", str(error.detail), str(error.detail), [],
        dict(error.headers) if error.headers else None,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(WebhookError, _webhook_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(HTTPException, _http_error)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the problem+json answers a route can give."""
    return {
        status: {"description": "Problem details", "content": {PROBLEM_JSON: {"schema": Problem.model_json_schema()}}}
        for status in statuses
    }
