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
from collections.abc import Mapping
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
from query_service.storage.dynamo import dynamodb_client, from_item
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


def _raw_keys(record: Mapping[str, Any]) -> object:
    """The command record's key as the stream has it (typed attribute values)."""
    stream = record.get("dynamodb")
    return stream.get("Keys") if isinstance(stream, Mapping) else None


def _keys(record: Mapping[str, Any]) -> dict[str, Any]:
    """The command record's key, for the logs (plain values; none if unreadable)."""
    keys = _raw_keys(record)
    with contextlib.suppress(*_UNREADABLE):
        return from_item(keys) if isinstance(keys, Mapping) else {}
    return {}


# What decoding an image can raise on attribute values it cannot hold (a number that is
# not one, a map that is a string, ...): the record is unprojectable, never a crash.
_UNREADABLE = (TypeError, ValueError, AttributeError, KeyError, ArithmeticError)


def _image(stream: Mapping[str, Any], name: str) -> dict[str, Any]:
    image = stream.get(name)
    return from_item(image) if image else {}


def change_of(record: Mapping[str, Any]) -> Change:
    """The change a stream record (as Lambda hands it over) carries; UnprojectableRecord
    saying why if none."""
    stream = record.get("dynamodb")
    if not isinstance(stream, Mapping):
        raise UnprojectableRecord("stream record without a dynamodb section")
    name = str(record.get("eventName") or "")
    try:
        version = stream_version(stream.get("SequenceNumber"))
        old = _image(stream, "OldImage") or None
        if name in {"INSERT", "MODIFY"}:
            new = _image(stream, "NewImage")
            if not new:
                raise UnprojectableRecord("no NewImage: the stream must be NEW_AND_OLD_IMAGES")
            return Change(version, new, old)
        if name == "REMOVE":
            if old is None:
                raise UnprojectableRecord("no OldImage: the stream must be NEW_AND_OLD_IMAGES")
            return Change(version, None, old)
    except MalformedRecord as exc:
        raise UnprojectableRecord(f"{exc.field}: {exc.reason}") from None
    except _UNREADABLE as exc:  # an attribute value the images cannot hold
        raise UnprojectableRecord(f"image not readable: {type(exc).__name__}") from None
    raise UnprojectableRecord(f"unknown eventName {name or None}")


class Batch:
    """One invocation's shared state: each record's change, decoded once (``preload``
    needs them before the writer threads do), the read items known so far, and the
    locks that keep one key's changes in stream order (asyncio locks belong to the event
    loop that uses them, and Powertools runs one per invocation)."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._changes: dict[int, tuple[Mapping[str, Any], Change | UnprojectableRecord]] = {}
        for raw in records:
            self._changes[id(raw)] = (raw, _decoded(raw))
        self.known: Known = {}
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def changes(self) -> list[Change]:
        """The records' changes that can be projected, in stream order."""
        return [c for _, c in self._changes.values() if isinstance(c, Change)]

    def change(self, record: Mapping[str, Any]) -> Change:
        """The change ``record`` carries (decoded when the batch was), or the
        UnprojectableRecord saying why it carries none."""
        entry = self._changes.get(id(record))
        outcome = entry[1] if entry is not None and entry[0] is record else _decoded(record)
        if isinstance(outcome, UnprojectableRecord):
            raise UnprojectableRecord(*outcome.args)
        return outcome


def _decoded(record: object) -> Change | UnprojectableRecord:
    if not isinstance(record, Mapping):
        return UnprojectableRecord("not a stream record")
    try:
        return change_of(record)
    except UnprojectableRecord as exc:
        return exc


def project_change(record: Mapping[str, Any], projector: Projector, batch: Batch) -> str:
    """Apply one stream record to the read table; returns what was done (for the log)."""
    change = batch.change(record)
    try:
        step = projector.apply(change, batch.known)
    except MalformedRecord as exc:
        raise UnprojectableRecord(f"{exc.field}: {exc.reason}") from None
    if not step.changed:
        return "applied before"
    if step.after is None:
        return "deleted"
    return "projected" if step.after["updated_at"] == change.image.get("updated_at") else "joined"


def apply_record(record: Mapping[str, Any], projector: Projector, batch: Batch) -> None:
    """Project one change, logging why it could not be (never its secrets)."""
    event_id = record.get("eventID")
    try:
        outcome = project_change(record, projector, batch)
    except UnprojectableRecord as exc:
        log.error(
            "record not projected",
            extra={"event_id": event_id, "keys": _keys(record), "reason": str(exc)},
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
            extra={"event_id": event_id, "keys": _keys(record), "error_code": code},
        )
        raise
    log.debug("record applied", extra={"event_id": event_id, "outcome": outcome})


def preload(projector: Projector, batch: Batch) -> None:
    """Read the items the batch's changes must read (``Projector.needs_read``: its
    modifications and removals of items not remembered) into ``batch.known``, in one
    consistent read; none if that read fails (each change then reads its own item, and
    fails alone if it cannot)."""
    keys = []
    for change in batch.changes():
        with contextlib.suppress(MalformedRecord):
            if projector.needs_read(change):
                keys.append(change.key)
    if not keys:
        return
    try:
        batch.known.update(projector.load(keys))
    except (ClientError, BotoCoreError) as error:
        log.warning("could not read the batch's read items at once", exc_info=error)


def _lock_name(record: Mapping[str, Any]) -> str:
    """One name per command record key, as the stream has it (no decoding)."""
    keys = _raw_keys(record)
    return repr(sorted(keys.items())) if isinstance(keys, Mapping) else repr(keys)


async def _apply_in_stream_order(
    record: DynamoDBRecord, *, projector: Projector, batch: Batch
) -> None:
    """One writer thread per record; the changes of one key wait for each other."""
    raw = record.raw_event
    async with batch.locks[_lock_name(raw)]:
        call = contextvars.copy_context().run  # the request id reaches the writer's logs
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(_writers, call, apply_record, raw, projector, batch)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.perf_counter()
    projector = _projector(_client())
    records = event.get("Records", [])
    batch = Batch(records if isinstance(records, list) else [])
    preload(projector, batch)
    # The writer threads are handed one projector and the batch.
    handler = partial(_apply_in_stream_order, projector=projector, batch=batch)
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
