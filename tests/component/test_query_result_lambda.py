"""The Query Result Lambda with API Gateway proxy events, against moto."""

from __future__ import annotations

import base64
import logging
from typing import Any
from unittest import mock

import orjson
import pytest
from botocore.exceptions import ClientError

from query_service.lambdas import query_result
from tests.component.conftest import Tables
from tests.support import FakeContext, apigw_event, command

T0 = 1_700_000_000_000


@pytest.fixture
def lam(tables: Tables) -> Tables:
    return tables


def call(path: str, body: object, headers: dict[str, str] | None = None) -> dict[str, Any]:
    raw = body if isinstance(body, str) else orjson.dumps(body).decode()
    event = apigw_event("POST", path, raw, resource="/query/{kind}", headers=headers)
    event["pathParameters"] = {"kind": path.rsplit("/", 1)[-1]}
    return query_result.lambda_handler(event, FakeContext())  # type: ignore[arg-type]


def body(response: dict[str, Any]) -> Any:
    return orjson.loads(response["body"])


def header(response: dict[str, Any], name: str) -> str:
    """Powertools answers in multiValueHeaders when the event had them, as API Gateway allows."""
    single = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    multi = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
    return single.get(name.lower()) or ",".join(multi.get(name.lower(), []))


def test_user_query_returns_items_and_a_working_cursor(lam: Tables) -> None:
    lam.put(*(command(transaction_id=f"tx_{i}", created_at=T0 + i) for i in range(3)))
    first = call("/query/user", {"user_id": "test_user_001", "limit": 2})
    assert first["statusCode"] == 200
    page = body(first)
    assert [i["transaction_id"] for i in page["items"]] == ["tx_2", "tx_1"]
    assert all("device_token" not in i and "payload" not in i for i in page["items"])
    second = body(
        call("/query/user", {"user_id": "test_user_001", "limit": 2, "cursor": page["next_cursor"]})
    )
    assert [i["transaction_id"] for i in second["items"]] == ["tx_0"]
    assert second["next_cursor"] is None


def test_fail_query_uses_the_sparse_index(lam: Tables) -> None:
    lam.put(command(status="FAILED", error_msg="Device token invalid"), command(user_id="u2"))
    items = body(call("/query/fail", {"transaction_id": "tx_001", "limit": 10}))["items"]
    assert [(i["user_id"], i["error_msg"]) for i in items] == [
        ("test_user_001", "Device token invalid")
    ]


def test_request_id_is_echoed(lam: Tables) -> None:
    response = call("/query/tx", {"transaction_id": "tx_001"}, {"X-Request-ID": "req-123"})
    assert header(response, "X-Request-ID") == "req-123"


def test_bad_input_is_a_400_problem(lam: Tables) -> None:
    response = call("/query/user", {"user_id": "bad id", "limit": 0})
    assert response["statusCode"] == 400
    assert header(response, "Content-Type") == "application/problem+json"
    assert {e["field"] for e in body(response)["errors"]} == {"user_id", "limit"}


def test_tampered_cursor_is_a_400(lam: Tables) -> None:
    lam.put(*(command(transaction_id=f"tx_{i}", created_at=T0 + i) for i in range(3)))
    cursor = body(call("/query/user", {"user_id": "test_user_001", "limit": 1}))["next_cursor"]
    forged = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    response = call("/query/user", {"user_id": "test_user_001", "cursor": forged})
    assert response["statusCode"] == 400
    other = call("/query/user", {"user_id": "test_user_002", "cursor": cursor})
    assert other["statusCode"] == 400


def test_unknown_query_kind_is_404(lam: Tables) -> None:
    assert call("/query/marketing", {"marketing_id": "m"})["statusCode"] == 404


def test_dynamodb_failure_is_a_500_without_internals(lam: Tables) -> None:
    lam.client.delete_table(TableName="notification-records")
    response = call("/query/user", {"user_id": "test_user_001"})
    assert response["statusCode"] == 500
    text = response["body"]
    assert "ResourceNotFound" not in text and "notification-records" not in text
    assert "Traceback" not in text
    assert body(response)["title"] == "Internal error"


