"""INTERNAL_API_AUTH=iam: calls to the private API carry a SigV4 signature that verifies.

The stub server receives the request over a real socket; the test then checks the signature
as API Gateway would: rebuild the canonical request from what arrived (only the headers the
signature names), sign it with the same secret, compare.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Iterator

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from fastapi.testclient import TestClient

from query_service.config import Settings
from query_service.domain.queries import UserQuery
from query_service.ecs.app import create_app
from query_service.ecs.internal_client import InternalApiClient
from query_service.ecs.signing import SigV4Signer
from tests.support import Reply, Seen, StubServer, record

CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-tok")
REGION = "ap-southeast-1"


def verifies(seen: Seen, base_url: str, secret: str = CREDENTIALS.secret_key) -> bool:
    authorization = seen.headers["authorization"]
    algorithm, _, fields = authorization.partition(" ")
    parts = dict(p.strip().split("=", 1) for p in fields.split(","))
    credential_scope = parts["Credential"].split("/", 1)[1]
    assert algorithm == "AWS4-HMAC-SHA256"
    assert credential_scope == f"{seen.headers['x-amz-date'][:8]}/{REGION}/execute-api/aws4_request"
    signed = parts["SignedHeaders"].split(";")
    assert "host" in signed and "x-amz-date" in signed
    headers = {name: seen.headers[name] for name in signed}
    request = AWSRequest(seen.method, base_url + seen.path, headers=headers, data=seen.body)
    request.context["timestamp"] = seen.headers["x-amz-date"]
    auth = SigV4Auth(Credentials(CREDENTIALS.access_key, secret), "execute-api", REGION)
    string_to_sign = auth.string_to_sign(request, auth.canonical_request(request))
    expected = auth.signature(string_to_sign, request)
    return hmac.compare_digest(expected, parts["Signature"])


@pytest.fixture
def upstream() -> Iterator[StubServer]:
    with StubServer().running() as stub:
        stub.reply = lambda _: Reply(200, {"items": [record()], "next_cursor": None})
        yield stub


def test_internal_calls_are_signed_and_the_signature_verifies(upstream: StubServer) -> None:
    async def call() -> None:
        client = InternalApiClient(
            upstream.url + "/v1", 2.0, signer=SigV4Signer(REGION, CREDENTIALS)
        )
        await client.start()
        try:
            await client.query(UserQuery(user_id="test_user_001"), "req-1")
            assert await client.ready()
        finally:
            await client.close()

    asyncio.run(call())
    query, health = upstream.seen
    assert query.path == "/v1/query/user"
    assert query.headers["x-amz-security-token"] == "session-tok"
    assert verifies(query, upstream.url)
    assert verifies(health, upstream.url)
    assert not verifies(query, upstream.url, secret="another-secret")


def test_a_changed_body_no_longer_verifies(upstream: StubServer) -> None:
    async def call() -> None:
        client = InternalApiClient(upstream.url, 2.0, signer=SigV4Signer(REGION, CREDENTIALS))
        await client.start()
        try:
            await client.query(UserQuery(user_id="test_user_001"), "req-1")
        finally:
            await client.close()

    asyncio.run(call())
    [seen] = upstream.seen
    tampered = Seen(seen.method, seen.path, seen.headers, seen.body.replace(b"001", b"002"))
    assert hashlib.sha256(tampered.body).hexdigest() != hashlib.sha256(seen.body).hexdigest()
    assert not verifies(tampered, upstream.url)


def test_without_auth_nothing_is_signed(upstream: StubServer) -> None:
    with TestClient(create_app(Settings(internal_api_url=upstream.url))) as api:
        assert api.post("/query/user", json={"user_id": "u"}).status_code == 200
    assert "authorization" not in upstream.seen[-1].headers


def test_iam_mode_signs_with_the_environments_credentials(
    upstream: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS.secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-tok")
    settings = Settings(internal_api_url=upstream.url, internal_api_auth="iam")
    with TestClient(create_app(settings)) as api:
        assert api.post("/query/user", json={"user_id": "u"}).status_code == 200
    assert verifies(upstream.seen[-1], upstream.url)


def test_iam_mode_without_credentials_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings = Settings(internal_api_url="http://127.0.0.1:9", internal_api_auth="iam")
    with (
        pytest.raises(RuntimeError, match="INTERNAL_API_AUTH=iam"),
        TestClient(create_app(settings)),
    ):
        pass
