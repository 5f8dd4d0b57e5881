"""Marketplace files for tests: the embedded dev marketplaces with `demo` calling back where a test needs."""

from __future__ import annotations

import json
from pathlib import Path

from prescreen.marketplaces import dev_marketplaces_path


def marketplaces_with_callback(path: Path, callback_url: str = "https://marketplace.example/callbacks") -> Path:
    document = json.loads(dev_marketplaces_path().read_text())
    document["demo"]["callback_url"] = callback_url
    path.write_text(json.dumps(document))
    return path
