"""The dead letters, read: the stream tier's file locally, the on-failure SQS queue on AWS.

A letter names its deliveries in one of two ways:

- by command key (``records[].dynamodb.Keys``): the local stream tier's letters (which also
  keep the records) and the backfill's (which keep nothing else);
- by stream range only (``DDBStreamBatchInfo``: shard, first and last sequence number):
  what Lambda's on-failure destination sends on AWS. The keys are then read back from the
  stream, the range only, and only the keys are used (StreamRange); after the stream's 24 h
  retention the range is gone and the letter cannot name its deliveries any more.

Either way the images are never used: the replay re-reads each delivery from
command-records. A line or message that is not a letter is kept and shown, never dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from botocore.exceptions import ClientError

from query_service.durable import read_lines, remove_lines
from query_service.storage.dynamo import from_item

CommandKey = tuple[str, str]  # (transaction_id, user_id)
EMPTY_PAGES = 5  # an open shard answers empty pages now and then: as many before giving up
GONE = {"TrimmedDataAccessException", "ExpiredIteratorException", "ResourceNotFoundException"}


class RangeGone(Exception):
    """The stream no longer holds a letter's range: its deliveries cannot be named."""


@dataclass(frozen=True, slots=True)
class Letter:
    handle: str  # the file's line, or the SQS receipt handle
    at: str
    source: str  # "stream" or "backfill"
    reason: str
    keys: tuple[CommandKey, ...]
    batch: dict[str, Any] | None = None  # DDBStreamBatchInfo of a letter without keys
    problem: str = ""  # why this is not a letter it can replay

    def names(self) -> str:
        """Its deliveries as ``dlq list`` shows them."""
        if self.keys:
            return ", ".join(f"{t}/{u}" for t, u in self.keys)
        if self.batch:
            b = self.batch
            return (
                f"{b.get('batchSize', '?')} record(s) of {b.get('shardId')} "
                f"{b.get('startSequenceNumber')}..{b.get('endSequenceNumber')}"
            )
        return "(none)"


def _reason(body: dict[str, Any]) -> str:
    if body.get("error"):
        return str(body["error"])
    context, response = body.get("requestContext") or {}, body.get("responseContext") or {}
    reason = str(context.get("condition") or "unknown")
    if response.get("functionError"):
        reason += f", function error {response['functionError']}"
    if context.get("approximateInvokeCount"):
        reason += f", {context['approximateInvokeCount']} invocations"
    return reason


def _keys(records: list[Any]) -> tuple[CommandKey, ...]:
    keys = []
    for record in records:
        plain = from_item((record.get("dynamodb") or {}).get("Keys") or {})
        transaction_id, user_id = plain.get("transaction_id"), plain.get("user_id")
        if not isinstance(transaction_id, str) or not isinstance(user_id, str):
            raise ValueError("a record without its command key")
        keys.append((transaction_id, user_id))
    return tuple(dict.fromkeys(keys))


def letter_of(handle: str, text: str | bytes) -> Letter:
    """The letter ``text`` is; one with ``problem`` set if it is none."""
    try:
        body = orjson.loads(text)
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        records, batch = body.get("records"), body.get("DDBStreamBatchInfo")
        keys = _keys(records) if isinstance(records, list) and records else ()
        if not keys and not isinstance(batch, dict):
            raise ValueError("names no delivery and no stream range")
    except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError) as exc:
        return Letter(handle, "", "?", "unreadable", (), None, f"not a dead letter: {exc}")
    return Letter(
        handle,
        str(body.get("timestamp") or ""),
        str(body.get("source") or "stream"),
        _reason(body),
        keys,
        None if keys else batch,
    )


class LetterFile:
    """Locally: ``<state-dir>/dlq.jsonl``, one letter a line, as the stream tier writes it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __str__(self) -> str:
        return str(self.path)

    def read(self) -> Iterator[Letter]:
        for line in read_lines(self.path):
            yield letter_of(line.decode(errors="replace"), line)

    def remove(self, handles: list[str]) -> None:
        remove_lines(self.path, [h.encode() for h in handles])


class LetterQueue:
    """On AWS: the on-failure SQS queue. SQS has no peek: reading a message hides it for
    ``visibility`` seconds, and what is read and not removed comes back after that."""

    def __init__(self, client: Any, url: str, visibility: int) -> None:
        self._client = client
        self.url = url
        self.visibility = visibility

    def __str__(self) -> str:
        return self.url

    def waiting(self) -> tuple[int, int]:
        """(visible, in flight): SQS's approximate counts."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        got = self._client.get_queue_attributes(QueueUrl=self.url, AttributeNames=names)
        attributes = got.get("Attributes", {})
        return int(attributes.get(names[0], 0)), int(attributes.get(names[1], 0))

    def read(self) -> Iterator[Letter]:
        seen: set[str] = set()
        while True:
            messages = self._client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                VisibilityTimeout=self.visibility,
            ).get("Messages", [])
            new = [m for m in messages if m["MessageId"] not in seen]
            if not new:
                return
            for message in new:
                seen.add(message["MessageId"])
                yield letter_of(message["ReceiptHandle"], message.get("Body", ""))

    def remove(self, handles: list[str]) -> None:
        for handle in handles:
            self._client.delete_message(QueueUrl=self.url, ReceiptHandle=handle)


class StreamRange:
    """The command keys of a stream range (DDBStreamBatchInfo), read back from the stream."""

    def __init__(self, streams: Any) -> None:
        self._streams = streams

    def keys(self, batch: dict[str, Any]) -> tuple[CommandKey, ...]:
        try:
            iterator = self._streams.get_shard_iterator(
                StreamArn=batch["streamArn"],
                ShardId=batch["shardId"],
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=batch["startSequenceNumber"],
            ).get("ShardIterator")
            last, size = int(batch["endSequenceNumber"]), int(batch.get("batchSize") or 0)
            records: list[Any] = []
            empty = 0
            while iterator and empty < EMPTY_PAGES:
                page = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                found = page.get("Records", [])
                empty = 0 if found else empty + 1
                for record in found:
                    if int(record["dynamodb"]["SequenceNumber"]) > last:
                        return _keys(records)
                    records.append(record)
                if size and len(records) >= size:
                    break
                iterator = page.get("NextShardIterator")
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in GONE:
                raise RangeGone(f"the stream no longer holds this range ({code})") from None
            raise
        if not records:
            raise RangeGone("the stream no longer holds this range (no records in it)")
        return _keys(records)
