from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# Tests never touch a real AWS account, whatever the developer's shell holds.
for _name in (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "ENVIRONMENT",
    "ECS_HANDLER_URL",
    "EKS_HANDLER_URL",
    "INTERNAL_API_URL",
    "REQUEST_TIMEOUT",
    "CURSOR_SECRET",
    "DYNAMODB_ENDPOINT_URL",
):
    os.environ.pop(_name, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "ap-southeast-1"

# Property tests check what is computed, never how fast: hypothesis' default deadline (200 ms
# per example) and its too-slow health check fail them on a loaded machine, which says
# nothing about the code. Speed is make bench's business.
settings.register_profile("project", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("project")


@pytest.fixture(autouse=True)
def _fresh_factories() -> Iterator[None]:
    """Every test builds the product's settings and clients from its own environment."""
    from tests.support import reset_cached_factories

    reset_cached_factories()
    yield
    reset_cached_factories()


def _group(item: pytest.Item) -> str:
    """The tests that must share a worker under xdist: one file's (its module fixtures, the
    tables it creates in the worker's stack), and all that read Terraform's session (one
    init, one set of plans)."""
    if "terraform_session" in getattr(item, "fixturenames", ()):
        return "terraform"
    return item.path.relative_to(item.config.rootpath).as_posix()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest groups first (each file's `cost` mark: its seconds on a quiet machine), so
    that under `make test`'s two workers no long file starts last and runs alone; the rest
    keep their order."""
    costs: dict[str, float] = {}
    for item in items:
        group = _group(item)
        item.add_marker(pytest.mark.xdist_group(group))
        mark = item.get_closest_marker("cost")
        costs[group] = max(costs.get(group, 0.0), mark.args[0] if mark else 0.0)
    items.sort(key=lambda item: -costs[_group(item)])


@pytest.hookimpl(trylast=True)  # after xdist has written the groups into the node ids
def pytest_collection_finish(session: pytest.Session) -> None:
    """Fail the run where xdist's loadgroup no longer keeps a group on one worker (pytest
    9.2 with xdist 3.8 dropped the groups without a word: pytest-xdist#1386), rather than
    run every file's module fixtures, stacks and Terraform session on both workers."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    lost = [item.nodeid for item in session.items if "@" not in item.nodeid]
    if lost:
        raise pytest.UsageError(
            f"--dist loadgroup lost the xdist groups ({len(lost)} tests, e.g. {lost[0]}): "
            "pytest and pytest-xdist disagree on node ids; see pyproject.toml's pytest pin"
        )
