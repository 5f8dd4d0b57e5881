"""Writes events/screen/*.json and events/review/*.json: API Gateway HTTP API (payload 2.0) events.

Screening events are signed with the dev secret; review events carry the claims API Gateway's JWT
authorizer passes on after verifying a Cognito ID token.

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
REVIEW_EVENTS = REPO / "events" / "review"
OPERATOR_CLAIMS = {
    "sub": "7d3c1f0e-0000-4000-8000-000000000001", "email": "operator@marketplace.example",
    "custom:marketplaces": "demo,demo-rotating", "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_example",
    "aud": "console-client-id", "token_use": "id",
}
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


def review_event(method: str, path: str, route: str, query: str = "", claims: dict[str, str] | None = None,
                 body: str | None = None) -> dict[str, Any]:
    headers = {"accept": "application/json", "host": "api.prescreen.local", "user-agent": "console/1"}
    context: dict[str, Any] = {
        "accountId": "123456789012", "apiId": "api-id", "domainName": "api.prescreen.local", "domainPrefix": "api",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.20",
                 "userAgent": "console/1"},
        "requestId": f"req-{method}-{path}", "routeKey": f"{method} {route}", "stage": "$default",
        "time": "27/Nov/2026:00:00:00 +0000", "timeEpoch": FIXED_TIME * 1000,
    }
    if claims is not None:
        headers["authorization"] = "Bearer eyJ...(verified by API Gateway)"
        context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": f"{method} {route}", "rawPath": path, "rawQueryString": query,
        "headers": headers, "requestContext": context, "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(part.split("=", 1) for part in query.split("&"))
    if "{" in route:
        event["pathParameters"] = {"decision_id": path.split("/")[3]}
    if body is not None:
        headers["content-type"] = "application/json"
        event["body"] = body
    return event


def build_review() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """ReviewFunction events, for an empty decision log (what `prescreen invoke` starts with)."""
    return {
        "me": (review_event("GET", "/v1/me", "/v1/me", claims=OPERATOR_CLAIMS), {"status": 200}),
        "review_queue": (review_event("GET", "/v1/decisions", "/v1/decisions",
                                      "marketplace=demo&review_status=pending", OPERATOR_CLAIMS),
                         {"status": 200, "items": 0}),
        "other_marketplace": (review_event("GET", "/v1/decisions", "/v1/decisions", "marketplace=elsewhere",
                                           OPERATOR_CLAIMS), {"status": 403}),
        "unknown_decision": (review_event("GET", "/v1/decisions/dec_01JDNOSUCHDECISION0000000",
                                          "/v1/decisions/{decision_id}", claims=OPERATOR_CLAIMS), {"status": 404}),
        "verdict_unknown_decision": (review_event(
            "POST", "/v1/decisions/dec_01JDNOSUCHDECISION0000000/review", "/v1/decisions/{decision_id}/review",
            claims=OPERATOR_CLAIMS, body='{"verdict": "block", "note": "replayed event"}'), {"status": 404}),
        "no_verified_claims": (review_event("GET", "/v1/decisions", "/v1/decisions", "marketplace=demo"),
                               {"status": 401}),
        "console": (review_event("GET", "/console", "/console"), {"status": 200}),
    }


def write(directory: Path, events: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, (event, expected) in events.items():
        text = json.dumps(event, indent=2, ensure_ascii=False) + "\n"
        (directory / f"{name}.json").write_text(text, encoding="utf-8")
        manifest[f"{name}.json"] = expected
    (directory / "expected.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(manifest)} events to {directory}")


def main() -> None:
    write(EVENTS, build())
    write(REVIEW_EVENTS, build_review())


if __name__ == "__main__":
    main()
