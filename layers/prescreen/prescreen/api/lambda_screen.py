"""The screening webhook on Lambda without a web framework: an API Gateway HTTP API (payload 2.0) event in,
the proxy answer out, around the same ScreenService and the same problem+json bodies as the FastAPI app.

Why not FastAPI + Mangum here, as everywhere else: API Gateway has already routed the request (one route,
`POST /v1/marketplaces/{marketplace}/screen`), so the framework only parsed what is already parsed, and its
import was a third of every cold start (~0.2 s of FastAPI and Starlette, make bench). `prescreen serve`
serves the same service through the FastAPI app (api/screen.py), which also documents it in OpenAPI;
tests/integration/test_screen_lambda_parity.py replays every event in events/screen/ (and variations) through
both and requires the same answers.

Anything that is not a domain error (a bug) is not caught: the invocation fails, API Gateway answers 500,
Lambda logs the traceback under the request id, and the function's Errors alarm counts it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from prescreen.api.problems import PROBLEM_JSON, Problem, problem, webhook_problem
from prescreen.errors import FieldProblem, MalformedJson, WebhookError
from prescreen.webhook import ScreenService

ROUTE_KEY = "POST /v1/marketplaces/{marketplace}/screen"


def answer_screen_event(event: Mapping[str, Any], service: Callable[[], ScreenService]) -> dict[str, Any]:
    """The proxy answer (statusCode, headers, body) to one HTTP API event for the screening route."""
    marketplace = (event.get("pathParameters") or {}).get("marketplace")
    if event.get("routeKey") != ROUTE_KEY or not isinstance(marketplace, str):
        # Only a misconfigured integration sends anything else here: say which route this function serves.
        detail = f"this function serves {ROUTE_KEY}, not {event.get('routeKey')!r}"
        return _problem_answer(problem(404, "http-404", "Not Found", detail, []), {})
    try:
        body = _body_bytes(event)
        # HTTP API payload 2.0 already lower-cases header names and joins repeated headers with commas.
        headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
        decision = service().handle(marketplace, headers, body)
    except WebhookError as error:
        return _problem_answer(*webhook_problem(error))
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": decision.model_dump_json(),
        "isBase64Encoded": False,
    }


def _body_bytes(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(str(body), validate=True)
        except binascii.Error as error:
            raise MalformedJson("the body is not valid base64", [FieldProblem("", str(error))]) from error
    # surrogatepass: a lone surrogate becomes bytes that are not UTF-8, which the parser refuses with a 400.
    return str(body).encode("utf-8", "surrogatepass")


def _problem_answer(body: Problem, headers: Mapping[str, str]) -> dict[str, Any]:
    return {
        "statusCode": body.status,
        "headers": {"content-type": PROBLEM_JSON, **headers},
        "body": body.model_dump_json(),
        "isBase64Encoded": False,
    }
