"""The DynamoDB clients' response parser answers what botocore's own does, for every kind
of attribute value, binary ones and errors included."""

from __future__ import annotations

from typing import Any

import botocore.session
import orjson
import pytest
from botocore.parsers import JSONParser, ResponseParserFactory

from query_service.storage.dynamo import _DynamoDBParsers

MODEL = botocore.session.get_session().get_service_model("dynamodb")


def _shape(operation: str) -> Any:
    return MODEL.operation_model(operation).output_shape


EVERY_KIND = {
    "user_id": {"S": "u-1"},
    "sk": {"S": "1764547200000#n-1"},
    "created_at": {"N": "1764547200000"},
    "price": {"N": "12.50"},
    "read": {"BOOL": False},
    "ap_id": {"NULL": True},
    "tags": {"SS": ["a", "b"]},
    "counts": {"NS": ["1", "2.5"]},
    "timeline": {
        "L": [
            {"M": {"status": {"S": "SENT"}, "at": {"N": "1"}}},
            {"L": [{"S": "nested"}, {"BOOL": True}]},
        ]
    },
    "text": {"S": 'quotes " and \\ and ünïcode'},
}
BINARY = {"user_id": {"S": "u-2"}, "blob": {"B": "aGVsbG8="}, "m": {"M": {"bs": {"BS": ["AQI="]}}}}


def _response(body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return {
        "status_code": status,
        "headers": {"x-amzn-requestid": "REQ", "x-amz-crc32": "0"},
        "body": orjson.dumps(body),
    }


CASES = [
    (
        "Query",
        {
            "Items": [EVERY_KIND, {"user_id": {"S": "u-3"}}],
            "Count": 2,
            "ScannedCount": 5,
            "LastEvaluatedKey": {"user_id": {"S": "u-3"}, "sk": {"S": "k"}},
            "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5},
        },
    ),
    ("Query", {"Items": [EVERY_KIND, BINARY], "Count": 2, "ScannedCount": 2}),
    ("Query", {"Items": [], "Count": 0, "ScannedCount": 0}),
    ("GetItem", {"Item": EVERY_KIND}),
    ("GetItem", {}),
    (
        "BatchGetItem",
        {
            "Responses": {"t": [EVERY_KIND, BINARY]},
            "UnprocessedKeys": {"t": {"Keys": [{"user_id": {"S": "u-9"}}]}},
        },
    ),
    ("BatchGetItem", {"Responses": {"t": [EVERY_KIND]}, "UnprocessedKeys": {}}),
]


@pytest.mark.parametrize(("operation", "body"), CASES)
def test_parsed_as_botocore_parses_it(operation: str, body: dict[str, Any]) -> None:
    shape = _shape(operation)
    ours = _DynamoDBParsers().create_parser("json").parse(_response(body), shape)
    theirs = ResponseParserFactory().create_parser("json").parse(_response(body), shape)
    assert ours == theirs


def test_binary_values_are_bytes() -> None:
    shape = _shape("Query")
    body = {"Items": [BINARY], "Count": 1, "ScannedCount": 1}
    parsed = _DynamoDBParsers().create_parser("json").parse(_response(body), shape)
    [item] = parsed["Items"]
    assert item["blob"] == {"B": b"hello"}
    assert item["m"] == {"M": {"bs": {"BS": [b"\x01\x02"]}}}


def test_an_error_is_parsed_as_botocore_parses_it() -> None:
    shape = _shape("Query")
    body = {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "slow down",
    }
    ours = _DynamoDBParsers().create_parser("json").parse(_response(body, 400), shape)
    theirs = ResponseParserFactory().create_parser("json").parse(_response(body, 400), shape)
    assert ours == theirs
    assert ours["Error"]["Code"] == "ProvisionedThroughputExceededException"


def test_a_response_parsed_while_another_is_keeps_its_binary_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One client, so one parser, serves the Stream Processor's writer threads at once: a
    # plain response parsed while a binary one is (here, at its first blob) must not make
    # the binary one's later values be left as sent (base64 text instead of bytes).
    parser = _DynamoDBParsers().create_parser("json")
    shape = _shape("Query")
    binary = {"Items": [BINARY, {**BINARY, "user_id": {"S": "u-4"}}], "Count": 2}
    plain = {"Items": [EVERY_KIND], "Count": 1}
    blob = JSONParser._handle_blob  # type: ignore[attr-defined]
    meanwhile: list[Any] = []

    def handle_blob(self: JSONParser, blob_shape: Any, value: str) -> bytes:
        if not meanwhile:
            meanwhile.append(parser.parse(_response(plain), shape))
        return blob(self, blob_shape, value)  # type: ignore[no-any-return]

    monkeypatch.setattr(JSONParser, "_handle_blob", handle_blob)
    parsed = parser.parse(_response(binary), shape)
    assert meanwhile[0]["Items"] == [EVERY_KIND]
    assert [item["blob"] for item in parsed["Items"]] == [{"B": b"hello"}, {"B": b"hello"}]
