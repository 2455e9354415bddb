"""CPU and RSS of the processes under test, read from /proc (no psutil in the lock)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.stats import busy_and_total, cpu_percent, cpu_ticks, parent_pid, rss_kib

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def read_ticks(pid: int) -> int:
    return cpu_ticks(Path(f"/proc/{pid}/stat").read_text())


def read_rss_mib(pid: int) -> float:
    return round(rss_kib(Path(f"/proc/{pid}/status").read_text()) / 1024, 1)


def _waited_children_s() -> float:
    times = os.times()
    return times.children_user + times.children_system


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every CPU since boot, from /proc/stat."""
    return busy_and_total(Path("/proc/stat").read_text().splitlines()[0])


class Usage:
    """CPU over an interval and RSS at its end, for each named process; and the machine's.

    ``machine`` says where the cores went meanwhile: to the processes measured, to this
    process (the load generator) and the children it waited for, and to everything else on
    the machine (other work that shares it: on a shared machine, the first suspect of a
    slow run).
    """

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self._ticks: dict[str, int] = {}
        self._started = 0.0

    def __enter__(self) -> Usage:
        self._ticks = {name: read_ticks(pid) for name, pid in self.pids.items()}
        self._self_ticks = read_ticks(os.getpid())
        self._children_s = _waited_children_s()
        self._machine = machine_ticks()
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
        busy, total = machine_ticks()
        cores = os.cpu_count() or 1
        machine = 100 * cores * (busy - self._machine[0]) / max(1, total - self._machine[1])
        generator = cpu_percent(self._self_ticks, read_ticks(os.getpid()), self.wall_s, TICKS_PER_S)
        # Short-lived children of ours (the import probes) are ours too, not other work.
        generator += round(100 * (_waited_children_s() - self._children_s) / self.wall_s, 1)
        measured = sum(f["cpu_percent"] for f in self.figures.values())
        self.machine = {
            "cpu_percent": round(machine, 1),
            "load_generator_cpu_percent": generator,
            "other_cpu_percent": round(max(0.0, machine - measured - generator), 1),
            "cores": cores,
        }


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
