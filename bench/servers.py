"""Server processes a section starts for itself: the ECS handler, the floor, the stub."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from bench.section import REPO
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


# The environment the image gives the handler (the Dockerfile's ENV) and the task
# definition's LOG_LEVEL default (infra/terraform/modules/ecs): the request log is on.
IMAGE_ENV = {"LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def image_command() -> list[str]:
    """The Dockerfile's CMD (its JSON form), as the ECS task runs it."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", "")
    found = re.search(r"^CMD (\[.*\])\s*$", text, re.MULTILINE)
    if found is None:
        raise RuntimeError("the Dockerfile has no CMD in JSON form")
    command: list[str] = json.loads(found.group(1))
    return command


def ecs_argv(port: int) -> list[str]:
    """The ECS handler as the image runs it (its CMD), on this machine's ``port``."""
    argv = image_command()
    argv[argv.index("--host") + 1] = HOST
    argv[argv.index("--port") + 1] = str(port)
    return [sys.executable, "-m", *argv]


def floor_argv(mode: str, upstream: str, port: int) -> list[str]:
    return [sys.executable, "-m", "bench.floor", mode, "--upstream", upstream, "--port", str(port)]


@contextlib.contextmanager
def stub_upstream(workdir: Path) -> Iterator[tuple[str, int]]:
    """The stub upstream (``bench.floor stub``) on a free port: its URL and pid."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    with server(floor_argv("stub", "", port), url + "/health", {}, workdir / "stub.log") as stub:
        yield url, stub.pid
