"""``query-service dlq replay``: the deliveries the projection gave up on, projected again.

Each letter's deliveries are re-read from command-records by key (consistently), never taken
from the letter's images, and projected through the Stream Processor's ``Projector`` by
the backfill's rule (reproject.py): a delivery whose read side already holds its state is
current, one that no longer exists in command-records is resolved as deleted, its read item
(found through the delivery index, then read consistently before command-records is) removed
through the Projector's delete, with its counts. A letter leaves the queue only when each of
its deliveries was projected, current or deleted; any other stays, with why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from query_service.operations.letters import CommandKey, Letter, RangeGone, StreamRange
from query_service.operations.reproject import Reprojection, deletion_version, reason_of
from query_service.storage.dynamo import from_item, to_item
from query_service.storage.projection import Change, ReadKey
from query_service.storage.projector import Projector, Stored, WriteConflict
from query_service.storage.tables import DELIVERY_INDEX

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)


Delivered = tuple[CommandKey, str, str]  # a delivery, what became of it, why it failed


class Letters(Protocol):
    def read(self) -> Iterator[Letter]: ...

    def remove(self, handles: list[str]) -> None: ...


@dataclass
class Tally:
    letters: int = 0
    projected: int = 0
    current: int = 0
    deleted: int = 0
    failed: int = 0
    removed: int = 0
    kept: list[tuple[Letter, str]] = field(default_factory=list)  # with why

    def line(self, dry_run: bool) -> str:
        would = "would be " if dry_run else ""
        return (
            f"{self.letters} letter(s): {self.projected} {would}projected, "
            f"{self.current} already current, {self.deleted} {would}resolved as deleted, "
            f"{self.failed} failed; {self.removed} {would}removed, {len(self.kept)} kept"
        )


class Replay:
    def __init__(
        self,
        client: DynamoDBClient,
        projector: Projector,
        reprojection: Reprojection,
        read_table: str,
        stream: StreamRange | None = None,
    ) -> None:
        self.client = client
        self.projector = projector
        self.reprojection = reprojection
        self.read_table = read_table
        self.stream = stream
        self.dry_run = reprojection.dry_run

    def run(
        self, letters: Letters, on_letter: Callable[[Letter, str, list[Delivered]], None]
    ) -> Tally:
        """Replays every letter; ``on_letter`` hears what became of each, and of its
        deliveries."""
        tally = Tally()
        for letter in letters.read():
            tally.letters += 1
            delivered: list[Delivered] = []
            why = self.letter(letter, tally, delivered)
            if why:
                tally.kept.append((letter, why))
            else:
                tally.removed += 1
                if not self.dry_run:
                    letters.remove([letter.handle])
            on_letter(letter, why, delivered)
        return tally

    def letter(self, letter: Letter, tally: Tally, delivered: list[Delivered]) -> str:
        """Projects ``letter``'s deliveries (each added to ``delivered``); why the letter
        must stay ("" if it need not)."""
        if letter.problem:
            tally.failed += 1
            return letter.problem
        try:
            keys = letter.keys or self._range_keys(letter.batch or {})
        except (RangeGone, KeyError, ValueError, ClientError, BotoCoreError) as exc:
            tally.failed += 1
            why = str(exc) if isinstance(exc, RangeGone) else f"range not read: {exc!r}"
            return f"{why}: run `query-service backfill`" if isinstance(exc, RangeGone) else why
        reasons = []
        for key in keys:
            result, reason = self.delivery(key)
            delivered.append((key, result, reason))
            setattr(tally, result, getattr(tally, result) + 1)
            if reason:
                reasons.append(f"{key[0]}/{key[1]}: {reason}")
                log.error("dead letter not replayed", extra={"keys": key, "reason": reason})
        return "; ".join(reasons)

    def _range_keys(self, batch: dict[str, Any]) -> tuple[CommandKey, ...]:
        if self.stream is None:
            raise RangeGone("a stream range without a stream to read it from")
        return self.stream.keys(batch)

    def delivery(self, key: CommandKey) -> tuple[str, str]:
        """(projected | current | deleted | failed, why it failed)."""
        plain = {"transaction_id": key[0], "user_id": key[1]}
        try:
            read, stored = self._read_item(key)  # before command-records: see reproject.py
            got = self.client.get_item(
                TableName=self.reprojection.command_table, Key=to_item(plain), ConsistentRead=True
            ).get("Item")
            if got is not None:
                [outcome] = self.reprojection.page([got])
                if outcome.result == "failed":
                    return "failed", outcome.reason
                if outcome.result != "vanished":
                    return outcome.result, ""
            return self._deleted(read, stored), ""
        except (ValueError, TypeError, WriteConflict, ClientError, BotoCoreError) as exc:
            return "failed", reason_of(exc)

    def _read_item(self, key: CommandKey) -> tuple[ReadKey | None, Stored]:
        """The delivery's read item, if any: located by the index, read consistently."""
        found = self.client.query(
            TableName=self.read_table,
            IndexName=DELIVERY_INDEX,
            KeyConditionExpression="transaction_id = :t AND user_id = :u",
            ExpressionAttributeValues={":t": {"S": key[0]}, ":u": {"S": key[1]}},
            ProjectionExpression="user_id, sk",
        ).get("Items", [])
        if not found:
            return None, None
        item = from_item(found[0])
        read = (str(item["user_id"]), str(item["sk"]))
        return read, self.projector.read(read)

    def _deleted(self, read: ReadKey | None, stored: Stored) -> str:
        """The delivery is gone from command-records: so goes its read item, and its counts."""
        if read is None or stored is None or self.dry_run:
            return "deleted"
        self.projector.apply(Change(deletion_version(stored), None, stored), {read: stored})
        return "deleted"
