"""The Query Result Lambda's cursor keys from an SSM SecureString (moto): read once per
execution environment, rotation by the key list, a clear 503 when SSM cannot answer."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import boto3
import orjson
import pytest

from query_service.config import get_settings
from query_service.domain.cursor import CursorCodec
from query_service.domain.errors import Problem
from query_service.lambdas import query_result
from tests.component.conftest import Tables
from tests.support import FakeContext, apigw_event, command

PARAMETER = "/query-service/prod/cursor-secret"
OLD_KEY = "old-key-0123456789abcdef0123456789"
NEW_KEY = "new-key-0123456789abcdef0123456789"


@pytest.fixture
def lam(tables: Tables, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The Lambda configured with CURSOR_SECRET_PARAMETER, in a fresh execution environment."""
    ssm = boto3.client("ssm", region_name="ap-southeast-1")
    ssm.put_parameter(Name=PARAMETER, Value=OLD_KEY, Type="SecureString")
    monkeypatch.setenv("CURSOR_SECRET_PARAMETER", PARAMETER)
    for cached in (get_settings, query_result._codec, query_result._repository):
        cached.cache_clear()
    tables.put(
        *(command(transaction_id=f"tx_{i}", created_at=1_700_000_000_000 + i) for i in range(3))
    )
    yield ssm
    for cached in (get_settings, query_result._codec, query_result._repository):
        cached.cache_clear()


def page(cursor: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"user_id": "test_user_001", "limit": 1}
    if cursor:
        request["cursor"] = cursor
    event = apigw_event(
        "POST", "/query/user", orjson.dumps(request).decode(), resource="/query/{kind}"
    )
    event["pathParameters"] = {"kind": "user"}
    response = query_result.lambda_handler(event, FakeContext())  # type: ignore[arg-type]
    return {"status": response["statusCode"], **orjson.loads(response["body"])}


def signed_with(key: str, cursor: str) -> bool:
    """Whether a codec holding only ``key`` accepts the cursor (for the query it names)."""
    scope = orjson.loads(base64.urlsafe_b64decode(cursor.split(".")[0] + "=="))["s"]
    try:
        CursorCodec([key.encode()]).decode(scope, cursor)
    except Problem:
        return False
    return True


def test_cursors_are_signed_with_the_parameters_first_key(lam: Any) -> None:
    cursor = page()["next_cursor"]
    assert signed_with(OLD_KEY, cursor)
    assert page(cursor)["status"] == 200


def test_the_parameter_is_read_once_per_execution_environment(lam: Any) -> None:
    first = page()["next_cursor"]
    lam.put_parameter(Name=PARAMETER, Value=NEW_KEY, Type="SecureString", Overwrite=True)
    # The environment keeps the keys it read: still signs with the old one, no new read.
    assert signed_with(OLD_KEY, page()["next_cursor"])
    assert page(first)["status"] == 200


def test_rotation_without_downtime(lam: Any) -> None:
    """new,old: a fresh environment signs with the new key and still accepts old cursors."""
    old_cursor = page()["next_cursor"]
    lam.put_parameter(
        Name=PARAMETER, Value=f"{NEW_KEY},{OLD_KEY}", Type="SecureString", Overwrite=True
    )
    query_result._codec.cache_clear()  # what a new execution environment starts with
    assert page(old_cursor)["status"] == 200
    assert signed_with(NEW_KEY, page()["next_cursor"])


def test_unreadable_parameter_is_a_503_problem_and_is_retried(lam: Any) -> None:
    lam.delete_parameter(Name=PARAMETER)
    response = page()
    assert response["status"] == 503
    assert PARAMETER not in orjson.dumps(response).decode()
    lam.put_parameter(Name=PARAMETER, Value=OLD_KEY, Type="SecureString")
    assert page()["status"] == 200, "a failed read is not cached"
