"""One page of command items projected again, as the backfill and the dead-letter replay do.

The version rule. A read item's ``version`` is the stream sequence number of the last change
applied (40 digits), and a change is applied only if its version is above the stored one.
A re-projected image carries the stored version with ``b`` appended (``0…0`` when there is
no item, or one from before versions): that sorts above the stored version, so the image is
merged in, and below every later sequence number, so any change the stream makes afterwards
still applies on top; a second re-projection of the same state computes the same version and
is skipped as current. The read items are read (consistently) before the command items are
re-read by key (consistently): a delivery removed meanwhile is not resurrected (its REMOVE
came first and is then seen as missing), and one removed later is still deleted by its
REMOVE, whose version is above this one's. A write that finds the item changed since it was
read is decided again by the Projector, against the stream's newer state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from query_service.domain.records import MalformedRecord
from query_service.storage.dynamo import batch_get, from_item, to_item
from query_service.storage.projection import VERSION_DIGITS, Change, ReadKey, transition
from query_service.storage.projector import Projector, Stored, WriteConflict

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BACKFILL_MARK = "b"
COMMAND_KEYS = ("transaction_id", "user_id")

Result = Literal["projected", "current", "vanished", "failed"]


def backfill_version(stored: Stored) -> str:
    """The version a re-projected image carries over ``stored`` (see the module's text)."""
    base = str(stored.get("version", "")) if stored else ""
    base = base.rstrip(BACKFILL_MARK) or "0" * VERSION_DIGITS
    return base + BACKFILL_MARK


def deletion_version(stored: Mapping[str, Any]) -> str:
    """The version of a removal decided here (the delivery is gone from command-records):
    above the stored one, even a backfilled one, and below any later stream change."""
    return str(stored.get("version") or "0" * VERSION_DIGITS) + BACKFILL_MARK


def _same_state(before: Stored, after: Stored) -> bool:
    """Nothing but the version would change."""
    if before is None or after is None:
        return before is after
    return _unversioned(before) == _unversioned(after)


def _unversioned(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item as stored (None, at any depth, is an absent attribute), less its version."""
    return to_item({k: v for k, v in item.items() if k != "version"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one command item: ``key`` is its command key as DynamoDB gives it."""

    key: dict[str, Any]
    result: Result
    reason: str = ""


class Reprojection:
    """Projects command items again through the Stream Processor's own ``Projector``."""

    def __init__(
        self,
        client: DynamoDBClient,
        projector: Projector,
        command_table: str,
        retention_days: int,
        dry_run: bool = False,
        before_write: Callable[[], None] = lambda: None,  # the backfill's rate limit
    ) -> None:
        self.client = client
        self.projector = projector
        self.command_table = command_table
        self.retention_days = retention_days
        self.dry_run = dry_run
        self.before_write = before_write

    def page(self, raw_items: list[dict[str, Any]]) -> list[Outcome]:
        """Each item's outcome, in order (at most 100 items: one BatchGetItem each side)."""
        keys = [{k: raw[k] for k in COMMAND_KEYS if k in raw} for raw in raw_items]
        located: list[tuple[dict[str, Any], ReadKey | None]] = []
        outcomes: dict[int, Outcome] = {}
        for n, (raw, key) in enumerate(zip(raw_items, keys, strict=True)):
            try:
                located.append((key, Change(backfill_version(None), from_item(raw), None).key))
            except (MalformedRecord, TypeError, ValueError) as exc:
                outcomes[n] = Outcome(key, "failed", reason_of(exc))
                located.append((key, None))
        wanted = [read for _, read in located if read is not None]
        known: dict[ReadKey, Stored] = self.projector.load(wanted) if wanted else {}
        fresh = self._fresh([key for key, read in located if read is not None]) if wanted else {}
        for n, (key, read) in enumerate(located):
            if read is not None:
                outcomes[n] = self._project(key, read, fresh, known)
        return [outcomes[n] for n in range(len(located))]

    def _fresh(self, keys: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The command items at ``keys`` now (consistent), by (transaction_id, user_id)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for raw in batch_get(self.client, self.command_table, keys, ConsistentRead=True):
            item = from_item(raw)
            found[(str(item["transaction_id"]), str(item["user_id"]))] = item
        return found

    def _project(
        self,
        key: dict[str, Any],
        read: ReadKey,
        fresh: Mapping[tuple[str, str], dict[str, Any]],
        known: dict[ReadKey, Stored],
    ) -> Outcome:
        plain = from_item(key)
        image = fresh.get((str(plain.get("transaction_id")), str(plain.get("user_id"))))
        if image is None:
            return Outcome(key, "vanished")
        try:
            change = Change(backfill_version(known.get(read)), image, None)
            if change.key != read:  # created_at changed since it was read: a malformed write
                raise MalformedRecord("created_at", "changed, but it is immutable")
            step = transition(known.get(read), change, self.retention_days)
            if not step.changed or _same_state(step.before, step.after):
                return Outcome(key, "current")
            if self.dry_run:
                return Outcome(key, "projected")
            self.before_write()
            done = self.projector.apply(change, known)
        except (TypeError, ValueError, WriteConflict, ClientError, BotoCoreError) as exc:
            return Outcome(key, "failed", reason_of(exc))  # MalformedRecord is a ValueError
        return Outcome(key, "projected" if done.changed else "current")


def reason_of(exc: Exception) -> str:
    """Why a delivery was not projected, in words for a dead letter (never its values)."""
    if isinstance(exc, MalformedRecord):
        return f"{exc.field}: {exc.reason}"
    if isinstance(exc, ClientError):
        return f"read table write failed: {exc.response.get('Error', {}).get('Code', '')}"
    if isinstance(exc, WriteConflict | BotoCoreError):
        return f"read table write failed: {type(exc).__name__}"
    return f"image not readable: {type(exc).__name__}"
