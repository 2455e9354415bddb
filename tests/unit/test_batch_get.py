"""storage.dynamo.batch_get: chunks of BatchGetItem's limit, unprocessed keys asked again."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from query_service.storage.dynamo import BATCH_GET_SIZE, batch_get


class Table:
    """A BatchGetItem that leaves the last key of each request unprocessed ``stubborn`` times."""

    def __init__(self, stubborn: int) -> None:
        self.stubborn = stubborn
        self.requests: list[dict[str, Any]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        (request,) = RequestItems.values()
        self.requests.append(request)
        keys = request["Keys"]
        if self.stubborn and len(keys) > 0:
            self.stubborn -= 1
            return {"Responses": {"t": keys[:-1]}, "UnprocessedKeys": {"t": {"Keys": keys[-1:]}}}
        return {"Responses": {"t": keys}, "UnprocessedKeys": {}}


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("query_service.storage.dynamo.time.sleep", lambda _: None)


def test_every_key_once_in_chunks_of_the_limit_with_the_options() -> None:
    table = Table(stubborn=0)
    keys = [{"pk": {"S": str(i)}} for i in range(BATCH_GET_SIZE * 2 + 5)]
    got = list(batch_get(table, "t", keys, ConsistentRead=True))  # type: ignore[arg-type]
    assert got == keys
    assert [len(r["Keys"]) for r in table.requests] == [BATCH_GET_SIZE, BATCH_GET_SIZE, 5]
    assert all(r["ConsistentRead"] is True for r in table.requests)


def test_unprocessed_keys_are_asked_again() -> None:
    table = Table(stubborn=2)
    keys = [{"pk": {"S": str(i)}} for i in range(3)]
    assert sorted(k["pk"]["S"] for k in batch_get(table, "t", keys)) == ["0", "1", "2"]  # type: ignore[arg-type]
    assert [len(r["Keys"]) for r in table.requests] == [3, 1, 1]


def test_keys_never_processed_raise_as_throttling_does() -> None:
    table = Table(stubborn=100)
    with pytest.raises(ClientError) as raised:
        list(batch_get(table, "t", [{"pk": {"S": "x"}}]))  # type: ignore[arg-type]
    assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
