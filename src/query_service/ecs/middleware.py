"""The request context: the request id in and out, size limits, one log line per request.

The query paths (``query_path``) and everything FastAPI serves (``RequestContextMiddleware``)
share it: the headers read in one pass (``Incoming``), the same line logged at the end
(``log_request``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from query_service.deadlines import DEADLINE_HEADER
from query_service.domain.errors import Problem
from query_service.domain.queries import check_request_size
from query_service.ecs.problems import problem_response
from query_service.logs import accept_request_id, log_fields, request_id_var

log = logging.getLogger("query_service.ecs")
DEADLINE_KEY = DEADLINE_HEADER.lower().encode()


@dataclass(slots=True)
class Incoming:
    """What the request context reads of a request's headers (the first of each kind)."""

    request_id: str
    deadline: str | None  # the caller's X-Request-Deadline-Ms, as given
    content_length: bytes | None
    oversized: Problem | None  # the URL or the header block is larger than a query needs

    @classmethod
    def read(cls, scope: Scope) -> Incoming:
        given = deadline = length = None
        size = 0
        for name, value in scope["headers"]:
            size += len(name) + len(value) + 4
            if name == b"x-request-id":
                given = value if given is None else given
            elif name == DEADLINE_KEY:
                deadline = value if deadline is None else deadline
            elif name == b"content-length":
                length = value if length is None else length
        oversized = None
        try:
            url_chars = len(scope.get("raw_path") or scope["path"])
            check_request_size(url_chars + len(scope.get("query_string", b"")), size)
        except Problem as problem:
            oversized = problem
        return cls(
            accept_request_id(given.decode("latin-1") if given else ""),
            deadline.decode("latin-1") if deadline is not None else None,
            length,
            oversized,
        )


def log_request(
    scope: Scope, status: int, started: float, upstream_ms: float | None = None
) -> None:
    """The request's one log line (the request id is the context's)."""
    log_fields(
        log,
        logging.INFO,
        "request",
        {
            "method": scope["method"],
            "route": scope["path"],
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "upstream_ms": upstream_ms,
        },
    )


class RequestContextMiddleware:
    """Request id in and out, and one access log line per request (pure ASGI: no copies)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = Incoming.read(scope)
        request_id = incoming.request_id
        token = request_id_var.set(request_id)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            if incoming.oversized is not None:
                await problem_response(incoming.oversized)(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            log_request(scope, status, started)
            request_id_var.reset(token)
