"""DynamoDB for the local stack: the official DynamoDB Local jar, or moto's server.

The jar ships inside AWS's npm package ``amplify-dynamodb-simulator``. It is fetched with
``npm pack`` (so npm's own registry configuration applies), checked against a pinned
sha256 before anything is unpacked, and cached outside the repository, so only the first
start downloads and later ones work offline. Without Java 11+ or npm, moto's server stands
in, and the stack says so.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from query_service.local.processes import Exited, poll_until

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PACKAGE = "amplify-dynamodb-simulator"
VERSION = "2.9.30"
TARBALL_SHA256 = "3503ffac19f183407909fecdacf4db51ab1fdad1da7b2f177016670b2d80e4b9"
Engine = Literal["dynamodb-local", "moto"]


class DynamoDBLocalError(RuntimeError):
    """Why DynamoDB could not be provided, in words a user can act on."""


@dataclass(frozen=True)
class LaunchSpec:
    argv: list[str]
    cwd: Path | None
    engine: Engine
    endpoint: str
    notice: str | None = None


def cache_root() -> Path:
    base = os.environ.get("QUERY_SERVICE_CACHE") or Path.home() / ".cache" / "query-service"
    return Path(base) / "dynamodb-local" / VERSION


@functools.cache  # the machine's Java does not change while a process runs
def java_major_version() -> int | None:
    java = shutil.which("java")
    if java is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv
            [java, "-version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8" is Java 8


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_jar() -> Path:
    """The folder holding DynamoDBLocal.jar and DynamoDBLocal_lib, fetched once."""
    target = cache_root()
    if (target / "DynamoDBLocal.jar").is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise DynamoDBLocalError("npm not found: it is needed once to fetch DynamoDB Local")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        work = Path(scratch)
        try:
            subprocess.run(  # noqa: S603 - fixed argv
                [npm, "pack", f"{PACKAGE}@{VERSION}", "--silent"],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            raise DynamoDBLocalError(
                f"`npm pack {PACKAGE}@{VERSION}` failed: {detail.strip()[-300:]}"
            ) from None
        tarballs = list(work.glob("*.tgz"))
        if len(tarballs) != 1:
            raise DynamoDBLocalError(f"`npm pack` left {len(tarballs)} tarballs, expected 1")
        actual = _sha256(tarballs[0])
        if actual != TARBALL_SHA256:
            raise DynamoDBLocalError(
                f"{PACKAGE}@{VERSION} has sha256 {actual}, expected {TARBALL_SHA256}: "
                "refusing to run it"
            )
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(work / "x", filter="data")
        emulator = work / "x" / "package" / "emulator"
        if not (emulator / "DynamoDBLocal.jar").is_file():
            raise DynamoDBLocalError(f"{PACKAGE}@{VERSION} holds no emulator/DynamoDBLocal.jar")
        staged = work / "staged"
        emulator.rename(staged)
        try:
            staged.rename(target)  # atomic: a half-written cache is never seen
        except OSError:
            if not (target / "DynamoDBLocal.jar").is_file():
                raise
    return target


def dynamodb_launch_spec(port: int, host: str = "127.0.0.1", engine: str = "auto") -> LaunchSpec:
    """How to start DynamoDB on ``host:port`` here, choosing the jar whenever possible."""
    endpoint = f"http://{host}:{port}"
    moto = LaunchSpec(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)], None, "moto", endpoint
    )
    if engine == "moto":
        return moto
    if engine not in {"auto", "dynamodb-local"}:
        raise DynamoDBLocalError(f"unknown DynamoDB engine {engine!r}")
    java = java_major_version()
    problem = None
    if java is None:
        problem = "Java not found"
    elif java < 11:
        problem = f"Java {java} found, DynamoDB Local needs 11+"
    else:
        try:
            folder = ensure_jar()
        except DynamoDBLocalError as exc:
            problem = str(exc)
        else:
            argv = [
                shutil.which("java") or "java",
                f"-Djava.library.path={folder / 'DynamoDBLocal_lib'}",
                "-jar",
                str(folder / "DynamoDBLocal.jar"),
                "-inMemory",
                "-sharedDb",
                "-port",
                str(port),
            ]
            return LaunchSpec(argv, folder, "dynamodb-local", endpoint)
    if engine == "dynamodb-local":
        raise DynamoDBLocalError(f"DynamoDB Local cannot run here: {problem}")
    return LaunchSpec(
        moto.argv,
        None,
        "moto",
        endpoint,
        notice=f"{problem}: using moto's server instead of DynamoDB Local "
        "(same API, some behaviours differ)",
    )


def answering(endpoint: str) -> Callable[[], bool]:
    """A probe of DynamoDB at ``endpoint``: whether it answers now."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="ap-southeast-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106
        config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
    )

    def answers() -> bool:
        try:
            client.list_tables(Limit=1)
        except (BotoCoreError, ClientError):
            return False
        return True

    return answers


def wait_until_ready(
    endpoint: str, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    try:
        ready = poll_until(answering(endpoint), timeout, process=process)
    except Exited as exc:
        raise DynamoDBLocalError(f"DynamoDB {exc}") from None
    if not ready:
        raise DynamoDBLocalError(f"DynamoDB did not answer at {endpoint} within {timeout:.0f} s")


def ensure_tables(
    client: DynamoDBClient,
    command_table: str,
    notification_table: str,
    stats_table: str | None = None,
) -> None:
    """Create the tables (storage/tables.py) unless they exist, wait until active, and
    turn their TTL on (the statistics table only when named)."""
    from query_service.storage.tables import (
        command_table_spec,
        notification_table_spec,
        stats_table_spec,
        time_to_live_spec,
    )

    existing = set(client.list_tables()["TableNames"])
    specs = [command_table_spec(command_table), notification_table_spec(notification_table)]
    if stats_table:
        specs.append(stats_table_spec(stats_table))
    for spec in specs:
        if spec["TableName"] not in existing:
            client.create_table(**spec)
        client.get_waiter("table_exists").wait(
            TableName=spec["TableName"], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        ttl = client.describe_time_to_live(TableName=spec["TableName"])
        if ttl["TimeToLiveDescription"].get("TimeToLiveStatus") != "ENABLED":
            client.update_time_to_live(**time_to_live_spec(spec["TableName"]))
