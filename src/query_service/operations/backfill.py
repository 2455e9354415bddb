"""``query-service backfill``: re-project command-records into the read side (ARCHITECTURE §8).

A parallel Scan (``segments``), each page projected through the Stream Processor's own
``Projector`` (storage/projector.py), with its conditional writes, so it is safe while the
stream runs and whatever the projection writes besides the read item (the statistics) moves
exactly as it does for the stream.

The version rule. A read item's ``version`` is the stream sequence number of the last change
applied (40 digits), and a change is applied only if its version is above the stored one.
A backfilled image carries the stored version with ``b`` appended (``0…0`` when there is no
item, or one from before versions): that sorts above the stored version, so the image is
merged in, and below every later sequence number, so any change the stream makes afterwards
still applies on top; a second backfill of the same state computes the same version and is
skipped as current. The read items are read (consistently) before the command items are
re-read by key (consistently): a delivery removed meanwhile is not resurrected (its REMOVE
came first and is then seen as missing), and one removed later is still deleted by its
REMOVE, whose version is above the backfill's. A write that finds the item changed since it
was read is decided again by the Projector, against the stream's newer state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from query_service.domain.records import MalformedRecord
from query_service.local.progress import progress_bar
from query_service.operations.state import DeadLetters, SegmentCheckpoints
from query_service.storage.dynamo import from_item, to_item
from query_service.storage.projection import VERSION_DIGITS, Change, ReadKey, transition
from query_service.storage.projector import Projector, Stored, WriteConflict

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

BACKFILL_MARK = "b"
PAGE_SIZE = 100  # at most: one BatchGetItem of read items, one of command items, per page
COMMAND_KEYS = ("transaction_id", "user_id")


def backfill_version(stored: Stored) -> str:
    """The version a backfilled image carries over ``stored`` (see the module's text)."""
    base = str(stored.get("version", "")) if stored else ""
    base = base.rstrip(BACKFILL_MARK) or "0" * VERSION_DIGITS
    return base + BACKFILL_MARK


def _same_state(before: Stored, after: Stored) -> bool:
    """Nothing but the version would change."""
    if before is None or after is None:
        return before is after
    return _unversioned(before) == _unversioned(after)


def _unversioned(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item as stored (None, at any depth, is an absent attribute), less its version."""
    return to_item({k: v for k, v in item.items() if k != "version"})


class RateLimit:
    """At most ``per_second`` writes a second over all segments (None: unlimited)."""

    def __init__(
        self, per_second: float | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = 1.0 / per_second if per_second else 0.0
        self._clock = clock
        self._next = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = self._clock()
            wait = self._next - now
            self._next = max(self._next, now) + self._interval
        if wait > 0:
            time.sleep(wait)


@dataclass
class Counts:
    scanned: int = 0
    projected: int = 0
    current: int = 0  # skipped: the read side already holds this state
    vanished: int = 0  # removed from command-records since the scan saw it
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)

    def line(self, dry_run: bool = False) -> str:
        verb = "would project" if dry_run else "projected"
        return (
            f"{self.scanned:,} scanned, {self.projected:,} {verb}, "
            f"{self.current:,} already current, {self.vanished:,} gone, {self.failed:,} failed"
        )


@dataclass(frozen=True, slots=True)
class Options:
    command_table: str
    retention_days: int
    segments: int = 4
    max_writes_per_second: float | None = None
    dry_run: bool = False
    resume: bool = False
    page_size: int = PAGE_SIZE  # items per Scan page: a checkpoint after each


class Backfill:
    def __init__(
        self,
        client: DynamoDBClient,
        projector: Projector,
        options: Options,
        checkpoints: SegmentCheckpoints,
        dead_letters: DeadLetters,
    ) -> None:
        self.client = client
        self.projector = projector
        self.options = options
        self.checkpoints = checkpoints
        self.dead_letters = dead_letters
        self.counts = Counts()
        self.limit = RateLimit(options.max_writes_per_second)
        self.stop = threading.Event()
        self._on_scanned: Callable[[int], None] = lambda _: None

    def run(self, out: IO[str]) -> Counts:
        if not self.options.resume:
            self.checkpoints.clear()
        total = int(
            self.client.describe_table(TableName=self.options.command_table)["Table"].get(
                "ItemCount", 0
            )
        )
        with progress_bar(
            max(total, 1), "backfill", out, unit="scanned", detail=self._detail
        ) as advance:
            self._on_scanned = advance
            with ThreadPoolExecutor(self.options.segments, thread_name_prefix="segment") as pool:
                futures = [pool.submit(self.segment, s) for s in range(self.options.segments)]
                try:
                    for future in futures:
                        future.result()
                except BaseException:
                    self.stop.set()  # Ctrl-C: the segments end after their page
                    raise
        return self.counts

    def _detail(self) -> str:
        c = self.counts
        return f"{c.projected:,} projected {c.current:,} current {c.failed:,} failed"

    def segment(self, segment: int) -> None:
        state = self.checkpoints.load(segment)
        if state["done"]:
            return
        start = state["last_key"]
        while not self.stop.is_set():
            kwargs: dict[str, Any] = {
                "TableName": self.options.command_table,
                "Segment": segment,
                "TotalSegments": self.options.segments,
                "Limit": self.options.page_size,
                "ConsistentRead": True,
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = self.client.scan(**kwargs)
            items = page.get("Items", [])
            self.project_page(items)
            start = page.get("LastEvaluatedKey")
            if not self.options.dry_run:
                self.checkpoints.save(segment, start)
            self._on_scanned(len(items))
            if not start:
                return

    def _fresh(self, keys: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The command items at ``keys`` now (consistent), by (transaction_id, user_id)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        pending: list[Any] = keys
        table = self.options.command_table
        while pending:
            response: dict[str, Any] = self.client.batch_get_item(  # type: ignore[assignment]
                RequestItems={table: {"Keys": pending, "ConsistentRead": True}}
            )
            for raw in response.get("Responses", {}).get(table, []):
                item = from_item(raw)
                found[(str(item["transaction_id"]), str(item["user_id"]))] = item
            pending = list(response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
        return found

    def project_page(self, raw_items: list[dict[str, Any]]) -> None:
        keys = [{k: raw[k] for k in COMMAND_KEYS if k in raw} for raw in raw_items]
        located: list[tuple[dict[str, Any], ReadKey | None]] = []
        for raw, key in zip(raw_items, keys, strict=True):
            try:
                located.append((key, Change(backfill_version(None), from_item(raw), None).key))
            except (MalformedRecord, TypeError, ValueError) as exc:
                self._fail(key, _reason(exc))
                located.append((key, None))
        self.counts.add(scanned=len(raw_items))
        wanted = [read for _, read in located if read is not None]
        known: dict[ReadKey, Stored] = self.projector.load(wanted) if wanted else {}
        fresh = self._fresh([key for key, read in located if read is not None]) if wanted else {}
        for key, read in located:
            if read is not None:
                self._project(key, read, fresh, known)

    def _project(
        self,
        key: dict[str, Any],
        read: ReadKey,
        fresh: Mapping[tuple[str, str], dict[str, Any]],
        known: dict[ReadKey, Stored],
    ) -> None:
        plain = from_item(key)
        image = fresh.get((str(plain.get("transaction_id")), str(plain.get("user_id"))))
        if image is None:
            self.counts.add(vanished=1)
            return
        try:
            change = Change(backfill_version(known.get(read)), image, None)
            if change.key != read:  # created_at changed since the scan: a malformed write
                raise MalformedRecord("created_at", "changed, but it is immutable")
            step = transition(known.get(read), change, self.options.retention_days)
            if not step.changed or _same_state(step.before, step.after):
                self.counts.add(current=1)
                return
            if self.options.dry_run:
                self.counts.add(projected=1)
                return
            self.limit.acquire()
            done = self.projector.apply(change, known)
        except (TypeError, ValueError, WriteConflict, ClientError, BotoCoreError) as exc:
            self._fail(key, _reason(exc))  # MalformedRecord is a ValueError
            return
        if done.changed:
            self.counts.add(projected=1)
        else:
            self.counts.add(current=1)

    def _fail(self, key: dict[str, Any], reason: str) -> None:
        log.error("record not backfilled", extra={"keys": key, "reason": reason})
        self.counts.add(failed=1)
        if not self.options.dry_run:
            self.dead_letters.send(key, reason)


def _reason(exc: Exception) -> str:
    if isinstance(exc, MalformedRecord):
        return f"{exc.field}: {exc.reason}"
    if isinstance(exc, ClientError):
        return f"read table write failed: {exc.response.get('Error', {}).get('Code', '')}"
    if isinstance(exc, WriteConflict | BotoCoreError):
        return f"read table write failed: {type(exc).__name__}"
    return f"image not readable: {type(exc).__name__}"
