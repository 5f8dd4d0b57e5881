"""Cold start of the built ScreenFunction: a fresh process, from its start to its first response to the
allowed-listing event (events/screen/allow_reborn_doll.json), side by side in one run:

- shipped: the build as `make build` makes it (.pyc files, precompiled policies, the default policy
  preloaded at init, no Powertools Tracer, no web framework: prescreen/api/lambda_screen.py);
- FastAPI + Mangum: the same layer with the handler of the first cold-start round (the FastAPI app through
  Mangum, the default policy preloaded, no Tracer);
- the previous handler: the same layer with the handler as it was before the cold-start work (FastAPI and
  Mangum, Powertools Tracer, so the X-Ray SDK import, and every bundled policy preloaded at init);
- as `sam build` ships it: the shipped handler on a layer without .pyc files and precompiled policies.

Each run gets a fresh table so the event is screened, never answered from the log as a retry. The process
is python3.13 -S with only the built function and layer on its path (prescreen.local.invoke).

Run: make build && .venv/bin/python tests/bench/bench_cold_start.py   (bounded: 4 variants x 7 runs)
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from prescreen.local.dynamodb import LocalDynamoDB, create_decisions_table, dynamodb_client
from prescreen.local.invoke import function_process

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / ".aws-sam" / "build"
EVENT = REPO / "events" / "screen" / "allow_reborn_doll.json"
RUNS = 7
TARGET_SECONDS = 0.6


PREVIOUS_HANDLER = """
from aws_lambda_powertools import Tracer
from mangum import Mangum
from prescreen.api.screen import app
from prescreen.policy.provider import preload_policies
from prescreen.webhook import logger, metrics
tracer = Tracer(service="prescreen")
asgi_handler = Mangum(app, lifespan="off", text_mime_types=["application/json", "application/problem+json"])
preload_policies("all")
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event, context):
    return asgi_handler(event, context)
"""


FASTAPI_HANDLER = """
from mangum import Mangum
from prescreen.api.screen import app
from prescreen.policy.provider import preload_policies
from prescreen.webhook import logger, metrics
asgi_handler = Mangum(app, lifespan="off", text_mime_types=["application/json", "application/problem+json"])
preload_policies("default")
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    return asgi_handler(event, context)
"""


def strip_build(source: Path, target: Path) -> Path:
    """A copy of the build whose layer has no .pyc files and no precompiled policies."""
    shutil.copytree(source, target, symlinks=True)
    layer = target / "PrescreenLayer" / "python"
    for cache in layer.rglob("__pycache__"):
        shutil.rmtree(cache)
    shutil.rmtree(layer / "prescreen" / "policy" / "compiled", ignore_errors=True)
    return target


def handler_build(source: Path, target: Path, handler: str) -> Path:
    """A build whose ScreenFunction is `handler` (source text), on the shipped layer."""
    target.mkdir()
    for entry in source.iterdir():
        if entry.name != "ScreenFunction":
            (target / entry.name).symlink_to(entry)
    (target / "ScreenFunction").mkdir()
    (target / "ScreenFunction" / "handler.py").write_text(handler)
    return target


def one_cold_start(build: Path, endpoint: str, scratch: Path, extra_env: dict[str, str]) -> float:
    table = f"cold-{uuid.uuid4().hex[:8]}"
    create_decisions_table(dynamodb_client(endpoint), build / "template.yaml", table)
    result = scratch / f"{table}.json"
    process = function_process(build, "ScreenFunction", EVENT, endpoint, result, table_name=table)
    started = time.perf_counter()
    child = subprocess.Popen(process.argv, env={**process.environment, **extra_env, "PYTHONDONTWRITEBYTECODE": "1"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # The answer, not the process's exit: interpreter teardown (~0.3 s of freeing the policies) is no latency.
    deadline = started + 60
    while not result.exists():
        if child.poll() is not None or time.perf_counter() > deadline:
            child.kill()
            raise RuntimeError(f"no answer: {child.communicate()[1][-2000:]}")
        time.sleep(0.001)
    elapsed = time.perf_counter() - started
    _, errors = child.communicate(timeout=60)
    if child.returncode != 0:
        raise RuntimeError(errors[-2000:])
    response = json.loads(result.read_text())
    decision = json.loads(response["body"])["decision"]
    if response["statusCode"] != 200 or decision != "allow":
        raise RuntimeError(f"unexpected answer: {response}")
    return elapsed


def main() -> int:
    if not (BUILD / "template.yaml").is_file():
        print("no SAM build: run `make build` first", file=sys.stderr)
        return 2
    server = LocalDynamoDB().start()
    try:
        with tempfile.TemporaryDirectory() as scratch_name:
            scratch = Path(scratch_name)
            stripped = strip_build(BUILD, scratch / "build-as-sam-ships-it")
            previous = handler_build(BUILD, scratch / "build-previous-handler", PREVIOUS_HANDLER)
            fastapi = handler_build(BUILD, scratch / "build-fastapi-handler", FASTAPI_HANDLER)
            variants = {
                "shipped": (BUILD, {}),
                "FastAPI + Mangum handler": (fastapi, {}),
                "previous handler (Tracer, all policies at init)": (previous, {"POWERTOOLS_TRACE_DISABLED": "false"}),
                "as sam build ships it (no .pyc, compiles policy)": (stripped, {}),
            }
            timings: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(RUNS):  # interleaved, so machine noise spreads over every variant alike
                for name, (build, extra_env) in variants.items():
                    timings[name].append(one_cold_start(build, server.endpoint, scratch, extra_env))
    finally:
        server.stop()
    shipped = statistics.median(timings["shipped"])
    print(f"cold start of the built ScreenFunction to its first answer ({RUNS} runs each, seconds)")
    print(f"{'variant':<50}{'median':>8}{'min':>8}{'max':>8}{'vs shipped':>12}")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"{name:<50}{median:>8.3f}{min(values):>8.3f}{max(values):>8.3f}{median / shipped:>11.2f}x")
    verdict = "PASS" if shipped <= TARGET_SECONDS else "MISS"
    print(f"target: shipped median <= {TARGET_SECONDS} s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
