"""CPU and RSS of the processes under test, and of the machine, from psutil."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import psutil

TIER_MARKERS = (
    ("dynamodb", ("DynamoDBLocal.jar", "moto.server")),
    ("stream", ("local stream",)),
    ("internal", ("gateway internal",)),
    ("ecs", ("query_service.ecs.app:app",)),
    ("public", ("gateway public",)),
)


def tier_of(command_line: str) -> str | None:
    """Which tier of ``query-service local up`` a child process's command line is."""
    for tier, markers in TIER_MARKERS:
        if any(marker in command_line for marker in markers):
            return tier
    return None


def cpu_seconds(process: psutil.Process) -> float:
    """User and system CPU time the process has used."""
    times = process.cpu_times()
    return times.user + times.system


def _waited_children_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.children_user + times.children_system


def read_rss_mib(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


def percent(cpu_s: float, wall_s: float) -> float:
    """CPU used over a wall interval, in percent of one core (200 % = both cores busy)."""
    return round(100 * cpu_s / wall_s, 1) if wall_s > 0 else 0.0


class Usage:
    """CPU over an interval and RSS at its end, for each named process; and the machine's.

    ``machine`` says where the cores went meanwhile: to the processes measured, to this
    process (the load generator) and the children it waited for, and to everything else on
    the machine (other work that shares it: on a shared machine, the first suspect of a
    slow run).
    """

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._me = psutil.Process()
        self._cpu: dict[str, float] = {}
        self._started = 0.0
        self.figures: dict[str, dict[str, Any]] = {}
        self.machine: dict[str, Any] = {}

    def __enter__(self) -> Usage:
        self._cpu = {name: cpu_seconds(p) for name, p in self.processes.items()}
        self._self_cpu = cpu_seconds(self._me)
        self._children_s = _waited_children_s(self._me)
        psutil.cpu_percent(interval=None)  # starts the machine's interval
        self._started = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall_s = time.perf_counter() - self._started
        cores = psutil.cpu_count() or os.cpu_count() or 1
        machine = psutil.cpu_percent(interval=None) * cores
        self.figures = {
            name: {
                "cpu_percent": percent(cpu_seconds(p) - self._cpu[name], self.wall_s),
                "rss_mib": round(p.memory_info().rss / 2**20, 1),
            }
            for name, p in self.processes.items()
        }
        # Short-lived children of ours (the import probes) are ours too, not other work.
        own_s = cpu_seconds(self._me) - self._self_cpu
        own_s += _waited_children_s(self._me) - self._children_s
        generator = percent(own_s, self.wall_s)
        measured = sum(f["cpu_percent"] for f in self.figures.values())
        self.machine = {
            "cpu_percent": round(machine, 1),
            "load_generator_cpu_percent": generator,
            "other_cpu_percent": round(max(0.0, machine - measured - generator), 1),
            "cores": cores,
        }


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    return sorted(child.pid for child in psutil.Process(pid).children())


def cmdline(pid: int) -> str:
    return " ".join(psutil.Process(pid).cmdline())
