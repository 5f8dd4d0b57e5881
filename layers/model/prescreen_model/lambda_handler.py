"""The classifier's Lambda entry point, behind a Function URL or an API Gateway HTTP API (payload format 2.0).

    POST /invocations | /v1/moderations   {"input": ...}  -> the moderation JSON (see service.py)
    GET  /ping                                            -> {"status": "ok", "model": ...}

The model loads when this module is imported, i.e. during the Lambda init phase, which runs with a full CPU
burst before the first request; the function's only job is this model, so paying it there is the point.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from prescreen_model.server import MAX_BODY_BYTES, MODERATION_PATHS, PING_PATH
from prescreen_model.service import ModerationService, error_body

SERVICE = ModerationService()
SERVICE.load()


def _response(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def _body(event: dict[str, Any]) -> bytes | str:
    """The request body (bytes when it came base64-encoded); raises ValueError when base64 does not decode."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise ValueError("the event body is not a string")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error as error:
            raise ValueError(f"the body is not valid base64: {error}") from error
    return body


def handle(event: dict[str, Any], service: ModerationService = SERVICE) -> dict[str, Any]:
    """Route one Function URL / HTTP API v2 event through `service` and build the proxy response."""
    http = event.get("requestContext", {}).get("http", {})
    method = str(http.get("method", "")).upper()
    path = str(event.get("rawPath") or http.get("path") or "/").rstrip("/") or "/"
    if path == PING_PATH:
        if method != "GET":
            return _response(405, error_body("use GET /ping", code="method_not_allowed"), {"allow": "GET"})
        return _response(200, {"status": "ok", "model": service.model})
    if path not in MODERATION_PATHS:
        return _response(404, error_body(f"no route {path}", code="not_found"))
    if method != "POST":
        return _response(405, error_body(f"use POST {path}", code="method_not_allowed"), {"allow": "POST"})
    try:
        body = _body(event)
    except ValueError as error:
        return _response(400, error_body(str(error), code="invalid_body"))
    # The same limit as the HTTP server, in bytes on the wire ("surrogatepass": a stray surrogate still counts).
    size = len(body) if isinstance(body, bytes) else len(body.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        message = f"the body has {size} bytes; at most {MAX_BODY_BYTES}"
        return _response(413, error_body(message, code="body_too_large"))
    status, payload = service.handle(body)
    return _response(status, payload)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    # Unexpected errors propagate: Lambda logs the traceback and the Function URL answers 502.
    return handle(event)
