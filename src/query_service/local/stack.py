"""``query-service local up``: every tier as its own process, one log stream, one Ctrl-C.

Order: DynamoDB (Local, or moto's server where Java or npm is missing) → tables and demo
data → internal gateway with the Query Result Lambda → ECS handler → public gateway with
the Query Lambda. Each tier is awaited on its health path before the next starts, so
"ready" means the brief's example calls answer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from query_service.local.dynamodb import DynamoDBLocalError, dynamodb_launch_spec, wait_until_ready
from query_service.local.output import StackOutput, banner
from query_service.local.processes import (
    Exited,
    answers,
    die_with_parent,
    poll_until,
    port_in_use,
    stop,
)
from query_service.ports import HOST, Ports

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from query_service.config import Settings


class StackError(RuntimeError):
    """Why the stack cannot come up, in words a user can act on."""


# uvicorn as the image runs it (Dockerfile), on a port of the stack's choosing.
ECS_ARGV = (
    "uvicorn",
    "query_service.ecs.app:app",
    "--host",
    HOST,
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--timeout-graceful-shutdown",
    "10",
)


class LocalStack:
    def __init__(
        self,
        ports: Ports | None = None,
        *,
        engine: str = "auto",
        demo_records: int = 300,
        log_dir: Path | None = None,
        state_dir: Path = Path(".local"),
        out: IO[str] | None = None,
        color: bool | None = None,
    ) -> None:
        self.ports = ports or Ports()
        self.engine = engine
        self.demo_records = demo_records
        self.state_dir = state_dir.resolve()
        out = out or sys.stdout
        self.output = StackOutput(out, out.isatty() if color is None else color, log_dir)
        self.say = self.output.say
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = threading.Event()
        self.engine_used = ""

    # -- processes ----------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PYTHONUNBUFFERED="1",
            ENVIRONMENT="development",
            AWS_DEFAULT_REGION=env.get("AWS_DEFAULT_REGION", "ap-southeast-1"),
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - DynamoDB Local ignores it
            DYNAMODB_ENDPOINT_URL=self.ports.url("dynamodb"),
            INTERNAL_API_URL=self.ports.url("internal"),
            ECS_HANDLER_URL=self.ports.url("ecs"),
        )
        env.pop("EKS_HANDLER_URL", None)
        return env

    def _spawn(self, tier: str, argv: list[str], cwd: Path | None = None) -> None:
        process = subprocess.Popen(  # noqa: S603 - our own argv
            argv,
            cwd=cwd,
            env=self._env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self.children[tier] = process
        assert process.stdout is not None
        self.output.relay(tier, process.stdout)

    def _start_server(self, tier: str, *args: str) -> None:
        """A Python tier listening on its port; returns once its /health answers 200."""
        port = dict(self.ports.items())[tier]
        self._spawn(tier, [sys.executable, "-m", *args, "--port", str(port)])
        url = f"{self.ports.url(tier)}/health"
        # The tier's own lines are already in the stream above the error.
        try:
            if not poll_until(lambda: answers(url), 30.0, process=self.children[tier]):
                raise StackError(f"the {tier} tier did not answer {url} within 30 s")
        except Exited as exc:
            raise StackError(f"the {tier} tier {exc} while starting") from None

    def up(self) -> None:
        busy = [(n, p) for n, p in self.ports.items() if port_in_use(p)]
        if busy:
            raise StackError(
                "; ".join(
                    f"port {p} is already in use ({n} tier): stop what holds it "
                    f"(`ss -ltnp 'sport = :{p}'` shows it) or pass --{n}-port"
                    for n, p in busy
                )
            )
        started = time.monotonic()
        try:
            spec = dynamodb_launch_spec(self.ports.dynamodb, HOST, self.engine)
        except DynamoDBLocalError as exc:
            raise StackError(str(exc)) from None
        if spec.notice:
            self.say(f"NOTICE: {spec.notice}")
        self.engine_used = spec.engine
        self._spawn("dynamodb", list(spec.argv), spec.cwd)
        try:
            wait_until_ready(spec.endpoint, timeout=60.0, process=self.children["dynamodb"])
        except DynamoDBLocalError as exc:
            raise StackError(f"DynamoDB did not start: {exc}") from None
        self._create_tables(spec.endpoint)
        local = ("query_service.cli", "local")
        self._spawn(
            "stream", [sys.executable, "-m", *local, "stream", "--state-dir", str(self.state_dir)]
        )
        self._load_demo(spec.endpoint)
        self._start_server("internal", *local, "gateway", "internal")
        self._start_server("ecs", *ECS_ARGV)
        self._start_server("public", *local, "gateway", "public")
        self.say(f"ready in {time.monotonic() - started:.1f} s")

    def _client(self, endpoint: str) -> tuple[DynamoDBClient, Settings]:
        from dataclasses import replace

        from query_service.config import get_settings
        from query_service.storage.dynamo import dynamodb_client

        settings = replace(get_settings(), dynamodb_endpoint_url=endpoint)
        return dynamodb_client(settings, timeout=10.0), settings

    def _create_tables(self, endpoint: str) -> None:
        from query_service.local.dynamodb import ensure_tables

        client, settings = self._client(endpoint)
        ensure_tables(
            client,
            settings.command_table_name,
            settings.notification_table_name,
            settings.stats_table_name,
        )

    def _load_demo(self, endpoint: str) -> None:
        """Demo deliveries into command-records; return once the read side holds them all."""
        from query_service.local.commands import NotProjected, wait_until_projected
        from query_service.local.demo import load_demo

        client, settings = self._client(endpoint)
        records = load_demo(client, settings.command_table_name, generated=self.demo_records)
        self.say(
            f"{len(records)} demo records written to {settings.command_table_name} "
            f"({self.engine_used}); waiting for the stream to project them"
        )
        try:
            waited = wait_until_projected(
                client,
                settings.notification_table_name,
                records,
                timeout=60.0,
                poll=0.1,
                process=self.children["stream"],
            )
        except Exited as exc:
            raise StackError(f"the stream tier {exc}; its last lines are above") from None
        except NotProjected as exc:
            raise StackError(f"the read side did not catch up: {exc}") from None
        self.say(
            f"read side caught up: {settings.notification_table_name} holds them ({waited:.1f} s)"
        )

    def watch(self) -> int:
        """Block until a signal (0) or a tier dying on its own (1)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stopping.set())
        while not self._stopping.wait(0.2):
            for tier, process in self.children.items():
                if process.poll() is not None:
                    self.say(
                        f"the {tier} tier exited with code {process.returncode}; stopping the stack"
                    )
                    return 1
        return 0

    def down(self) -> None:
        stop(*reversed(self.children.values()), timeout=10)
        self.say("stopped")


def run(stack: LocalStack) -> int:
    """What `make run` runs: up, banner, watch, down; always down."""
    code = 1
    try:
        stack.up()
        stack.output.write(banner(stack.ports, stack.engine_used, stack.state_dir))
        code = stack.watch()
    except StackError as exc:
        stack.say(f"ERROR: {exc}")
    except KeyboardInterrupt:
        code = 0
    finally:
        stack.down()
    return code
