"""Who is looking: the load balancer's signed OIDC identity (ARCHITECTURE §9).

With ``authenticate-oidc`` on its listener rule, the ALB signs in the person with the
company's provider and adds ``x-amzn-oidc-data`` to every request it forwards: a JWT whose
header carries ``alg`` (ES256), ``kid``, ``signer`` (the load balancer's ARN), ``iss``,
``client`` and ``exp``, and whose payload carries the provider's user claims. Two things set
it apart from a standard JWT, so a standard library refuses it: its segments are base64url
*with* padding, and the signature (JOSE ``r || s``, 64 bytes) is over the segments as sent,
padding included. The public key is a PEM at the region's endpoint
``https://public-keys.auth.elb.{region}.amazonaws.com/{kid}``; a key never changes under its
``kid``, so it is cached.

Only the signed header decides: a client that reaches the task directly can set the header,
but cannot sign it with the load balancer's key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

log = logging.getLogger(__name__)

OIDC_DATA_HEADER = "x-amzn-oidc-data"
LOCAL_DEVELOPER = "local-developer"
# The kid goes into a URL: only what a key id looks like (ALB's are UUIDs).
_KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_ALB_ARN_RE = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):\d{12}:loadbalancer/")
_MAX_TOKEN_CHARS = 8 * 1024
_KEY_CACHE_SIZE = 32

KeyFetcher = Callable[[str], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Identity:
    """The person behind a console request: ``who`` is what the audit log names."""

    who: str
    subject: str | None = None


class NotAuthenticated(Exception):
    """No verifiable identity; ``reason`` goes to the log, never to the page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeyUnavailable(Exception):
    """The public-key endpoint did not give a key: the identity cannot be checked now."""


def alb_region(arn: str) -> str:
    """The region of a load balancer ARN; ValueError if it is not one."""
    match = _ALB_ARN_RE.match(arn)
    if match is None:
        raise ValueError(f"not an Application Load Balancer ARN: {arn!r}")
    return match.group(1)


def _b64(segment: str) -> bytes:
    """base64url, with or without padding (ALB pads; RFC 7515 does not)."""
    stripped = segment.rstrip("=")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError) as exc:
        raise NotAuthenticated("a segment is not base64url") from exc


def _json_object(segment: str, what: str) -> dict[str, object]:
    try:
        value = orjson.loads(_b64(segment))
    except orjson.JSONDecodeError as exc:
        raise NotAuthenticated(f"{what} is not JSON") from exc
    if not isinstance(value, dict):
        raise NotAuthenticated(f"{what} is not a JSON object")
    return value


def fetch_key_from(url_template: str, region: str, timeout: float = 3.0) -> KeyFetcher:
    """A fetcher of PEM keys from ``url_template`` (``{region}``, ``{kid}``).

    Its own short-lived session per fetch: a fetch happens once per key id, a few times a
    day, not per request, so a pool would only hold idle connections.
    """

    async def fetch(kid: str) -> bytes:
        url = url_template.format(region=region, kid=kid)
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response,
            ):
                body = await response.read()
                if response.status in {403, 404}:
                    raise NotAuthenticated(f"no public key for kid {kid}")
                if response.status != 200:
                    raise KeyUnavailable(f"key endpoint answered {response.status}")
                return body
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KeyUnavailable(f"key endpoint unreachable: {type(exc).__name__}") from exc

    return fetch


class AlbIdentityVerifier:
    """Checks ``x-amzn-oidc-data``: signature (ES256, key by kid), signer, expiry."""

    def __init__(self, alb_arn: str, fetch_key: KeyFetcher, *, leeway_s: float = 0.0) -> None:
        self.alb_arn = alb_arn
        self.fetch_key = fetch_key
        self.leeway_s = leeway_s
        self._keys: OrderedDict[str, ec.EllipticCurvePublicKey] = OrderedDict()
        self._lock = asyncio.Lock()

    async def verify(self, token: str | None, now: float | None = None) -> Identity:
        if not token:
            raise NotAuthenticated(f"no {OIDC_DATA_HEADER} header")
        if len(token) > _MAX_TOKEN_CHARS:
            raise NotAuthenticated("token too long")
        parts = token.split(".")
        if len(parts) != 3:
            raise NotAuthenticated("not three segments")
        header = _json_object(parts[0], "header")
        if header.get("alg") != "ES256":
            raise NotAuthenticated(f"alg is {header.get('alg')!r}, not ES256")
        if header.get("signer") != self.alb_arn:
            raise NotAuthenticated("signed by another load balancer")
        exp = header.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise NotAuthenticated("no exp")
        if exp + self.leeway_s <= (time.time() if now is None else now):
            raise NotAuthenticated("expired")
        kid = header.get("kid")
        if not isinstance(kid, str) or not _KID_RE.match(kid):
            raise NotAuthenticated("no usable kid")
        signature = _b64(parts[2])
        if len(signature) != 64:
            raise NotAuthenticated("signature is not 64 bytes")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        key = await self._key(kid)
        try:
            key.verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise NotAuthenticated("bad signature") from None
        claims = _json_object(parts[1], "payload")
        subject = claims.get("sub")
        email = claims.get("email")
        who = email if isinstance(email, str) and email else subject
        if not isinstance(who, str) or not who:
            raise NotAuthenticated("no sub or email claim")
        return Identity(who=who, subject=subject if isinstance(subject, str) else None)

    async def _key(self, kid: str) -> ec.EllipticCurvePublicKey:
        if (key := self._keys.get(kid)) is not None:
            self._keys.move_to_end(kid)
            return key
        async with self._lock:  # one fetch per new kid, however many requests wait on it
            if (key := self._keys.get(kid)) is not None:
                return key
            pem = await self.fetch_key(kid)
            try:
                loaded = load_pem_public_key(pem)
            except ValueError as exc:
                raise KeyUnavailable("key endpoint answered no PEM key") from exc
            if not isinstance(loaded, ec.EllipticCurvePublicKey) or not isinstance(
                loaded.curve, ec.SECP256R1
            ):
                raise KeyUnavailable("key is not a P-256 public key")
            self._keys[kid] = loaded
            while len(self._keys) > _KEY_CACHE_SIZE:
                self._keys.popitem(last=False)
            log.info("console: ALB public key cached", extra={"kid": kid})
            return loaded
