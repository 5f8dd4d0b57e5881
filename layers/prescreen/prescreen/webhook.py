"""The screening webhook as a use case: verify, validate, screen, store (the write is the duplicate check), answer."""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from pydantic import ValidationError

from prescreen.errors import (
    ContractViolation,
    FieldProblem,
    IdempotencyConflict,
    MalformedJson,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)
from prescreen.marketplaces import MarketplaceConfigError, MarketplaceDirectory
from prescreen.models import DecisionResponse, Listing, json_pointer
from prescreen.pipeline import Screener
from prescreen.records import DecisionRecord, new_decision_id
from prescreen.settings import Settings
from prescreen.signatures import SignatureError, read_headers, verify
from prescreen.store import DecisionStore, DuplicateRequest, StoreUnavailable

# stderr: Lambda ships it to CloudWatch all the same, and CLI commands keep stdout for their own output.
logger = Logger(service="prescreen", logger_handler=logging.StreamHandler(sys.stderr))
metrics = Metrics(namespace="Prescreen", service="prescreen")

_UNVERIFIED = "the request signature could not be verified for this marketplace"


def count(name: str) -> None:
    """One occurrence of metric `name`, flushed by the Lambda handler's @metrics.log_metrics.

    Skipped when metrics are disabled (`prescreen serve`): nothing flushes there, and Powertools' add_metric
    would then print a batch of EMF to stdout every 100 values, from whichever request thread got there."""
    if not is_metrics_disabled():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def mask(identifier: str | None) -> str | None:
    """Seller ids are personal data in logs: keep only a short, stable hash."""
    if identifier is None:
        return None
    return "h:" + hashlib.sha256(identifier.encode()).hexdigest()[:12]


def validation_problems(error: ValidationError) -> list[FieldProblem]:
    problems = []
    for item in error.errors(include_url=False):
        location, detail = item["loc"], item["msg"]
        if location and location[-1] == "[key]":
            # pydantic marks a bad key with "[key]", which is no member of the body: name the member itself.
            location, detail = location[:-1], f"the key: {detail}"
        pointer = json_pointer(location)
        if not location:
            detail = f"{detail} (the body must be a listing object)"
        problems.append(FieldProblem(pointer=pointer, detail=detail))
    return problems


