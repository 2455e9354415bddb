"""dlq list / dlq replay against the stack's DynamoDB Local with a real stream tier (issue 15).

Tables and a stream tier of their own (the stack's dead-letter file is shared by the other
tests), `query-service dlq ...` run as a user runs them, on the stream tier's dlq.jsonl.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from query_service.local.commands import batch_put
from query_service.local.dynamodb import ensure_tables
from query_service.local.processes import poll_until
from query_service.storage.dynamo import to_item
from tests.e2e.conftest import Stack, scan, start_poller
from tests.e2e.test_write_path import dynamodb
from tests.support import command

pytestmark = [pytest.mark.e2e, pytest.mark.cost(12)]

COMMANDS, READS, STATS = "dlq-command-records", "dlq-notification-records", "dlq-delivery-stats"


def dlq(stack: Stack, state: Path, *args: str) -> tuple[int, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "DYNAMODB_ENDPOINT_URL": stack.dynamodb,
        "COMMAND_TABLE_NAME": COMMANDS,
        "NOTIFICATION_TABLE_NAME": READS,
        "STATS_TABLE_NAME": STATS,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }
    argv = [sys.executable, "-m", "query_service.cli", "dlq", *args, "--state-dir", str(state)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def client(stack: Stack) -> Any:
    return dynamodb(stack)


def letters(path: Path) -> list[dict[str, Any]]:
    lines = path.read_bytes().splitlines() if path.exists() else []
    return [orjson.loads(line) for line in lines]


def users(path: Path) -> set[str]:
    return {r["dynamodb"]["Keys"]["user_id"]["S"] for x in letters(path) for r in x["records"]}


@pytest.mark.timeout(120)
def test_a_poison_record_fixed_in_command_records_is_replayed_and_leaves_the_queue(
    stack: Stack, client: Any, tmp_path: Path
) -> None:
    ensure_tables(client, COMMANDS, READS, STATS)
    stream = tmp_path / "stream"
    poller = start_poller(stack, COMMANDS, READS, stream, tmp_path / "poller.log", STATS)
    try:
        dead = poisoned(client, stream)
    finally:  # the mapping paused: what is fixed now reaches the read side only by replay
        poller.terminate()
        poller.wait(20)
    assert [i["user_id"] for i in scan(client, READS)] == ["dlq_good"]

    code, shown = dlq(stack, stream, "list")
    assert code == 1, shown  # something is waiting
    assert "tx_dlq/dlq_fixed" in shown and "tx_dlq/dlq_gone" in shown
    assert "reason: reported in batchItemFailures" in shown  # what the mapping knows
    assert "tx_dlq/dlq_fixed now: still fails: status: not one of SENT, DELIVERED" in shown
    assert "2 letter(s) waiting" in shown

    client.put_item(TableName=COMMANDS, Item=to_item(dict(FIXED, status="DELIVERED")))
    client.delete_item(
        TableName=COMMANDS, Key=to_item({"transaction_id": "tx_dlq", "user_id": "dlq_gone"})
    )
    before = dead.read_bytes()

    code, said = dlq(stack, stream, "replay", "--dry-run")
    assert code == 0, said
    assert "1 would be projected" in said and "1 would be resolved as deleted" in said
    assert dead.read_bytes() == before and len(scan(client, READS)) == 1  # nothing changed

    code, said = dlq(stack, stream, "replay")
    assert code == 0, said
    assert "1 projected, 0 already current, 1 resolved as deleted, 0 failed; 2 removed" in said
    assert letters(dead) == []
    items = {i["user_id"]: i for i in scan(client, READS)}
    assert items["dlq_fixed"]["status"] == "DELIVERED" and "dlq_gone" not in items
    assert dlq(stack, stream, "list")[0] == 0

    # The same letter as AWS sends it (the stream range only): its keys read back from the
    # stream, and the delivery, now current, resolved.
    [aws] = [x for x in _lines_of(before) if _user(x) == "dlq_fixed"]
    del aws["records"], aws["error"]
    elsewhere = tmp_path / "aws"
    elsewhere.mkdir()
    (elsewhere / "dlq.jsonl").write_bytes(orjson.dumps(aws) + b"\n")
    code, said = dlq(stack, elsewhere, "replay")
    assert code == 0, said
    assert "1 already current" in said and "1 removed" in said
    assert letters(elsewhere / "dlq.jsonl") == []


FIXED = command(transaction_id="tx_dlq", user_id="dlq_fixed", status="BOUNCED")


def poisoned(client: Any, stream: Path) -> Path:
    """Two poison records and a good one through the stream tier; its dlq.jsonl."""
    gone = command(transaction_id="tx_dlq", user_id="dlq_gone", status="BOUNCED")
    good = command(transaction_id="tx_dlq", user_id="dlq_good")
    batch_put(client, COMMANDS, [FIXED, good, gone])
    dead = stream / "dlq.jsonl"
    assert poll_until(lambda: users(dead) == {"dlq_fixed", "dlq_gone"}, 30, interval=0.1)
    assert poll_until(lambda: len(scan(client, READS)) == 1, 15, interval=0.1)
    return dead


def _lines_of(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines()]


def _user(letter: dict[str, Any]) -> str:
    return str(letter["records"][0]["dynamodb"]["Keys"]["user_id"]["S"])
