"""The local stack as a user runs it: `query-service local up`, driven over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from query_service.ports import Ports
from query_service.storage.dynamo import from_item
from tests.harness import Server, launch


@dataclass
class Stack:
    ports: Ports
    work: Path
    server: Server

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    @property
    def public(self) -> str:
        return self.url(self.ports.public)

    @property
    def ecs(self) -> str:
        return self.url(self.ports.ecs)

    @property
    def internal(self) -> str:
        return self.url(self.ports.internal)

    @property
    def dynamodb(self) -> str:
        return self.url(self.ports.dynamodb)

    @property
    def log_dir(self) -> Path:
        return self.work / "logs"

    @property
    def state_dir(self) -> Path:
        return self.work / "state"

    @property
    def output(self) -> Path:
        return self.work / "stack.out"

    def logs(self) -> str:
        return "".join(p.read_text() for p in sorted(self.log_dir.glob("*.log")))


def start_stack(work: Path) -> Stack:
    ports, server = launch(work, timeout=120)
    return Stack(ports, work, server)


def stop_stack(stack: Stack) -> int:
    return stack.server.stop(30)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    stop_stack(running)


@pytest.fixture(scope="session")
def public(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.public, timeout=15) as client:
        yield client


def start_poller(
    stack: Stack,
    command_table: str,
    read_table: str,
    state: Path,
    log: Path,
    stats_table: str = "",
) -> subprocess.Popen[bytes]:
    """A stream tier of its own (``query-service local stream``) between two tables of the
    stack's DynamoDB, its output appended to ``log``; counting into ``stats_table``, or
    nowhere (never into the stack's own statistics, which the other tests read)."""
    env = {
        **os.environ,
        "DYNAMODB_ENDPOINT_URL": stack.dynamodb,
        "COMMAND_TABLE_NAME": command_table,
        "NOTIFICATION_TABLE_NAME": read_table,
        "STATS_TABLE_NAME": stats_table,
        "PYTHONUNBUFFERED": "1",
    }
    argv = [sys.executable, "-m", "query_service.cli", "local", "stream"]
    with log.open("ab") as sink:
        return subprocess.Popen(
            [*argv, "--state-dir", str(state)], stdout=sink, stderr=subprocess.STDOUT, env=env
        )


def scan(client: Any, table: str) -> list[dict[str, Any]]:
    """Every item of ``table``, as plain values (a test's look at a whole small table)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items += [from_item(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
