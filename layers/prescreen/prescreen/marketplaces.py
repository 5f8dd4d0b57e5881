"""Per-marketplace configuration: signing secrets, policy overlay, callback URL, DSA statement details.

Locally a JSON file `{"<marketplace>": {"secrets": ["whsec_..."]}}`; in AWS one SSM SecureString JSON
per marketplace under a path, read through Powertools Parameters and cached.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from prescreen.iso_codes import EEA_COUNTRIES
from prescreen.models import CountryCode
from prescreen.signatures import decode_secret

MARKETPLACE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class MarketplaceConfigError(ValueError):
    """A marketplace configuration source is unreadable or invalid."""


class MarketplaceConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    secrets: list[str] = Field(min_length=1, description="active whsec_ secrets; several during rotation")
    policy: str = Field("base", pattern=r"^[a-z0-9_]+$", description="policy overlay name")
    callback_url: str | None = Field(
        None, max_length=2048,
        description="where verdicts are sent (https; checked against private addresses when sending)")
    callback_secret: str | None = Field(None, description="whsec_ secret signing callbacks (default: secrets[0])")
    territorial_scope: list[CountryCode] | None = Field(
        None, description="EEA countries the marketplace serves (statements of reasons); default: the EU 27")
    terms_url: str | None = Field(
        None, max_length=500, description="public terms of service, cited by statements for terms breaches")

    @field_validator("secrets")
    @classmethod
    def _secrets_decode(cls, secrets: list[str]) -> list[str]:
        for secret in secrets:
            decode_secret(secret)
        return secrets

    @field_validator("territorial_scope")
    @classmethod
    def _within_the_eea(cls, countries: list[str] | None) -> list[str] | None:
        # Statements of reasons may only name EEA countries: refuse others when loading, not when blocking.
        outside = [code for code in countries or [] if code not in EEA_COUNTRIES]
        if outside:
            raise ValueError(f"{', '.join(outside)}: not EEA countries (the EU 27, IS, LI, NO)")
        return countries

    @field_validator("callback_url", "terms_url")
    @classmethod
    def _web_address(cls, url: str | None, info: ValidationInfo) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        # http:// callbacks reach only a developer's machine (the sender refuses them outside the local stage);
        # terms are cited in statements of reasons, which only accept public URLs.
        schemes = {"https", "http"} if info.field_name == "callback_url" else {"https"}
        if parts.scheme not in schemes or not parts.hostname or parts.username or parts.password:
            wanted = " or ".join(sorted(schemes))
            raise ValueError(f"must be an absolute {wanted} URL with a host and no credentials")
        return url

    @field_validator("callback_secret")
    @classmethod
    def _callback_secret_decodes(cls, secret: str | None) -> str | None:
        if secret is not None:
            decode_secret(secret)
        return secret

    @property
    def signing_secret(self) -> str:
        """The secret that signs our callbacks to this marketplace."""
        return self.callback_secret or self.secrets[0]


class MarketplaceDirectory(Protocol):
    def get(self, marketplace: str) -> MarketplaceConfig | None:
        """The configuration of a marketplace, or None when there is no such marketplace."""


def _parse_all(document: object, source: str) -> dict[str, MarketplaceConfig]:
    if not isinstance(document, dict):
        raise MarketplaceConfigError(f"{source}: expected an object of marketplace name -> configuration")
    configs: dict[str, MarketplaceConfig] = {}
    for name, raw in document.items():
        if not MARKETPLACE_NAME.match(name):
            raise MarketplaceConfigError(f"{source}: '{name}' is not a valid marketplace name")
        try:
            configs[name] = MarketplaceConfig.model_validate(raw)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise MarketplaceConfigError(f"{source}: {name}.{where}: {first['msg']}") from error
    return configs


class FileMarketplaceDirectory:
    """Marketplaces from a local JSON file, read once."""

    def __init__(self, path: Path) -> None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise MarketplaceConfigError(f"{path}: {error}") from error
        self._configs = _parse_all(document, str(path))

    def get(self, marketplace: str) -> MarketplaceConfig | None:
        return self._configs.get(marketplace)

    def names(self) -> list[str]:
        return sorted(self._configs)


class ParameterStoreMarketplaceDirectory:
    """One SecureString JSON per marketplace at `{prefix}/{marketplace}`, cached for `max_age` seconds."""

    def __init__(self, prefix: str, max_age: int) -> None:
        self._prefix = prefix.rstrip("/")
        self._max_age = max_age
        self._provider: Any = None

    def _ssm(self) -> Any:
        if self._provider is None:
            # Imported here: only deployed stages pay for the Parameters utility's import.
            from aws_lambda_powertools.utilities.parameters import SSMProvider
            from botocore.config import Config

            # Our own provider (not the module-wide default) with short timeouts: a slow SSM must not
            # eat the webhook's latency budget.
            config = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2, "mode": "standard"})
            self._provider = SSMProvider(boto_config=config)
        return self._provider

    def names(self) -> list[str]:
        """Every configured marketplace (names only: the values are not decrypted)."""
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        names: list[str] = []
        config = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2, "mode": "standard"})
        try:
            pages = boto3.client("ssm", config=config).get_paginator("get_parameters_by_path").paginate(
                Path=self._prefix, Recursive=False, WithDecryption=False)
            for page in pages:
                names.extend(parameter["Name"].rsplit("/", 1)[-1] for parameter in page["Parameters"])
        except (BotoCoreError, ClientError) as error:
            raise MarketplaceConfigError(f"{self._prefix}: {error}") from error
        return sorted(name for name in names if MARKETPLACE_NAME.match(name))

    def get(self, marketplace: str) -> MarketplaceConfig | None:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        if not MARKETPLACE_NAME.match(marketplace):
            return None
        name = f"{self._prefix}/{marketplace}"
        try:
            raw = self._ssm().get(name, decrypt=True, transform="json", max_age=self._max_age)
        except GetParameterError as error:
            if "ParameterNotFound" in str(error):
                return None
            # SSM down or access denied: the webhook answers 503 rather than guessing.
            raise MarketplaceConfigError(f"{name}: {error}") from error
        return _parse_all({marketplace: raw}, name)[marketplace]


def dev_marketplaces_path() -> Path:
    """The embedded development configuration (`demo`, with a dev-only secret)."""
    return Path(str(resources.files("prescreen.local").joinpath("marketplaces.json")))
