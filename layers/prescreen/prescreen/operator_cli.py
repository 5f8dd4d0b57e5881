"""`prescreen decisions list|show|claim|review|reopen|statement|export`: the operators' API from a terminal."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

DEFAULT_URL = "http://127.0.0.1:8000"
TOKEN_ENV = "PRESCREEN_OPERATOR_TOKEN"


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        detail = body.get("detail") if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.body = body


def _dev_token() -> str:
    from prescreen.review.operators import dev_operators_path

    tokens = json.loads(dev_operators_path().read_text(encoding="utf-8"))
    return next(str(token) for token, entry in tokens.items() if entry["operator"] == "dev-operator")


class OperatorClient:
    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        import httpx

        self._client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout,
                                    headers={"authorization": f"Bearer {token}"})

    def call(self, method: str, path: str, params: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None) -> Any:
        query = {key: value for key, value in (params or {}).items() if value is not None}
        response = self._client.request(method, path, params=query, json=body)
        document = response.json() if response.content else None
        if response.status_code >= 400:
            raise ApiError(response.status_code, document)
        return document


def _client(args: argparse.Namespace) -> OperatorClient:
    token = args.token or os.environ.get(TOKEN_ENV)
    if token is None:
        # Only the local product accepts the embedded development token.
        token = _dev_token()
    return OperatorClient(args.url, token)


def _age(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    page = _client(args).call("GET", "/v1/decisions", {
        "marketplace": args.marketplace, "decision": args.decision, "category": args.category,
        "review_status": "pending" if args.queue else args.review_status,
        "since": args.since, "until": args.until, "limit": args.limit, "cursor": args.cursor})
    if args.json:
        out.write(json.dumps(page, indent=2, ensure_ascii=False) + "\n")
        return 0
    for item in page["items"]:
        claim = f" claimed by {item['claim']['operator']}" if item.get("claim") else ""
        out.write(f"{item['decision_id']}  {item['final_decision']:<6}  {_age(item['age_seconds']):>7}  "
                  f"{item['marketplace']}/{item['listing_id']}  {item['title'][:60]}{claim}\n")
    if page.get("next_cursor"):
        out.write(f"more: --cursor {page['next_cursor']}\n")
    return 0


def _cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    out.write(json.dumps(_client(args).call("GET", f"/v1/decisions/{args.decision_id}"), indent=2,
                         ensure_ascii=False) + "\n")
    return 0


def _cmd_claim(args: argparse.Namespace, out: TextIO) -> int:
    action = "release" if args.release else "claim"
    result = _client(args).call("POST", f"/v1/decisions/{args.decision_id}/{action}")
    out.write(json.dumps({"decision_id": result["decision_id"], "claim": result["claim"]}) + "\n")
    return 0


def _cmd_review(args: argparse.Namespace, out: TextIO) -> int:
    client = _client(args)
    if args.claim:
        client.call("POST", f"/v1/decisions/{args.decision_id}/claim")
    result = client.call("POST", f"/v1/decisions/{args.decision_id}/review",
                         body={"verdict": args.verdict, "note": args.note})
    out.write(json.dumps({"decision_id": result["decision_id"], "final_decision": result["final_decision"],
                          "verdict": result["verdict"], "revision": result["revision"]}) + "\n")
    return 0


def _cmd_reopen(args: argparse.Namespace, out: TextIO) -> int:
    result = _client(args).call("POST", f"/v1/decisions/{args.decision_id}/reopen", body={"reason": args.reason})
    out.write(json.dumps({"decision_id": result["decision_id"], "review_status": result["review_status"],
                          "revision": result["revision"]}) + "\n")
    return 0


def _cmd_statement(args: argparse.Namespace, out: TextIO) -> int:
    statement = _client(args).call("GET", f"/v1/decisions/{args.decision_id}/statement-of-reasons")
    out.write(json.dumps(statement, indent=2, ensure_ascii=False) + "\n")
    return 0


def _cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    """Every statement of reasons in the range, page after page (no total cap), as JSON Lines."""
    client = _client(args)
    target: TextIO = open(args.output, "w", encoding="utf-8") if args.output else out  # noqa: SIM115
    written, cursor = 0, None
    try:
        while True:
            page = client.call("GET", "/v1/statements-of-reasons", {
                "marketplace": args.marketplace, "since": args.since, "until": args.until,
                "limit": args.page_size, "cursor": cursor})
            for statement in page["items"]:
                target.write(json.dumps(statement, ensure_ascii=False, separators=(",", ":")) + "\n")
                written += 1
            cursor = page.get("next_cursor")
            if not cursor:
                break
    finally:
        if target is not out:
            target.close()
    print(f"{written} statement(s) of reasons written", file=sys.stderr)
    return 0


def _iso(value: str) -> str:
    """A date or an ISO 8601 time; a bare date means its start, UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"'{value}' is not an ISO 8601 date or time") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def add_parser(commands: Any) -> None:
    decisions = commands.add_parser("decisions", help="operators' work: the queue, verdicts, statements of reasons")
    decisions.add_argument("--url", default=DEFAULT_URL, help=f"the operators' API (default {DEFAULT_URL})")
    decisions.add_argument("--token", help=f"bearer token (default: ${TOKEN_ENV}, else the local dev token)")
    actions = decisions.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="decisions of a marketplace (--queue: the review queue)")
    listing.add_argument("--marketplace")
    listing.add_argument("--queue", action="store_true", help="undecided reviews, oldest first")
    listing.add_argument("--decision", choices=["allow", "review", "block"])
    listing.add_argument("--review-status", choices=["pending", "decided"])
    listing.add_argument("--category")
    listing.add_argument("--since", type=_iso)
    listing.add_argument("--until", type=_iso)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--cursor")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(operate=_cmd_list)

    show = actions.add_parser("show", help="one decision: listing, evidence, audit trail, callbacks")
    show.add_argument("decision_id")
    show.set_defaults(operate=_cmd_show)

    claim = actions.add_parser("claim", help="take (or --release) the lease on a decision")
    claim.add_argument("decision_id")
    claim.add_argument("--release", action="store_true")
    claim.set_defaults(operate=_cmd_claim)

    review = actions.add_parser("review", help="record a verdict: allow or block")
    review.add_argument("decision_id")
    review.add_argument("verdict", choices=["allow", "block"])
    review.add_argument("--note")
    review.add_argument("--claim", action="store_true", help="claim it first")
    review.set_defaults(operate=_cmd_review)

    reopen = actions.add_parser("reopen", help="reopen a decided item (an appeal, a mistake)")
    reopen.add_argument("decision_id")
    reopen.add_argument("--reason", required=True)
    reopen.set_defaults(operate=_cmd_reopen)

    statement = actions.add_parser("statement", help="the DSA statement of reasons of a block")
    statement.add_argument("decision_id")
    statement.set_defaults(operate=_cmd_statement)

    export = actions.add_parser("export", help="statements of reasons in a time range, as JSON Lines")
    export.add_argument("--since", type=_iso, required=True)
    export.add_argument("--until", type=_iso, required=True)
    export.add_argument("--marketplace")
    export.add_argument("--page-size", type=int, default=200)
    export.add_argument("-o", "--output", type=Path)
    export.set_defaults(operate=_cmd_export)
    decisions.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        code: int = args.operate(args, sys.stdout)
    except ApiError as error:
        print(f"prescreen decisions: {error}", file=sys.stderr)
        return 1
    return code
