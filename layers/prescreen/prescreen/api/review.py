"""The operators' API and console (FastAPI). Mangum wraps the same app on Lambda, behind a JWT authorizer.

No `from __future__ import annotations` here: FastAPI reads the routes' annotations at runtime, and the
`Who` dependency is local to `create_app`.
"""

from collections.abc import Callable
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.staticfiles import StaticFiles

from prescreen.api.errors import install_error_handlers, problem_responses
from prescreen.errors import FieldProblem, OperatorUnauthorized
from prescreen.models import DecisionOutcome, Reason
from prescreen.records import AuditEntry, Claim, ClassifierInfo, DecisionRecord, ReviewStatus, Verdict, VerdictOutcome
from prescreen.review import transitions
from prescreen.review.operators import (
    AuthenticationError,
    Operator,
    TokenDirectory,
    dev_operators_path,
    operator_from_claims,
)
from prescreen.review.service import DecisionView, ListRequest, ReviewService
from prescreen.settings import Settings, SettingsError, get_settings

CONSOLE_DIR = Path(str(resources.files("prescreen").joinpath("console")))
# The console loads nothing from elsewhere; its API calls go to this origin (and, in AWS, Cognito's token URL).
CONSOLE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self' https://*.amazoncognito.com; form-action 'self' https://*.amazoncognito.com; "
               "base-uri 'none'; frame-ancestors 'none'")


class OperatorView(BaseModel):
    operator: str
    marketplaces: list[str]


class CallbackView(BaseModel):
    revision: int
    status: str
    attempts: int
    last_error: str | None
    delivered_at: datetime | None


class DecisionSummary(BaseModel):
    decision_id: str
    marketplace: str
    listing_id: str
    title: str
    decision: DecisionOutcome = Field(description="the automatic decision")
    final_decision: DecisionOutcome = Field(description="what holds now")
    review_status: ReviewStatus | None
    categories: list[str]
    decided_at: datetime
    age_seconds: float = Field(description="since the item entered the review queue (or was screened)")
    claim: Claim | None
    verdict: Verdict | None
    revision: int


class Links(BaseModel):
    statement_of_reasons: str | None


class DecisionDetail(DecisionSummary):
    listing: dict[str, Any]
    reasons: list[Reason]
    policy_version: str
    classifier: ClassifierInfo
    reopened: int
    audit: list[AuditEntry]
    callbacks: list[CallbackView]
    links: Links


class DecisionPage(BaseModel):
    items: list[DecisionSummary]
    next_cursor: str | None


class StatementPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


class VerdictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: VerdictOutcome
    note: Annotated[str, Field(max_length=2000)] | None = None


class ReopenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=2000)]


def _summary_fields(record: DecisionRecord, now: datetime) -> dict[str, Any]:
    return {
        "decision_id": record.decision_id, "marketplace": record.marketplace, "listing_id": record.listing_id,
        "title": str(record.listing.get("title", "")), "decision": record.decision,
        "final_decision": record.final_decision, "review_status": record.review_status,
        "categories": record.categories, "decided_at": record.decided_at,
        "age_seconds": round((now - transitions.queued_since(record)).total_seconds(), 1),
        "claim": record.claim, "verdict": record.verdict, "revision": record.revision,
    }


def summary(record: DecisionRecord, now: datetime) -> DecisionSummary:
    return DecisionSummary(**_summary_fields(record, now))


def detail(view: DecisionView, now: datetime) -> DecisionDetail:
    record = view.record
    statement = f"/v1/decisions/{record.decision_id}/statement-of-reasons" if record.final_decision == "block" else None
    return DecisionDetail(
        **_summary_fields(record, now),
        listing=record.listing, reasons=record.reasons, policy_version=record.policy_version,
        classifier=record.classifier.model_copy(update={"scores": {}}), reopened=record.reopened,
        audit=view.audit,
        callbacks=[CallbackView(revision=c.revision, status=c.status, attempts=c.attempts, last_error=c.last_error,
                                delivered_at=c.delivered_at) for c in view.callbacks],
        links=Links(statement_of_reasons=statement),
    )


Authenticator = Callable[[Request], Operator]


def authenticator_for(settings: Settings) -> Authenticator:
    """Tokens from a file locally; in AWS the JWT authorizer has verified the token and we read its claims."""
    if settings.operator_auth == "jwt":
        claim_name = settings.operator_marketplaces_claim

        def from_jwt(request: Request) -> Operator:
            event = request.scope.get("aws.event") or {}
            claims = event.get("requestContext", {}).get("authorizer", {}).get("jwt", {}).get("claims")
            if not claims:
                raise AuthenticationError("no verified token claims (the API's JWT authorizer must run first)")
            return operator_from_claims(claims, claim_name)

        return from_jwt
    if settings.operators_file is None and settings.stage != "local":
        # The embedded development tokens must never open a deployed console.
        raise SettingsError("operator_auth 'tokens' needs PRESCREEN_OPERATORS_FILE outside the local stage")
    directory = TokenDirectory(settings.operators_file or dev_operators_path())

    def from_token(request: Request) -> Operator:
        return directory.authenticate(request.headers.get("authorization"))

    return from_token


