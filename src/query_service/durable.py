"""Files that a process killed at any moment (even SIGKILL) leaves whole.

The stream tier's checkpoints and dead letters and the backfill's checkpoints and dead
letters are written only through these: a state file is replaced atomically, a dead letter
is one fsynced JSON line, and the lines the dead-letter replay has resolved leave the file
by replacing it atomically too. A line file is only touched under its lock (a sidecar
``.<name>.lock``, flock'd), so a line appended by the running stream tier while a replay
rewrites the file is never lost.
"""

from __future__ import annotations

import fcntl
import os
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson


def _replace(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with scratch.open("wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(scratch, path)


def write_atomically(path: Path, data: object) -> None:
    """``path`` holds ``data`` as JSON, or what it held before: never half of either."""
    _replace(path, orjson.dumps(data))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """``path``'s lines to this process alone, among those that lock it (released on exit,
    or by the kernel when the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(f".{path.name}.lock").open("ab") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield


def append_line(path: Path, data: object) -> None:
    """``data`` as one JSON line at the end of ``path``, on disk before this returns."""
    with _locked(path), path.open("ab") as stream:
        stream.write(orjson.dumps(data, default=str) + b"\n")
        stream.flush()
        os.fsync(stream.fileno())


def read_lines(path: Path) -> list[bytes]:
    """The lines of ``path`` (none if there is no file), blank ones left out."""
    with _locked(path):
        data = path.read_bytes() if path.is_file() else b""
    return [line for line in data.splitlines() if line.strip()]


def remove_lines(path: Path, lines: Collection[bytes]) -> int:
    """``path`` without ``lines`` (each as often as it is given), whatever was appended
    since they were read; returns how many left."""
    with _locked(path):
        if not path.is_file():
            return 0
        unwanted = Counter(lines)
        kept = []
        for line in path.read_bytes().splitlines():
            if unwanted[line] > 0:
                unwanted[line] -= 1
            else:
                kept.append(line + b"\n")
        removed = sum(Counter(lines).values()) - sum(unwanted.values())
        if removed:
            _replace(path, b"".join(kept))
        return removed
