"""The `prescreen` command: serve the product locally, send signed requests, screen files, invoke the build."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

DEFAULT_DEV_MARKETPLACE = "demo"


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from prescreen.local.dynamodb import LocalDynamoDB, create_decisions_table, dynamodb_client
    from prescreen.local.template import find_template
    from prescreen.marketplaces import dev_marketplaces_path

    os.environ.setdefault("PRESCREEN_STAGE", "local")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ["PRESCREEN_MARKETPLACES_FILE"] = str(args.tenants or dev_marketplaces_path())
    local_db = None
    endpoint = os.environ.get("PRESCREEN_DYNAMODB_ENDPOINT")
    if not endpoint:
        local_db = LocalDynamoDB(args.dynamodb_port).start()
        endpoint = local_db.endpoint
        os.environ["PRESCREEN_DYNAMODB_ENDPOINT"] = endpoint
    from prescreen.settings import get_settings

    settings = get_settings()
    create_decisions_table(dynamodb_client(endpoint, settings.aws_region), find_template(), settings.table_name)
    print(f"prescreen: decision log at {endpoint} (table {settings.table_name})", file=sys.stderr)
    print(f"prescreen: marketplaces from {settings.marketplaces_file}", file=sys.stderr)
    print(f"prescreen: webhook at http://{args.host}:{args.port}/v1/marketplaces/<marketplace>/screen",
          file=sys.stderr)
    try:
        uvicorn.run("prescreen.api.screen:app", host=args.host, port=args.port, log_level="warning")
    finally:
        if local_db is not None:
            local_db.stop()
    return 0


def _cmd_send(args: argparse.Namespace) -> int:
    import httpx

    from prescreen.marketplaces import FileMarketplaceDirectory, dev_marketplaces_path
    from prescreen.signatures import signed_headers

    body = Path(args.file).read_bytes() if args.file != "-" else sys.stdin.buffer.read()
    secret = args.secret
    if secret is None:
        config = FileMarketplaceDirectory(Path(args.tenants or dev_marketplaces_path())).get(args.marketplace)
        if config is None:
            print(f"no secret for marketplace '{args.marketplace}'; pass --secret", file=sys.stderr)
            return 2
        secret = config.secrets[0]
    headers = signed_headers(secret, args.webhook_id or f"msg_{uuid.uuid4().hex}", int(time.time()), body)
    headers["content-type"] = "application/json"
    url = f"{args.url.rstrip('/')}/v1/marketplaces/{args.marketplace}/screen"
    response = httpx.post(url, content=body, headers=headers, timeout=10)
    print(f"HTTP {response.status_code}", file=sys.stderr)
    print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    return 0 if response.status_code == 200 else 1


def _cmd_screen(args: argparse.Namespace) -> int:
    from prescreen.models import Listing
    from prescreen.settings import get_settings
    from prescreen.wiring import build_screener

    screener = build_screener(get_settings())
    source = Path(args.input)
    out: TextIO = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    failures = 0
    try:
        with source.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    listing = Listing.model_validate_json(line)
                except ValidationError as error:
                    failures += 1
                    first = error.errors()[0]
                    pointer = "".join(f"/{part}" for part in first["loc"])
                    out.write(json.dumps({"line": number, "error": first["msg"], "pointer": pointer}) + "\n")
                    continue
                screening = screener.screen(listing, args.policy)
                draft = screening.draft
                out.write(json.dumps({
                    "listing_id": listing.id,
                    "decision": draft.decision,
                    "categories": draft.categories,
                    "reasons": [reason.model_dump(exclude_none=True) for reason in draft.reasons],
                    "policy_version": screening.policy_version,
                }, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if failures:
        print(f"{failures} line(s) were not valid listings (see their error lines)", file=sys.stderr)
    return 1 if failures else 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from prescreen.evaluation import check_targets, evaluate_corpus, format_report
    from prescreen.models import Listing
    from prescreen.settings import get_settings
    from prescreen.wiring import build_screener

    screener = build_screener(get_settings())

    def screen(listing: Listing) -> tuple[str, list[str]]:
        draft = screener.screen(listing, args.policy).draft
        return draft.decision, draft.categories

    report = evaluate_corpus(Path(args.corpus), screen)
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if args.json else format_report(report))
    failures = check_targets(report)
    for failure in failures:
        print(f"target missed: {failure}", file=sys.stderr)
    return 1 if failures and args.check else 0


def _cmd_invoke(args: argparse.Namespace) -> int:
    from prescreen.local.invoke import InvokeError, invoke

    try:
        response = invoke(Path(args.build_dir), args.function, Path(args.event))
    except InvokeError as error:
        print(f"prescreen invoke: {error}", file=sys.stderr)
        return 2
    print(json.dumps(response, indent=2, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prescreen", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the product locally (embedded DynamoDB, dev marketplaces)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--tenants", type=Path, help="marketplaces JSON file (default: the embedded dev file)")
    serve.add_argument("--dynamodb-port", type=int, default=None, help="port of the embedded DynamoDB server")
    serve.set_defaults(run=_cmd_serve)

    send = commands.add_parser("send", help="sign a listing JSON file and POST it to the webhook")
    send.add_argument("file", help="a listing JSON file, or - for standard input")
    send.add_argument("--marketplace", default=DEFAULT_DEV_MARKETPLACE)
    send.add_argument("--url", default="http://127.0.0.1:8000")
    send.add_argument("--secret", help="whsec_ secret (default: the marketplace's first in --tenants)")
    send.add_argument("--tenants", type=Path)
    send.add_argument("--webhook-id", help="reuse an id to see an idempotent retry")
    send.set_defaults(run=_cmd_send)

    screen = commands.add_parser("screen", help="screen a JSON Lines file of listings (no signatures)")
    screen.add_argument("input")
    screen.add_argument("-o", "--output")
    screen.add_argument("--policy", default="base", help="policy overlay name")
    screen.set_defaults(run=_cmd_screen)

    evaluate = commands.add_parser("eval", help="precision/recall of the policy on a labelled JSONL corpus")
    evaluate.add_argument("corpus", help="JSONL listings with expected: {decision, category, family}")
    evaluate.add_argument("--policy", default="base")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    evaluate.set_defaults(run=_cmd_eval)

    run = commands.add_parser("invoke", help="run a built function (.aws-sam/build) on an event, without Docker")
    run.add_argument("function", help="logical id, e.g. ScreenFunction")
    run.add_argument("-e", "--event", required=True)
    run.add_argument("--build-dir", default=".aws-sam/build")
    run.set_defaults(run=_cmd_invoke)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
