"""One Terraform session per test run: init once, then validate and the plans at once.

Terraform spends most of its time loading the AWS provider's schema; the runs are
independent, so they start together in threads the first time any of them is asked for
and each test waits only for the run it reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.terraform import stack
from tests.infra.terraform_cli import MotoServer, Plan, Terraform, TerraformError

SECOND_ENVIRONMENT = "staging"


def breakage(root: Path, module: str, declaration: str, edit: Callable[[str], str]) -> str:
    """Apply ``edit`` to the file of ``module`` holding ``declaration``; its repo path."""
    directory = root if module == "root" else root / "modules" / module
    for tf in sorted(directory.glob("*.tf")):
        text = tf.read_text()
        if declaration in text:
            changed = edit(text)
            assert changed != text, f"the breakage did not apply to {tf}"
            tf.write_text(changed)
            return f"infra/terraform/{tf.relative_to(root).as_posix()}"
    raise AssertionError(f"{declaration} not found in {directory}")


def add_argument(declaration: str, argument: str) -> Callable[[str], str]:
    return lambda text: text.replace(f"{declaration} {{", f"{declaration} {{\n  {argument}", 1)


@dataclass
class Broken:
    root: Path
    files: dict[str, str]  # breakage -> the file it was made in


def break_references(root: Path) -> Broken:
    """What validate must find: an unknown argument, an undeclared variable, a missing output."""
    files = {
        "unknown argument": breakage(
            root,
            "ecs",
            'resource "aws_ecs_cluster" "this"',
            add_argument('resource "aws_ecs_cluster" "this"', "no_such_argument = true"),
        ),
        "undeclared variable": breakage(
            root,
            "lambdas",
            'resource "aws_sqs_queue" "stream_dlq"',
            add_argument('resource "aws_sqs_queue" "stream_dlq"', "delay_seconds = var.no_such"),
        ),
        "missing module output": breakage(
            root,
            "root",
            'output "command_table_name"',
            lambda text: text.replace(
                "module.dynamodb.command_table_name", "module.dynamodb.no_such_output", 1
            ),
        ),
    }
    return Broken(root, files)


def break_names(root: Path) -> Broken:
    """What the plan checks must find: a rule description EC2 refuses, an IAM name without
    the environment."""
    files = {
        "rule description": breakage(
            root,
            "ecs",
            'resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb"',
            lambda text: re.sub(
                r'(resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" \{[^}]*?'
                r'description\s*=\s*)"[^"]*"',
                lambda match: f'{match.group(1)}"Container port from the ALB\'s group"',
                text,
                count=1,
            ),
        ),
        # The environment written into the name instead of taken from the variable: planned
        # as the second environment, it collides with the first environment's real plan.
        "IAM name": breakage(
            root,
            "ecs",
            'resource "aws_iam_role" "task"',
            lambda text: re.sub(
                r'(resource "aws_iam_role" "task" \{\s*name\s*=\s*)"[^"]*"',
                r'\1"${var.service_name}-prod-${var.region}-ecs-task"',
                text,
                count=1,
            ),
        ),
    }
    return Broken(root, files)


class Session:
    """The Terraform runs of this test session, started together on first use."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._pool = ThreadPoolExecutor(max_workers=5, thread_name_prefix="terraform")
        self._runs: dict[str, Future[Any]] = {}
        self._moto: MotoServer | None = None
        self._failed: BaseException | None = None

    def _start(self) -> None:
        terraform = Terraform.create(self.home)
        self.terraform = terraform
        main = terraform.copy("main")
        moto = self._pool.submit(self._start_moto)
        terraform.init(main)  # one data directory serves every copy: same modules
        refs = break_references(terraform.copy("broken-references"))
        names = break_names(terraform.copy("broken-names"))
        second = f"-var=environment={SECOND_ENVIRONMENT}"
        jobs: dict[str, Callable[[], Any]] = {
            "validate": lambda: terraform.validate(main),
            "plan": lambda: terraform.plan(main, moto.result(), "first"),
            # The second environment also turns the support console on (off in the first).
            "plan-second": lambda: terraform.plan(
                main, moto.result(), "second", second, moto.result().console_var()
            ),
            "broken-references": lambda: self._failure(lambda: terraform.validate(refs.root)),
            "broken-names-second": lambda: terraform.plan(
                names.root, moto.result(), "second", second
            ),
        }
        self.broken = {"references": refs, "names": names}
        self._runs = {name: self._pool.submit(job) for name, job in jobs.items()}

    def _start_moto(self) -> MotoServer:
        root = stack().root
        version = root.variables["powertools_version"]["default"]
        name = root.data["aws_ssm_parameter"]["powertools_layer"]["name"].replace(
            "${var.powertools_version}", version
        )
        arn = (
            "arn:aws:lambda:ap-southeast-1:017000801446:layer:"
            "AWSLambdaPowertoolsPythonV3-python312-x86_64:7"
        )
        self._moto = MotoServer.start(name, arn)
        return self._moto

    @staticmethod
    def _failure(run: Callable[[], None]) -> str:
        try:
            run()
        except TerraformError as error:
            return str(error)
        return ""

    def result(self, name: str) -> Any:
        if self._failed is not None:
            raise self._failed
        if not self._runs:
            try:
                self._start()
            except BaseException as error:
                self._failed = error
                raise
        return self._runs[name].result()

    def close(self) -> None:
        for run in self._runs.values():
            run.cancel()
        self._pool.shutdown(wait=True)
        if self._moto is not None:
            self._moto.stop()


@pytest.fixture(scope="session")
def terraform_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    session = Session(tmp_path_factory.mktemp("terraform"))
    yield session
    session.close()


@pytest.fixture(scope="session")
def plan(terraform_session: Session) -> Plan:
    found: Plan = terraform_session.result("plan")
    return found


@pytest.fixture(scope="session")
def second_plan(terraform_session: Session) -> Plan:
    found: Plan = terraform_session.result("plan-second")
    return found
