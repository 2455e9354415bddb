"""The local stack's child processes: started so they die with it, waited for, stopped.

One way to wait (``poll_until``) and one way to stop (``stop``), for every process the
stack starts and for the stack itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable

from query_service.ports import HOST


class Exited(RuntimeError):
    """The process a wait watched exited first."""

    def __init__(self, returncode: int) -> None:
        super().__init__(f"exited with code {returncode}")
        self.returncode = returncode


def die_with_parent() -> None:
    """A child's preexec: SIGTERM if its parent dies, so no tier outlives a killed stack."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def poll_until(
    condition: Callable[[], bool],
    timeout: float,
    *,
    interval: float = 0.1,
    process: subprocess.Popen[bytes] | None = None,
) -> bool:
    """Whether ``condition`` held within ``timeout`` seconds, asked every ``interval``.

    Raises Exited as soon as ``process`` (the one expected to make it true) exits.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise Exited(process.returncode)
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our URL
            return bool(response.status == 200)
    except OSError:
        return False


def stop(*processes: subprocess.Popen[bytes], timeout: float) -> list[int]:
    """SIGTERM to each, SIGKILL to any still running ``timeout`` seconds later; exit codes.

    A process that leads its own process group (started with ``start_new_session``) is
    signalled with its group, so what it started stops with it.
    """
    for process in processes:
        _signal(process, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(max(0.1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL)
            codes.append(process.wait())
    return codes


def _signal(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves bind: connections of a stack just stopped (TIME_WAIT)
        # do not make the port busy, only a listener does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
