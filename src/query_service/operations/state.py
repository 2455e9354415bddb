"""The backfill's durable state: a checkpoint per Scan segment, and its dead letters.

A checkpoint is the segment's ``LastEvaluatedKey`` after a page was projected, replaced
atomically, so a run killed at any moment (even SIGKILL) resumes after the last page it
finished; that page's items may be projected again, which changes nothing (their version
is already current). A dead letter is one fsynced JSON line in the stream tier's dead-letter
file (locally), or one SQS message to the Stream Processor's on-failure queue (on AWS); it
holds the delivery's command key and the reason, never its image (no device token, no
payload): whoever replays it re-reads the delivery from command-records.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from query_service.durable import append_line, write_atomically


class SegmentCheckpoints:
    """``<state_dir>/backfill-<table>/segment-<i>-of-<n>.json``: where each segment is."""

    def __init__(self, state_dir: Path, table: str, segments: int) -> None:
        self.directory = state_dir / f"backfill-{table}"
        self.segments = segments

    def _path(self, segment: int) -> Path:
        return self.directory / f"segment-{segment}-of-{self.segments}.json"

    def clear(self) -> None:
        for path in self.directory.glob("segment-*.json"):
            path.unlink()

    def others(self) -> list[Path]:
        """Checkpoints of a run with another number of segments (they cannot be resumed)."""
        return [
            p
            for p in self.directory.glob("segment-*.json")
            if not p.name.endswith(f"-of-{self.segments}.json")
        ]

    def load(self, segment: int) -> dict[str, Any]:
        """``{"last_key": key or None, "done": bool}``; a fresh start if there is none."""
        path = self._path(segment)
        if not path.is_file():
            return {"last_key": None, "done": False}
        data = orjson.loads(path.read_bytes())
        return {"last_key": data.get("last_key"), "done": bool(data.get("done"))}

    def save(self, segment: int, last_key: dict[str, Any] | None) -> None:
        write_atomically(
            self._path(segment),
            {
                "segment": segment,
                "segments": self.segments,
                "last_key": last_key,
                "done": last_key is None,
            },
        )


class DeadLetters(Protocol):
    def send(self, keys: dict[str, Any], reason: str) -> None: ...


def letter(keys: dict[str, Any], reason: str) -> dict[str, Any]:
    """A backfill's dead letter, in the shape of the stream tier's (``records[].dynamodb.Keys``)."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "requestContext": {"requestId": str(uuid.uuid4()), "condition": "BackfillFailed"},
        "source": "backfill",
        "error": reason,
        "records": [{"eventName": "BACKFILL", "dynamodb": {"Keys": keys}}],
    }


class DeadLetterLines:
    """Locally: appended to the stream tier's ``dlq.jsonl``, one fsynced line each."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, keys: dict[str, Any], reason: str) -> None:
        append_line(self.path, letter(keys, reason))


class DeadLetterQueue:
    """On AWS: one message to the on-failure SQS queue (``--dlq-url``)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def send(self, keys: dict[str, Any], reason: str) -> None:
        body = orjson.dumps(letter(keys, reason)).decode()
        self._client.send_message(QueueUrl=self._url, MessageBody=body)
