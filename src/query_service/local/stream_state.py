"""The stream mapping's durable state: per-shard checkpoints and the dead-letter file.

Both are written so that a poller killed at any moment (even with SIGKILL) leaves them
whole: the checkpoint file is replaced atomically, each dead letter is one fsynced line.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson

from query_service.durable import append_line, write_atomically
from query_service.local.stream_events import StreamRecord

log = logging.getLogger("query_service.stream_poller")


class Checkpoints:
    """Per-shard progress of one stream, kept in a JSON file replaced atomically.

    The file names the stream ARN: a checkpoint of another stream (DynamoDB Local runs in
    memory, so every start makes a new stream) is ignored, never applied to this one.
    """

    def __init__(self, path: Path, stream_arn: str) -> None:
        self.path = path
        self.stream_arn = stream_arn
        self._sequence: dict[str, str] = {}
        self._finished: set[str] = set()
        if path.is_file():
            data = orjson.loads(path.read_bytes())
            if isinstance(data, dict) and data.get("stream_arn") == stream_arn:
                self._sequence = dict(data.get("sequence", {}))
                self._finished = set(data.get("finished", []))
            else:
                log.info("checkpoint file is for another stream: starting at the trim horizon")

    def sequence(self, shard_id: str) -> str | None:
        return self._sequence.get(shard_id)

    def finished(self, shard_id: str) -> bool:
        return shard_id in self._finished

    def advance(self, shard_id: str, sequence_number: str) -> None:
        self._sequence[shard_id] = sequence_number
        self._save()

    def finish(self, shard_id: str) -> None:
        self._finished.add(shard_id)
        self._save()

    def _save(self) -> None:
        data = {
            "stream_arn": self.stream_arn,
            "sequence": self._sequence,
            "finished": sorted(self._finished),
        }
        write_atomically(self.path, data)


class DeadLetterFile:
    """The on-failure destination: one JSON line per batch of records given up on."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(
        self,
        stream_arn: str,
        shard_id: str,
        records: list[StreamRecord],
        error: str,
        attempts: int,
    ) -> None:
        """Lambda's on-failure record for a stream batch, plus the records and the error.

        On AWS the destination gets only the batch's coordinates (``DDBStreamBatchInfo``);
        locally the records themselves are kept too, so they can be read and replayed.
        """
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        line = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": first.get("ApproximateCreationDateTime"),
                "approximateArrivalOfLastRecord": last.get("ApproximateCreationDateTime"),
                "batchSize": len(records),
                "streamArn": stream_arn,
            },
            "error": error,
            "attempts": attempts,
            "records": records,
        }
        append_line(self.path, line)


def checkpoint_path(state_dir: Path, table_name: str) -> Path:
    digest = hashlib.sha256(table_name.encode()).hexdigest()[:8]
    return state_dir / f"stream-checkpoints-{table_name}-{digest}.json"