def test_throttling_is_a_503_with_retry_after(lam: Tables) -> None:
    error = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "Query",
    )
    with mock.patch.object(query_result._repository(), "page", side_effect=error):
        response = call("/query/user", {"user_id": "test_user_001"})
    assert response["statusCode"] == 503
    assert header(response, "Retry-After") == "1"
    assert "slow down" not in response["body"]


def test_health(lam: Tables) -> None:
    event = apigw_event("GET", "/health")
    response = query_result.lambda_handler(event, FakeContext())  # type: ignore[arg-type]
    assert response["statusCode"] == 200
    assert body(response)["status"] == "healthy"


def test_a_base64_encoded_body_is_answered_as_the_plain_one(lam: Tables) -> None:
    """API Gateway base64-encodes a body whenever the API declares binary media types."""
    lam.put(command(), command(transaction_id="tx_002"))
    query = orjson.dumps({"user_id": "test_user_001", "limit": 1})
    plain = call("/query/user", query.decode())
    event = apigw_event(
        "POST", "/query/user", base64.b64encode(query).decode(), resource="/query/{kind}"
    )
    event["pathParameters"], event["isBase64Encoded"] = {"kind": "user"}, True
    encoded = query_result.lambda_handler(event, FakeContext())  # type: ignore[arg-type]
    assert encoded["statusCode"] == plain["statusCode"] == 200
    assert body(encoded) == body(plain) and len(body(plain)["items"]) == 1
    event["body"] = "not base64!"
    assert query_result.lambda_handler(event, FakeContext())["statusCode"] == 400  # type: ignore[arg-type]


def test_a_delivery_is_one_item_with_its_timeline_or_none(lam: Tables) -> None:
    lam.put(command(transaction_id="tx_002", status="FAILED", error_msg="Device token invalid"))
    found = body(call("/query/delivery", {"transaction_id": "tx_002", "user_id": "test_user_001"}))
    [item] = found["items"]
    assert item["events"] == [{"status": "FAILED", "at": T0, "error_msg": "Device token invalid"}]
    assert item["events_truncated"] is False and "sk" not in item
    assert found["next_cursor"] is None
    none = call("/query/delivery", {"transaction_id": "tx_002", "user_id": "nobody"})
    assert none["statusCode"] == 200 and body(none) == {"items": [], "next_cursor": None}


def test_a_cursor_from_a_differently_filtered_query_is_a_400(lam: Tables) -> None:
    lam.put(*(command(transaction_id=f"tx_{i}", created_at=T0 + i) for i in range(3)))
    first = body(call("/query/user", {"user_id": "test_user_001", "limit": 1}))
    assert first["next_cursor"]
    other = {"user_id": "test_user_001", "status": "DELIVERED", "cursor": first["next_cursor"]}
    response = call("/query/user", other)
    assert response["statusCode"] == 400
    assert body(response)["errors"][0]["field"] == "cursor"


def test_the_request_line_says_how_many_items_and_reads(
    lam: Tables, caplog: pytest.LogCaptureFixture
) -> None:
    lam.put(*(command(transaction_id=f"tx_{i}", created_at=T0 + i) for i in range(3)))
    with caplog.at_level(logging.INFO, logger="query_service.lambdas.query_result"):
        call("/query/user", {"user_id": "test_user_001", "limit": 2})
    [line] = [r for r in caplog.records if r.name == "query_service.lambdas.query_result"]
    assert line.getMessage() == "request"
    assert (line.status, line.items, line.reads) == (200, 2, 1)  # type: ignore[attr-defined]


def test_powertools_inspects_the_request_middleware_once(lam: Tables) -> None:
    """A middleware's signature is looked at for the first request, not for each."""
    from aws_lambda_powertools.event_handler import api_gateway

    real = api_gateway._find_request_param_name
    with mock.patch.object(api_gateway, "_find_request_param_name", side_effect=real) as seen:
        for _ in range(3):
            assert call("/query/user", {"user_id": "test_user_001"})["statusCode"] == 200
    assert seen.call_count <= 1
