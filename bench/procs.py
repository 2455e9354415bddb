"""CPU and RSS of the processes under test, read from /proc (no psutil in the lock)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.stats import cpu_percent, cpu_ticks, parent_pid, rss_kib

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def die_with_parent() -> None:
    """A child's preexec: SIGTERM when the benchmark dies, so no server outlives it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def read_ticks(pid: int) -> int:
    return cpu_ticks(Path(f"/proc/{pid}/stat").read_text())


def read_rss_mib(pid: int) -> float:
    return round(rss_kib(Path(f"/proc/{pid}/status").read_text()) / 1024, 1)


class Usage:
    """CPU over an interval and RSS at its end, for each named process."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self._ticks: dict[str, int] = {}
        self._started = 0.0

    def __enter__(self) -> Usage:
        self._ticks = {name: read_ticks(pid) for name, pid in self.pids.items()}
        self._started = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall_s = time.perf_counter() - self._started
        self.figures: dict[str, dict[str, Any]] = {
            name: {
                "cpu_percent": cpu_percent(
                    self._ticks[name], read_ticks(pid), self.wall_s, TICKS_PER_S
                ),
                "rss_mib": read_rss_mib(pid),
            }
            for name, pid in self.pids.items()
        }


def stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, and SIGKILL if it has not exited within ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        if parent_pid(text) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
