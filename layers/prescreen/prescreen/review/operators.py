"""Who is asking: operators and the marketplaces each may see.

Locally a JSON file maps bearer tokens to operators; in AWS, API Gateway's JWT authorizer (Cognito)
has already verified the token and hands us its claims.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prescreen.marketplaces import MARKETPLACE_NAME


class AuthenticationError(Exception):
    """No credentials, or credentials we do not accept."""


class OperatorsFileError(ValueError):
    """The operators file is unreadable or invalid."""


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    marketplaces: frozenset[str]

    def may_see(self, marketplace: str) -> bool:
        return marketplace in self.marketplaces


class _OperatorEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    operator: str = Field(min_length=1, max_length=128)
    marketplaces: list[str] = Field(min_length=1)


class TokenDirectory:
    """Bearer tokens from a JSON file `{"<token>": {"operator": ..., "marketplaces": [...]}}`, read once."""

    def __init__(self, path: Path) -> None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise OperatorsFileError(f"{path}: {error}") from error
        if not isinstance(document, dict):
            raise OperatorsFileError(f"{path}: expected an object of token -> operator")
        # Kept by digest: lookups compare fixed-length digests, never the tokens themselves.
        self._operators: dict[bytes, Operator] = {}
        for token, raw in document.items():
            if len(token) < 16:
                raise OperatorsFileError(f"{path}: a token must have at least 16 characters")
            try:
                entry = _OperatorEntry.model_validate(raw)
            except ValidationError as error:
                first = error.errors()[0]
                raise OperatorsFileError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from error
            bad = [name for name in entry.marketplaces if not MARKETPLACE_NAME.match(name)]
            if bad:
                raise OperatorsFileError(f"{path}: '{bad[0]}' is not a valid marketplace name")
            self._operators[_digest(token)] = Operator(entry.operator, frozenset(entry.marketplaces))

    def authenticate(self, authorization: str | None) -> Operator:
        token = bearer_token(authorization)
        wanted = _digest(token)
        for digest, operator in self._operators.items():
            if hmac.compare_digest(digest, wanted):
                return operator
        raise AuthenticationError("the bearer token is not recognised")


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationError("send an Authorization: Bearer <token> header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def operator_from_claims(claims: Mapping[str, Any], marketplaces_claim: str) -> Operator:
    """The operator behind JWT claims that API Gateway's authorizer verified (signature, issuer, audience)."""
    name = claims.get("email") or claims.get("cognito:username") or claims.get("username") or claims.get("sub")
    if not name:
        raise AuthenticationError("the token names no operator")
    raw = claims.get(marketplaces_claim)
    # API Gateway flattens claims to strings: "demo,acme" or "[demo acme]" (a JSON-ish list).
    if isinstance(raw, list):
        names = [str(item) for item in raw]
    else:
        names = [part for part in re.split(r"[\s,\[\]\"]+", str(raw or "")) if part]
    marketplaces = frozenset(n for n in names if MARKETPLACE_NAME.match(n))
    if not marketplaces:
        raise AuthenticationError(f"the token's '{marketplaces_claim}' claim names no marketplace")
    return Operator(str(name), marketplaces)


def dev_operators_path() -> Path:
    """The embedded development tokens (only ever used on the local stage)."""
    return Path(str(resources.files("prescreen.local").joinpath("operators.json")))
