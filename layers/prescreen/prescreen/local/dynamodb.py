"""An embedded DynamoDB-compatible server (moto, server mode) on loopback, with the template's table."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import boto3

from prescreen.local.template import load_template, table_definition, ttl_attribute

DECISIONS_TABLE_ID = "DecisionsTable"
LOCAL_ACCESS_KEY = "local"  # moto accepts any credentials; these keep boto3 from looking for real ones


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class LocalDynamoDB:
    """Starts moto's server on 127.0.0.1; `endpoint` is its URL. Stop it with `stop()`."""

    def __init__(self, port: int | None = None, per_item_transactions: bool = True) -> None:
        # moto is a development dependency, never in the Lambda layer: imported here, not at the top.
        from prescreen.local.moto_server import MotoServer

        if per_item_transactions:
            from prescreen.local.moto_transactions import patch_transactions

            patch_transactions()  # stock moto copies the whole table per transaction (see that module)
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = MotoServer(self.port)  # keeps connections alive, as DynamoDB does (see that module)

    def start(self) -> LocalDynamoDB:
        # werkzeug logs every request; the decision log's traffic is not news locally.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()


def dynamodb_client(endpoint: str, region: str = "eu-west-1") -> Any:
    return boto3.session.Session().client(
        "dynamodb", endpoint_url=endpoint, region_name=region,
        aws_access_key_id=LOCAL_ACCESS_KEY, aws_secret_access_key=LOCAL_ACCESS_KEY,
    )


def create_decisions_table(client: Any, template_path: Path, table_name: str) -> None:
    """Create the table exactly as template.yaml defines it (idempotent)."""
    template = load_template(template_path)
    if table_name in client.list_tables()["TableNames"]:
        return
    client.create_table(**table_definition(template, DECISIONS_TABLE_ID, table_name))
    attribute = ttl_attribute(template, DECISIONS_TABLE_ID)
    if attribute:
        client.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
        )
