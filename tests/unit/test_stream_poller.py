"""The local event source mapping, against a small in-memory stream that behaves like one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from query_service.local.stream_events import first_failure
from query_service.local.stream_poller import MappingConfig, StreamPoller
from query_service.local.stream_state import Checkpoints, DeadLetterFile

ARN = "arn:aws:dynamodb:ddblocal:000000000000:table/command-records/stream/2026-11-25T00:00:00.000"
OTHER_ARN = ARN.replace("00:00:00", "11:11:11")


class FakeStreams:
    """DescribeStream, GetShardIterator and GetRecords over shards held in memory."""

    def __init__(self) -> None:
        self.shards: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.sequence = 0

    def add_shard(self, shard_id: str, parent: str | None = None) -> None:
        self.shards[shard_id] = {"parent": parent, "records": [], "closed": False}
        self.order.append(shard_id)

    def put(self, shard_id: str, count: int, prefix: str = "r") -> list[str]:
        added = []
        for _ in range(count):
            self.sequence += 1
            seq = f"{self.sequence:021d}"
            self.shards[shard_id]["records"].append(
                {
                    "eventID": f"{prefix}{self.sequence}",
                    "eventName": "INSERT",
                    "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": "ddblocal",
                    "dynamodb": {
                        "ApproximateCreationDateTime": datetime(2026, 11, 25, tzinfo=UTC),
                        "Keys": {"transaction_id": {"S": f"tx{self.sequence}"}},
                        "SequenceNumber": seq,
                        "SizeBytes": 10,
                        "StreamViewType": "NEW_AND_OLD_IMAGES",
                    },
                }
            )
            added.append(seq)
        return added

    def close(self, shard_id: str) -> None:
        self.shards[shard_id]["closed"] = True

    def describe_stream(self, StreamArn: str, **_: Any) -> dict[str, Any]:
        shards = []
        for shard_id in self.order:
            shard: dict[str, Any] = {"ShardId": shard_id, "SequenceNumberRange": {}}
            if self.shards[shard_id]["parent"]:
                shard["ParentShardId"] = self.shards[shard_id]["parent"]
            shards.append(shard)
        return {"StreamDescription": {"StreamArn": StreamArn, "Shards": shards}}

    def get_shard_iterator(
        self, StreamArn: str, ShardId: str, ShardIteratorType: str, SequenceNumber: str = ""
    ) -> dict[str, Any]:
        records = self.shards[ShardId]["records"]
        position = 0
        if ShardIteratorType == "AFTER_SEQUENCE_NUMBER":
            seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
            position = seqs.index(SequenceNumber) + 1
        return {"ShardIterator": f"{ShardId}|{position}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        shard_id, _, position_text = ShardIterator.partition("|")
        position = int(position_text)
        shard = self.shards[shard_id]
        page = shard["records"][position : position + Limit]
        after = position + len(page)
        response: dict[str, Any] = {"Records": page}
        if not (shard["closed"] and after >= len(shard["records"])):
            response["NextShardIterator"] = f"{shard_id}|{after}"
        return response


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Function:
    """A stream function: fails the records whose eventID is poisoned, or raises."""

    def __init__(self, poisoned: set[str] | None = None, raises: bool = False) -> None:
        self.poisoned = poisoned or set()
        self.raises = raises
        self.batches: list[list[str]] = []
        self.applied: list[str] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        ids = [r["eventID"] for r in event["Records"]]
        self.batches.append(ids)
        assert context.get_remaining_time_in_millis() > 0
        failures = []
        for record in event["Records"]:
            assert record["eventSourceARN"] == ARN
            assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
            if record["eventID"] in self.poisoned:
                if self.raises:
                    raise RuntimeError("boom")
                failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
            else:
                self.applied.append(record["eventID"])
        return {"batchItemFailures": failures}


def poller(
    tmp_path: Path,
    streams: FakeStreams,
    function: Callable[[dict[str, Any], Any], Any],
    clock: Clock | None = None,
    arn: str = ARN,
    **config: Any,
) -> StreamPoller:
    clock = clock or Clock()
    return StreamPoller(
        streams,  # type: ignore[arg-type]
        arn,
        function,
        Checkpoints(tmp_path / "checkpoints.json", arn),
        DeadLetterFile(tmp_path / "dlq.jsonl"),
        MappingConfig(**config),
        clock=clock,
        sleep=clock.sleep,
    )


def drain(p: StreamPoller, passes: int = 200) -> None:
    for _ in range(passes):
        if not p.poll_once():
            p._sleep(p.config.idle_poll_interval)


def dead_letters(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "dlq.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def test_batches_are_at_most_batch_size_and_in_stream_order(tmp_path: Path) -> None:
    streams = FakeStreams()
    streams.add_shard("s1")
    streams.put("s1", 250)
    function = Function()
    drain(poller(tmp_path, streams, function))
    assert [len(b) for b in function.batches] == [100, 100, 50]
    assert function.applied == [f"r{i}" for i in range(1, 251)]


def test_a_partial_batch_waits_for_the_batching_window(tmp_path: Path) -> None:
    streams = FakeStreams()
    streams.add_shard("s1")
    streams.put("s1", 3)
    clock = Clock()
    function = Function()
    p = poller(tmp_path, streams, function, clock, batching_window=0.5)
    p.poll_once()
    assert function.batches == []  # 3 records, no full batch, window still open
    clock.sleep(0.5)
    p.poll_once()
    assert function.batches == [["r1", "r2", "r3"]]


def test_a_child_shard_is_read_only_after_its_parent_is_finished(tmp_path: Path) -> None:
    streams = FakeStreams()
    streams.add_shard("child", parent="parent")  # listed first, as DescribeStream may
    streams.add_shard("parent")
    streams.put("child", 5, prefix="c")
    streams.put("parent", 5, prefix="p")
    function = Function()
    p = poller(tmp_path, streams, function)
    drain(p, passes=10)
    assert function.applied == [f"p{i}" for i in range(6, 11)]  # the parent, not yet the child
    streams.close("parent")
    drain(p)
    assert function.applied == [f"p{i}" for i in range(6, 11)] + [f"c{i}" for i in range(1, 6)]
    assert p.checkpoints.finished("parent")


def test_a_poison_record_is_isolated_and_dead_lettered_while_the_rest_is_applied(
    tmp_path: Path,
) -> None:
    streams = FakeStreams()
    streams.add_shard("s1")
    streams.put("s1", 10)
    function = Function(poisoned={"r4"})
    p = poller(tmp_path, streams, function, max_retry_attempts=3)
    drain(p)
    # Batch-mates after a failed record are retried with it (as on Lambda): applied at least
    # once each, in stream order the first time; the projection makes repeats harmless.
    first_seen = list(dict.fromkeys(function.applied))
    assert first_seen == [f"r{i}" for i in range(1, 11) if i != 4]
    [letter] = dead_letters(tmp_path)
    assert [r["eventID"] for r in letter["records"]] == ["r4"]
    assert letter["attempts"] == 4  # the first invocation and three retries
    assert letter["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert letter["DDBStreamBatchInfo"]["streamArn"] == ARN
    assert letter["error"]
    assert p.checkpoints.sequence("s1") == f"{10:021d}"  # the shard moves on past it


def test_a_function_that_raises_fails_the_batch_and_bisection_isolates_the_record(
    tmp_path: Path,
) -> None:
    streams = FakeStreams()
    streams.add_shard("s1")
    streams.put("s1", 8)
    function = Function(poisoned={"r6"}, raises=True)
    drain(poller(tmp_path, streams, function))
    assert list(dict.fromkeys(function.applied)) == [f"r{i}" for i in range(1, 9) if i != 6]
    [letter] = dead_letters(tmp_path)
    assert [r["eventID"] for r in letter["records"]] == ["r6"]
    assert letter["error"] == "function error: RuntimeError"


def test_without_bisect_the_failed_rest_of_the_batch_is_dead_lettered_together(
    tmp_path: Path,
) -> None:
    streams = FakeStreams()
    streams.add_shard("s1")
    streams.put("s1", 6)
    function = Function(poisoned={"r3"})
    drain(poller(tmp_path, streams, function, bisect_on_error=False, max_retry_attempts=2))
    [letter] = dead_letters(tmp_path)
    assert [r["eventID"] for r in letter["records"]] == ["r3", "r4", "r5", "r6"]
    assert letter["attempts"] == 3
    assert len(function.batches) == 3


def test_a_restart_resumes_after_the_checkpoint(tmp_path: Path) -> None:
    streams = FakeStreams()
    streams.add_shard("s1")
    streams.put("s1", 150)
    first = Function()
    drain(poller(tmp_path, streams, first))
    streams.put("s1", 30)
    second = Function()
    drain(poller(tmp_path, streams, second))
    assert first.applied == [f"r{i}" for i in range(1, 151)]
    assert second.applied == [f"r{i}" for i in range(151, 181)]


def test_a_checkpoint_of_another_stream_is_not_applied(tmp_path: Path) -> None:
    streams = FakeStreams()
    streams.add_shard("s1")
    streams.put("s1", 5)
    Checkpoints(tmp_path / "checkpoints.json", OTHER_ARN).advance("s1", f"{3:021d}")
    function = Function()
    drain(poller(tmp_path, streams, function))
    assert function.applied == [f"r{i}" for i in range(1, 6)]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (None, None),
        ({"batchItemFailures": []}, None),
        ({"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "3"}]}, 1),
        ({"batchItemFailures": [{"itemIdentifier": "9"}]}, 0),  # unknown: whole batch
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, 0),
        ({"batchItemFailures": "nope"}, 0),
        ("not a dict", 0),
    ],
)
def test_the_functions_answer_is_read_as_lambda_reads_it(response: object, expected: int) -> None:
    records = [{"dynamodb": {"SequenceNumber": s}} for s in ("1", "2", "3")]
    assert first_failure(response, records) == expected


def test_config_refuses_what_lambda_refuses() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        MappingConfig(batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        MappingConfig(batch_size=1001)
