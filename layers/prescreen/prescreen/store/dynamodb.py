"""DynamoDB adapter of the decision log (single table, see store/keys.py)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from prescreen.records import DecisionRecord
from prescreen.store import keys
from prescreen.store.base import DuplicateRequest, RequestRecord, StoreUnavailable

if TYPE_CHECKING:
    from prescreen.settings import Settings


class DynamoDBDecisionStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @classmethod
    def from_settings(cls, settings: Settings) -> DynamoDBDecisionStore:
        config = Config(
            region_name=settings.aws_region,
            connect_timeout=settings.store_connect_timeout_seconds,
            read_timeout=settings.store_read_timeout_seconds,
            # Bounded retries with backoff (throttling included); past them the webhook answers 503.
            retries={"max_attempts": settings.store_max_attempts, "mode": "standard"},
        )
        client = boto3.session.Session().client(
            "dynamodb", endpoint_url=settings.dynamodb_endpoint, config=config
        )
        return cls(client, settings.table_name)

    def find_request(self, marketplace: str, webhook_id: str) -> RequestRecord | None:
        item = self._get({"pk": {"S": keys.request_pk(marketplace, webhook_id)}, "sk": {"S": keys.REQUEST_SK}})
        if item is None:
            return None
        return RequestRecord(
            marketplace=marketplace,
            webhook_id=webhook_id,
            body_sha256=item["body_sha256"]["S"],
            decision_id=item["decision_id"]["S"],
        )

    def save_decision(self, record: DecisionRecord) -> None:
        expires = {"N": str(record.expires_at)}
        decision_item: dict[str, Any] = {
            "pk": {"S": keys.decision_pk(record.decision_id)},
            "sk": {"S": keys.DECISION_SK},
            "marketplace": {"S": record.marketplace},
            "decision": {"S": record.decision},
            "decided_at": {"S": record.decided_at.isoformat()},
            "record": {"S": record.model_dump_json()},
            "expires_at": expires,
        }
        if record.review_status:
            decision_item["review_status"] = {"S": record.review_status}
        if record.categories:
            decision_item["categories"] = {"SS": record.categories}
        decision_item.update({name: {"S": value} for name, value in keys.index_attributes(record).items()})
        request_item = {
            "pk": {"S": keys.request_pk(record.marketplace, record.webhook_id)},
            "sk": {"S": keys.REQUEST_SK},
            "body_sha256": {"S": record.body_sha256},
            "decision_id": {"S": record.decision_id},
            "expires_at": expires,
        }
        absent = "attribute_not_exists(pk)"
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self._table, "Item": request_item, "ConditionExpression": absent}},
                    {"Put": {"TableName": self._table, "Item": decision_item, "ConditionExpression": absent}},
                ]
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                reasons = error.response.get("CancellationReasons", [])
                if any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons):
                    raise DuplicateRequest(record.webhook_id) from error
            raise StoreUnavailable(str(error)) from error
        except BotoCoreError as error:
            raise StoreUnavailable(str(error)) from error

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        item = self._get({"pk": {"S": keys.decision_pk(decision_id)}, "sk": {"S": keys.DECISION_SK}})
        return None if item is None else DecisionRecord.model_validate_json(item["record"]["S"])

    def listing_history(self, marketplace: str, listing_id: str, limit: int = 50) -> list[DecisionRecord]:
        return self._query(keys.BY_LISTING, "gsi1pk", keys.listing_key(marketplace, listing_id), limit, False)

    def decisions_by_seller(self, marketplace: str, seller_id: str, limit: int = 50) -> list[DecisionRecord]:
        return self._query(keys.BY_SELLER, "gsi3pk", keys.seller_key(marketplace, seller_id), limit, False)

    def decisions_by_day(self, day: date, limit: int = 100) -> list[DecisionRecord]:
        return self._query(keys.BY_DAY, "gsi4pk", keys.day_key(day), limit, True)

    def review_queue(self, marketplace: str, limit: int = 50) -> list[DecisionRecord]:
        return self._query(keys.REVIEW_QUEUE, "gsi2pk", keys.queue_key(marketplace), limit, True)

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        try:
            response = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(str(error)) from error
        item: dict[str, Any] | None = response.get("Item")
        return item

    def _query(self, index: str, key_name: str, key: str, limit: int, oldest_first: bool) -> list[DecisionRecord]:
        try:
            response = self._client.query(
                TableName=self._table,
                IndexName=index,
                KeyConditionExpression="#k = :k",
                ExpressionAttributeNames={"#k": key_name},
                ExpressionAttributeValues={":k": {"S": key}},
                ScanIndexForward=oldest_first,
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(str(error)) from error
        return [DecisionRecord.model_validate_json(item["record"]["S"]) for item in response.get("Items", [])]
