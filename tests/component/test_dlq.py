"""dlq list and dlq replay on moto: the stream tier's letters, the backfill's, and Lambda's
on-failure records in SQS (issue 15)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from botocore.exceptions import ClientError

from query_service.local.stream_state import DeadLetterFile
from query_service.operations.cli import backfill, dlq_list
from query_service.operations.dlq import Replay, Tally
from query_service.operations.letters import LetterFile, LetterQueue, StreamRange
from query_service.operations.reproject import Reprojection
from query_service.operations.state import DeadLetterLines
from query_service.storage.dynamo import to_item
from query_service.storage.projector import Projector
from tests.component.conftest import Tables
from tests.component.test_backfill import stats, write_commands
from tests.component.test_stream_processor import ARN, change, read_items, run
from tests.support import command

pytestmark = pytest.mark.cost(8)

RETENTION = 90


def replay(tables: Tables, letters: Any, dry_run: bool = False, streams: Any = None) -> Tally:
    projector = Projector(tables.client, "notification-records", RETENTION, "delivery-stats")
    again = Reprojection(tables.client, projector, "command-records", RETENTION, dry_run)
    stream = StreamRange(streams) if streams is not None else None
    heard: list[tuple[str, str]] = []
    tally = Replay(tables.client, projector, again, "notification-records", stream).run(
        letters, lambda letter, why, _: heard.append((letter.names(), why))
    )
    assert len(heard) == tally.letters
    return tally


def counts(tables: Tables) -> dict[tuple[str, str], int]:
    """The counters that are not at 0, by counter item and name."""
    return {
        (str(c["pk"]), name): value
        for c in stats(tables)
        for name, value in c.items()
        if isinstance(value, int) and name != "expires_at"
    }


def key(item: dict[str, Any]) -> dict[str, Any]:
    return to_item({"transaction_id": item["transaction_id"], "user_id": item["user_id"]})


def poisoned(tables: Tables, path: Path) -> dict[str, Any]:
    """A record the Stream Processor cannot project, dead-lettered as the stream tier does."""
    poison = command(status="BOUNCED")
    write_commands(tables, poison)
    record = change("INSERT", new=poison, seq=3)
    assert run(record) == [f"{3:021d}"]  # reported as a batch item failure
    DeadLetterFile(path).send(ARN, "shard-1", [record], "status: not a known status", 4)
    return poison


def test_a_fixed_poison_record_is_projected_by_replay_and_leaves_the_file(
    tables: Tables, tmp_path: Path
) -> None:
    path = tmp_path / "dlq.jsonl"
    poison = poisoned(tables, path)
    [letter] = LetterFile(path).read()
    assert letter.keys == (("tx_001", "test_user_001"),) and letter.source == "stream"
    # Still broken in command-records: kept, with why.
    kept = replay(tables, LetterFile(path))
    assert (kept.projected, kept.failed, kept.removed) == (0, 1, 0)
    assert "status" in kept.kept[0][1]
    assert len(list(LetterFile(path).read())) == 1
    # Fixed: a dry run says it would project and changes nothing; the replay projects it.
    write_commands(tables, dict(poison, status="DELIVERED", updated_at=poison["updated_at"] + 1))
    before = path.read_bytes()
    dry = replay(tables, LetterFile(path), dry_run=True)
    assert (dry.projected, dry.removed, dry.kept) == (1, 1, [])
    assert read_items(tables) == [] and counts(tables) == {} and path.read_bytes() == before
    done = replay(tables, LetterFile(path))
    assert (done.projected, done.removed, done.kept) == (1, 1, [])
    [item] = read_items(tables)
    assert item["status"] == "DELIVERED"  # the current state, not the letter's BOUNCED image
    assert counts(tables)  # counted, as the stream would have
    assert list(LetterFile(path).read()) == []
    again = replay(tables, LetterFile(path))
    assert again.letters == 0


def test_a_letter_whose_delivery_is_gone_is_resolved_as_deleted_with_its_counts(
    tables: Tables, tmp_path: Path
) -> None:
    path = tmp_path / "dlq.jsonl"
    gone = command(transaction_id="tx_gone", status="FAILED", error_msg="Network timeout")
    write_commands(tables, gone)
    assert run(change("INSERT", new=gone, seq=1)) == []
    assert read_items(tables) and counts(tables)
    tables.client.delete_item(TableName="command-records", Key=key(gone))
    # Its REMOVE was what the projection gave up on: the read item and its counts remain.
    DeadLetterLines(path).send(key(gone), "read table write failed: ThrottlingException")
    [letter] = LetterFile(path).read()
    assert letter.source == "backfill" and "Throttling" in letter.reason
    dry = replay(tables, LetterFile(path), dry_run=True)
    assert dry.deleted == 1 and len(read_items(tables)) == 1 and len(path.read_bytes()) > 0
    done = replay(tables, LetterFile(path))
    assert (done.deleted, done.removed) == (1, 1)
    assert read_items(tables) == []
    assert counts(tables) == {}  # every count it had moved back to 0
    assert path.read_bytes() == b""


def test_only_what_was_replayed_leaves_and_what_is_not_a_letter_stays(
    tables: Tables, tmp_path: Path
) -> None:
    path = tmp_path / "dlq.jsonl"
    poisoned(tables, path)  # still broken
    good = command(transaction_id="tx_good")
    write_commands(tables, good)
    DeadLetterLines(path).send(key(good), "image not readable: TypeError")
    with path.open("ab") as stream:
        stream.write(b"{half a line\n")
    done = replay(tables, LetterFile(path))
    assert (done.projected, done.removed, len(done.kept)) == (1, 1, 2)
    assert "not a dead letter" in done.kept[1][1]
    left = path.read_bytes().splitlines()
    assert len(left) == 2 and left[1] == b"{half a line"
    assert orjson.loads(left[0])["records"][0]["dynamodb"]["NewImage"]["status"] == {"S": "BOUNCED"}


def test_dlq_list_shows_each_letter_with_its_reason_and_exit_status(
    tables: Tables, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "test")  # moto's DynamoDB, not the local stack's
    args = argparse.Namespace(
        state_dir=tmp_path, dlq_url=None, visibility_timeout=30, dynamodb_endpoint=None
    )
    out = io.StringIO()
    assert dlq_list(args, out) == 0
    assert "0 letter(s) waiting" in out.getvalue()
    poisoned(tables, tmp_path / "dlq.jsonl")
    out = io.StringIO()
    assert dlq_list(args, out) == 1
    shown = out.getvalue()
    assert "tx_001/test_user_001" in shown and "reason: status: not a known status" in shown
    assert "tx_001/test_user_001 now: still fails: status: not one of SENT" in shown
    assert "1 letter(s) waiting" in shown
    assert "secret-device-token" not in shown
    write_commands(tables, command(status="DELIVERED"))
    out = io.StringIO()
    assert dlq_list(args, out) == 1  # listing changes nothing: still waiting
    assert "tx_001/test_user_001 now: would project" in out.getvalue()
    assert read_items(tables) == []


class Streams:
    """The DynamoDB Streams API over a few records of one shard: moto does not serve that
    API (its responses are "Not yet implemented"); the e2e test reads DynamoDB Local's."""

    def __init__(self, records: list[dict[str, Any]], trimmed_before: int = 0) -> None:
        self.records = records
        self.trimmed_before = trimmed_before

    def get_shard_iterator(self, **request: Any) -> dict[str, Any]:
        assert request["ShardIteratorType"] == "AT_SEQUENCE_NUMBER" and request["ShardId"] == "s1"
        if int(request["SequenceNumber"]) < self.trimmed_before:
            error = {"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}}
            raise ClientError(error, "GetShardIterator")  # type: ignore[arg-type]
        return {"ShardIterator": request["SequenceNumber"]}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        at = int(ShardIterator)
        page = [r for r in self.records if int(r["dynamodb"]["SequenceNumber"]) >= at][:1]
        following = int(page[0]["dynamodb"]["SequenceNumber"]) + 1 if page else at
        return {"Records": page, "NextShardIterator": str(following)}


def on_failure_record(start: int, end: int) -> dict[str, Any]:
    """What Lambda's on-failure destination sends for a DynamoDB stream batch (AWS's shape)."""
    return {
        "requestContext": {
            "requestId": "316aa6d0-8154-4fd6-9af7-85d5f4a6bc81",
            "functionArn": "arn:aws:lambda:ap-southeast-1:123456789012:function:stream-processor",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 4,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "version": "1.0",
        "timestamp": "2026-12-01T10:00:00.000Z",
        "DDBStreamBatchInfo": {
            "shardId": "s1",
            "startSequenceNumber": str(start),
            "endSequenceNumber": str(end),
            "approximateArrivalOfFirstRecord": "2026-12-01T09:59:00Z",
            "approximateArrivalOfLastRecord": "2026-12-01T09:59:00Z",
            "batchSize": end - start + 1,
            "streamArn": ARN,
        },
    }


@pytest.fixture
def queue(tables: Tables) -> tuple[Any, str]:
    sqs = boto3.client("sqs", region_name="ap-southeast-1")
    return sqs, sqs.create_queue(QueueName="stream-processor-dlq")["QueueUrl"]


def test_an_on_failure_record_in_sqs_is_replayed_by_the_keys_its_stream_range_holds(
    tables: Tables, queue: tuple[Any, str]
) -> None:
    sqs, url = queue
    a, b, c = (command(transaction_id=f"tx_{n}", user_id="u") for n in "abc")
    write_commands(tables, a, b, c)
    stream = Streams(
        [
            change("INSERT", new=a, seq=10),
            change("INSERT", new=b, seq=11),
            change("INSERT", new=c, seq=12),
        ],
        trimmed_before=5,
    )
    for start, end in ((10, 11), (1, 3)):  # the second is older than the stream keeps
        body = orjson.dumps(on_failure_record(start, end)).decode()
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody="not json")

    listed = list(LetterQueue(sqs, url, visibility=1).read())
    assert [letter.reason for letter in listed[:2]] == ["RetryAttemptsExhausted, 4 invocations"] * 2
    assert listed[0].names() == "2 record(s) of s1 10..11" and listed[2].problem

    tally = replay(tables, LetterQueue(sqs, url, visibility=60), streams=stream)
    assert (tally.letters, tally.projected, tally.removed, len(tally.kept)) == (3, 2, 1, 2)
    assert "no longer holds this range" in tally.kept[0][1] and "backfill" in tally.kept[0][1]
    assert "not a dead letter" in tally.kept[1][1]
    assert sorted(i["transaction_id"] for i in read_items(tables)) == ["tx_a", "tx_b"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "2"  # the kept, hidden a while
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_in_production_the_dead_letters_are_the_queue_never_a_scratch_file(
    tables: Tables, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    args = argparse.Namespace(
        state_dir=tmp_path, dlq_url=None, visibility_timeout=30, dynamodb_endpoint=None
    )
    poisoned(tables, tmp_path / "dlq.jsonl")
    out = io.StringIO()
    assert dlq_list(args, out) == 2
    assert "name the dead-letter queue (--dlq-url or STREAM_DLQ_URL)" in out.getvalue()
    assert len(list(LetterFile(tmp_path / "dlq.jsonl").read())) == 1
    run = argparse.Namespace(
        **vars(args), segments=1, max_writes_per_second=None, page_size=100, resume=False
    )
    out = io.StringIO()
    assert backfill(argparse.Namespace(**vars(run), dry_run=False), out) == 2
    assert "backfill: name the dead-letter queue" in out.getvalue()
    out = io.StringIO()
    code = backfill(argparse.Namespace(**vars(run), dry_run=True), out)  # it sends none: runs
    assert code == 1 and "1 scanned, 0 would project, 0 already current, 0 gone, 1 failed" in (
        out.getvalue()
    )
    assert read_items(tables) == [] and len(list(LetterFile(tmp_path / "dlq.jsonl").read())) == 1
