"""SIGTERM during traffic: every request in flight completes, nothing new is accepted,
readiness turns false, the process exits cleanly and closes its pool."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from query_service.config import Settings
from query_service.ecs.app import create_app
from tests.support import Reply, StubServer, free_port, record

OK = {"items": [record()], "next_cursor": None}


@pytest.fixture
def slow_upstream() -> Iterator[StubServer]:
    with StubServer().running() as stub:
        stub.reply = lambda _: Reply(200, OK, delay=3.0)
        yield stub


def test_requests_in_flight_at_sigterm_all_complete(slow_upstream: StubServer) -> None:
    # The upstream holds every request until released, so "in flight" does not depend on
    # how fast a busy machine starts twelve threads.
    release = threading.Event()

    def held(_: object) -> Reply:
        release.wait(20)
        return Reply(200, OK)

    slow_upstream.reply = held
    port = free_port()
    env = {**os.environ, "INTERNAL_API_URL": slow_upstream.url, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "query_service.ecs.app:app", "--host", "127.0.0.1",
         "--port", str(port), "--timeout-graceful-shutdown", "25"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the handler did not start"
            time.sleep(0.05)

        def query(_: int) -> int:
            response = httpx.post(f"{base}/query/user", json={"user_id": "u"}, timeout=10)
            return response.status_code

        with ThreadPoolExecutor(12) as pool:
            in_flight = [pool.submit(query, i) for i in range(12)]
            deadline = time.monotonic() + 15
            while len(slow_upstream.seen) < 12 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(slow_upstream.seen) == 12, "the requests should be in flight now"
            process.send_signal(signal.SIGTERM)
            refused = False
            deadline = time.monotonic() + 5.0
            while not refused and time.monotonic() < deadline:
                try:
                    httpx.get(f"{base}/health", timeout=0.5)
                    time.sleep(0.05)
                except httpx.TransportError:
                    refused = True  # no new connections while draining
            assert refused
            assert not any(f.done() for f in in_flight)  # still in flight when refused
            release.set()
            statuses = [f.result(timeout=15) for f in in_flight]
        output, _ = process.communicate(timeout=30)
    finally:
        release.set()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert statuses == [200] * 12
    assert process.returncode in (0, -signal.SIGTERM)
    assert "SIGTERM: draining" in output
    assert "pool closed" in output


def test_readiness_turns_false_on_sigterm(slow_upstream: StubServer) -> None:
    """In the main thread, as under uvicorn; a stand-in takes uvicorn's handler's place."""
    slow_upstream.reply = lambda _: Reply(200, {"status": "healthy"})
    app = create_app(Settings(internal_api_url=slow_upstream.url))
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
