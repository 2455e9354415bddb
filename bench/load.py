"""An asyncio load generator: a fixed number of workers, each one request at a time.

Closed loop, as ``ab -c`` is: concurrency is the number of requests in flight. Every
worker shares one aiohttp session whose pool is as large as the concurrency, so the
client keeps its connections alive as ab -k and wrk do.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    elapsed_s: float = 0.0


async def _load(
    url: str,
    body: bytes,
    concurrency: int,
    requests: int | None,
    duration: float | None,
    timeout: float,
) -> LoadResult:
    result = LoadResult()
    issued = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    headers = {"Content-Type": "application/json"}
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        started = time.perf_counter()
        stop_at = started + duration if duration is not None else None

        async def worker() -> None:
            nonlocal issued
            while True:
                if requests is not None and issued >= requests:
                    return
                if stop_at is not None and time.perf_counter() >= stop_at:
                    return
                issued += 1
                sent = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    result.errors += 1
                    result.statuses[type(exc).__name__] += 1
                    continue
                result.statuses[str(status)] += 1
                if status == 200:
                    result.latencies_ms.append((time.perf_counter() - sent) * 1000)
                else:
                    result.errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed_s = time.perf_counter() - started
    return result


def run_load(
    url: str,
    body: bytes,
    concurrency: int,
    *,
    requests: int | None = None,
    duration: float | None = None,
    timeout: float = 30.0,
) -> LoadResult:
    """POST ``body`` to ``url`` ``requests`` times (or for ``duration`` seconds)."""
    if (requests is None) == (duration is None):
        raise ValueError("give requests or duration, not both")
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is locked on Linux
        return asyncio.run(_load(url, body, concurrency, requests, duration, timeout))
    return uvloop.run(_load(url, body, concurrency, requests, duration, timeout))


def warm_up(url: str, body: bytes, concurrency: int = 4, requests: int = 50) -> None:
    """A few requests so imports, pools and JIT-less caches are filled before measuring."""
    run_load(url, body, concurrency, requests=requests)
