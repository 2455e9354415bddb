from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from query_service.domain.cursor import CursorCodec
from query_service.domain.errors import Problem

KEY = b"k" * 32
KEYS = st.dictionaries(
    st.sampled_from(["user_id", "sk", "transaction_id", "created_at", "failed_tx"]),
    st.one_of(st.text(min_size=1, max_size=40), st.integers(0, 10**13)),
    min_size=1,
)


@given(scope=st.text(max_size=60), last_key=KEYS)
def test_round_trip(scope: str, last_key: dict[str, str | int]) -> None:
    codec = CursorCodec([KEY])
    assert codec.decode(scope, codec.encode(scope, last_key)) == last_key


@given(last_key=KEYS, position=st.integers(0, 10_000), replacement=st.sampled_from("AbZ09-_"))
def test_any_edit_is_refused(
    last_key: dict[str, str | int], position: int, replacement: str
) -> None:
    codec = CursorCodec([KEY])
    token = codec.encode("user|user_id=u", last_key)
    i = position % len(token)
    if token[i] == replacement or token[i] == ".":
        return
    tampered = token[:i] + replacement + token[i + 1 :]
    try:
        decoded = codec.decode("user|user_id=u", tampered)
    except Problem as problem:
        assert problem.status == 400
        assert problem.errors[0].field == "cursor"
    else:
        # Base64 padding bits can change without changing the bytes: same cursor.
        assert decoded == last_key


def test_cursor_of_another_query_is_refused() -> None:
    codec = CursorCodec([KEY])
    token = codec.encode("user|user_id=alice", {"user_id": "alice", "sk": "1#t"})
    with pytest.raises(Problem):
        codec.decode("user|user_id=bob", token)


def test_cursor_signed_with_another_key_is_refused() -> None:
    token = CursorCodec([b"x" * 32]).encode("s", {"a": 1})
    with pytest.raises(Problem):
        CursorCodec([KEY]).decode("s", token)


def test_rotation_keeps_cursors_in_flight_valid() -> None:
    old, new = b"o" * 32, b"n" * 32
    token = CursorCodec([old]).encode("s", {"a": 1})
    rotated = CursorCodec([new, old])
    assert rotated.decode("s", token) == {"a": 1}
    assert CursorCodec([new]).decode("s", rotated.encode("s", {"a": 2})) == {"a": 2}


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.", ".abc", "a.b.c", "%%%.%%%"])
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(Problem):
        CursorCodec([KEY]).decode("s", token)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        CursorCodec([b"short"])
