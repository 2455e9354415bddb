"""The harness itself: a port taken between choosing it and binding it is retried."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import harness


def test_a_server_whose_port_was_taken_meanwhile_starts_again_on_another(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        held = taken.getsockname()[1]
        ports: Iterator[int] = iter([held, harness.free_port()])
        monkeypatch.setattr(harness, "free_port", lambda: next(ports))
        argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1"]
        with harness.http_server(
            lambda port: [*argv, str(port)], tmp_path / "log", health="/"
        ) as s:
            assert s.ports[0] != held
            assert "already in use" not in s.output()


def test_a_server_that_fails_for_another_reason_is_not_retried(tmp_path: Path) -> None:
    attempts = []

    def argv(port: int) -> list[str]:
        attempts.append(port)
        return [sys.executable, "-c", "raise SystemExit('no such thing')"]

    with pytest.raises(harness.HarnessError, match="no such thing"):
        harness.http_server(argv, tmp_path / "log")
    assert len(attempts) == 1