def create_app(service: Callable[[], ReviewService], authenticate: Callable[[], Authenticator],
               console_config: Callable[[], dict[str, Any]]) -> FastAPI:
    app = FastAPI(
        title="prescreen operators' API",
        version="1",
        description="The review queue, verdicts with an audit trail, and DSA statements of reasons.",
    )
    install_error_handlers(app)

    def operator(request: Request) -> Operator:
        try:
            return authenticate()(request)
        except AuthenticationError as error:
            raise OperatorUnauthorized(str(error), [FieldProblem("/headers/authorization", str(error))]) from error

    Who = Annotated[Operator, Depends(operator)]
    errors = problem_responses(400, 401, 403, 404, 409, 422, 503)

    @app.get("/v1/me", response_model=OperatorView, responses=problem_responses(401))
    def me(who: Who) -> OperatorView:
        return OperatorView(operator=who.name, marketplaces=sorted(who.marketplaces))

    @app.get("/v1/decisions", response_model=DecisionPage, responses=errors)
    def list_decisions(
        who: Who,
        marketplace: Annotated[str | None, Query(max_length=63)] = None,
        decision: DecisionOutcome | None = None,
        review_status: ReviewStatus | None = None,
        category: Annotated[str | None, Query(pattern=r"^STATEMENT_CATEGORY_[A-Z_]+$")] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> DecisionPage:
        reviews = service()
        page = reviews.list_decisions(who, ListRequest(marketplace, decision, review_status, category, since, until,
                                                       limit, cursor))
        now = reviews.now()
        return DecisionPage(items=[summary(record, now) for record in page.items], next_cursor=page.next_cursor)

    @app.get("/v1/decisions/{decision_id}", response_model=DecisionDetail, responses=errors)
    def get_decision(who: Who, decision_id: str) -> DecisionDetail:
        reviews = service()
        return detail(reviews.get(who, decision_id), reviews.now())

    @app.post("/v1/decisions/{decision_id}/claim", response_model=DecisionDetail, responses=errors)
    def claim(who: Who, decision_id: str) -> DecisionDetail:
        reviews = service()
        return detail(reviews.claim(who, decision_id), reviews.now())

    @app.post("/v1/decisions/{decision_id}/release", response_model=DecisionDetail, responses=errors)
    def release(who: Who, decision_id: str) -> DecisionDetail:
        reviews = service()
        return detail(reviews.release(who, decision_id), reviews.now())

    @app.post("/v1/decisions/{decision_id}/review", response_model=DecisionDetail, responses=errors)
    def review(who: Who, decision_id: str, body: Annotated[VerdictRequest, Body()]) -> DecisionDetail:
        reviews = service()
        return detail(reviews.review(who, decision_id, body.verdict, body.note), reviews.now())

    @app.post("/v1/decisions/{decision_id}/reopen", response_model=DecisionDetail, responses=errors)
    def reopen(who: Who, decision_id: str, body: Annotated[ReopenRequest, Body()]) -> DecisionDetail:
        reviews = service()
        return detail(reviews.reopen(who, decision_id, body.reason), reviews.now())

    @app.get("/v1/decisions/{decision_id}/statement-of-reasons", responses=errors)
    def statement_of_reasons(who: Who, decision_id: str) -> JSONResponse:
        return JSONResponse(service().statement(who, decision_id))

    @app.get("/v1/statements-of-reasons", response_model=StatementPage, responses=errors)
    def statements(
        who: Who,
        since: datetime,
        until: datetime,
        marketplace: Annotated[str | None, Query(max_length=63)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 100,
        cursor: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> StatementPage:
        page = service().statements(who, marketplace, since, until, limit, cursor)
        return StatementPage(items=page.items, next_cursor=page.next_cursor)

    # ---- the console: static files, loaded without credentials --------------------------------------

    @app.middleware("http")
    async def console_headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        if request.url.path.startswith("/console"):
            response.headers["Content-Security-Policy"] = CONSOLE_CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.get("/console", include_in_schema=False)
    def console() -> FileResponse:
        return FileResponse(CONSOLE_DIR / "index.html", media_type="text/html")

    @app.get("/console/config.json", include_in_schema=False)
    def config() -> dict[str, Any]:
        return console_config()

    app.mount("/console/assets", StaticFiles(directory=CONSOLE_DIR, check_dir=False), name="console-assets")

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return Response(status_code=307, headers={"location": "/console"})

    return app


def console_config_for(settings: Settings) -> dict[str, Any]:
    if settings.operator_auth == "jwt" and settings.console_cognito_domain and settings.console_cognito_client_id:
        return {"auth": "cognito", "domain": settings.console_cognito_domain,
                "client_id": settings.console_cognito_client_id, "scopes": ["openid", "email", "profile"]}
    return {"auth": "token"}


@cache
def default_service() -> ReviewService:
    """Wired from the environment on the first request (never at import)."""
    from prescreen.wiring import build_review_service

    return build_review_service(get_settings())


@cache
def default_authenticator() -> Authenticator:
    return authenticator_for(get_settings())


def default_console_config() -> dict[str, Any]:
    return console_config_for(get_settings())


app = create_app(default_service, default_authenticator, default_console_config)
