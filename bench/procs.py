"""CPU and RSS of the processes under test, read from /proc (no psutil in the lock)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.stats import cpu_percent, cpu_ticks, rss_kib

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


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
