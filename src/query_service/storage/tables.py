"""The three tables, defined once.

These dicts are the single source of truth for the local stack (``create_table``, then
``update_time_to_live``) and are compared against ``infra/terraform`` by a drift test, so a
key, index or TTL attribute changed in one place and not the other fails ``make test``.
"""

from __future__ import annotations

from typing import Any

COMMAND_TABLE = "command-records"
NOTIFICATION_TABLE = "notification-records"
STATS_TABLE = "delivery-stats"

TRANSACTION_INDEX = "transaction_id-index"
FAILURES_INDEX = "failures-index"
# /query/delivery: one delivery by its command key, whatever its created_at (the table's
# sort key starts with it), in one Query whose cost does not grow with the transaction.
DELIVERY_INDEX = "delivery-index"
# Every table's TTL attribute (N, epoch seconds): for a delivery created_at + RETENTION_DAYS.
TTL_ATTRIBUTE = "expires_at"
# Kept from the pre-migration schema; nothing queries it any more and it can be dropped.
MARKETING_INDEX = "marketing_id-index"


def _index(name: str, hash_key: str, range_key: str) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


def command_table_spec(name: str = COMMAND_TABLE) -> dict[str, Any]:
    """``create_table`` arguments for the write model (one item per delivery)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "transaction_id", "AttributeType": "S"},
            {"AttributeName": "user_id", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "transaction_id", "KeyType": "HASH"},
            {"AttributeName": "user_id", "KeyType": "RANGE"},
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def notification_table_spec(name: str = NOTIFICATION_TABLE) -> dict[str, Any]:
    """``create_table`` arguments for the read model every query runs against."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "user_id", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "transaction_id", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "N"},
            {"AttributeName": "failed_tx", "AttributeType": "S"},
            {"AttributeName": "marketing_id", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "user_id", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            _index(TRANSACTION_INDEX, "transaction_id", "created_at"),
            _index(FAILURES_INDEX, "failed_tx", "created_at"),
            _index(MARKETING_INDEX, "marketing_id", "created_at"),
            _index(DELIVERY_INDEX, "transaction_id", "user_id"),
        ],
    }


def stats_table_spec(name: str = STATS_TABLE) -> dict[str, Any]:
    """``create_table`` arguments for the statistics read model (storage/statistics.py).

    One item per counter shard, keyed by the scope and the shard (``tx#T#07``,
    ``app#A#2026-12-01#07``): each shard is its own partition key, so a hot campaign's
    counter writes spread over partitions, and a read is one BatchGetItem of known keys.
    """
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    }


def time_to_live_spec(name: str) -> dict[str, Any]:
    """``update_time_to_live`` arguments: every table expires items by ``expires_at``."""
    return {
        "TableName": name,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    }
