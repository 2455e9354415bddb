"""A local Lambda event source mapping on the command-records stream (ARCHITECTURE §1).

It does what Lambda's poller does for a DynamoDB stream, against DynamoDB Local:

- reads every shard, a child only after its parent is finished (shard lineage), so the
  changes of one item reach the function in the order they were made;
- builds the event as Lambda does (``Records[].eventID``, ``eventName``, ``dynamodb``
  with ``Keys``/``NewImage``/``OldImage``/``SequenceNumber``, ``eventSourceARN``);
- batches up to ``batch_size`` records, waiting at most ``batching_window`` seconds;
- honours partial batch responses (``batchItemFailures``): what precedes the first failed
  record is checkpointed, the rest is retried; with bisect-on-error a failing batch is
  split in two (splitting does not count as a retry), and a record that still fails after
  ``max_retry_attempts`` retries goes to the on-failure destination, here a JSON-lines
  dead-letter file holding the records, the error and the attempt count;
- checkpoints each shard's last processed sequence number in a file, written atomically
  after every batch, so a restart (even after SIGKILL) resumes where it stopped. Records
  after the checkpoint may be delivered twice; the projection is idempotent by design.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from query_service.local.lambda_runtime import LambdaContext
from query_service.local.stream_events import (
    StreamRecord,
    first_failure,
    iterator_age_ms,
    lambda_record,
    sequence_of,
)
from query_service.local.stream_state import Checkpoints, DeadLetterFile

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

log = logging.getLogger("query_service.stream_poller")

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """The event source mapping's knobs, with Lambda's defaults for DynamoDB streams."""

    batch_size: int = 100
    batching_window: float = 0.5
    max_retry_attempts: int = 3
    bisect_on_error: bool = True
    idle_poll_interval: float = 0.25
    retry_backoff: float = 0.1
    function_name: str = "query-service-stream-processor"

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 1000:
            raise ValueError("batch_size must be 1..1000 (GetRecords returns at most 1000)")
        if self.batching_window < 0 or self.max_retry_attempts < 0:
            raise ValueError("batching_window and max_retry_attempts must not be negative")


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    buffer: list[StreamRecord] = field(default_factory=list)
    buffered_since: float = 0.0
    closed: bool = False  # GetRecords returned no NextShardIterator: nothing more will come


@dataclass
class _Segment:
    records: list[StreamRecord]
    attempts: int = 0  # failed invocations of these records so far


class StreamPoller:
    def __init__(
        self,
        streams: DynamoDBStreamsClient,
        stream_arn: str,
        handler: Handler,
        checkpoints: Checkpoints,
        dead_letters: DeadLetterFile,
        config: MappingConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.streams = streams
        self.stream_arn = stream_arn
        self.handler = handler
        self.checkpoints = checkpoints
        self.dead_letters = dead_letters
        self.config = config or MappingConfig()
        self.shards: dict[str, _Shard] = {}
        self._clock = clock
        self._sleep = sleep
        self._last_discovery = float("-inf")
        self.invocations = 0
        self.dead_lettered = 0

    # -- shards -------------------------------------------------------------------------
    def discover(self) -> None:
        """Learn the stream's shards (DescribeStream, every page)."""
        start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
            if start:
                kwargs["ExclusiveStartShardId"] = start
            description = self.streams.describe_stream(**kwargs)["StreamDescription"]
            for shard in description.get("Shards", []):
                shard_id = shard["ShardId"]
                if shard_id not in self.shards and not self.checkpoints.finished(shard_id):
                    self.shards[shard_id] = _Shard(shard_id, shard.get("ParentShardId"))
                    log.info("shard found", extra={"shard_id": shard_id})
            start = description.get("LastEvaluatedShardId")
            if not start:
                break
        self._last_discovery = self._clock()

    def _ready(self, shard: _Shard) -> bool:
        """A shard is read once its parent is done (or gone: trimmed, or never known)."""
        parent = shard.parent_id
        return parent is None or parent not in self.shards

    def _iterator(self, shard: _Shard) -> str | None:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard.shard_id}
        sequence = self.checkpoints.sequence(shard.shard_id)
        if sequence is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": sequence}
        try:
            return self.streams.get_shard_iterator(**kwargs).get("ShardIterator")
        except ClientError as error:
            if _code(error) != "TrimmedDataAccessException":
                raise
            log.warning(
                "checkpoint is older than the stream's retention: records were trimmed",
                extra={"shard_id": shard.shard_id, "sequence": sequence},
            )
            kwargs = {k: v for k, v in kwargs.items() if k != "SequenceNumber"}
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            return self.streams.get_shard_iterator(**kwargs).get("ShardIterator")

    # -- the loop -----------------------------------------------------------------------
    def run(self, should_stop: Callable[[], bool]) -> None:
        log.info(
            "polling stream",
            extra={"stream_arn": self.stream_arn, "batch_size": self.config.batch_size},
        )
        while not should_stop():
            if not self.poll_once():
                self._sleep(self.config.idle_poll_interval)

    def poll_once(self) -> bool:
        """One pass over the readable shards; True if any record moved."""
        if self._clock() - self._last_discovery >= 1.0 or not self.shards:
            self.discover()
        moved = False
        for shard in [s for s in self.shards.values() if self._ready(s)]:
            moved |= self._poll_shard(shard)
        return moved

    def _poll_shard(self, shard: _Shard) -> bool:
        got = 0
        if not shard.closed and len(shard.buffer) < self.config.batch_size:
            got = self._fetch(shard)
        moved = got > 0
        window_over = self._clock() - shard.buffered_since >= self.config.batching_window
        while shard.buffer and (
            len(shard.buffer) >= self.config.batch_size or window_over or shard.closed
        ):
            batch = shard.buffer[: self.config.batch_size]
            del shard.buffer[: len(batch)]
            self._deliver(shard.shard_id, batch)
            shard.buffered_since = self._clock()
            moved = True
        if shard.closed and not shard.buffer:
            self.checkpoints.finish(shard.shard_id)
            del self.shards[shard.shard_id]
            log.info("shard finished", extra={"shard_id": shard.shard_id})
            moved = True
        return moved

    def _fetch(self, shard: _Shard) -> int:
        if shard.iterator is None:
            shard.iterator = self._iterator(shard)
            if shard.iterator is None:
                shard.closed = True
                return 0
        try:
            response = self.streams.get_records(
                ShardIterator=shard.iterator,
                Limit=self.config.batch_size - len(shard.buffer),
            )
        except ClientError as error:
            if _code(error) in {"ExpiredIteratorException", "TrimmedDataAccessException"}:
                # Start again from the checkpoint; what was buffered is fetched again.
                log.warning("shard iterator lost", extra={"shard_id": shard.shard_id})
                shard.iterator, shard.buffer = None, []
                return 0
            raise
        records = [lambda_record(r, self.stream_arn) for r in response.get("Records", [])]
        if records and not shard.buffer:
            shard.buffered_since = self._clock()
        shard.buffer.extend(records)
        shard.iterator = response.get("NextShardIterator")
        if shard.iterator is None:
            shard.closed = True
        return len(records)

    # -- invoking the function ----------------------------------------------------------
    def _invoke(self, records: list[StreamRecord]) -> tuple[int | None, str]:
        self.invocations += 1
        context = LambdaContext(self.config.function_name)
        try:
            response = self.handler({"Records": records}, context)
        except Exception as exc:
            log.exception("function error", extra={"records": len(records)})
            return 0, f"function error: {type(exc).__name__}"
        failed = first_failure(response, records)
        if failed is None:
            return None, ""
        return failed, "reported in batchItemFailures"

    def _deliver(self, shard_id: str, batch: list[StreamRecord]) -> None:
        started = self._clock()
        pending: deque[_Segment] = deque([_Segment(batch)])
        failures = 0
        while pending:
            segment = pending.popleft()
            failed, reason = self._invoke(segment.records)
            if failed is None:
                self.checkpoints.advance(shard_id, sequence_of(segment.records[-1]))
                continue
            failures += 1
            if failed > 0:
                self.checkpoints.advance(shard_id, sequence_of(segment.records[failed - 1]))
            rest = segment.records[failed:]
            if self.config.bisect_on_error and len(rest) > 1:
                half = len(rest) // 2
                # Splitting is not a retry: each half keeps the attempt count.
                left, right = rest[:half], rest[half:]
                tried = segment.attempts
                pending.extendleft([_Segment(right, tried), _Segment(left, tried)])
                continue
            attempts = segment.attempts + 1
            if attempts > self.config.max_retry_attempts:
                self.dead_letters.send(self.stream_arn, shard_id, rest, reason, attempts)
                self.dead_lettered += len(rest)
                log.error(
                    "records sent to the dead-letter file after exhausting retries",
                    extra={
                        "shard_id": shard_id,
                        "records": len(rest),
                        "attempts": attempts,
                        "first_sequence_number": sequence_of(rest[0]),
                        "dead_letter_file": str(self.dead_letters.path),
                    },
                )
                self.checkpoints.advance(shard_id, sequence_of(rest[-1]))
                continue
            self._sleep(self.config.retry_backoff * 2 ** (attempts - 1))
            pending.appendleft(_Segment(rest, attempts))
        log.info(
            "batch delivered",
            extra={
                "shard_id": shard_id,
                "batch_size": len(batch),
                "failed_invocations": failures,
                "iterator_age_ms": iterator_age_ms(batch[-1]),
                "duration_ms": round((self._clock() - started) * 1000, 1),
            },
        )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
