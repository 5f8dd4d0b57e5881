"""The hosted classifier's API key comes from SSM Parameter Store or Secrets Manager (moto's server on loopback)."""

from __future__ import annotations

import boto3
import pytest

from prescreen.settings import Settings
from prescreen.wiring import api_key_source


@pytest.fixture
def aws_on_loopback(dynamodb_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for service in ("SSM", "SECRETS_MANAGER"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", dynamodb_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    return dynamodb_endpoint


def test_the_api_key_is_read_from_a_securestring_parameter(aws_on_loopback: str) -> None:
    boto3.client("ssm", endpoint_url=aws_on_loopback).put_parameter(
        Name="/prescreen-test/openai-key", Type="SecureString", Value="sk-test-from-ssm", Overwrite=True)
    settings = Settings(classifier="http", classifier_url="http://127.0.0.1:1",
                        classifier_api_key_parameter="/prescreen-test/openai-key")
    source = api_key_source(settings)
    assert source is not None
    assert source() == "sk-test-from-ssm"


def test_the_api_key_is_read_from_secrets_manager(aws_on_loopback: str) -> None:
    boto3.client("secretsmanager", endpoint_url=aws_on_loopback).create_secret(
        Name="prescreen-test/openai-key", SecretString="sk-test-from-secrets-manager")
    settings = Settings(classifier="http", classifier_url="http://127.0.0.1:1",
                        classifier_api_key_secret="prescreen-test/openai-key")
    source = api_key_source(settings)
    assert source is not None
    assert source() == "sk-test-from-secrets-manager"


def test_no_key_configured_sends_none() -> None:
    assert api_key_source(Settings()) is None
