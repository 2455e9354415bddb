from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from query_service.local.commands import batch_put
from query_service.storage.projection import project_record
from query_service.storage.tables import (
    command_table_spec,
    notification_table_spec,
    stats_table_spec,
)

# The tests' fixed timestamps (2023) would be past a 90-day retention: keep them a century.
KEPT_DAYS = 36_500


class Tables:
    """moto DynamoDB with both tables, and a counter of the operations made on it."""

    def __init__(self) -> None:
        self.client: Any = boto3.client("dynamodb", region_name="ap-southeast-1")
        self.client.create_table(**command_table_spec())
        self.client.create_table(**notification_table_spec())
        self.client.create_table(**stats_table_spec())
        self.calls: list[str] = []
        self.client.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: self.calls.append(model.name)
        )

    def put(self, *commands: dict[str, Any]) -> None:
        batch_put(
            self.client, "notification-records", [project_record(c, KEPT_DAYS) for c in commands]
        )


@pytest.fixture
def tables() -> Iterator[Tables]:
    with mock_aws():
        yield Tables()
