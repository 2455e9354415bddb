"""SnapStart's before-snapshot hook: the Lambdas that talk to DynamoDB register one that makes
their client, which the first invocation then finds made; without the runtime's library,
or until the runtime calls the hook, nothing changes."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import pytest
from snapshot_restore_py import get_before_snapshot

from query_service.lambdas import query_result, snapstart, stream_processor


def hooks_of(*factories: Callable[[], object]) -> list[tuple[Any, tuple[Any, ...], Any]]:
    """The before-snapshot registrations that make ``factories``."""
    return [
        (func, args, kwargs)
        for func, args, kwargs in get_before_snapshot()
        if func is snapstart.make_now and set(factories) <= set(args)
    ]


def run_hooks(*factories: Callable[[], object]) -> None:
    """What the runtime does before it takes the snapshot, for these registrations."""
    found = hooks_of(*factories)
    assert found, "no before-snapshot hook makes these"
    for func, args, kwargs in found:
        func(*args, **kwargs)


def test_query_result_makes_its_client_and_repositories_before_the_snapshot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DYNAMODB_ENDPOINT_URL", "http://127.0.0.1:8001")
    assert len(hooks_of(query_result._repository, query_result._stats)) == 1
    assert query_result._client.cache_info().currsize == 0  # registering made nothing
    run_hooks(query_result._repository, query_result._stats)
    client = query_result._client()
    assert query_result._client.cache_info().hits >= 1  # the query finds it made
    assert client.meta.endpoint_url == "http://127.0.0.1:8001"
    assert query_result._repository.cache_info().currsize == 1
    assert query_result._stats.cache_info().currsize == 1
    assert query_result._codec.cache_info().currsize == 0  # no cursor key in the snapshot


def test_stream_processor_makes_its_client_before_the_snapshot() -> None:
    assert len(hooks_of(stream_processor._client)) == 1
    assert stream_processor._client.cache_info().currsize == 0
    run_hooks(stream_processor._client)
    assert stream_processor._client().meta.region_name == "ap-southeast-1"
    assert stream_processor._client.cache_info().hits >= 1


def test_a_client_the_settings_refuse_is_left_to_the_first_call(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DYNAMODB_ENDPOINT_URL", "http://127.0.0.1:8001")
    with caplog.at_level(logging.ERROR, logger=snapstart.__name__):
        run_hooks(stream_processor._client)  # does not raise: the snapshot is still taken
    assert [(r.getMessage(), r.factory, r.error) for r in caplog.records] == [  # type: ignore[attr-defined]
        ("not made before the snapshot", "_client", "ConfigError")
    ]
    assert stream_processor._client.cache_info().currsize == 0


def test_without_the_runtimes_library_nothing_is_registered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails, as locally
    before = len(get_before_snapshot())
    assert snapstart.make_before_snapshot(stream_processor._client) is False
    assert len(get_before_snapshot()) == before
