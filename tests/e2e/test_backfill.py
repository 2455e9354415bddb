"""The backfill against the running stack's DynamoDB Local, with a real stream tier (issue 15).

Tables of their own in the stack's DynamoDB, a stream tier of their own between them, and
`query-service simulate` / `query-service backfill` run as a user runs them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from query_service.local.dynamodb import ensure_tables
from query_service.storage.dynamo import to_item
from query_service.storage.projection import project_record, read_key
from tests.e2e.conftest import Stack, scan, start_poller
from tests.statistics_truth import assert_counters_outlive, without_expiry

pytestmark = [pytest.mark.e2e, pytest.mark.cost(40)]

COMMANDS, READS, STATS = "bf-command-records", "bf-notification-records", "bf-delivery-stats"
USERS, TRANSACTIONS = 20, 10  # 200 deliveries; the 10,000 figure is in the commit message
HISTORY = ("version", "events", "events_truncated")


def env(stack: Stack) -> dict[str, str]:
    return {
        **os.environ,
        "DYNAMODB_ENDPOINT_URL": stack.dynamodb,
        "COMMAND_TABLE_NAME": COMMANDS,
        "NOTIFICATION_TABLE_NAME": READS,
        "STATS_TABLE_NAME": STATS,
    }


def cli(stack: Stack, *args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "query_service.cli", *args]
    return subprocess.Popen(
        argv, env=env(stack), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finished(process: subprocess.Popen[str], timeout: float = 240) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]
    return output


def simulate(stack: Stack, seed: int) -> subprocess.Popen[str]:
    return cli(
        stack,
        "simulate",
        "--users",
        str(USERS),
        "--transactions",
        str(TRANSACTIONS),
        "--seed",
        str(seed),
        "--timeout",
        "200",
    )


def backfill(stack: Stack, state: Path, *args: str) -> subprocess.Popen[str]:
    return cli(stack, "backfill", "--segments", "4", "--state-dir", str(state), *args)


def state_of(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in HISTORY}


def read_side(client: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["user_id"], i["sk"]): i for i in scan(client, READS)}


def counters(client: Any) -> list[dict[str, Any]]:
    return without_expiry(scan(client, STATS))


def assert_counters_outlive_reads(client: Any) -> None:
    assert_counters_outlive(scan(client, STATS), scan(client, READS))


def empty(client: Any, table: str, keys: tuple[str, ...]) -> None:
    for item in scan(client, table):
        client.delete_item(TableName=table, Key=to_item({k: item[k] for k in keys}))


def empty_read_side(client: Any) -> None:
    empty(client, READS, ("user_id", "sk"))
    empty(client, STATS, ("pk",))


def assert_restored(
    client: Any, built: dict[tuple[str, str], dict[str, Any]], stats: list[dict[str, Any]]
) -> None:
    restored = read_side(client)
    assert restored.keys() == built.keys()
    for key, item in built.items():
        assert state_of(restored[key]) == state_of(item), key
        assert restored[key]["events"][-1] == item["events"][-1]  # the current state's event
    assert counters(client) == stats
    assert_counters_outlive_reads(client)


@pytest.fixture(scope="module")
def client(stack: Stack) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=stack.dynamodb,
        region_name="ap-southeast-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


@pytest.fixture(scope="module")
def built(
    stack: Stack, client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[tuple[str, str], dict[str, Any]], list[dict[str, Any]]]]:
    """200 deliveries simulated and projected by the stream: the read side it built."""
    ensure_tables(client, COMMANDS, READS, STATS)
    work = tmp_path_factory.mktemp("backfill")
    poller = start_poller(stack, COMMANDS, READS, work / "stream", work / "poller.log", STATS)
    try:
        finished(simulate(stack, 15))
        assert_counters_outlive_reads(client)
        yield read_side(client), counters(client)
    finally:
        poller.terminate()
        poller.wait(20)


@pytest.mark.timeout(300)
def test_backfill_restores_what_the_stream_built(
    stack: Stack, client: Any, built: Any, tmp_path: Path
) -> None:
    items, stats = built
    assert len(stats) > 16  # the stream counted them, in every shard of a few scopes
    empty_read_side(client)
    output = finished(backfill(stack, tmp_path))
    assert re.search(r"200 scanned, 200 projected, 0 already current, 0 gone, 0 failed", output)
    assert_restored(client, items, stats)
    again = finished(backfill(stack, tmp_path))
    assert "200 scanned, 0 projected, 200 already current" in again, again
    assert_restored(client, items, stats)


@pytest.mark.timeout(300)
def test_killed_halfway_it_resumes_to_the_same_result_nothing_doubled(
    stack: Stack, client: Any, built: Any, tmp_path: Path
) -> None:
    items, stats = built
    empty_read_side(client)
    args = ("--max-writes-per-second", "40", "--page-size", "10")
    running = backfill(stack, tmp_path, *args)
    checkpoints = tmp_path / f"backfill-{COMMANDS}"
    deadline = time.monotonic() + 120
    while len(scan(client, READS)) < 100 or len(list(checkpoints.glob("segment-*"))) < 4:
        assert running.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    running.send_signal(signal.SIGKILL)
    assert running.wait(10) == -signal.SIGKILL
    assert 100 <= len(scan(client, READS)) < 200
    output = finished(backfill(stack, tmp_path, "--resume", "--page-size", "10"))
    scanned = int(re.search(r"backfill: ([\d,]+) scanned", output)[1].replace(",", ""))  # type: ignore[index]
    assert scanned <= 120, output  # it went on from the checkpoints, not from the start
    assert ", 0 failed" in output
    assert_restored(client, items, stats)


@pytest.mark.timeout(420)
def test_run_while_simulate_writes_the_read_side_is_the_projection_of_the_command_table(
    stack: Stack, client: Any, built: Any, tmp_path: Path
) -> None:
    poller = start_poller(stack, COMMANDS, READS, tmp_path / "stream", tmp_path / "p.log", STATS)
    try:
        writer = simulate(stack, 16)  # waits until the stream has projected what it wrote
        time.sleep(1.0)
        for _ in range(2):
            finished(backfill(stack, tmp_path / "state"))
        finished(writer, 400)
    finally:
        poller.terminate()
        poller.wait(20)
    commands = scan(client, COMMANDS)
    assert len(commands) == 2 * USERS * TRANSACTIONS
    wanted = {}
    for command in commands:
        read = read_key(command, int(command["created_at"]))
        wanted[(read["user_id"], read["sk"])] = state_of(project_record(command))
    got = read_side(client)
    assert got.keys() == wanted.keys()
    for key, item in got.items():
        assert {k: v for k, v in state_of(item).items()} == {
            k: v for k, v in wanted[key].items() if v is not None
        }, key
