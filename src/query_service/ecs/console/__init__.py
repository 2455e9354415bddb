"""The support console (ARCHITECTURE §9): server-rendered pages under ``/console/``.

Jinja2 templates rendered by the handler, a stylesheet and one small script served by
the handler itself (no CDN, no build step). The script only improves pages that work
without it: local times, copy buttons, "more" without a reload. No htmx: the three
enhancements together are smaller than it, and need nothing a reviewer cannot read.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from query_service.config import Settings
from query_service.ecs.console.access import ConsoleDenied, identity_check
from query_service.ecs.console.render import Pages
from query_service.ecs.console.views import build_router

_DENIED = {
    401: (
        "Sign-in needed",
        [
            "The console could not verify who you are. Open it through the company "
            "sign-in (the internal load balancer's address), not the task's own address.",
            "If you came from there, your sign-in may have expired: reload the page.",
        ],
    ),
    503: (
        "Sign-in cannot be checked right now",
        ["The key that proves your sign-in could not be fetched. Try again in a minute."],
    ),
}


def mount(app: FastAPI, settings: Settings) -> None:
    """The one hook the ECS app calls: the console's routes and its 401 page."""
    pages = Pages()
    app.state.console_identity = identity_check(settings)
    app.include_router(build_router(pages))

    async def on_denied(_: Request, exc: Exception) -> Response:
        status = exc.status if isinstance(exc, ConsoleDenied) else 401
        title, lines = _DENIED[status]
        return pages.render("message.html", status, title=title, lines=lines)

    app.add_exception_handler(ConsoleDenied, on_denied)
