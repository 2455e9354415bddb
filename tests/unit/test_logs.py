"""The JSON log line: the request log's direct write is the line logging would write."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator

import orjson
import pytest

from query_service.logs import JsonFormatter, log_fields, new_request_id, request_id_var

FIELDS = {"method": "POST", "route": "/query/user", "status": 200, "latency_ms": 1.5}


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose records reach only a JSON handler on a stream (as in the image)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("ecs_handler", "query-service"))
    parent = logging.getLogger("test_logs")
    parent.handlers[:] = [handler]
    parent.propagate = False
    parent.setLevel(logging.INFO)
    yield logging.getLogger("test_logs.ecs"), stream
    parent.handlers[:] = []


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_the_direct_line_is_the_line_logging_writes(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logger
    token = request_id_var.set("req-1")
    try:
        log_fields(log, logging.INFO, "request", dict(FIELDS))
        log.info("request", extra=dict(FIELDS))
    finally:
        request_id_var.reset(token)
    direct, logged = lines(stream)
    assert direct.pop("timestamp") and logged.pop("timestamp")
    assert list(direct.items()) == list(logged.items())  # the same fields, in the same order
    assert direct["request_id"] == "req-1" and direct["tier"] == "ecs_handler"


def test_another_listener_gets_the_record_itself(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logger
    seen: list[logging.LogRecord] = []
    listener = logging.Handler()
    listener.emit = seen.append  # type: ignore[method-assign]
    log.addHandler(listener)
    try:
        log_fields(log, logging.INFO, "request", dict(FIELDS))
    finally:
        log.removeHandler(listener)
    assert [r.getMessage() for r in seen] == ["request"] and seen[0].status == 200
    assert lines(stream)[0]["status"] == 200


def test_a_level_below_the_logger_s_writes_nothing(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logger
    log_fields(log, logging.DEBUG, "request", dict(FIELDS))
    assert stream.getvalue() == ""


def test_a_fresh_request_id_is_a_random_uuid() -> None:
    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for value in ids:
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
