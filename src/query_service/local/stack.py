"""``query-service local up``: every tier as its own process, one log stream, one Ctrl-C.

Order: DynamoDB (Local, or moto's server where Java or npm is missing) → tables and demo
data → internal gateway with the Query Result Lambda → ECS handler → public gateway with
the Query Lambda. Each tier is awaited on its health path before the next starts, so
"ready" means the brief's example calls answer.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from query_service.local.dynamodb import DynamoDBLocalError, dynamodb_launch_spec, wait_until_ready

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from query_service.config import Settings

HOST = "127.0.0.1"
# The line `query-service local up` prints once every tier answers: what a parent waits for.
READY_LINE = "query-service local stack is up"
_COLORS = {"dynamodb": "33", "stream": "34", "internal": "36", "ecs": "32", "public": "35"}


class StackError(RuntimeError):
    """Why the stack cannot come up, in words a user can act on."""


@dataclass(frozen=True)
class Ports:
    dynamodb: int = 8001
    internal: int = 4001
    ecs: int = 8000
    public: int = 3000

    def items(self) -> list[tuple[str, int]]:
        return [
            ("dynamodb", self.dynamodb),
            ("internal", self.internal),
            ("ecs", self.ecs),
            ("public", self.public),
        ]


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))


def die_with_parent() -> None:
    """A child's preexec: SIGTERM if its parent dies, so no tier outlives a killed stack."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves bind: connections of a stack just stopped (TIME_WAIT)
        # do not make the port busy, only a listener does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = HOST) -> int:
    """A port nothing listens on now (the OS's choice), for a server started next."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    """Until ``url`` answers 200; StackError naming ``what`` if it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{what} exited with code {process.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our URL
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise StackError(f"{what} did not answer {url} within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, and SIGKILL if it has not exited within ``timeout`` seconds; its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def launch(ports: Ports, work: Path, timeout: float = 180.0) -> subprocess.Popen[bytes]:
    """``query-service local up`` as a child process, as a user runs it, on ``ports``; its
    logs, state and output (``stack.out``) under ``work``. Returns once it reports ready;
    stops it and raises StackError with its last output if it does not."""
    argv = [sys.executable, "-m", "query_service.cli", "local", "up"]
    argv += ["--log-dir", str(work / "logs"), "--state-dir", str(work / "state")]
    for name, port in ports.items():
        argv += [f"--{name}-port", str(port)]
    output = work / "stack.out"
    work.mkdir(parents=True, exist_ok=True)
    with output.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own argv
            argv,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=die_with_parent,
        )
    deadline = time.monotonic() + timeout
    while READY_LINE not in output.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process, 30)
            raise StackError(f"the stack did not come up:\n{output.read_text()[-4000:]}")
        time.sleep(0.2)
    return process


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
        self.log_dir = log_dir
        self.state_dir = state_dir.resolve()
        self.out = out or sys.stdout
        self.color = self.out.isatty() if color is None else color
        self.children: list[Child] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.loaded = 0
        self.engine_used = ""

    # -- output -------------------------------------------------------------------------
    def say(self, line: str, tier: str = "stack") -> None:
        prefix = f"{tier:<8}|"
        if self.color and tier in _COLORS:
            prefix = f"\033[{_COLORS[tier]}m{prefix}\033[0m"
        with self._lock:
            self.out.write(f"{prefix} {line}\n")
            self.out.flush()

    def _pump(self, child: Child) -> None:
        log_file = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_file = (self.log_dir / f"{child.name}.log").open("a", encoding="utf-8")
        assert child.process.stdout is not None
        for raw in iter(child.process.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            child.tail.append(line)
            self.say(line, child.name)
            if log_file is not None:
                log_file.write(line + "\n")
                log_file.flush()
        if log_file is not None:
            log_file.close()

    # -- processes ----------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PYTHONUNBUFFERED="1",
            ENVIRONMENT="development",
            AWS_DEFAULT_REGION=env.get("AWS_DEFAULT_REGION", "ap-southeast-1"),
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - DynamoDB Local ignores it
            DYNAMODB_ENDPOINT_URL=f"http://{HOST}:{self.ports.dynamodb}",
            INTERNAL_API_URL=f"http://{HOST}:{self.ports.internal}",
            ECS_HANDLER_URL=f"http://{HOST}:{self.ports.ecs}",
        )
        env.pop("EKS_HANDLER_URL", None)
        return env

    def _spawn(self, name: str, argv: list[str], cwd: Path | None = None) -> Child:
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
        child = Child(name, process)
        self.children.append(child)
        threading.Thread(target=self._pump, args=(child,), daemon=True, name=name).start()
        return child

    def _await_health(self, child: Child, port: int) -> None:
        # The tier's own lines are already in the stream above the error.
        wait_http(f"http://{HOST}:{port}/health", child.process, f"the {child.name} tier")

    def _spawn_python(self, name: str, *args: str) -> Child:
        return self._spawn(name, [sys.executable, "-m", *args])

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
        dynamo = self._spawn("dynamodb", list(spec.argv), spec.cwd)
        try:
            wait_until_ready(spec.endpoint, timeout=60.0, process=dynamo.process)
        except DynamoDBLocalError as exc:
            raise StackError(f"DynamoDB did not start: {exc}") from None
        self._create_tables(spec.endpoint)
        stream = self._spawn_python(
            "stream", "query_service.cli", "local", "stream", "--state-dir", str(self.state_dir)
        )
        self._load_demo(spec.endpoint, stream)
        cli_gateway = ("query_service.cli", "local", "gateway")
        internal = self._spawn_python(
            "internal", *cli_gateway, "internal", "--port", str(self.ports.internal)
        )
        self._await_health(internal, self.ports.internal)
        ecs = self._spawn_python(
            "ecs",
            "uvicorn",
            "query_service.ecs.app:app",
            "--host",
            HOST,
            "--port",
            str(self.ports.ecs),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "10",
        )
        self._await_health(ecs, self.ports.ecs)
        public = self._spawn_python(
            "public", *cli_gateway, "public", "--port", str(self.ports.public)
        )
        self._await_health(public, self.ports.public)
        self.say(f"ready in {time.monotonic() - started:.1f} s")

    def _client(self, endpoint: str) -> tuple[DynamoDBClient, Settings]:
        from query_service.config import Settings
        from query_service.storage.dynamo import dynamodb_client

        settings = Settings(dynamodb_endpoint_url=endpoint)
        return dynamodb_client(settings, timeout=10.0), settings

    def _create_tables(self, endpoint: str) -> None:
        from query_service.local.dynamodb import ensure_tables

        client, settings = self._client(endpoint)
        ensure_tables(client, settings.command_table_name, settings.notification_table_name)

    def _load_demo(self, endpoint: str, stream: Child) -> None:
        """Demo deliveries into command-records; return once the read side holds them all."""
        from query_service.local.commands import NotProjected, wait_until_projected
        from query_service.local.demo import load_demo

        client, settings = self._client(endpoint)
        records = load_demo(client, settings.command_table_name, generated=self.demo_records)
        self.say(
            f"{len(records)} demo records written to {settings.command_table_name} "
            f"({self.engine_used}); waiting for the stream to project them"
        )

        def stream_alive() -> None:
            if stream.process.poll() is not None:
                raise StackError(
                    f"the stream tier exited with code {stream.process.returncode}; "
                    "its last lines are above"
                )

        try:
            waited = wait_until_projected(
                client,
                settings.notification_table_name,
                records,
                timeout=60.0,
                poll=0.1,
                check=stream_alive,
            )
        except NotProjected as exc:
            raise StackError(f"the read side did not catch up: {exc}") from None
        self.loaded = len(records)
        self.say(
            f"read side caught up: {settings.notification_table_name} holds them ({waited:.1f} s)"
        )

    def banner(self) -> str:
        p = self.ports
        post = "curl -s -X POST localhost:{}{} -H 'content-type: application/json' -d '{}'"
        return "\n".join(
            [
                "",
                READY_LINE,
                f"  public API    API Gateway + Query Lambda          http://localhost:{p.public}",
                f"  ECS handler   FastAPI, docs at /docs              http://localhost:{p.ecs}",
                f"  internal API  private API + Query Result Lambda  http://localhost:{p.internal}",
                f"  DynamoDB      {self.engine_used:<36}http://localhost:{p.dynamodb}",
                f"  stream tier   event source mapping, dead letters in {self.state_dir}/dlq.jsonl",
                "",
                "Try:",
                "  "
                + post.format(p.public, "/query/user", '{"user_id":"test_user_001","limit":10}'),
                "  " + post.format(p.public, "/query/fail", '{"transaction_id":"tx_002"}'),
                f"  curl -s 'localhost:{p.public}/query/tx?transaction_id=tx_001'",
                f"  curl -s localhost:{p.ecs}/health",
                "  uv run query-service simulate --users 100 --transactions 10"
                + (
                    ""
                    if p.dynamodb == 8001
                    else f" --dynamodb-endpoint http://localhost:{p.dynamodb}"
                )
                + "   # push traffic",
                "",
                "Ctrl-C stops every tier.",
                "",
            ]
        )

    def watch(self) -> int:
        """Block until a signal (0) or a tier dying on its own (1)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stopping.set())
        while not self._stopping.wait(0.2):
            for child in self.children:
                if child.process.poll() is not None:
                    self.say(
                        f"the {child.name} tier exited with code {child.process.returncode}; "
                        "stopping the stack"
                    )
                    return 1
        return 0

    def down(self) -> None:
        for child in reversed(self.children):
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in reversed(self.children):
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        self.say("stopped")


def run(stack: LocalStack) -> int:
    """What `make run` runs: up, banner, watch, down; always down."""
    code = 1
    try:
        stack.up()
        stack.out.write(stack.banner())
        stack.out.flush()
        code = stack.watch()
    except StackError as exc:
        stack.say(f"ERROR: {exc}")
    except KeyboardInterrupt:
        code = 0
    finally:
        stack.down()
    return code
