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
from typing import Any, TextIO

from pydantic import ValidationError

DEFAULT_DEV_MARKETPLACE = "demo"


def _start_embedded_classifier() -> Any:
    """Our model service on a free loopback port, wired in through the environment like any hosted one.

    Used unless the environment already names a classifier, so `prescreen serve` and `prescreen screen`
    classify with our model out of the box. The model is imported here only: the CLI runs on a laptop,
    the screening function never imports it.
    """
    from prescreen_model.server import ModelServer

    server = ModelServer("127.0.0.1", 0)
    server.service.load()
    server.start()
    os.environ["PRESCREEN_CLASSIFIER"] = "http"
    os.environ["PRESCREEN_CLASSIFIER_URL"] = server.url
    print(f"prescreen: classifier {server.service.model} at {server.url}", file=sys.stderr)
    return server


def _classifier_for_local_use(disabled: bool) -> Any:
    if disabled:
        os.environ["PRESCREEN_CLASSIFIER"] = "none"
        return None
    if os.environ.get("PRESCREEN_CLASSIFIER"):
        return None  # a configured hosted classifier wins
    return _start_embedded_classifier()


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
    os.environ["PRESCREEN_MARKETPLACES_FILE"] = str(
        args.tenants or os.environ.get("PRESCREEN_MARKETPLACES_FILE") or dev_marketplaces_path())
    if args.operators:
        os.environ["PRESCREEN_OPERATORS_FILE"] = str(args.operators)
    local_aws = None
    endpoint = os.environ.get("PRESCREEN_DYNAMODB_ENDPOINT")
    if not endpoint:
        # One moto server plays DynamoDB and SQS.
        local_aws = LocalDynamoDB(args.dynamodb_port).start()
        endpoint = local_aws.endpoint
        os.environ["PRESCREEN_DYNAMODB_ENDPOINT"] = endpoint
        os.environ.setdefault("PRESCREEN_SQS_ENDPOINT", endpoint)
    # Callbacks to a receiver on this machine (`prescreen receive`): allowed on the local stage only.
    os.environ.setdefault("PRESCREEN_CALLBACK_ALLOW_PRIVATE_NETWORKS", "true")
    os.environ.setdefault("PRESCREEN_CALLBACK_BACKOFF_BASE_SECONDS", "2")
    model_server = _classifier_for_local_use(args.no_classifier)
    worker = None
    try:
        worker = _start_local_callbacks(endpoint)
        from prescreen.settings import get_settings

        settings = get_settings()
        create_decisions_table(dynamodb_client(endpoint, settings.aws_region), find_template(), settings.table_name)
        base = f"http://{args.host}:{args.port}"
        print(f"prescreen: decision log at {endpoint} (table {settings.table_name})", file=sys.stderr)
        print(f"prescreen: marketplaces from {settings.marketplaces_file}", file=sys.stderr)
        print(f"prescreen: webhook at {base}/v1/marketplaces/<marketplace>/screen", file=sys.stderr)
        print(f"prescreen: operators' console at {base}/console (dev token: prescreen-dev-operator-token)",
              file=sys.stderr)
        from prescreen.wiring import initialise_screening

        initialise_screening()  # as ScreenFunction's Lambda init does
        uvicorn.run("prescreen.local.app:app", host=args.host, port=args.port, log_level="warning",
                    lifespan="off")
    finally:
        if worker is not None:
            worker.stop()
        if local_aws is not None:
            local_aws.stop()
        if model_server is not None:
            model_server.close()
    return 0


