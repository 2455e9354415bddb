"""Stream Processor Lambda: command-records stream → notification-records (ARCHITECTURE §5).

Powertools' BatchProcessor with partial batch responses: a record that cannot be projected
is reported in ``batchItemFailures`` (with its reason logged, never its device token or
payload), so Lambda retries it, bisects, and finally sends it to the on-failure
destination, while the rest of its batch is projected. Writes are conditional on the
stored ``updated_at``, so replays and late retries never regress a record.

The records of a batch are written concurrently (``WRITE_CONCURRENCY`` at a time), one key's
changes still in stream order: a batch costs about one write's latency per
``WRITE_CONCURRENCY`` records instead of one per record, which is what bounds how fast the
read side follows a busy shard.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
)
from botocore.exceptions import ClientError

from query_service.config import Tier, get_settings
from query_service.domain.records import MalformedRecord, epoch_ms
from query_service.logs import configure_logging
from query_service.metrics import publish
from query_service.storage.dynamo import dynamodb_client, to_attribute, to_item
from query_service.storage.projection import project_record, read_key

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

TIER: Tier = "stream_processor"
# Put or delete only if the read item is absent or not newer than this change.
NOT_NEWER = "attribute_not_exists(sk) OR updated_at <= :updated_at"

configure_logging(TIER, get_settings().log_level)
log = logging.getLogger(__name__)
# A batch whose every record fails is reported record by record too, not raised: Lambda
# then bisects and retries it like any other partial failure.
processor = AsyncBatchProcessor(
    event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False
)
# Writes in flight at once; within botocore's default pool of 10 connections.
WRITE_CONCURRENCY = 8
_writers = ThreadPoolExecutor(WRITE_CONCURRENCY, thread_name_prefix="projection")


class UnprojectableRecord(ValueError):
    """A change the read side cannot take; reported as a batch item failure."""


@cache
def _client() -> DynamoDBClient:
    settings = get_settings()
    settings.check_production(TIER)
    return dynamodb_client(settings)


def _table() -> str:
    return get_settings().notification_table_name


def _keys(record: DynamoDBRecord) -> dict[str, Any]:
    keys = record.dynamodb.keys if record.dynamodb else None
    return dict(keys or {})


def _updated_at(image: dict[str, Any]) -> int:
    value = image.get("updated_at", image.get("created_at"))
    return epoch_ms(value, "updated_at")


def _conditional(client: DynamoDBClient, write: str, **kwargs: Any) -> bool:
    """Run a conditional write; False when a newer read item already holds the key."""
    try:
        getattr(client, write)(TableName=_table(), ConditionExpression=NOT_NEWER, **kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def project_change(record: DynamoDBRecord, client: DynamoDBClient) -> str:
    """Apply one stream record to the read table; returns what was done (for the log)."""
    stream = record.dynamodb
    if stream is None:
        raise UnprojectableRecord("stream record without a dynamodb section")
    name = record.event_name.name if record.event_name else ""
    try:
        if name in {"INSERT", "MODIFY"}:
            new = dict(stream.new_image or {})
            old = dict(stream.old_image or {})
            if not new:
                raise UnprojectableRecord("no NewImage: the stream must be NEW_AND_OLD_IMAGES")
            item = project_record(new)
            if old and old.get("created_at") not in (None, item["created_at"]):
                raise UnprojectableRecord("created_at changed, but it is immutable")
            written = _conditional(
                client,
                "put_item",
                Item=to_item(item),
                ExpressionAttributeValues={":updated_at": to_attribute(item["updated_at"])},
            )
            return "projected" if written else "stale"
        if name == "REMOVE":
            old = dict(stream.old_image or {})
            if not old:
                raise UnprojectableRecord("no OldImage: the stream must be NEW_AND_OLD_IMAGES")
            created = epoch_ms(old.get("created_at"), "created_at")
            key = read_key(old, created)
            deleted = _conditional(
                client,
                "delete_item",
                Key=to_item(key),
                ExpressionAttributeValues={":updated_at": to_attribute(_updated_at(old))},
            )
            return "deleted" if deleted else "stale"
    except MalformedRecord as exc:
        raise UnprojectableRecord(f"{exc.field}: {exc.reason}") from None
    raise UnprojectableRecord(f"unknown eventName {name or None}")


def apply_record(record: DynamoDBRecord, client: DynamoDBClient) -> None:
    """Project one change, logging why it could not be (never its secrets)."""
    try:
        outcome = project_change(record, client)
    except UnprojectableRecord as exc:
        log.error(
            "record not projected",
            extra={"event_id": record.event_id, "keys": _keys(record), "reason": str(exc)},
        )
        raise
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        log.error(
            "read table write failed",
            extra={"event_id": record.event_id, "keys": _keys(record), "error_code": code},
        )
        raise
    log.debug("record applied", extra={"event_id": record.event_id, "outcome": outcome})


async def _apply_in_stream_order(
    record: DynamoDBRecord, *, client: DynamoDBClient, locks: defaultdict[str, asyncio.Lock]
) -> None:
    """One writer thread per record; the changes of one key wait for each other."""
    async with locks[repr(sorted(_keys(record).items()))]:
        call = contextvars.copy_context().run  # the request id reaches the writer's logs
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(_writers, call, apply_record, record, client)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.perf_counter()
    # The writer threads are handed one client and this invocation's locks (asyncio locks
    # belong to the event loop that uses them, and Powertools runs one per invocation).
    handler = partial(_apply_in_stream_order, client=_client(), locks=defaultdict(asyncio.Lock))
    response = async_process_partial_response(event, handler, processor, context)
    failures = len(response.get("batchItemFailures", []))
    records = len(event.get("Records", []))
    log.info("batch processed", extra={"records": records, "failures": failures})
    publish(
        "stream-processor",
        "stream",
        latency_ms=(time.perf_counter() - started) * 1000,
        counts={"RecordsProcessed": records - failures, "RecordsFailed": failures},
    )
    return dict(response)
