"""One settings model, read from the environment once per process (`get_settings()`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ENV_PREFIX = "PRESCREEN_"
REFERENCE_TOLERANCE_SECONDS = 300  # Standard Webhooks' reference libraries use 5 minutes


class SettingsError(ValueError):
    """The environment does not describe a valid configuration."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str = Field("local", pattern=r"^[a-z][a-z0-9-]{0,31}$")
    aws_region: str = "eu-west-1"
    table_name: str = "prescreen-decisions"
    dynamodb_endpoint: str | None = Field(None, description="e.g. http://127.0.0.1:8001 for a local server")
    marketplaces_file: Path | None = Field(None, description="local JSON marketplace configuration")
    marketplaces_parameter_prefix: str | None = Field(
        None, description="SSM path holding one SecureString JSON per marketplace (AWS)"
    )
    marketplaces_cache_seconds: int = Field(300, ge=0)
    signature_tolerance_seconds: int = Field(REFERENCE_TOLERANCE_SECONDS, ge=1)
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    decision_retention_days: int = Field(400, ge=1)
    store_max_attempts: int = Field(3, ge=1, le=10)
    store_connect_timeout_seconds: float = Field(1.0, gt=0)
    store_read_timeout_seconds: float = Field(2.0, gt=0)
    retry_after_seconds: int = Field(5, ge=1)
    default_policy: str = "base"
    # Policies ship in the layer; set one of these to fix rules without a deploy.
    policy_s3_bucket: str | None = None
    policy_s3_key: str | None = Field(None, description="a zip of the policies/ folder")
    policy_s3_prefix: str | None = Field(None, description="or a prefix holding the *.yaml files")
    policy_appconfig_application: str | None = None
    policy_appconfig_environment: str | None = None
    policy_appconfig_profile: str | None = None
    policy_cache_seconds: int = Field(300, ge=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The hosted classifier (see README, "Classifier").
    classifier: Literal["none", "http", "lambda", "sagemaker", "bedrock"] = "none"
    classifier_url: str | None = Field(None, description="base URL of a /v1/moderations service")
    classifier_model: str = Field(
        "prescreen-listing-classifier", description="pinned model name sent to the service")
    classifier_labels: str = Field(
        "identity", description="'identity' (labels are our families), 'openai', or a JSON object label->family")
    classifier_api_key_parameter: str | None = Field(None, description="SSM SecureString holding the API key")
    classifier_api_key_secret: str | None = Field(None, description="or a Secrets Manager secret id")
    classifier_budget_ms: int = Field(800, ge=50, le=5000)
    classifier_breaker_failures: int = Field(5, ge=1)
    classifier_breaker_cool_down_seconds: float = Field(30.0, gt=0)
    classifier_function: str | None = Field(None, description="our model function (name, ARN or alias ARN)")
    sagemaker_endpoint: str | None = None
    bedrock_guardrail_id: str | None = None
    bedrock_guardrail_version: str = "DRAFT"
    bedrock_topics: str = Field("{}", description="JSON object: guardrail denied-topic name -> family")
    # Operators' review (see README, "Review").
    operator_auth: Literal["tokens", "jwt"] = Field(
        "tokens", description="tokens: a local file of bearer tokens; jwt: API Gateway's JWT authorizer (Cognito)")
    operators_file: Path | None = Field(None, description="token -> operator and marketplaces (local)")
    operator_marketplaces_claim: str = Field("custom:marketplaces", description="JWT claim listing marketplaces")
    claim_lease_seconds: int = Field(900, ge=30, le=86_400)
    console_cognito_domain: str | None = Field(None, description="https://<prefix>.auth.<region>.amazoncognito.com")
    console_cognito_client_id: str | None = None
    # Callbacks to marketplaces.
    callback_queue_url: str | None = Field(None, description="SQS queue between a verdict and its delivery")
    sqs_endpoint: str | None = Field(None, description="e.g. the local moto server")
    callback_allow_private_networks: bool = Field(
        False, description="local development only: allow http:// and loopback/private callback addresses")
    callback_timeout_seconds: float = Field(5.0, gt=0, le=30)
    callback_max_attempts: int = Field(8, ge=1, le=50, description="deliveries tried before the dead-letter queue")
    callback_backoff_base_seconds: int = Field(30, ge=0)
    callback_backoff_max_seconds: int = Field(3600, ge=0, le=43_200)

    @model_validator(mode="after")
    def _replay_window_only_locally(self) -> Self:
        # A widened tolerance lets old signed events be replayed: a convenience for `prescreen invoke`
        # and the tests, and a security hole anywhere else.
        if self.stage != "local" and self.signature_tolerance_seconds > REFERENCE_TOLERANCE_SECONDS:
            raise ValueError(
                f"signature_tolerance_seconds above {REFERENCE_TOLERANCE_SECONDS} is only allowed when stage is 'local'"
            )
        required = {"http": self.classifier_url, "lambda": self.classifier_function,
                    "sagemaker": self.sagemaker_endpoint,
                    "bedrock": self.bedrock_guardrail_id}
        if self.classifier != "none" and not required[self.classifier]:
            raise ValueError(f"classifier '{self.classifier}' needs its endpoint setting (see README)")
        if self.policy_s3_bucket and (self.policy_s3_key is None) == (self.policy_s3_prefix is None):
            raise ValueError("with policy_s3_bucket, set exactly one of policy_s3_key or policy_s3_prefix")
        appconfig = (self.policy_appconfig_application, self.policy_appconfig_environment,
                     self.policy_appconfig_profile)
        if any(appconfig) and not all(appconfig):
            raise ValueError("policy_appconfig_application, _environment and _profile go together")
        if self.callback_allow_private_networks and self.stage != "local":
            # The SSRF guard may only be relaxed on a developer's machine.
            raise ValueError("callback_allow_private_networks is only allowed when stage is 'local'")
        if self.marketplaces_file is None and self.marketplaces_parameter_prefix is None and self.stage != "local":
            raise ValueError("a deployed stage needs marketplaces_parameter_prefix (or marketplaces_file)")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = raw
        if "aws_region" not in values and environ.get("AWS_REGION"):
            values["aws_region"] = environ["AWS_REGION"]
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{ENV_PREFIX}{'.'.join(str(p) for p in e['loc']).upper() or 'SETTINGS'}: {e['msg']}"
                for e in error.errors()
            )
            raise SettingsError(problems) from error


@cache
def get_settings() -> Settings:
    """The process's settings, read on first use (never at import time)."""
    return Settings.from_env(os.environ)