def _start_local_callbacks(endpoint: str) -> Any:
    """The callback queue (SQS on the local moto server) and a notifier polling it, as Lambda would."""
    from prescreen.callbacks.notifier import build_notifier
    from prescreen.callbacks.worker import LocalNotifierWorker, create_callback_queues, local_sqs_client
    from prescreen.settings import Settings, get_settings

    sqs = local_sqs_client(os.environ.get("PRESCREEN_SQS_ENDPOINT", endpoint))
    if not os.environ.get("PRESCREEN_CALLBACK_QUEUE_URL"):
        # The process's settings are read once, after this: they must already see the queue's URL.
        attempts = Settings.from_env(os.environ).callback_max_attempts
        os.environ["PRESCREEN_CALLBACK_QUEUE_URL"] = create_callback_queues(sqs, "prescreen-callbacks", attempts)
    settings = get_settings()
    worker = LocalNotifierWorker(build_notifier(settings), sqs, str(settings.callback_queue_url))
    worker.start()
    print(f"prescreen: callbacks queued on {settings.callback_queue_url}", file=sys.stderr)
    return worker


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
    from prescreen.models import Listing, json_pointer
    from prescreen.settings import get_settings
    from prescreen.webhook import ambiguous_json
    from prescreen.wiring import build_screener

    model_server = _classifier_for_local_use(args.no_classifier)
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
                    pointer = json_pointer(first["loc"])
                    out.write(json.dumps({"line": number, "error": first["msg"], "pointer": pointer}) + "\n")
                    continue
                ambiguous = ambiguous_json(line.encode("utf-8", "surrogatepass"))
                if ambiguous:
                    # The webhook refuses these too (duplicate keys, NaN): screen what it would screen.
                    failures += 1
                    out.write(json.dumps({"line": number, "error": ambiguous[0].detail,
                                          "pointer": ambiguous[0].pointer}) + "\n")
                    continue
                screening = screener.screen(listing, args.policy)
                draft = screening.draft
                out.write(json.dumps({
                    "listing_id": listing.id,
                    "decision": draft.decision,
                    "categories": draft.categories,
                    "reasons": [reason.model_dump(exclude_none=True) for reason in draft.reasons],
                    "policy_version": screening.policy_version,
                    "classifier": screening.classifier.model_dump(exclude_none=True, exclude={"scores"}),
                }, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
        if model_server is not None:
            model_server.close()
    if failures:
        print(f"{failures} line(s) were not valid listings (see their error lines)", file=sys.stderr)
    return 1 if failures else 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from prescreen.evaluation import EvaluationReport, check_targets, evaluate_corpus, format_report
    from prescreen.models import Listing
    from prescreen.pipeline import Screener
    from prescreen.settings import get_settings
    from prescreen.wiring import build_classifier, build_policies

    model_server = _classifier_for_local_use(args.no_classifier)
    try:
        settings = get_settings()
        policies = build_policies(settings)
        setups = {"rules alone": Screener(policies)}
        classifier = build_classifier(settings)
        if classifier is not None:
            setups["rules + classifier"] = Screener(policies, classifier)
        reports: dict[str, EvaluationReport] = {}
        for label, screener in setups.items():

            def screen(listing: Listing, screener: Screener = screener) -> tuple[str, list[str]]:
                draft = screener.screen(listing, args.policy).draft
                return draft.decision, draft.categories

            reports[label] = evaluate_corpus(Path(args.corpus), screen)
    finally:
        if model_server is not None:
            model_server.close()
    if args.json:
        print(json.dumps({label: report.to_dict() for label, report in reports.items()}, indent=2,
                         ensure_ascii=False))
    else:
        if len(reports) > 1:
            print(side_by_side(reports) + "\n")
        for label, report in reports.items():
            print(f"== {label} ==\n{format_report(report)}\n")
    failures = check_targets(reports["rules alone"])
    for failure in failures:
        print(f"target missed (rules alone): {failure}", file=sys.stderr)
    return 1 if failures and args.check else 0


def side_by_side(reports: dict[str, Any]) -> str:
    """The headline measures of each setup in one table, so a change is read at a glance."""
    labels = list(reports)
    rows = [
        ("harmful caught", "harmful_caught"), ("child-like dolls caught", "childlike_caught"),
        ("legitimate blocked", "legitimate_blocked"), ("legitimate held", "legitimate_held"),
    ]
    width = max(len(label) for label in labels) + 2
    lines = ["measure".ljust(26) + "".join(label.ljust(max(width, 20)) for label in labels)]
    for title, attribute in rows:
        lines.append(title.ljust(26) + "".join(str(getattr(reports[label], attribute)).ljust(max(width, 20))
                                                for label in labels))
    return "\n".join(lines)


def _cmd_classifier(args: argparse.Namespace) -> int:
    if args.action == "serve":
        from prescreen_model.server import main as serve_main

        return serve_main(["--host", args.host, "--port", str(args.port)])
    from prescreen_model.train import main as train_main

    return train_main(args.train_args)


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
    serve.add_argument("--no-classifier", action="store_true", help="rules only (no embedded model service)")
    serve.add_argument("--operators", type=Path, help="operators' tokens JSON file (default: the embedded dev file)")
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
    screen.add_argument("--no-classifier", action="store_true", help="rules only")
    screen.set_defaults(run=_cmd_screen)

    evaluate = commands.add_parser("eval", help="precision/recall of the policy on a labelled JSONL corpus")
    evaluate.add_argument("corpus", help="JSONL listings with expected: {decision, category, family}")
    evaluate.add_argument("--policy", default="base")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.add_argument("--check", action="store_true", help="exit 1 when a rules-alone target is missed")
    evaluate.add_argument("--no-classifier", action="store_true", help="rules alone only")
    evaluate.set_defaults(run=_cmd_eval)

    model = commands.add_parser("classifier", help="our model service: serve it, or retrain its head")
    model_actions = model.add_subparsers(dest="action", required=True)
    model_serve = model_actions.add_parser("serve", help="GET /ping, POST /invocations, POST /v1/moderations")
    model_serve.add_argument("--host", default="127.0.0.1")
    model_serve.add_argument("--port", type=int, default=8080)
    model_train = model_actions.add_parser("train", help="retrain the linear head reproducibly")
    model_train.add_argument("train_args", nargs=argparse.REMAINDER, help="passed to prescreen_model.train")
    model.set_defaults(run=_cmd_classifier)

    from prescreen import operator_cli, receiver

    operator_cli.add_parser(commands)
    receiver.add_parser(commands)

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
