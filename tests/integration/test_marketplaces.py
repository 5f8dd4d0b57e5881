"""Marketplace configuration from SSM Parameter Store (moto's server over loopback) and from a local file."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from pydantic import ValidationError

from prescreen.marketplaces import (
    FileMarketplaceDirectory,
    MarketplaceConfig,
    MarketplaceConfigError,
    ParameterStoreMarketplaceDirectory,
)
from support.signing import dev_secret


@pytest.fixture
def ssm_endpoint(dynamodb_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    # moto's server speaks every service on one port; boto3 reads the per-service endpoint variable.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", dynamodb_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    return dynamodb_endpoint


def test_a_marketplace_is_read_from_its_securestring_parameter(ssm_endpoint: str) -> None:
    ssm = boto3.client("ssm", endpoint_url=ssm_endpoint, region_name="eu-west-1")
    ssm.put_parameter(Name="/prescreen-test/marketplaces/acme", Type="SecureString", Overwrite=True,
                      Value=json.dumps({"secrets": [dev_secret()], "policy": "de_only"}))
    directory = ParameterStoreMarketplaceDirectory("/prescreen-test/marketplaces/", max_age=0)

    config = directory.get("acme")

    assert config is not None
    assert (config.secrets, config.policy) == ([dev_secret()], "de_only")
    assert directory.get("unknown-marketplace") is None
    assert directory.get("../etc") is None  # never looked up: not a marketplace name


def test_an_invalid_parameter_fails_loudly_with_its_name(ssm_endpoint: str) -> None:
    ssm = boto3.client("ssm", endpoint_url=ssm_endpoint, region_name="eu-west-1")
    ssm.put_parameter(Name="/prescreen-test/marketplaces/broken", Type="SecureString", Overwrite=True,
                      Value=json.dumps({"secrets": ["not-a-whsec-secret"]}))
    directory = ParameterStoreMarketplaceDirectory("/prescreen-test/marketplaces", max_age=0)
    with pytest.raises(MarketplaceConfigError, match="/prescreen-test/marketplaces/broken"):
        directory.get("broken")


def test_a_local_file_with_a_bad_secret_names_the_marketplace(tmp_path: Path) -> None:
    path = tmp_path / "marketplaces.json"
    path.write_text(json.dumps({"shop": {"secrets": ["whsec_c2hvcnQ="]}}))
    with pytest.raises(MarketplaceConfigError, match=r"shop\.secrets"):
        FileMarketplaceDirectory(path)


def test_an_unreachable_parameter_store_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from prescreen.local.dynamodb import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    directory = ParameterStoreMarketplaceDirectory("/prescreen-test/down", max_age=0)
    with pytest.raises(MarketplaceConfigError, match="/prescreen-test/down/acme"):
        directory.get("acme")


@pytest.mark.parametrize(("field", "value"), [
    ("callback_url", "ftp://marketplace.example/callbacks"),
    ("callback_url", "marketplace.example/callbacks"),
    ("callback_url", "https://user:pw@marketplace.example/callbacks"),
    ("terms_url", "http://marketplace.example/terms"),
    ("terms_url", "demo.example/terms"),
])
def test_a_configuration_with_an_unusable_url_is_refused_when_loaded(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=field):
        MarketplaceConfig.model_validate({"secrets": [dev_secret()], field: value})


def test_a_configuration_with_usable_urls_loads() -> None:
    config = MarketplaceConfig.model_validate({
        "secrets": [dev_secret()], "callback_url": "https://marketplace.example/prescreen",
        "terms_url": "https://marketplace.example/terms", "territorial_scope": ["DE", "NO"]})
    assert config.signing_secret == dev_secret()
