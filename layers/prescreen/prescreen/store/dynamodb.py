"""DynamoDB adapter of the decision log (single table, see store/keys.py)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from prescreen.records import AuditEntry, CallbackRecord, DecisionRecord
from prescreen.store import keys
from prescreen.store.base import (
    DecisionQuery,
    DuplicateRequest,
    InvalidCursor,
    Page,
    RequestRecord,
    StaleRevision,
    StoreUnavailable,
)

_PAGE_READS = 10  # queries one page may make (filters can skip many items); the cursor continues from there

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
            # Bounded attempts with backoff (throttling included; total, the first one counted: botocore's
            # "max_attempts" would count retries only); past them the webhook answers 503.
            retries={"total_max_attempts": settings.store_max_attempts, "mode": "standard"},
        )
        # botocore's session, not boto3's: the same client, without boto3's import of s3transfer (~40 ms of
        # every cold start, make bench).
        client = botocore.session.get_session().create_client(
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
        request_item = {
            "pk": {"S": keys.request_pk(record.marketplace, record.webhook_id)},
            "sk": {"S": keys.REQUEST_SK},
            "body_sha256": {"S": record.body_sha256},
            "decision_id": {"S": record.decision_id},
            "expires_at": {"N": str(record.expires_at)},
        }
        absent = "attribute_not_exists(pk)"
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self._table, "Item": request_item, "ConditionExpression": absent}},
                    {"Put": {"TableName": self._table, "Item": _decision_item(record),
                             "ConditionExpression": absent}},
                ]
            )
        except ClientError as error:
            if _condition_failed(error):
                raise DuplicateRequest(record.webhook_id) from error
            raise StoreUnavailable(str(error)) from error
        except BotoCoreError as error:
            raise StoreUnavailable(str(error)) from error

    def apply_change(
        self, before: DecisionRecord, after: DecisionRecord, audit: AuditEntry, callback: CallbackRecord | None
    ) -> None:
        decision_pk = {"S": keys.decision_pk(after.decision_id)}
        expires = {"N": str(after.expires_at)}
        items: list[dict[str, Any]] = [
            {"Put": {
                "TableName": self._table, "Item": _decision_item(after),
                "ConditionExpression": "#rev = :rev",
                "ExpressionAttributeNames": {"#rev": "revision"},
                "ExpressionAttributeValues": {":rev": {"N": str(before.revision)}},
            }},
            # Audit entries are only ever created: the condition keeps even a bug from overwriting one.
            {"Put": {
                "TableName": self._table, "ConditionExpression": "attribute_not_exists(pk)",
                "Item": {"pk": decision_pk, "sk": {"S": keys.audit_sk(audit.revision)},
                         "entry": {"S": audit.model_dump_json()}, "expires_at": expires},
            }},
        ]
        if callback is not None:
            items.append({"Put": {
                "TableName": self._table, "ConditionExpression": "attribute_not_exists(pk)",
                "Item": _callback_item(callback, after.expires_at),
            }})
        # The same change retried by the SDK after a lost reply commits once and succeeds, instead of failing its
        # own condition; another operator's change to the same revision has another token and fails it.
        token = hashlib.sha256(
            f"{after.decision_id}:{after.revision}:{audit.operator}:{audit.action}:{audit.note}".encode()
        ).hexdigest()[:36]
        try:
            self._client.transact_write_items(TransactItems=items, ClientRequestToken=token)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if _condition_failed(error) or code == "IdempotentParameterMismatchException":
                raise StaleRevision(after.decision_id) from error
            raise StoreUnavailable(str(error)) from error
        except BotoCoreError as error:
            raise StoreUnavailable(str(error)) from error

    def audit_trail(self, decision_id: str) -> list[AuditEntry]:
        return [AuditEntry.model_validate_json(item["entry"]["S"])
                for item in self._children(decision_id, keys.AUDIT_PREFIX)]

    def callbacks(self, decision_id: str) -> list[CallbackRecord]:
        return [CallbackRecord.model_validate_json(item["callback"]["S"])
                for item in self._children(decision_id, keys.CALLBACK_PREFIX)]

    def get_callback(self, decision_id: str, revision: int) -> CallbackRecord | None:
        item = self._get({"pk": {"S": keys.decision_pk(decision_id)}, "sk": {"S": keys.callback_sk(revision)}})
        return None if item is None else CallbackRecord.model_validate_json(item["callback"]["S"])

    def save_callback(self, callback: CallbackRecord) -> None:
        item = self._get({"pk": {"S": keys.decision_pk(callback.decision_id)},
                          "sk": {"S": keys.callback_sk(callback.revision)}})
        if item is None:
            raise StoreUnavailable(f"no callback {callback.decision_id}@{callback.revision} to update")
        try:
            self._client.put_item(
                TableName=self._table, Item=_callback_item(callback, int(item["expires_at"]["N"])),
                ConditionExpression="attribute_exists(pk)",
            )
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(str(error)) from error

    def query_decisions(self, query: DecisionQuery) -> Page[DecisionRecord]:
        low, high = keys.time_range(query.since, query.until)
        if query.review_status == "pending":
            partitions = [keys.queue_key(query.marketplace)]
            index, oldest_first = keys.REVIEW_QUEUE, True
        else:
            partitions = [keys.marketplace_month_key(query.marketplace, month)
                          for month in keys.months_between(query.since, query.until)]
            index, oldest_first = keys.BY_MARKETPLACE, False
        filters: list[str] = []
        values: dict[str, Any] = {}
        if query.decision is not None:
            filters.append("final_decision = :decision")
            values[":decision"] = {"S": query.decision}
        if query.review_status is not None:
            filters.append("review_status = :status")
            values[":status"] = {"S": query.review_status}
        if query.category is not None:
            filters.append("contains(categories, :category)")
            values[":category"] = {"S": query.category}
        return self._page(index, partitions, low, high, oldest_first, query.limit, query.cursor,
                          " AND ".join(filters), values)

    def statements_page(
        self, marketplace: str, since: datetime, until: datetime, limit: int, cursor: str | None
    ) -> Page[DecisionRecord]:
        low, high = keys.time_range(since, until)
        months = list(reversed(keys.months_between(since, until)))
        partitions = [keys.statements_month_key(marketplace, month) for month in months]
        return self._page(keys.STATEMENTS, partitions, low, high, True, limit, cursor, "", {})

    def _page(
        self, index: str, partitions: list[str], low: str, high: str, oldest_first: bool, limit: int,
        cursor: str | None, filter_expression: str, filter_values: dict[str, Any],
    ) -> Page[DecisionRecord]:
        """Reads partitions in order from the cursor's position until `limit` items are found."""
        start_key: dict[str, Any] | None = None
        position = 0
        if cursor is not None:
            partition, last_key = keys.decode_cursor(cursor, partitions)
            position = partitions.index(partition)
            start_key = last_key or None  # {}: start at the beginning of that partition
        partition_name, sort_name = keys.INDEX_KEYS[index]
        found: list[DecisionRecord] = []
        for _ in range(_PAGE_READS):
            if position >= len(partitions):
                return Page(found, None)
            request: dict[str, Any] = {
                "TableName": self._table, "IndexName": index,
                "KeyConditionExpression": "#p = :p AND #s BETWEEN :low AND :high",
                "ExpressionAttributeNames": {"#p": partition_name, "#s": sort_name},
                "ExpressionAttributeValues": {":p": {"S": partitions[position]}, ":low": {"S": low},
                                              ":high": {"S": high}, **filter_values},
                "ScanIndexForward": oldest_first,
                # Never evaluate more than the page still needs, so the last evaluated key is exact.
                "Limit": limit - len(found),
            }
            if filter_expression:
                request["FilterExpression"] = filter_expression
            if start_key is not None:
                request["ExclusiveStartKey"] = start_key
            try:
                response = self._client.query(**request)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ValidationException" and start_key:
                    raise InvalidCursor("the cursor does not fit this query") from error
                raise StoreUnavailable(str(error)) from error
            except ParamValidationError as error:
                # Raised before any request is sent: only a cursor's key can make our own request invalid.
                raise InvalidCursor("the cursor does not fit this query") from error
            except BotoCoreError as error:
                raise StoreUnavailable(str(error)) from error
            found.extend(DecisionRecord.model_validate_json(item["record"]["S"]) for item in response["Items"])
            start_key = response.get("LastEvaluatedKey")
            if start_key is None:
                position += 1
            if len(found) >= limit:
                break
        if start_key is not None:
            return Page(found, keys.encode_cursor(partitions[position], start_key))
        if position < len(partitions):
            # The page is full (or the read budget spent) at a partition boundary: continue at the next one.
            return Page(found, keys.encode_cursor(partitions[position], {}))
        return Page(found, None)

    def _children(self, decision_id: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self._table, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": keys.decision_pk(decision_id)}, ":prefix": {"S": prefix}},
        }
        try:
            while True:
                response = self._client.query(**request)
                items.extend(response["Items"])
                if "LastEvaluatedKey" not in response:
                    return items
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as error:
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


