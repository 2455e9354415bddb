"""``query-service backfill``: re-project command-records into the read side (ARCHITECTURE §8).

A parallel Scan (``segments``), each page projected through the Stream Processor's own
``Projector`` (storage/projector.py), with its conditional writes, so it is safe while the
stream runs and whatever the projection writes besides the read item (the statistics) moves
exactly as it does for the stream. The version rule that makes that so, and the order of
the reads, are reproject.py's (the dead-letter replay's too).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from query_service.local.progress import progress_bar
from query_service.operations.reproject import Reprojection
from query_service.operations.state import DeadLetters, SegmentCheckpoints
from query_service.storage.projector import Projector

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # at most: one BatchGetItem of read items, one of command items, per page


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
        self.reprojection = Reprojection(
            client,
            projector,
            options.command_table,
            options.retention_days,
            options.dry_run,
            self.limit.acquire,
        )
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

    def project_page(self, raw_items: list[dict[str, Any]]) -> None:
        outcomes = self.reprojection.page(raw_items)
        self.counts.add(scanned=len(raw_items))
        for outcome in outcomes:
            if outcome.result == "failed":
                self._fail(outcome.key, outcome.reason)
            else:
                self.counts.add(**{outcome.result: 1})

    def _fail(self, key: dict[str, Any], reason: str) -> None:
        log.error("record not backfilled", extra={"keys": key, "reason": reason})
        self.counts.add(failed=1)
        if not self.options.dry_run:
            self.dead_letters.send(key, reason)
