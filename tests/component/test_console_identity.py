"""CONSOLE_AUTH=alb: the console believes only the load balancer's signed identity.

The tests make their own P-256 keys and sign tokens the way an ALB does (base64url with
padding, ES256 as JOSE r||s over the padded segments, metadata in the header), and serve
the public key from a real HTTP server standing in for the region's key endpoint.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fastapi.testclient import TestClient

from query_service.config import ConfigError, Settings
from query_service.ecs.app import create_app
from query_service.ecs.console.identity import alb_region
from tests.support import Reply, Seen, StubServer, record

ALB_ARN = (
    "arn:aws:elasticloadbalancing:ap-southeast-1:123456789012"
    ":loadbalancer/app/query-service/50dc6c495c0c9188"
)
OTHER_ARN = ALB_ARN.replace("50dc6c495c0c9188", "0000000000000000")
KID = "9a6a8e3c-1b8f-4a0e-9d2b-3f1c2b6f0a11"


def padded_b64(data: bytes) -> str:
    """base64url with its padding kept, as the ALB sends it."""
    return base64.urlsafe_b64encode(data).decode()


def alb_token(
    key: ec.EllipticCurvePrivateKey,
    *,
    signer: str = ALB_ARN,
    kid: str = KID,
    exp: float | None = None,
    claims: dict[str, Any] | None = None,
) -> str:
    header = {
        "typ": "JWT",
        "kid": kid,
        "alg": "ES256",
        "iss": "https://idp.example.com",
        "client": "console-client",
        "signer": signer,
        "exp": int(exp if exp is not None else time.time() + 120),
    }
    payload = claims or {"sub": "1234567890", "email": "jane.doe@example.com", "name": "Jane"}
    signing_input = (
        padded_b64(json.dumps(header).encode()) + "." + padded_b64(json.dumps(payload).encode())
    )
    der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return signing_input + "." + padded_b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def alb_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def other_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def key_server() -> Iterator[StubServer]:
    with StubServer().running() as stub:
        yield stub


@pytest.fixture(scope="module")
def upstream_server() -> Iterator[StubServer]:
    with StubServer().running() as stub:
        yield stub


@pytest.fixture
def key_endpoint(key_server: StubServer, alb_key: ec.EllipticCurvePrivateKey) -> StubServer:
    """The region's public-key endpoint: the PEM under /<kid>, 404 for any other kid."""

    def reply(seen: Seen) -> Reply:
        if seen.path == f"/ap-southeast-1/{KID}":
            return Reply(200, pem(alb_key), content_type="application/x-pem-file")
        return Reply(404, b"not found", content_type="text/plain")

    key_server.reply = reply
    key_server.seen.clear()
    return key_server


@pytest.fixture
def upstream(upstream_server: StubServer) -> StubServer:
    upstream_server.reply = lambda _: Reply(200, {"items": [record()], "next_cursor": None})
    upstream_server.seen.clear()
    return upstream_server


@pytest.fixture
def console(key_endpoint: StubServer, upstream: StubServer) -> Iterator[TestClient]:
    settings = Settings(
        internal_api_url=upstream.url,
        request_timeout=2,
        console_auth="alb",
        console_alb_arn=ALB_ARN,
        console_alb_key_url=key_endpoint.url + "/{region}/{kid}",
    )
    with TestClient(create_app(settings)) as client:
        yield client


def get(console: TestClient, token: str | None, path: str = "/console/users/test_user_001") -> Any:
    headers = {"x-amzn-oidc-data": token} if token is not None else {}
    return console.get(path, headers=headers)


def test_a_valid_identity_opens_the_console_and_names_the_person(
    console: TestClient, alb_key: ec.EllipticCurvePrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="query_service.console.audit"):
        response = get(console, alb_token(alb_key))
    assert response.status_code == 200
    assert "jane.doe@example.com" in response.text
    [line] = [r for r in caplog.records if r.name == "query_service.console.audit"]
    assert line.who == "jane.doe@example.com"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "expired",
        "wrong signer",
        "wrong key",
        "tampered claims",
        "unknown kid",
        "garbage",
    ],
)
def test_anything_but_a_valid_identity_is_401(
    case: str,
    console: TestClient,
    upstream: StubServer,
    alb_key: ec.EllipticCurvePrivateKey,
    other_key: ec.EllipticCurvePrivateKey,
) -> None:
    token: str | None
    if case == "missing":
        token = None
    elif case == "expired":
        token = alb_token(alb_key, exp=time.time() - 1)
    elif case == "wrong signer":
        token = alb_token(alb_key, signer=OTHER_ARN)
    elif case == "wrong key":
        token = alb_token(other_key)
    elif case == "tampered claims":
        header, _, signature = alb_token(alb_key).split(".")
        forged = padded_b64(json.dumps({"sub": "x", "email": "mallory@example.com"}).encode())
        token = f"{header}.{forged}.{signature}"
    elif case == "unknown kid":
        token = alb_token(alb_key, kid="0b4d1c0e-0000-0000-0000-000000000000")
    else:
        token = "not.a.token"
    response = get(console, token)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "Sign-in needed" in response.text
    assert "mallory" not in response.text
    assert upstream.seen == []  # nothing was looked up


def test_static_assets_need_the_identity_too(console: TestClient) -> None:
    assert get(console, None, "/console/static/console.css").status_code == 401


def test_the_key_is_fetched_once_per_kid_and_cached(
    console: TestClient, key_endpoint: StubServer, alb_key: ec.EllipticCurvePrivateKey
) -> None:
    for _ in range(3):
        assert get(console, alb_token(alb_key)).status_code == 200
    assert [s.path for s in key_endpoint.seen] == [f"/ap-southeast-1/{KID}"]


def test_a_key_endpoint_that_fails_is_503_not_a_way_in(
    console: TestClient, key_endpoint: StubServer, alb_key: ec.EllipticCurvePrivateKey
) -> None:
    key_endpoint.reply = lambda _: Reply(500, b"boom", content_type="text/plain")
    response = get(console, alb_token(alb_key))
    assert response.status_code == 503
    assert "cannot be checked" in response.text


def test_the_key_endpoint_is_the_albs_region() -> None:
    assert alb_region(ALB_ARN) == "ap-southeast-1"
    with pytest.raises(ValueError, match="not an Application Load Balancer ARN"):
        alb_region("arn:aws:s3:::bucket")


def test_alb_mode_needs_a_load_balancer_arn() -> None:
    with pytest.raises(ConfigError, match="CONSOLE_ALB_ARN"):
        create_app(Settings(console_auth="alb", console_alb_arn="not-an-arn"))


PRIVATE_API = "https://abc.execute-api.ap-southeast-1.amazonaws.com/v1"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"console_auth": "none"}, "CONSOLE_AUTH=none"),
        ({"console_auth": "alb"}, "CONSOLE_ALB_ARN must be set"),
    ],
)
def test_production_refuses_an_open_console(overrides: dict[str, Any], message: str) -> None:
    settings = Settings(environment="production", internal_api_url=PRIVATE_API, **overrides)
    with pytest.raises(ConfigError, match=message):
        settings.check_production("ecs_handler")


def test_production_accepts_the_alb_identity() -> None:
    Settings(
        environment="production",
        internal_api_url=PRIVATE_API,
        console_auth="alb",
        console_alb_arn=ALB_ARN,
    ).check_production("ecs_handler")
