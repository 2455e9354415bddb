"""The local stack as a user runs it: `query-service local up`, driven over real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import free_port


@dataclass
class Stack:
    public: str
    ecs: str
    internal: str
    dynamodb: str
    log_dir: Path
    state_dir: Path
    process: subprocess.Popen[bytes]
    output: Path

    def logs(self) -> str:
        return "".join(p.read_text() for p in sorted(self.log_dir.glob("*.log")))


def start_stack(tmp: Path, *extra: str) -> Stack:
    ports = {name: free_port() for name in ("dynamodb", "internal", "ecs", "public")}
    argv = [
        sys.executable,
        "-m",
        "query_service.cli",
        "local",
        "up",
        "--log-dir",
        str(tmp / "logs"),
        "--state-dir",
        str(tmp / "state"),
    ]
    for name, port in ports.items():
        argv += [f"--{name}-port", str(port)]
    output = tmp / "stack.out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with output.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)
    stack = Stack(
        *(f"http://127.0.0.1:{ports[n]}" for n in ("public", "ecs", "internal", "dynamodb")),
        log_dir=tmp / "logs",
        state_dir=tmp / "state",
        process=process,
        output=output,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"stack exited early:\n{output.read_text()[-4000:]}")
        if "query-service local stack is up" in output.read_text():
            return stack
        time.sleep(0.2)
    stop_stack(stack)
    raise RuntimeError(f"stack not ready in 120 s:\n{output.read_text()[-4000:]}")


def stop_stack(stack: Stack) -> int:
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGTERM)
    return stack.process.wait(timeout=30)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    stop_stack(running)


@pytest.fixture(scope="session")
def public(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.public, timeout=15) as client:
        yield client