def _condition_failed(error: ClientError) -> bool:
    response: dict[str, Any] = error.response  # type: ignore[assignment]
    if response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    return any(reason.get("Code") == "ConditionalCheckFailed" for reason in response.get("CancellationReasons", []))


def _decision_item(record: DecisionRecord) -> dict[str, Any]:
    """The decision as stored: the whole record as JSON, plus what keys, indexes and filters read."""
    item: dict[str, Any] = {
        "pk": {"S": keys.decision_pk(record.decision_id)},
        "sk": {"S": keys.DECISION_SK},
        "marketplace": {"S": record.marketplace},
        "decision": {"S": record.decision},
        "final_decision": {"S": record.final_decision},
        "decided_at": {"S": record.decided_at.isoformat()},
        "revision": {"N": str(record.revision)},
        "record": {"S": record.model_dump_json()},
        "expires_at": {"N": str(record.expires_at)},
    }
    if record.review_status:
        item["review_status"] = {"S": record.review_status}
    if record.categories:
        item["categories"] = {"SS": record.categories}
    item.update({name: {"S": value} for name, value in keys.index_attributes(record).items()})
    return item


def _callback_item(callback: CallbackRecord, expires_at: int) -> dict[str, Any]:
    return {
        "pk": {"S": keys.decision_pk(callback.decision_id)},
        "sk": {"S": keys.callback_sk(callback.revision)},
        "status": {"S": callback.status},
        "callback": {"S": callback.model_dump_json()},
        "expires_at": {"N": str(expires_at)},
    }
