"""The acceptance of issue 11: each way of breaking the Terraform below makes the checks of
test_terraform_plan.py fail, with a message naming the file that was broken.

Each breakage is made in a copy of infra/terraform (conftest.break_references,
conftest.break_names). The three that validate must find share one copy and one validate
run, which reports every error with its file; the two that need a plan share another copy,
planned as the second environment and compared with the first environment's plan of the
real configuration.
"""

from __future__ import annotations

import pytest

from tests.infra.conftest import Session
from tests.infra.terraform_cli import (
    Plan,
    security_group_description_problems,
    shared_global_names,
)

pytestmark = pytest.mark.timeout(1800)

VALIDATE_FINDS = {
    "unknown argument": 'Unsupported argument: An argument named "no_such_argument"',
    "undeclared variable": "Reference to undeclared input variable",
    "missing module output": 'This object does not have an attribute named "no_such_output"',
}


@pytest.mark.parametrize("breakage", sorted(VALIDATE_FINDS))
def test_validate_fails_naming_the_file(terraform_session: Session, breakage: str) -> None:
    failure: str = terraform_session.result("broken-references")
    assert failure, "validate passed on a broken configuration"
    file = terraform_session.broken["references"].files[breakage]
    (line,) = [line for line in failure.splitlines() if VALIDATE_FINDS[breakage] in line]
    assert line.startswith(f"{file}:"), line


def test_a_rule_description_ec2_refuses_fails_naming_the_file(
    terraform_session: Session,
) -> None:
    plan: Plan = terraform_session.result("broken-names-second")
    (problem,) = security_group_description_problems(plan)
    file = terraform_session.broken["names"].files["rule description"]
    assert problem.startswith(f"{file}: module.ecs.aws_vpc_security_group_ingress_rule."), problem
    assert '"\'"' in problem


def test_an_iam_name_shared_by_two_environments_fails_naming_the_file(
    terraform_session: Session,
) -> None:
    first: Plan = terraform_session.result("plan")
    second: Plan = terraform_session.result("broken-names-second")
    (problem,) = shared_global_names(second, first)
    file = terraform_session.broken["names"].files["IAM name"]
    assert problem.startswith(f"{file}: module.ecs.aws_iam_role.task "), problem
