"""Webhook latency over loopback HTTP, rules alone vs with our classifier, side by side in one run.

Run: .venv/bin/python tests/bench/bench_webhook.py   (bounded: 2 x 200 requests, loopback only)
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))  # the test helpers, for a script run outside pytest

from prescreen.api.screen import create_app  # noqa: E402
from prescreen.local.dynamodb import LocalDynamoDB, create_decisions_table, dynamodb_client  # noqa: E402
from prescreen.policy.provider import BundledPolicyProvider  # noqa: E402
from prescreen.settings import Settings  # noqa: E402
from prescreen.wiring import build_screen_service  # noqa: E402
from prescreen_model.server import running  # noqa: E402
from support.servers import serving  # noqa: E402
from support.signing import listing_body, signed  # noqa: E402

REQUESTS = 200
LISTINGS = ["kettle", "reborn_doll", "holster_in_weapons_category", "adult_doll_weak_cue"]


def measure(settings: Settings) -> list[float]:
    service = build_screen_service(settings)
    bodies = [listing_body(name) for name in LISTINGS]
    timings = []
    with serving(create_app(lambda: service)) as base, httpx.Client() as client:
        url = f"{base}/v1/marketplaces/demo/screen"
        for i in range(REQUESTS + 20):
            body = bodies[i % len(bodies)]
            started = time.perf_counter()
            response = client.post(url, content=body, headers=signed(body))
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.text
            if i >= 20:  # warm-up: connection, first classifier call
                timings.append(elapsed)
    return timings


def main() -> None:
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # no EMF lines in a local run
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    database = LocalDynamoDB().start()
    try:
        create_decisions_table(dynamodb_client(database.endpoint), REPO / "template.yaml", "bench")
        BundledPolicyProvider().get("base")
        rules = Settings(stage="local", table_name="bench", dynamodb_endpoint=database.endpoint)
        rules_only = measure(rules)
        with running() as model:
            with_classifier = measure(rules.model_copy(update={"classifier": "http", "classifier_url": model.url}))
    finally:
        database.stop()
    print(f"webhook over loopback HTTP, {REQUESTS} signed requests each (DynamoDB: moto server), ms")
    print(f"{'setup':<22}{'p50':>8}{'p95':>8}{'p99':>8}")
    for label, timings in (("rules alone", rules_only), ("rules + classifier", with_classifier)):
        ordered = sorted(timings)
        p95, p99 = ordered[int(0.95 * len(ordered)) - 1], ordered[int(0.99 * len(ordered)) - 1]
        print(f"{label:<22}{statistics.median(timings):8.2f}{p95:8.2f}{p99:8.2f}")
    ratio = statistics.median(with_classifier) / statistics.median(rules_only)
    print(f"classifier on / off (median): {ratio:.2f}x")


if __name__ == "__main__":
    main()
