"""Builds the real adapters from settings: the one place that knows which implementation serves."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from prescreen.callbacks.queue import CallbackQueue, SqsCallbackQueue, UnconfiguredQueue
from prescreen.classifier.base import OPENAI_LABELS, Classifier
from prescreen.classifier.bedrock import BedrockGuardrailClassifier
from prescreen.classifier.breaker import CircuitBreaker
from prescreen.classifier.guarded import GuardedClassifier
from prescreen.classifier.http import ModerationHttpClassifier
from prescreen.classifier.lambda_invoke import LambdaInvokeClassifier
from prescreen.classifier.sagemaker import SageMakerClassifier
from prescreen.marketplaces import (
    FileMarketplaceDirectory,
    MarketplaceDirectory,
    ParameterStoreMarketplaceDirectory,
    dev_marketplaces_path,
)
from prescreen.pipeline import Screener
from prescreen.policy.provider import (
    AppConfigPolicySource,
    BundledPolicyProvider,
    PolicyProvider,
    PolicySource,
    RemotePolicyProvider,
    S3PolicySource,
)
from prescreen.settings import Settings, get_settings
from prescreen.store.dynamodb import DynamoDBDecisionStore
from prescreen.webhook import ScreenService

if TYPE_CHECKING:
    from prescreen.review.service import ReviewService


def build_marketplaces(settings: Settings) -> MarketplaceDirectory:
    if settings.marketplaces_file is not None:
        return FileMarketplaceDirectory(settings.marketplaces_file)
    if settings.marketplaces_parameter_prefix is not None:
        return ParameterStoreMarketplaceDirectory(
            settings.marketplaces_parameter_prefix, settings.marketplaces_cache_seconds
        )
    # Settings only allow this fallback on the local stage.
    return FileMarketplaceDirectory(dev_marketplaces_path())


def build_marketplace_names(settings: Settings) -> list[str]:
    directory = build_marketplaces(settings)
    assert isinstance(directory, FileMarketplaceDirectory | ParameterStoreMarketplaceDirectory)
    return directory.names()


def build_policies(settings: Settings) -> PolicyProvider:
    """Bundled policies by default; S3 or AppConfig when configured (re-fetched after the cache TTL)."""
    source: PolicySource | None = None
    if settings.policy_s3_bucket:
        source = S3PolicySource(settings.policy_s3_bucket, key=settings.policy_s3_key,
                                prefix=settings.policy_s3_prefix)
    elif settings.policy_appconfig_application:
        source = AppConfigPolicySource(settings.policy_appconfig_application,
                                       str(settings.policy_appconfig_environment),
                                       str(settings.policy_appconfig_profile))
    if source is None:
        return BundledPolicyProvider()
    return RemotePolicyProvider(source, ttl_seconds=settings.policy_cache_seconds)


def _label_map(setting: str) -> dict[str, str]:
    if setting == "identity":
        return {}
    if setting == "openai":
        return dict(OPENAI_LABELS)
    mapping = json.loads(setting)
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ValueError("PRESCREEN_CLASSIFIER_LABELS must be identity, openai or a JSON object label -> family")
    return {str(k): v for k, v in mapping.items()}


def api_key_source(settings: Settings) -> Callable[[], str | None] | None:
    """API keys come from SSM or Secrets Manager through Powertools Parameters, cached for 5 minutes."""
    if settings.classifier_api_key_parameter:
        name = settings.classifier_api_key_parameter

        def from_ssm() -> str | None:
            from aws_lambda_powertools.utilities import parameters

            return str(parameters.get_parameter(name, decrypt=True, max_age=300))

        return from_ssm
    if settings.classifier_api_key_secret:
        secret_id = settings.classifier_api_key_secret

        def from_secrets_manager() -> str | None:
            from aws_lambda_powertools.utilities import parameters

            return str(parameters.get_secret(secret_id, max_age=300))

        return from_secrets_manager
    return None


def _boto_client(service: str, settings: Settings) -> Any:
    import botocore.session  # not boto3: its import of s3transfer would add ~40 ms to a cold start
    from botocore.config import Config

    budget = settings.classifier_budget_ms / 1000
    # botocore's own retries are off: GuardedClassifier retries once, inside the budget.
    config = Config(region_name=settings.aws_region, connect_timeout=min(budget, 0.5), read_timeout=budget,
                    retries={"total_max_attempts": 1, "mode": "standard"})
    return botocore.session.get_session().create_client(service, config=config)


def build_classifier(settings: Settings) -> GuardedClassifier | None:
    inner: Classifier
    if settings.classifier == "none":
        return None
    if settings.classifier == "http":
        inner = ModerationHttpClassifier(str(settings.classifier_url), settings.classifier_model,
                                         _label_map(settings.classifier_labels), api_key_source(settings))
    elif settings.classifier == "lambda":
        inner = LambdaInvokeClassifier(_boto_client("lambda", settings), str(settings.classifier_function),
                                       settings.classifier_model, _label_map(settings.classifier_labels))
    elif settings.classifier == "sagemaker":
        inner = SageMakerClassifier(_boto_client("sagemaker-runtime", settings), str(settings.sagemaker_endpoint),
                                    _label_map(settings.classifier_labels))
    else:
        inner = BedrockGuardrailClassifier(_boto_client("bedrock-runtime", settings),
                                           str(settings.bedrock_guardrail_id), settings.bedrock_guardrail_version,
                                           topic_to_family=json.loads(settings.bedrock_topics) or None)
    breaker = CircuitBreaker(settings.classifier_breaker_failures, settings.classifier_breaker_cool_down_seconds)
    return GuardedClassifier(inner, budget_seconds=settings.classifier_budget_ms / 1000, breaker=breaker)


def build_screener(settings: Settings) -> Screener:
    return Screener(build_policies(settings), build_classifier(settings))


def build_callback_queue(settings: Settings) -> CallbackQueue:
    if settings.callback_queue_url is None:
        return UnconfiguredQueue()
    return SqsCallbackQueue.connect(settings.callback_queue_url, settings.aws_region, settings.sqs_endpoint)


def build_review_service(settings: Settings) -> ReviewService:
    from prescreen.review.service import ReviewService

    return ReviewService(
        settings=settings,
        store=DynamoDBDecisionStore.from_settings(settings),
        marketplaces=build_marketplaces(settings),
        queue=build_callback_queue(settings),
    )


def build_screen_service(settings: Settings) -> ScreenService:
    return ScreenService(
        settings=settings,
        store=DynamoDBDecisionStore.from_settings(settings),
        marketplaces=build_marketplaces(settings),
        screener=build_screener(settings),
    )


@cache
def default_screen_service() -> ScreenService:
    """The webhook's service wired from the environment: built on first use, then shared by the process."""
    return build_screen_service(get_settings())


def initialise_screening() -> ScreenService:
    """Everything the first screening request would otherwise wait for, done before it (ScreenFunction's
    Lambda init, so also its SnapStart snapshot; `prescreen serve` before it opens its port): the default
    policy (overlays load on their first request: each would add ~80 ms to every cold start), the service
    with its clients; then the long-lived heap is exempted from full collections (prescreen/process.py)."""
    from prescreen.policy.provider import preload_policies
    from prescreen.process import freeze_initialised_heap

    preload_policies("default")
    service = default_screen_service()
    freeze_initialised_heap()
    return service
