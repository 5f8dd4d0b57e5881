"""Builds the real adapters from settings: the one place that knows which implementation serves."""

from __future__ import annotations

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
from prescreen.settings import Settings
from prescreen.store.dynamodb import DynamoDBDecisionStore
from prescreen.webhook import ScreenService


def build_marketplaces(settings: Settings) -> MarketplaceDirectory:
    if settings.marketplaces_file is not None:
        return FileMarketplaceDirectory(settings.marketplaces_file)
    if settings.marketplaces_parameter_prefix is not None:
        return ParameterStoreMarketplaceDirectory(
            settings.marketplaces_parameter_prefix, settings.marketplaces_cache_seconds
        )
    # Settings only allow this fallback on the local stage.
    return FileMarketplaceDirectory(dev_marketplaces_path())


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


def build_screener(settings: Settings) -> Screener:
    return Screener(build_policies(settings))


def build_screen_service(settings: Settings) -> ScreenService:
    return ScreenService(
        settings=settings,
        store=DynamoDBDecisionStore.from_settings(settings),
        marketplaces=build_marketplaces(settings),
        screener=build_screener(settings),
    )
