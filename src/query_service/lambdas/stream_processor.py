"""Stream Processor Lambda: command-records stream → notification-records (ARCHITECTURE §5).

Powertools' BatchProcessor with partial batch responses: a record that cannot be projected
is reported in ``batchItemFailures`` (with its reason logged, never its device token or
payload), so Lambda retries it, bisects, and finally sends it to the on-failure
destination, while the rest of its batch is projected. Each change is applied once to its
read item (storage/projection.py decides, storage/projector.py writes, conditioned on the
version it read), so replays and late retries never regress a record or repeat an event.

The records of a batch are written concurrently (``WRITE_CONCURRENCY`` at a time), one key's
changes still in stream order: a batch costs about one write's latency per
``WRITE_CONCURRENCY`` records instead of one per record, which is what bounds how fast the
read side follows a busy shard.

The items it writes are remembered across batches (``RecentItems``, PROJECTION_CACHE_ITEMS
of them, per execution environment: a new one, or a restarted poller, starts with none), so
that only the changes of deliveries it has not seen lately cost the batch's read
(storage/projector.py says why a remembered item is as safe to decide from as a read one).
"""

from __future__ import annotations

import asyncio
import contextlib
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
from botocore.exceptions import BotoCoreError, ClientError

from query_service.config import Tier, get_settings
from query_service.domain.records import MalformedRecord
from query_service.lambdas.snapstart import make_before_snapshot
from query_service.logs import configure_logging
from query_service.metrics import publish
from query_service.storage.dynamo import dynamodb_client
from query_service.storage.projection import Change, ReadKey, stream_version
from query_service.storage.projector import (
    Projector,
    RecentItems,
    Stored,
    WriteConflict,
    projector_for,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

Known = dict[ReadKey, Stored]

TIER: Tier = "stream_processor"

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
    # Its requests are items built by to_item: botocore's walk over every attribute of each
    # (a timeline is a list of maps) before sending was about a tenth of the writer threads'
    # CPU in a profile (cProfile, one writer thread).
    return dynamodb_client(settings, validate=False)


@cache
def _recent() -> RecentItems:
    return RecentItems(get_settings().projection_cache_items)


make_before_snapshot(_client)  # under SnapStart, in the snapshot (snapstart.py)


def _projector(client: DynamoDBClient) -> Projector:
    return projector_for(client, get_settings(), _recent())


def _keys(record: DynamoDBRecord) -> dict[str, Any]:
    keys = record.dynamodb.keys if record.dynamodb else None
    return dict(keys or {})


def change_of(record: DynamoDBRecord) -> Change:
    """The change a stream record carries; UnprojectableRecord saying why if none."""
    stream = record.dynamodb
    if stream is None:
        raise UnprojectableRecord("stream record without a dynamodb section")
    name = str(record.get("eventName") or "")
    try:
        version = stream_version(stream.sequence_number)
        old = dict(stream.old_image or {}) or None
        if name in {"INSERT", "MODIFY"}:
            new = dict(stream.new_image or {})
            if not new:
                raise UnprojectableRecord("no NewImage: the stream must be NEW_AND_OLD_IMAGES")
            return Change(version, new, old)
        if name == "REMOVE":
            if old is None:
                raise UnprojectableRecord("no OldImage: the stream must be NEW_AND_OLD_IMAGES")
            return Change(version, None, old)
    except MalformedRecord as exc:
        raise UnprojectableRecord(f"{exc.field}: {exc.reason}") from None
    except (TypeError, ValueError) as exc:  # an attribute value the images cannot hold
        raise UnprojectableRecord(f"image not readable: {type(exc).__name__}") from None
    raise UnprojectableRecord(f"unknown eventName {name or None}")


def project_change(record: DynamoDBRecord, projector: Projector, known: Known) -> str:
    """Apply one stream record to the read table; returns what was done (for the log)."""
    change = change_of(record)
    try:
        step = projector.apply(change, known)
    except MalformedRecord as exc:
        raise UnprojectableRecord(f"{exc.field}: {exc.reason}") from None
    if not step.changed:
        return "applied before"
    if step.after is None:
        return "deleted"
    return "projected" if step.after["updated_at"] == change.image.get("updated_at") else "joined"


def apply_record(record: DynamoDBRecord, projector: Projector, known: Known) -> None:
    """Project one change, logging why it could not be (never its secrets)."""
    try:
        outcome = project_change(record, projector, known)
    except UnprojectableRecord as exc:
        log.error(
            "record not projected",
            extra={"event_id": record.event_id, "keys": _keys(record), "reason": str(exc)},
        )
        raise
    except (ClientError, WriteConflict) as error:
        code = (
            error.response.get("Error", {}).get("Code", "")
            if isinstance(error, ClientError)
            else "WriteConflict"
        )
        log.error(
            "read table write failed",
            extra={"event_id": record.event_id, "keys": _keys(record), "error_code": code},
        )
        raise
    log.debug("record applied", extra={"event_id": record.event_id, "outcome": outcome})


def preload(projector: Projector, records: list[dict[str, Any]]) -> Known:
    """The read items a batch's changes must read (``Projector.needs_read``: its
    modifications and removals of items not remembered), in one consistent read; empty if
    that read fails (each change then reads its own item, and fails alone if it cannot)."""
    keys = []
    for raw in records:
        with contextlib.suppress(UnprojectableRecord, MalformedRecord):
            change = change_of(DynamoDBRecord(raw))
            if projector.needs_read(change):
                keys.append(change.key)
    if not keys:
        return {}
    try:
        return projector.load(keys)
    except (ClientError, BotoCoreError) as error:
        log.warning("could not read the batch's read items at once", exc_info=error)
        return {}


async def _apply_in_stream_order(
    record: DynamoDBRecord,
    *,
    projector: Projector,
    known: Known,
    locks: defaultdict[str, asyncio.Lock],
) -> None:
    """One writer thread per record; the changes of one key wait for each other."""
    async with locks[repr(sorted(_keys(record).items()))]:
        call = contextvars.copy_context().run  # the request id reaches the writer's logs
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(_writers, call, apply_record, record, projector, known)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.perf_counter()
    projector = _projector(_client())
    records = event.get("Records", [])
    # The writer threads are handed one projector, the batch's read items and this
    # invocation's locks (asyncio locks belong to the event loop that uses them, and
    # Powertools runs one per invocation).
    handler = partial(
        _apply_in_stream_order,
        projector=projector,
        known=preload(projector, records),
        locks=defaultdict(asyncio.Lock),
    )
    response = async_process_partial_response(event, handler, processor, context)
    failures = len(response.get("batchItemFailures", []))
    log.info("batch processed", extra={"records": len(records), "failures": failures})
    publish(
        "stream-processor",
        "stream",
        latency_ms=(time.perf_counter() - started) * 1000,
        counts={"RecordsProcessed": len(records) - failures, "RecordsFailed": failures},
    )
    return dict(response)
