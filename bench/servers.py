"""Server processes a section starts for itself: the ECS handler, the floor, the stub."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from query_service.local.processes import answers, die_with_parent, poll_until, stop
from query_service.ports import HOST
from tests.harness import free_port


@contextlib.contextmanager
def server(
    argv: list[str], health: str, env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process of ours, stopped (SIGTERM, then SIGKILL) however the block ends."""
    with log.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own argv
            argv,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    try:
        if not poll_until(lambda: answers(health), 30.0, process=process):
            raise RuntimeError(f"{' '.join(argv[2:4])} did not answer {health} within 30 s")
        yield process
    finally:
        stop(process, timeout=15)


def ecs_argv(port: int) -> list[str]:
    """The ECS handler as the stack and the image run it."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "query_service.ecs.app:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def floor_argv(mode: str, upstream: str, port: int) -> list[str]:
    return [sys.executable, "-m", "bench.floor", mode, "--upstream", upstream, "--port", str(port)]


@contextlib.contextmanager
def stub_upstream(workdir: Path) -> Iterator[tuple[str, int]]:
    """The stub upstream (``bench.floor stub``) on a free port: its URL and pid."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    with server(floor_argv("stub", "", port), url + "/health", {}, workdir / "stub.log") as stub:
        yield url, stub.pid
