"""Writes events/screen/*.json: API Gateway HTTP API (payload 2.0) events, signed with the dev secret.

Run `.venv/bin/python tests/support/make_events.py` after changing a listing in tests/data/listings/.
Timestamps are fixed so the files are stable; they replay locally because the local stage widens the
signature tolerance (prescreen.local.invoke.REPLAY_TOLERANCE_SECONDS), never in a deployed stage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prescreen.signatures import signed_headers

REPO = Path(__file__).resolve().parents[2]
LISTINGS = REPO / "tests" / "data" / "listings"
EVENTS = REPO / "events" / "screen"
FIXED_TIME = 1795766400  # 2026-11-27T00:00:00Z
ROUTE = "POST /v1/marketplaces/{marketplace}/screen"
DEV_SECRET = json.loads((REPO / "layers/prescreen/prescreen/local/marketplaces.json").read_text())["demo"]["secrets"][0]
WRONG_SECRET = "whsec_bm90LXRoZS1tYXJrZXRwbGFjZS1zZWNyZXQtYXQtYWxs"


def http_api_event(body: str, headers: dict[str, str], marketplace: str = "demo") -> dict[str, Any]:
    path = f"/v1/marketplaces/{marketplace}/screen"
    return {
        "version": "2.0",
        "routeKey": ROUTE,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"accept": "application/json", "host": "api.prescreen.local", "user-agent": "marketplace/1.0",
                    "content-length": str(len(body.encode())), **headers},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "api.prescreen.local",
            "domainPrefix": "api",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.10",
                     "userAgent": "marketplace/1.0"},
            "requestId": f"req-{headers.get('webhook-id', 'none')}",
            "routeKey": ROUTE,
            "stage": "$default",
            "time": "27/Nov/2026:00:00:00 +0000",
            "timeEpoch": FIXED_TIME * 1000,
        },
        "pathParameters": {"marketplace": marketplace},
        "body": body,
        "isBase64Encoded": False,
    }


def signed_event(name: str, body: str, secret: str = DEV_SECRET) -> dict[str, Any]:
    headers = signed_headers(secret, f"msg_event_{name}", FIXED_TIME, body.encode())
    headers["content-type"] = "application/json"
    return http_api_event(body, headers)


def listing(name: str) -> str:
    return (LISTINGS / f"{name}.json").read_text(encoding="utf-8").strip()


def build() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """name -> (event, what the test expects of the response)."""
    oversize = json.dumps({"id": "big-1", "title": "Huge description", "description": "x" * (300 * 1024)})
    return {
        "allow_reborn_doll": (signed_event("allow", listing("reborn_doll")), {"status": 200, "decision": "allow"}),
        "block_childlike_doll_fr": (signed_event("block_fr", listing("childlike_doll_fr")),
                                    {"status": 200, "decision": "block"}),
        "block_childlike_doll_en": (signed_event("block_en", listing("childlike_doll_en")),
                                    {"status": 200, "decision": "block"}),
        "review_adult_doll_weak_cue": (signed_event("review", listing("adult_doll_weak_cue")),
                                       {"status": 200, "decision": "review"}),
        "bad_signature": (signed_event("bad_sig", listing("kettle"), secret=WRONG_SECRET), {"status": 401}),
        "malformed_body": (signed_event("malformed", '{"id": "m-1", "title": "Kettle",'), {"status": 400}),
        "oversize_body": (signed_event("oversize", oversize), {"status": 413}),
    }


def main() -> None:
    EVENTS.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, (event, expected) in build().items():
        (EVENTS / f"{name}.json").write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        manifest[f"{name}.json"] = expected
    (EVENTS / "expected.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(manifest)} events to {EVENTS}")


if __name__ == "__main__":
    main()
