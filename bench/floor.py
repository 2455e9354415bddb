"""The floor: the least an HTTP tier can do to forward a query, as a bare ASGI app.

Run by the benchmark as its own uvicorn process (uvloop, httptools), like the ECS handler:

    python -m bench.floor MODE --upstream URL --port PORT

MODE is ``aiohttp`` (one pooled session), ``httpx`` (one pooled ``httpx.AsyncClient``),
``naive`` (a new aiohttp session, so a new connection, per request: the migration
guide's sample client) or ``stub`` (no upstream: answers every query with a canned page
of ten records, a fast upstream that isolates the forwarding tier's own cost).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import orjson
import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Forward = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]

JSON = [(b"content-type", b"application/json")]
MODES = ("aiohttp", "httpx", "naive", "stub")


def stub_page(count: int = 10) -> bytes:
    """An internal API success body: what the Query Result Lambda returns for a user
    (its records' fields in ``Record.to_dict``'s order, ``updated_at`` included)."""
    items = [
        {
            "transaction_id": f"tx_stub_{i:03d}",
            "user_id": "test_user_001",
            "created_at": 1_760_000_000_000 - i * 60_000,
            "updated_at": 1_760_000_000_000 - i * 60_000 + 1_500,
            "status": "FAILED" if i % 5 == 0 else "DELIVERED",
            "platform": ("IOS", "ANDROID", "WEBPUSH")[i % 3],
            "notification_title": "Your order has shipped",
            "ap_id": "mobile-app-001",
            "marketing_id": None,
            "error_msg": "Device token invalid" if i % 5 == 0 else None,
        }
        for i in range(count)
    ]
    return orjson.dumps({"items": items, "next_cursor": None})


class FloorApp:
    def __init__(self, mode: str, upstream: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.upstream = upstream.rstrip("/")
        self._aiohttp: aiohttp.ClientSession | None = None
        self._httpx: httpx.AsyncClient | None = None
        self._stub = stub_page()

    async def _startup(self) -> None:
        if self.mode == "aiohttp":
            self._aiohttp = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        elif self.mode == "httpx":
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
            self._httpx = httpx.AsyncClient(limits=limits, timeout=30)

    async def _shutdown(self) -> None:
        if self._aiohttp is not None:
            await self._aiohttp.close()
        if self._httpx is not None:
            await self._httpx.aclose()

    async def forward(self, path: str, body: bytes) -> tuple[int, bytes]:
        url = self.upstream + path
        headers = {"Content-Type": "application/json"}
        if self.mode == "stub":
            return 200, self._stub
        if self.mode == "httpx":
            assert self._httpx is not None
            response = await self._httpx.post(url, content=body, headers=headers)
            return response.status_code, response.content
        if self.mode == "naive":
            async with (
                aiohttp.ClientSession() as session,
                session.post(url, data=body, headers=headers) as answer,
            ):
                return answer.status, await answer.read()
        assert self._aiohttp is not None
        async with self._aiohttp.post(url, data=body, headers=headers) as answer:
            return answer.status, await answer.read()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self._startup()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self._shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        if scope["path"] == "/health":
            status, payload = 200, b'{"status":"healthy"}'
        else:
            status, payload = await self.forward(scope["path"], b"".join(chunks))
        await send({"type": "http.response.start", "status": status, "headers": JSON})
        await send({"type": "http.response.body", "body": payload})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--upstream", default="")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        FloorApp(args.mode, args.upstream),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
