"""Signing helpers for tests: requests are signed exactly as a marketplace would."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from prescreen.marketplaces import FileMarketplaceDirectory, dev_marketplaces_path
from prescreen.signatures import signed_headers

LISTINGS = Path(__file__).resolve().parent.parent / "data" / "listings"


def dev_secret(marketplace: str = "demo") -> str:
    config = FileMarketplaceDirectory(dev_marketplaces_path()).get(marketplace)
    assert config is not None
    return config.secrets[0]


def listing_body(name: str) -> bytes:
    """A listing body from tests/data/listings/<name>.json, exactly as stored."""
    return (LISTINGS / f"{name}.json").read_bytes()


def listing_json(name: str) -> dict[str, object]:
    document: dict[str, object] = json.loads(listing_body(name))
    return document


def signed(body: bytes, secret: str | None = None, webhook_id: str | None = None,
           timestamp: int | None = None) -> dict[str, str]:
    headers = signed_headers(
        secret or dev_secret(),
        webhook_id or f"msg_{uuid.uuid4().hex}",
        int(time.time()) if timestamp is None else timestamp,
        body,
    )
    headers["content-type"] = "application/json"
    return headers
