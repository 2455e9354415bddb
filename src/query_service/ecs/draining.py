"""SIGTERM draining: readiness turns false while uvicorn finishes the requests in flight."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from starlette.datastructures import State

log = logging.getLogger("query_service.ecs")


def drain_on_sigterm(state: State) -> Callable[[], None]:
    """On SIGTERM, mark the app draining (readiness answers 503), then let uvicorn stop.

    uvicorn has installed its own handler by the time the lifespan starts: it stops
    accepting connections and waits for the requests in flight (up to
    --timeout-graceful-shutdown), then the lifespan closes the pool. This wraps it; the
    function returned puts uvicorn's handler back.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # only the main thread may install a signal handler
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        state.draining = True
        log.info("SIGTERM: draining, finishing the requests in flight")
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
