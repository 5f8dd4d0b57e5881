"""Who an operator is: bearer tokens from a file (local) or verified JWT claims (AWS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prescreen.review.operators import (
    AuthenticationError,
    OperatorsFileError,
    TokenDirectory,
    dev_operators_path,
    operator_from_claims,
)


def tokens_file(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "operators.json"
    path.write_text(json.dumps(document))
    return path


def test_a_known_bearer_token_names_its_operator_and_marketplaces(tmp_path: Path) -> None:
    directory = TokenDirectory(tokens_file(tmp_path, {"a-token-of-sixteen+": {"operator": "ann",
                                                                              "marketplaces": ["demo"]}}))
    operator = directory.authenticate("Bearer a-token-of-sixteen+")
    assert (operator.name, operator.marketplaces) == ("ann", frozenset({"demo"}))
    assert operator.may_see("demo")
    assert not operator.may_see("other")


@pytest.mark.parametrize(("header", "message"), [
    (None, "send an Authorization"),
    ("", "send an Authorization"),
    ("Basic YW5uOnB3", "must be 'Bearer"),
    ("Bearer ", "must be 'Bearer"),
    ("Bearer a-token-of-sixteen-", "not recognised"),
])
def test_missing_or_unknown_credentials_are_refused(tmp_path: Path, header: str | None, message: str) -> None:
    directory = TokenDirectory(tokens_file(tmp_path, {"a-token-of-sixteen+": {"operator": "ann",
                                                                              "marketplaces": ["demo"]}}))
    with pytest.raises(AuthenticationError, match=message):
        directory.authenticate(header)


@pytest.mark.parametrize(("document", "message"), [
    ([], "expected an object"),
    ({"short": {"operator": "a", "marketplaces": ["demo"]}}, "at least 16"),
    ({"a-token-of-sixteen+": {"operator": "a", "marketplaces": []}}, "marketplaces"),
    ({"a-token-of-sixteen+": {"operator": "a", "marketplaces": ["Not A Name"]}}, "not a valid marketplace"),
    ({"a-token-of-sixteen+": {"operator": "a", "marketplaces": ["demo"], "admin": True}}, "admin"),
])
def test_an_invalid_operators_file_is_refused_with_its_reason(tmp_path: Path, document: object, message: str) -> None:
    with pytest.raises(OperatorsFileError, match=message):
        TokenDirectory(tokens_file(tmp_path, document))


def test_the_embedded_dev_file_is_valid() -> None:
    operator = TokenDirectory(dev_operators_path()).authenticate("Bearer prescreen-dev-operator-token")
    assert operator.name == "dev-operator"


@pytest.mark.parametrize("claim", ["demo,acme", "[demo acme]", "demo acme", '["demo","acme"]'])
def test_jwt_claims_name_the_operator_and_their_marketplaces(claim: str) -> None:
    operator = operator_from_claims({"email": "ann@example.com", "sub": "x", "custom:marketplaces": claim},
                                    "custom:marketplaces")
    assert (operator.name, operator.marketplaces) == ("ann@example.com", frozenset({"demo", "acme"}))


@pytest.mark.parametrize("claims", [{"sub": "x"}, {"sub": "x", "custom:marketplaces": ""},
                                    {"custom:marketplaces": "demo"}])
def test_claims_without_an_operator_or_marketplaces_are_refused(claims: dict[str, str]) -> None:
    with pytest.raises(AuthenticationError):
        operator_from_claims(claims, "custom:marketplaces")
