"""The FastAPI apps' error handlers: every refusal becomes the problem+json body of api/problems.py."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from prescreen.api.problems import PROBLEM_JSON, Problem, problem, webhook_problem
from prescreen.errors import FieldProblem, WebhookError
from prescreen.models import json_pointer


def problem_response(
    status: int, slug: str, title: str, detail: str, errors: list[FieldProblem], headers: dict[str, str] | None = None
) -> JSONResponse:
    return _problem_json(problem(status, slug, title, detail, errors), headers)


def _problem_json(body: Problem, headers: dict[str, str] | None) -> JSONResponse:
    return JSONResponse(body.model_dump(), status_code=body.status, media_type=PROBLEM_JSON, headers=headers)


async def _webhook_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, WebhookError)
    return _problem_json(*webhook_problem(error))


async def _request_validation(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        FieldProblem(json_pointer(item["loc"]), str(item["msg"])) for item in error.errors()
    ]
    return problem_response(422, "invalid-request", "Request is invalid", "the request is invalid", problems)


async def _http_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    # The framework's own 400 is "There was an error parsing the body" (e.g. a body that is not UTF-8): name
    # the body, as every other refusal names what was wrong. Our own 400s are WebhookErrors, not these.
    problems = [FieldProblem("", "the body is not readable JSON")] if error.status_code == 400 else []
    return problem_response(
        error.status_code, f"http-{error.status_code}", str(error.detail), str(error.detail), problems,
        dict(error.headers) if error.headers else None,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(WebhookError, _webhook_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(HTTPException, _http_error)
    install_openapi_schemas(app, Problem)


def schema_ref(model: type[BaseModel]) -> dict[str, str]:
    """A reference to a model that install_openapi_schemas put in the document's components."""
    return {"$ref": SCHEMA_REF.format(model=model.__name__)}


SCHEMA_REF = "#/components/schemas/{model}"


def install_openapi_schemas(app: FastAPI, *models: type[BaseModel]) -> None:
    """Adds models (validation schemas) and the models they use to the OpenAPI document's components.

    For the schemas routes name by hand (problem+json answers, a request body read as raw bytes). Inlining
    `model_json_schema()` instead leaves "#/$defs/..." references that resolve against the OpenAPI document's
    root, where there are no $defs: the documented schema was unusable by any client or tool.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        document = generate()
        if first:  # FastAPI caches the document it returns: add to it once
            schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                schema = model.model_json_schema(ref_template=SCHEMA_REF, mode="validation")
                for name, definition in {**schema.pop("$defs", {}), model.__name__: schema}.items():
                    if schemas.setdefault(name, definition) != definition:
                        raise ValueError(f"two different OpenAPI schemas are named {name}")
        return document

    # FastAPI's documented way to change the document is to replace this method on the instance.
    app.openapi = openapi  # type: ignore[method-assign]


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the problem+json answers a route can give."""
    return {
        status: {"description": "Problem details", "content": {PROBLEM_JSON: {"schema": schema_ref(Problem)}}}
        for status in statuses
    }
