"""The screening webhook's HTTP surface under `prescreen serve` (FastAPI), and its OpenAPI document. On Lambda
the same ScreenService answers through api/lambda_screen.py, with the same problem+json bodies."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from prescreen.api.errors import install_error_handlers, install_openapi_schemas, problem_responses, schema_ref
from prescreen.errors import FieldProblem, PayloadTooLarge
from prescreen.models import DecisionResponse, Listing
from prescreen.webhook import ScreenService


def create_app(service: Callable[[], ScreenService]) -> FastAPI:
    app = FastAPI(
        title="prescreen screening webhook",
        version="1",
        description="Screens a marketplace listing before publication and answers allow, review or block.",
    )
    install_error_handlers(app)
    # The body is read as raw bytes (the signature covers them exactly), so FastAPI cannot infer its schema.
    install_openapi_schemas(app, Listing)

    @app.post(
        "/v1/marketplaces/{marketplace}/screen",
        response_model=DecisionResponse,
        responses=problem_responses(400, 401, 409, 413, 415, 422, 503),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": schema_ref(Listing)}},
            }
        },
    )
    async def screen(marketplace: str, request: Request) -> DecisionResponse:
        limit = service().max_body_bytes
        declared = request.headers.get("content-length", "")
        # Refuse early when the client announces an oversize body, before reading it into memory.
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}",
                                  [FieldProblem("", f"at most {limit} bytes")])
        # Read at most limit + 1 bytes: a chunked body announces no length, and must not fill memory either.
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body is over {limit} bytes", [FieldProblem("", f"at most {limit} bytes")])
            chunks.append(chunk)
        body = b"".join(chunks)
        headers = {name.lower(): value for name, value in request.headers.items()}
        # The service blocks on DynamoDB: keep the event loop free for other requests.
        return await run_in_threadpool(service().handle, marketplace, headers, body)

    return app


def default_service() -> ScreenService:
    """The service wired from the environment, built on the first request (never at import)."""
    from prescreen.wiring import default_screen_service

    return default_screen_service()


app = create_app(default_service)
