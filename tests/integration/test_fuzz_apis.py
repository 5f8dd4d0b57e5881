"""Schemathesis fuzzes both apps from their own OpenAPI documents, over real HTTP on loopback.

The screening webhook and the operators' API run on uvicorn against moto's DynamoDB and SQS. Every
generated screening request is signed over the exact bytes sent, so fuzzing reaches validation and screening
instead of stopping at 401; operators' requests carry a valid bearer token and mostly name decisions that
exist. Checks: no 5xx, every status documented for its route, every body and content type as documented.
The run is derandomized, without an example database, and bounded: about 40 s on two cores for some
950 cases (the counts per operation and status are printed at the end). The same command runs the same
cases; Hypothesis also draws constants from the project's modules already imported, so this file alone and
the whole suite run slightly different (each time identical) cases.
"""

from __future__ import annotations

import json
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import CheckContext, CheckFunction, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from prescreen.api import review, screen
from prescreen.review.operators import Operator
from prescreen.settings import Settings
from prescreen.wiring import build_review_service, build_screen_service
from support.servers import serving
from support.signing import dev_secret, listing_body, signed
from support.tenants import review_settings

type Case = schemathesis.Case[Any]  # generic in the operation's type


def problems_name_what_was_wrong(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """The README's promise beyond the schema: a refusal of what was sent names it (errors[].pointer)."""
    if response.status_code in (400, 401, 413, 415, 422):
        problem = response.json()
        assert problem["status"] == response.status_code, problem
        assert problem["errors"], f"this {response.status_code} names no field: {problem}"
    return None


CHECKS: list[CheckFunction] = [not_a_server_error, status_code_conformance, response_schema_conformance,
                               content_type_conformance, problems_name_what_was_wrong]
STATIC: dict[str, Any] = {"extra-data-sources": {"responses": False}}
CONFIG = schemathesis.Config.from_dict({
    "seed": 20261127,
    # Examples and fuzzing, positive and negative, everywhere. The coverage phase (boundary values of every
    # keyword, unexpected methods) only for the webhook, the outside world's door: for the nine operators'
    # routes it would double the run, and test_review_api.py covers their states deliberately.
    # No learning from responses: they carry decision ids, times and ages that differ on every run, and the
    # cases generated from them would too.
    "phases": {"coverage": {"enabled": False, **STATIC},
               "examples": STATIC, "fuzzing": {**STATIC, "error-feedback": {"enabled": False}}},
    "operations": [{"include-path": "/v1/marketplaces/{marketplace}/screen",
                    "phases": {"coverage": {"enabled": True, **STATIC}}}],
    "generation": {"mode": "all", "database": "none"},
})
# Stable and bounded: the same cases on every run, no deadline (moto's first writes are slow), no database.
# One server per operation (a function-scoped fixture) is deliberate: the cases of an operation share it.
STABLE = settings(derandomize=True, database=None, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
SCREEN_EXAMPLES = 100
REVIEW_EXAMPLES = 30  # per operation; nine operations

DEV = "test-token-fuzz-operator-0001"
OUTSIDER = "test-token-fuzz-outsider-0002"  # sees only demo-rotating: 403s and 404s

# Statuses answered, per operation: printed at the end of the module and checked by each server's fixture.
answered: dict[str, Counter[int]] = defaultdict(Counter)


@pytest.fixture(scope="module", autouse=True)
def fuzz_report(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.monotonic()
    yield
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if terminal is None or capture is None or not answered:
        return
    with capture.global_and_fixture_disabled():  # printed even without -s: the counts are part of the result
        terminal.write_line(f"\nschemathesis cases per operation ({time.monotonic() - started:.1f} s in all):")
        for label, statuses in sorted(answered.items()):
            terminal.write_line(f"  {label}: {statuses.total()} cases, statuses {dict(sorted(statuses.items()))}")


@contextmanager
def expect_cases(api: str, minimum: int) -> Iterator[None]:
    """Fails the fixture's teardown when an operation ran fewer cases than `minimum` (a silent no-op fuzz)."""
    before = sum(statuses.total() for label, statuses in answered.items() if label.startswith(api))
    yield
    after = sum(statuses.total() for label, statuses in answered.items() if label.startswith(api))
    assert after - before >= minimum, f"only {after - before} {api} cases ran"


def fingerprint(case: Case) -> str:
    """The generated parts of a case, taken before a test changes any of them."""
    body = None if isinstance(case.body, NotSet) else case.body
    return json.dumps([case.path_parameters, case.query, body], sort_keys=True, default=repr)


def pick[T](seed: str, salt: str, options: Sequence[T]) -> T:
    """A choice that is a pure function of the generated case (its fingerprint), so runs stay identical."""
    return options[zlib.crc32(f"{salt}:{seed}".encode()) % len(options)]


def wire_body(case: Case, base_url: str) -> bytes:
    """The bytes schemathesis would send for this case, so the signature can cover exactly them."""
    kwargs = case.as_transport_kwargs(base_url=base_url)
    if "json" in kwargs:
        return json.dumps(kwargs["json"]).encode()
    data = kwargs.get("data", b"")
    return data.encode() if isinstance(data, str) else bytes(data or b"")


def _unused() -> Any:
    raise AssertionError("building the OpenAPI document needs no service")


# The apps' own documents, loaded when the module is collected (schemathesis parametrizes at collection; its
# fixture-based loader does not work with pytest 9). from_dict, not from_asgi: an ASGI schema would be called
# in-process, and these cases go over real HTTP. test_the_served_documents_are_the_fuzzed_ones checks that
# the servers serve exactly these.
SCREEN_OPENAPI = screen.create_app(_unused).openapi()
REVIEW_OPENAPI = review.create_app(_unused, _unused, _unused).openapi()
screen_api = schemathesis.openapi.from_dict(json.loads(json.dumps(SCREEN_OPENAPI)), config=CONFIG)
review_api = schemathesis.openapi.from_dict(json.loads(json.dumps(REVIEW_OPENAPI)), config=CONFIG)


# ---- the screening webhook ------------------------------------------------------------------------------


@pytest.fixture
def screen_server(local_settings: Settings) -> Iterator[str]:
    service = build_screen_service(local_settings)
    with serving(screen.create_app(lambda: service)) as base:
        yield base


@pytest.fixture
def fuzzed_screen_server(screen_server: str) -> Iterator[str]:
    with expect_cases("screen", SCREEN_EXAMPLES // 2):
        yield screen_server


@settings(STABLE, max_examples=SCREEN_EXAMPLES)
@screen_api.parametrize()
def test_the_screening_webhook_survives_fuzzing(case: Case, fuzzed_screen_server: str) -> None:
    # Mostly real marketplaces (a random name only tests the 401 path); all three accept the demo secret.
    generated = str(case.path_parameters.get("marketplace", "")) if case.path_parameters else ""
    marketplace = pick(fingerprint(case), "marketplace",
                       [*["demo"] * 5, "demo-adult-free", "demo-rotating", generated or "demo"])
    case.path_parameters = {"marketplace": marketplace}
    body = wire_body(case, fuzzed_screen_server)
    headers = signed(body, secret=dev_secret("demo"))
    response = case.call_and_validate(base_url=fuzzed_screen_server, headers=headers, data=body, checks=CHECKS,
                                      timeout=10)
    answered[f"screen {case.operation.label}"][response.status_code] += 1


# ---- the operators' API ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewServer:
    base: str
    decision_ids: list[str]  # a block, a review and an allow, screened before fuzzing starts


@pytest.fixture
def review_server(local_settings: Settings, dynamodb_endpoint: str, tmp_path: Path) -> Iterator[ReviewServer]:
    settings_ = review_settings(local_settings, dynamodb_endpoint, tmp_path, {
        DEV: {"operator": "fuzz-operator", "marketplaces": ["demo", "demo-rotating"]},
        OUTSIDER: {"operator": "outsider", "marketplaces": ["demo-rotating"]},
    })
    screening = build_screen_service(settings_)
    decision_ids = []
    for name in ("childlike_doll_fr", "adult_doll_weak_cue", "kettle"):
        body = listing_body(name)
        decision_ids.append(screening.handle("demo", signed(body), body).decision_id)
    reviews = build_review_service(settings_)
    # The item held for review is claimed by the fuzzing operator, so release and verdicts can succeed.
    reviews.claim(Operator("fuzz-operator", frozenset({"demo", "demo-rotating"})), decision_ids[1])
    authenticate = review.authenticator_for(settings_)
    app = review.create_app(lambda: reviews, lambda: authenticate, lambda: review.console_config_for(settings_))
    with serving(app) as base:
        yield ReviewServer(base, decision_ids)


@pytest.fixture
def fuzzed_review_server(review_server: ReviewServer) -> Iterator[ReviewServer]:
    with expect_cases("review", 1):  # GET /v1/me has no parameters: one case is all there is
        yield review_server


@settings(STABLE, max_examples=REVIEW_EXAMPLES)
@review_api.parametrize()
def test_the_operators_api_survives_fuzzing(case: Case, fuzzed_review_server: ReviewServer) -> None:
    generated = fingerprint(case)
    if case.path_parameters and "decision_id" in case.path_parameters:
        # Mostly decisions that exist, so claims, verdicts, reopenings and statements really run.
        decision_ids = [*fuzzed_review_server.decision_ids, str(case.path_parameters["decision_id"])]
        case.path_parameters = {"decision_id": pick(generated, "decision", decision_ids)}
    if isinstance(case.query, dict) and "marketplace" in case.query:
        case.query = {**case.query, "marketplace": pick(generated, "marketplace", ["demo", case.query["marketplace"]])}
    token = pick(generated, "token", [DEV, DEV, DEV, OUTSIDER, "not-a-token"])
    response = case.call_and_validate(base_url=fuzzed_review_server.base, headers={"authorization": f"Bearer {token}"},
                                      checks=CHECKS, timeout=10)
    answered[f"review {case.operation.label}"][response.status_code] += 1


def test_the_served_documents_are_the_fuzzed_ones(screen_server: str, review_server: ReviewServer) -> None:
    served_screen = httpx.get(f"{screen_server}/openapi.json", timeout=10).json()
    served_review = httpx.get(f"{review_server.base}/openapi.json", timeout=10).json()
    assert (served_screen, served_review) == (json.loads(json.dumps(SCREEN_OPENAPI)),
                                              json.loads(json.dumps(REVIEW_OPENAPI)))
