"""Marketplace and operator set-ups for tests: the embedded dev marketplaces with `demo` calling back where a
test needs, and the settings of the review side (operators, callback queue) around them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from prescreen.callbacks.worker import local_sqs_client
from prescreen.marketplaces import dev_marketplaces_path
from prescreen.settings import Settings


def marketplaces_with_callback(path: Path, callback_url: str = "https://marketplace.example/callbacks") -> Path:
    document = json.loads(dev_marketplaces_path().read_text())
    document["demo"]["callback_url"] = callback_url
    path.write_text(json.dumps(document))
    return path


def review_settings(local_settings: Settings, sqs_endpoint: str, folder: Path,
                    operators: dict[str, dict[str, object]]) -> Settings:
    """`local_settings` with `operators` (bearer token -> operator) in a token file, `demo` calling back, and a
    fresh callback queue on the local SQS."""
    operators_path = folder / "operators.json"
    operators_path.write_text(json.dumps(operators))
    queue_url = local_sqs_client(sqs_endpoint).create_queue(QueueName=f"callbacks-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    return local_settings.model_copy(update={
        "operators_file": operators_path,
        "marketplaces_file": marketplaces_with_callback(folder / "marketplaces.json"),
        "callback_queue_url": queue_url, "sqs_endpoint": sqs_endpoint,
    })
