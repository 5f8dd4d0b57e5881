"""The whole HTTP surface on one local port, routed as API Gateway routes it in AWS."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from prescreen.api import review, screen

SCREEN_PREFIX = "/v1/marketplaces/"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    # In AWS the HTTP API sends screening routes to ScreenFunction and everything else to ReviewFunction.
    if scope["type"] == "http" and scope["path"].startswith(SCREEN_PREFIX):
        await screen.app(scope, receive, send)
    else:
        await review.app(scope, receive, send)
