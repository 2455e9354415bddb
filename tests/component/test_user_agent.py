"""The clients' User-Agent header: the one botocore sends, built once per set of features."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.useragent import UserAgentString
from moto import mock_aws

from query_service.config import Settings
from query_service.storage.dynamo import _client_kwargs, dynamodb_client, dynamodb_streams_client

SETTINGS = Settings(aws_default_region="ap-southeast-1")


@pytest.fixture(autouse=True)
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _requests(client: Any, service: str) -> list[bytes]:
    """The User-Agent headers of a few requests, one of them through a paginator (a
    feature: "C" joins the header's features)."""
    sent: list[bytes] = []
    client.meta.events.register(
        "before-send", lambda request, **_: sent.append(request.headers["User-Agent"])
    )
    if service == "dynamodb":
        for _ in range(3):
            client.list_tables()
        for _ in client.get_paginator("list_tables").paginate():
            pass
    else:
        for _ in range(3):
            client.list_streams()
    return sent


@pytest.mark.parametrize(
    ("service", "make", "feature_sets"),
    [("dynamodb", dynamodb_client, 2), ("dynamodbstreams", dynamodb_streams_client, 1)],
)
def test_requests_carry_botocores_header_built_once_per_set_of_features(
    service: str,
    make: Callable[[Settings], Any],
    feature_sets: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[object] = []
    build = UserAgentString.to_string

    def counted(ua: UserAgentString) -> str:
        built.append(ua)
        return build(ua)

    monkeypatch.setattr(UserAgentString, "to_string", counted)
    plain = botocore.session.get_session().create_client(service, **_client_kwargs(SETTINGS, 5.0))
    expected = _requests(plain, service)
    assert len(built) >= 2 * len(expected)  # botocore alone: twice a request
    assert len(set(expected)) == feature_sets
    client = make(SETTINGS)
    built.clear()
    assert _requests(client, service) == expected
    assert len(built) == feature_sets
