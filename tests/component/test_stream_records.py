"""GetRecords' records handed over as DynamoDB sends them (storage/dynamo.py's streams
client), beside a plain botocore client's: the clients answer canned HTTP responses in
DynamoDB Streams' wire format (botocore's ``before-send`` returns them), so botocore's own
parsing runs, without a server."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import botocore.session
import orjson
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError

from query_service.config import Settings
from query_service.local.stream_events import lambda_record
from query_service.storage.dynamo import _client_kwargs, dynamodb_streams_client

ARN = "arn:aws:dynamodb:ddblocal:000000000000:table/commands/stream/2026-12-01T00:00:00.000"
IMAGE = {
    "user_id": {"S": "u1"},
    "created_at": {"N": "1700000000000"},
    "events": {"L": [{"M": {"status": {"S": "SENT"}, "ok": {"BOOL": True}}}]},
    "error_msg": {"NULL": True},
    "token": {"B": base64.b64encode(b"\x00secret").decode()},
    "tags": {"SS": ["a"]},
}
RECORD = {
    "eventID": "e1",
    "eventName": "MODIFY",
    "eventVersion": "1.1",
    "eventSource": "aws:dynamodb",
    "awsRegion": "ddblocal",
    "dynamodb": {
        "ApproximateCreationDateTime": 1.7646e9,
        "Keys": {"user_id": {"S": "u1"}},
        "NewImage": IMAGE,
        "OldImage": IMAGE | {"created_at": {"N": "1.5"}},
        "SequenceNumber": "000000000000000000042",
        "SizeBytes": 120,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    },
}


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _client(status: int, body: dict[str, Any], *, as_sent: bool) -> Any:
    settings = Settings(dynamodb_endpoint_url="http://127.0.0.1:9")
    if as_sent:
        streams = dynamodb_streams_client(settings)
    else:  # botocore's own parser, walking every attribute value's shape
        kwargs = _client_kwargs(settings, 5.0)
        streams = botocore.session.get_session().create_client("dynamodbstreams", **kwargs)
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/x-amz-json-1.0"
    answer: Any = AWSResponse("http://127.0.0.1:9", status, headers, _Body(orjson.dumps(body)))
    streams.meta.events.register("before-send", lambda **_: answer)
    return streams


def test_records_come_as_dynamodb_sent_them_and_the_rest_as_botocore_parses_it() -> None:
    body = {"Records": [RECORD], "NextShardIterator": "next-1"}
    sent = _client(200, body, as_sent=True).get_records(ShardIterator="it-1")
    parsed = _client(200, body, as_sent=False).get_records(ShardIterator="it-1")
    assert sent["Records"] == [RECORD]  # binary base64-encoded, as Lambda's event has it
    assert parsed["Records"][0]["dynamodb"]["NewImage"]["token"] == {"B": b"\x00secret"}
    assert sent["NextShardIterator"] == parsed["NextShardIterator"] == "next-1"
    assert sent["ResponseMetadata"]["HTTPStatusCode"] == 200
    got, want = lambda_record(sent["Records"][0], ARN), lambda_record(parsed["Records"][0], ARN)
    assert got["dynamodb"]["ApproximateCreationDateTime"] == 1_764_600_000
    assert want["dynamodb"]["ApproximateCreationDateTime"] == 1_764_600_000
    for part in ("Keys", "SequenceNumber"):
        assert got["dynamodb"][part] == want["dynamodb"][part]


def test_an_end_of_shard_and_an_error_are_still_botocores() -> None:
    closed = _client(200, {"Records": []}, as_sent=True).get_records(ShardIterator="it-1")
    assert closed["Records"] == [] and "NextShardIterator" not in closed
    expired = {
        "__type": "com.amazonaws.dynamodb.v20120810#ExpiredIteratorException",
        "message": "Iterator expired",
    }
    with pytest.raises(ClientError) as raised:
        _client(400, expired, as_sent=True).get_records(ShardIterator="it-1")
    assert raised.value.response["Error"]["Code"] == "ExpiredIteratorException"
