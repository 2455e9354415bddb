"""The opaque paging cursor.

It carries DynamoDB's LastEvaluatedKey to the client and back. It is signed (HMAC-SHA256)
and bound to the query it came from, so a cursor that was edited, truncated, or taken from
another user's query is refused with a 400 instead of reading someone else's partition or
reaching DynamoDB as a malformed key. Several keys may be configured: the first signs, any
verifies, which is how the key is rotated without breaking cursors in flight.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

import orjson

from query_service.domain.errors import FieldError, Problem, invalid

KeyValue = str | int
LastKey = dict[str, KeyValue]
_VERSION = 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _refused() -> Problem:
    return invalid(
        [FieldError("cursor", "is not a cursor this service issued for this query")],
        detail="The cursor is not valid for this query: start again without it.",
    )


class CursorCodec:
    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys or any(len(k) < 16 for k in keys):
            raise ValueError("cursor keys must be at least 16 bytes each")
        self._keys = tuple(keys)

    def _sign(self, key: bytes, payload: bytes) -> bytes:
        return hmac.new(key, payload, hashlib.sha256).digest()

    def encode(self, scope: str, last_key: LastKey) -> str:
        payload = orjson.dumps({"v": _VERSION, "s": scope, "k": last_key})
        return f"{_b64(payload)}.{_b64(self._sign(self._keys[0], payload))}"

    def decode(self, scope: str, token: str) -> LastKey:
        """The LastEvaluatedKey inside ``token``; a 400 Problem if it is not genuine."""
        body, _, signature = token.partition(".")
        try:
            payload, given = _unb64(body), _unb64(signature)
        except (ValueError, UnicodeEncodeError):
            raise _refused() from None
        if not any(hmac.compare_digest(self._sign(k, payload), given) for k in self._keys):
            raise _refused()
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise _refused() from None
        if not isinstance(data, dict) or data.get("v") != _VERSION or data.get("s") != scope:
            raise _refused()
        key = data.get("k")
        if (
            not isinstance(key, dict)
            or not key
            or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in key.values())
        ):
            raise _refused()
        return key
