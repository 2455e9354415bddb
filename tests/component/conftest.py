from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from query_service.lambdas import stream_processor
from query_service.local.commands import batch_put
from query_service.storage.dynamo import dynamodb_client
from query_service.storage.projection import project_record
from query_service.storage.tables import (
    command_table_spec,
    notification_table_spec,
    stats_table_spec,
)

# The tests' fixed timestamps (2023) would be past a 90-day retention: keep them a century.
KEPT_DAYS = 36_500


class OneCallAtATime:
    """A DynamoDB client whose calls reach moto one at a time: a workaround for the tests
    only. moto's TransactWriteItems is not thread-safe (it deep-copies the tables to roll a
    transaction back while another thread's write changes them: "dictionary changed size
    during iteration", a lost write), and the Stream Processor writes from 8 threads.
    DynamoDB and DynamoDB Local are safe; the e2e tests run the real threads against the
    latter. The writer threads still race on everything but the call itself."""

    _lock = threading.Lock()  # one for every client: moto's backend is shared

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call


def _one_call_at_a_time(make: Callable[..., Any]) -> Callable[..., Any]:
    return lambda *args, **kwargs: OneCallAtATime(make(*args, **kwargs))


class Tables:
    """moto DynamoDB with the three tables, and a counter of the operations made on it."""

    def __init__(self) -> None:
        self.client: Any = OneCallAtATime(boto3.client("dynamodb", region_name="ap-southeast-1"))
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
    # Not through monkeypatch: a test's own monkeypatch must be undone before this is.
    setattr(stream_processor, "dynamodb_client", _one_call_at_a_time(dynamodb_client))  # noqa: B010
    # Each test is a new execution environment: no read item remembered from another's tables.
    stream_processor._recent.cache_clear()
    try:
        with mock_aws():
            yield Tables()
    finally:
        setattr(stream_processor, "dynamodb_client", dynamodb_client)  # noqa: B010