class _NonFinite:
    """NaN, Infinity or -Infinity where a JSON number was expected (Python's parser accepts them; JSON does not)."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token


class _Object(dict[str, object]):
    """A JSON object as the stdlib parser read it, with the keys that appeared more than once."""

    __slots__ = ("repeated",)

    def __init__(self, pairs: list[tuple[str, object]]) -> None:
        super().__init__(pairs)
        self.repeated: list[str] = []
        if len(self) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen and key not in self.repeated:
                    self.repeated.append(key)
                seen.add(key)


def ambiguous_json(body: bytes) -> list[FieldProblem]:
    """Duplicate keys and non-finite numbers anywhere in a body jiter has parsed (so its depth is bounded).

    Duplicate keys are refused, not resolved: parsers disagree on which copy wins (jiter and Python keep the
    last, others the first), so a marketplace's validator could read one "title" while we screened another.
    NaN and Infinity are not JSON (RFC 8259), even where we ignore the field.
    """
    found = False

    def read_object(pairs: list[tuple[str, object]]) -> _Object:
        nonlocal found
        document = _Object(pairs)
        found = found or bool(document.repeated)
        return document

    def read_constant(token: str) -> _NonFinite:
        nonlocal found
        found = True
        return _NonFinite(token)

    try:
        document = json.loads(body, object_pairs_hook=read_object, parse_constant=read_constant)
    except (ValueError, RecursionError) as error:
        # jiter accepted the body, so this is the standard library disagreeing (e.g. on a huge number).
        raise MalformedJson(f"the body is not plain JSON: {error}", [FieldProblem("", str(error))]) from error
    if not found:
        return []
    problems: list[FieldProblem] = []
    # Iterative, in document order: the depth is bounded already, but a walk need not rely on that.
    pending: list[tuple[tuple[str | int, ...], object]] = [((), document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, _NonFinite):
            problems.append(FieldProblem(json_pointer(path), f"{value.token} is not a JSON number; send a finite one"))
        elif isinstance(value, _Object):
            problems.extend(FieldProblem(json_pointer((*path, key)), "this key appears more than once; send it once")
                            for key in value.repeated)
            pending.extend(reversed([((*path, key), item) for key, item in value.items()]))
        elif isinstance(value, list):
            pending.extend(reversed([((*path, index), item) for index, item in enumerate(value)]))
    return problems


def _refuse_ambiguous(body: bytes) -> None:
    problems = ambiguous_json(body)
    if problems:
        raise ContractViolation(f"{len(problems)} ambiguous value(s) in the body", problems)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


class ScreenService:
    def __init__(
        self,
        settings: Settings,
        store: DecisionStore,
        marketplaces: MarketplaceDirectory,
        screener: Screener,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._store = store
        self._marketplaces = marketplaces
        self._screener = screener
        self._clock = clock

    @property
    def max_body_bytes(self) -> int:
        return self._settings.max_body_bytes

    def handle(self, marketplace: str, headers: Mapping[str, str], body: bytes) -> DecisionResponse:
        """`headers` must have lower-case names. Raises a WebhookError subclass for every refusal."""
        started = time.perf_counter()
        if len(body) > self._settings.max_body_bytes:
            raise PayloadTooLarge(
                f"the body is {len(body)} bytes; the limit is {self._settings.max_body_bytes}",
                [FieldProblem("", f"at most {self._settings.max_body_bytes} bytes")],
            )
        policy_name = self._authenticate(marketplace, headers, body)
        webhook_id = headers["webhook-id"].strip()
        logger.set_correlation_id(webhook_id)
        body_sha256 = hashlib.sha256(body).hexdigest()

        # Write first, read only on conflict: the transaction's condition on the webhook-id is the duplicate
        # check, so a new request (nearly every request) costs one DynamoDB round trip, not two (make load:
        # +60 % maximum rate). A retry is screened again and answered with what was stored the first time.
        listing = self._parse(headers.get("content-type", ""), body)
        screening = self._screener.screen(listing, policy_name)
        draft = screening.draft
        decided_at = datetime.fromtimestamp(self._clock(), UTC)
        record = DecisionRecord(
            decision_id=new_decision_id(self._clock()),
            marketplace=marketplace,
            listing_id=listing.id,
            webhook_id=webhook_id,
            body_sha256=body_sha256,
            decision=draft.decision,
            categories=draft.categories,
            reasons=draft.reasons,
            shadow_reasons=draft.shadow_reasons,
            policy_version=screening.policy_version,
            decided_at=decided_at,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            listing=listing.model_dump(mode="json", exclude_none=True),
            seller_id=listing.seller.id if listing.seller else None,
            review_status="pending" if draft.decision == "review" else None,
            classifier=screening.classifier,
            expires_at=int((decided_at + timedelta(days=self._settings.decision_retention_days)).timestamp()),
        )
        try:
            self._store.save_decision(record)
        except DuplicateRequest:
            # A retry (or a concurrent copy) of a stored request: answer what was stored, so every caller agrees;
            # another body under the same webhook-id is a 409.
            earlier = self._replayed(marketplace, webhook_id, body_sha256)
            if earlier is None:
                raise self._unavailable("the earlier request's decision could not be read") from None
            return earlier
        except StoreUnavailable as error:
            logger.error("decision not stored", extra={"error": str(error), "listing_id": listing.id})
            raise self._unavailable("the decision log is unavailable") from error
        self._observe(record)
        return record.response()

    def _authenticate(self, marketplace: str, headers: Mapping[str, str], body: bytes) -> str:
        try:
            message = read_headers(headers, self._clock(), self._settings.signature_tolerance_seconds)
        except SignatureError as error:
            raise Unauthorized(error.detail, [FieldProblem(f"/headers/{error.header}", error.detail)]) from error
        try:
            config = self._marketplaces.get(marketplace)
        except MarketplaceConfigError as error:
            logger.error("marketplace configuration unreadable", extra={"error": str(error)})
            raise self._unavailable("the marketplace configuration is unavailable") from error
        # An unknown marketplace gets the same answer as a bad signature, so names don't leak.
        if config is None:
            raise Unauthorized(_UNVERIFIED, [FieldProblem("/headers/webhook-signature", _UNVERIFIED)])
        try:
            verify(message, body, config.secrets)
        except SignatureError as error:
            raise Unauthorized(_UNVERIFIED, [FieldProblem("/headers/webhook-signature", _UNVERIFIED)]) from error
        return config.policy

    def _replayed(self, marketplace: str, webhook_id: str, body_sha256: str) -> DecisionResponse | None:
        try:
            request = self._store.find_request(marketplace, webhook_id)
            if request is None:
                return None
            if request.body_sha256 != body_sha256:
                raise IdempotencyConflict(
                    "this webhook-id was already used with a different body; send a new webhook-id",
                    [FieldProblem("/headers/webhook-id", "already used with a different body")],
                )
            stored = self._store.get_decision(request.decision_id)
        except StoreUnavailable as error:
            raise self._unavailable("the decision log is unavailable") from error
        if stored is None:
            raise self._unavailable("the decision for this webhook-id could not be read")
        logger.info("retry answered from the decision log", extra={"decision_id": stored.decision_id})
        return stored.response()

    def _parse(self, content_type: str, body: bytes) -> Listing:
        if not _is_json(content_type):
            raise UnsupportedMediaType(
                f"content-type is '{content_type or '(none)'}'; send application/json",
                [FieldProblem("/headers/content-type", "must be application/json")],
            )
        if not body.strip():
            raise MalformedJson("the body is empty", [FieldProblem("", "expected a JSON object")])
        if body.startswith(codecs.BOM_UTF8):
            # RFC 8259 section 8.1: senders must not add one. Refused rather than skipped, with a plain answer.
            detail = "the body starts with a UTF-8 byte order mark; JSON text must not"
            raise MalformedJson(detail, [FieldProblem("", detail)])
        # pydantic's parser (jiter) is the strict one: UTF-8 only, no lone surrogates, at most ~200 levels of
        # nesting (10,000 opening brackets are refused without recursion), no trailing data.
        try:
            listing = Listing.model_validate_json(body)
        except ValidationError as error:
            if any(item["type"] == "json_invalid" for item in error.errors()):
                detail = error.errors()[0]["msg"]
                raise MalformedJson(detail, [FieldProblem("", detail)]) from error
            # Ambiguities first: the field problems of an ambiguous body may describe a copy nobody meant.
            _refuse_ambiguous(body)
            problems = validation_problems(error)
            raise ContractViolation(f"{len(problems)} field(s) break the contract", problems) from error
        _refuse_ambiguous(body)
        return listing

    def _unavailable(self, detail: str) -> ServiceUnavailable:
        # Every 503 is a listing the marketplace could not get a stored decision for (the store or the
        # marketplace configuration failed): the DecisionNotStored alarm counts them all.
        count("DecisionNotStored")
        return ServiceUnavailable(detail, self._settings.retry_after_seconds)

    def _observe(self, record: DecisionRecord) -> None:
        logger.info(
            "decision",
            extra={
                "decision_id": record.decision_id,
                "marketplace": record.marketplace,
                "listing_id": record.listing_id,
                "seller": mask(record.seller_id),
                "decision": record.decision,
                "categories": record.categories,
                "rules": [reason.id for reason in record.reasons],
                "shadow": [{"rule": reason.id, "mode": "shadow", "action": reason.action}
                           for reason in record.shadow_reasons],
                "policy_version": record.policy_version,
                "latency_ms": record.latency_ms,
            },
        )
        count(f"Decision_{record.decision}")
        # ok / unavailable / skipped / disabled: the fallback-rate alarm divides unavailable by ok + unavailable.
        count(f"Classifier_{record.classifier.status}")
        for category in record.categories:
            count(category.removeprefix("STATEMENT_CATEGORY_"))
