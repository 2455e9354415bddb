from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

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


@pytest.fixture(autouse=True)
def _fresh_factories() -> Iterator[None]:
    """Every test builds the product's settings and clients from its own environment."""
    from tests.support import reset_cached_factories

    reset_cached_factories()
    yield
    reset_cached_factories()
