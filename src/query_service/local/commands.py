"""Writing command records locally, and knowing when the read side has caught up.

The demo loader and the simulator write ``command-records`` the way the push sender does;
the stream poller and the Stream Processor carry each change to ``notification-records``.
``wait_until_projected`` is how both learn that the read side holds what they wrote.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from query_service.domain.records import epoch_ms
from query_service.local.processes import poll_until
from query_service.storage.dynamo import batch_get, to_item
from query_service.storage.projection import read_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BATCH_WRITE_SIZE = 25  # DynamoDB's BatchWriteItem limit


class NotProjected(TimeoutError):
    """The read side did not catch up in time; ``missing`` says how far behind it is."""

    def __init__(self, missing: int, total: int, waited: float) -> None:
        super().__init__(
            f"{missing} of {total} command records not on the read side after {waited:.1f} s"
        )
        self.missing = missing


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batch_put(
    client: DynamoDBClient,
    table: str,
    items: Iterable[Mapping[str, Any]],
    on_written: Callable[[int], None] | None = None,
) -> int:
    """Write plain-valued items, retrying what DynamoDB leaves unprocessed. Returns count."""
    written = 0
    for chunk in _chunks(list(items), BATCH_WRITE_SIZE):
        requests: list[Any] = [{"PutRequest": {"Item": to_item(i)}} for i in chunk]
        for attempt in range(10):
            response = client.batch_write_item(RequestItems={table: requests})
            requests = list(response.get("UnprocessedItems", {}).get(table, []))
            if not requests:
                break
            time.sleep(0.05 * 2**attempt)
        else:
            raise RuntimeError(f"DynamoDB kept {len(requests)} items unprocessed in {table}")
        written += len(chunk)
        if on_written is not None:
            on_written(len(chunk))
    return written


def _expected_versions(commands: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
    """Read key → the updated_at the read item must have reached (the latest write wins)."""
    expected: dict[tuple[str, str], int] = {}
    for command in commands:
        created = epoch_ms(command["created_at"], "created_at")
        key = read_key(command, created)
        updated = epoch_ms(command.get("updated_at", created), "updated_at")
        slot = (key["user_id"], key["sk"])
        expected[slot] = max(updated, expected.get(slot, updated))
    return expected


def unprojected(
    client: DynamoDBClient, read_table: str, expected: dict[tuple[str, str], int]
) -> dict[tuple[str, str], int]:
    """The part of ``expected`` the read table does not hold yet (absent or older)."""
    keys = [{"user_id": {"S": u}, "sk": {"S": s}} for u, s in expected]
    found: dict[tuple[str, str], int] = {}
    for item in batch_get(
        client,
        read_table,
        keys,
        ProjectionExpression="#u, #s, #v",
        ExpressionAttributeNames={"#u": "user_id", "#s": "sk", "#v": "updated_at"},
    ):
        found[(item["user_id"]["S"], item["sk"]["S"])] = int(
            item.get("updated_at", {}).get("N", -1)
        )
    return {slot: at for slot, at in expected.items() if found.get(slot, -1) < at}


def wait_until_projected(
    client: DynamoDBClient,
    read_table: str,
    commands: Iterable[Mapping[str, Any]],
    timeout: float = 60.0,
    poll: float = 0.2,
    process: subprocess.Popen[bytes] | None = None,
) -> float:
    """Block until every command's latest version is on the read side; seconds waited.

    Gives up early with Exited if ``process`` (the stream tier projecting them) exits.
    """
    started = time.monotonic()
    expected = _expected_versions(commands)
    total = len(expected)

    def caught_up() -> bool:
        nonlocal expected
        expected = unprojected(client, read_table, expected)
        return not expected

    if not poll_until(caught_up, timeout, interval=poll, process=process):
        raise NotProjected(len(expected), total, time.monotonic() - started)
    return time.monotonic() - started
