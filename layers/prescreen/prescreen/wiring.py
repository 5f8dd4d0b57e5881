"""Builds the real adapters from settings: the one place that knows which implementation serves."""

from __future__ import annotations

from prescreen.marketplaces import (
    FileMarketplaceDirectory,
    MarketplaceDirectory,
    ParameterStoreMarketplaceDirectory,
    dev_marketplaces_path,
)
from prescreen.pipeline import Screener
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


def build_screener(settings: Settings) -> Screener:
    from prescreen.policy.provider import BundledPolicyProvider

    return Screener(BundledPolicyProvider())


def build_screen_service(settings: Settings) -> ScreenService:
    return ScreenService(
        settings=settings,
        store=DynamoDBDecisionStore.from_settings(settings),
        marketplaces=build_marketplaces(settings),
        screener=build_screener(settings),
    )
