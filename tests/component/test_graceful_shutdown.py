"""SIGTERM during traffic: every request in flight completes, nothing new is accepted,
readiness turns false, the process exits cleanly and closes its pool."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from query_service.config import Settings
from query_service.ecs.app import create_app
from query_service.local.processes import poll_until
from tests.harness import http_server
from tests.support import Reply, StubServer, record

OK = {"items": [record()], "next_cursor": None}


@pytest.fixture
def upstream() -> Iterator[StubServer]:
    with StubServer().running() as stub:
        yield stub


def test_requests_in_flight_at_sigterm_all_complete(upstream: StubServer, tmp_path: Path) -> None:
    # The upstream holds every request until released, so "in flight" does not depend on
    # how fast a busy machine starts twelve threads.
    release = threading.Event()
    upstream.reply = lambda _: Reply(200, OK, until=release)
    server = http_server(
        lambda port: [sys.executable, "-m", "uvicorn", "query_service.ecs.app:app",
                      "--host", "127.0.0.1", "--port", str(port),
                      "--timeout-graceful-shutdown", "25"],
        tmp_path / "ecs.log",
        env={"INTERNAL_API_URL": upstream.url},
    )  # fmt: skip
    process = server.process
    try:

        def query(_: int) -> int:
            response = httpx.post(f"{server.url}/query/user", json={"user_id": "u"}, timeout=10)
            return response.status_code

        with ThreadPoolExecutor(12) as pool:
            in_flight = [pool.submit(query, i) for i in range(12)]
            assert poll_until(lambda: len(upstream.seen) == 12, 15, interval=0.01), (
                "the requests should be in flight now"
            )
            process.send_signal(signal.SIGTERM)

            def refused() -> bool:
                try:
                    httpx.get(f"{server.url}/health", timeout=0.5)
                except httpx.TransportError:
                    return True  # no new connections while draining
                return False

            assert poll_until(refused, 5.0, interval=0.05)
            assert not any(f.done() for f in in_flight)  # still in flight when refused
            release.set()
            statuses = [f.result(timeout=15) for f in in_flight]
        process.wait(30)
    finally:
        release.set()
        server.stop()
    output = server.output()
    assert statuses == [200] * 12
    assert process.returncode in (0, -signal.SIGTERM)
    assert "SIGTERM: draining" in output
    assert "pool closed" in output


def test_readiness_turns_false_on_sigterm(upstream: StubServer) -> None:
    """In the main thread, as under uvicorn; a stand-in takes uvicorn's handler's place."""
    upstream.reply = lambda _: Reply(200, {"status": "healthy"})
    app = create_app(Settings(internal_api_url=upstream.url))
    handed_on: list[int] = []
    original = signal.signal(signal.SIGTERM, lambda signum, _: handed_on.append(signum))

    async def scenario() -> list[int]:
        statuses = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                statuses.append((await client.get("/health/ready")).status_code)
                os.kill(os.getpid(), signal.SIGTERM)
                await asyncio.sleep(0.05)
                statuses.append((await client.get("/health/ready")).status_code)
                statuses.append((await client.get("/health")).status_code)
        return statuses

    try:
        assert threading.current_thread() is threading.main_thread()
        statuses: Any = asyncio.run(scenario())
    finally:
        signal.signal(signal.SIGTERM, original)
    assert statuses == [200, 503, 200]  # ready, then draining; still alive
    assert handed_on == [signal.SIGTERM]  # uvicorn's own handler still runs
