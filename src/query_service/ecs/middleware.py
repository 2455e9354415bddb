"""The request context: the request id in and out, size limits, one log line per request."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from query_service.domain.errors import Problem
from query_service.domain.queries import check_request_size
from query_service.ecs.problems import problem_response
from query_service.logs import accept_request_id, log_fields, request_id_var

log = logging.getLogger("query_service.ecs")


class RequestContextMiddleware:
    """Request id in and out, and one access log line per request (pure ASGI: no copies)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        request_id = accept_request_id(given.decode("latin-1"))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        oversized: Problem | None = None
        try:
            check_request_size(
                len(scope.get("raw_path") or scope["path"]) + len(scope.get("query_string", b"")),
                sum(len(k) + len(v) + 4 for k, v in scope["headers"]),
            )
        except Problem as problem:
            oversized = problem

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
            if oversized is not None:
                await problem_response(oversized)(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            state = scope.get("state", {})
            log_fields(
                log,
                logging.INFO,
                "request",
                {
                    "method": scope["method"],
                    "route": scope["path"],
                    "status": status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                    "upstream_ms": state.get("upstream_ms"),
                },
            )
            request_id_var.reset(token)
