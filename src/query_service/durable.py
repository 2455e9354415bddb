"""Files that a process killed at any moment (even SIGKILL) leaves whole.

The stream tier's checkpoints and dead letters and the backfill's checkpoints and dead
letters are written only through these two: a state file is replaced atomically, a dead
letter is one fsynced JSON line.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson


def write_atomically(path: Path, data: object) -> None:
    """``path`` holds ``data`` as JSON, or what it held before: never half of either."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with scratch.open("wb") as stream:
        stream.write(orjson.dumps(data))
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(scratch, path)


def append_line(path: Path, data: object) -> None:
    """``data`` as one JSON line at the end of ``path``, on disk before this returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as stream:
        stream.write(orjson.dumps(data, default=str) + b"\n")
        stream.flush()
        os.fsync(stream.fileno())
