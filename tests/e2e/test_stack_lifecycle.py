"""Starting and stopping the stack as `make run` does."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from query_service.local.processes import port_in_use
from tests.e2e.conftest import Stack, start_stack, stop_stack
from tests.harness import free_port, require_java

pytestmark = [pytest.mark.e2e, pytest.mark.cost(15)]


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "query_service.cli",
                "local",
                "up",
                "--public-port",
                str(port),
                "--dynamodb-port",
                str(free_port()),
                "--internal-port",
                str(free_port()),
                "--ecs-port",
                str(free_port()),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode != 0
    assert f"port {port} is already in use (public tier)" in result.stdout


def test_sigterm_stops_every_tier(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    children = subprocess.run(
        ["pgrep", "-P", str(stack.server.process.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert len(children) == 5  # dynamodb, stream, internal, ecs, public
    assert stop_stack(stack) == 0
    for pid in children:
        assert (
            not Path(f"/proc/{pid}").exists()
            or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        )
    for url in (stack.public, stack.ecs, stack.internal, stack.dynamodb):
        assert not port_in_use(int(url.rsplit(":", 1)[1]))  # a restart can have it


def test_with_java_the_stack_runs_on_dynamodb_local(stack: Stack) -> None:
    """No silent fallback: on a machine with Java and npm, the real jar serves the stack."""
    require_java()
    assert "demo records written to command-records (dynamodb-local)" in stack.output.read_text()
