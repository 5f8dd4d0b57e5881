"""LOAD-ONLY, "store excluded": the real webhook (ScreenService, signatures, rules, logging) with the decision
log in memory (prescreen.store.memory.InMemoryDecisionStore) instead of DynamoDB.

Not a product configuration: the webhook never answers before its decision is durably stored. It exists so
`make load` can tell how much of the webhook's latency is the store (moto, on the same 2 cores) and how much
is everything else. The in-memory store keeps every decision, so it grows with the requests by design; like
the moto stand-in (dynamodb_server.py), the process freezes its heap once a second so that CPython's full
collections do not walk every decision kept (a cost of keeping them in this process, not of the webhook).
"""

from __future__ import annotations

import threading

from fastapi import FastAPI

from load.dynamodb_server import freeze_periodically
from prescreen.api.screen import create_app
from prescreen.policy.provider import preload_policies
from prescreen.process import freeze_initialised_heap
from prescreen.settings import get_settings
from prescreen.store.memory import InMemoryDecisionStore
from prescreen.webhook import ScreenService
from prescreen.wiring import build_marketplaces, build_screener


def build_app() -> FastAPI:
    settings = get_settings()
    service = ScreenService(
        settings=settings,
        store=InMemoryDecisionStore(),
        marketplaces=build_marketplaces(settings),
        screener=build_screener(settings),
    )
    # Initialised as `prescreen serve` initialises the webhook before opening its port.
    preload_policies("default")
    freeze_initialised_heap()
    freeze_periodically(threading.Event())  # for the process's life: uvicorn stops it
    # The same FastAPI app `prescreen serve` routes /v1/marketplaces/* to, with this service injected.
    return create_app(lambda: service)
