"""Pages from Jinja2 templates, every one under the same security headers.

Autoescaping is on for every template: a stored value (a notification title holding
markup or a script) is always rendered as the characters it is. No template holds an
inline script or style, so the Content-Security-Policy needs no ``'unsafe-inline'``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.responses import Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from query_service.logs import request_id_var

HERE = Path(__file__).parent

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
}
# Pages hold personal data: never kept by a shared cache or the browser's disk cache.
PAGE_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
NOT_A_PAGE = ("Page not found", "There is no console page at this address.")


def utc_text(ms: int) -> str:
    """A millisecond timestamp as the UTC text shown when no script localises it."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_utc(ms: int) -> str:
    """The ``datetime`` attribute of a <time>: ISO 8601 in UTC, to the millisecond."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


_MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


def load_assets(folder: Path = HERE / "static") -> dict[str, Asset]:
    """Every file the pages use, read once: served by the handler itself, no CDN."""
    assets = {}
    for path in sorted(folder.iterdir()):
        if path.suffix in _MEDIA_TYPES:
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            assets[path.name] = Asset(body, _MEDIA_TYPES[path.suffix], etag)
    return assets


class Pages:
    """The template environment and the one way a console response is made."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["utc_text"] = utc_text
        self.env.filters["iso_utc"] = iso_utc
        self.assets = load_assets()
        # Asset URLs carry their content hash, so a page never runs yesterday's script.
        self.env.globals["asset"] = lambda name: (
            f"/console/static/{name}?v={self.assets[name].etag.strip(chr(34))}"
        )

    def render(
        self, template: str, status: int = 200, *, who: str | None = None, **context: Any
    ) -> Response:
        """A page; every page shows who is signed in and its own request id (for a ticket)."""
        started = time.perf_counter()
        html = self.env.get_template(template).render(
            who=who, request_id=request_id_var.get(), **context
        )
        headers = {**PAGE_HEADERS, "Server-Timing": _server_timing(started)}
        return Response(html, status, headers, media_type="text/html; charset=utf-8")

    def redirect(self, url: str, status: int = 303) -> Response:
        return Response(status_code=status, headers={**PAGE_HEADERS, "Location": url})

    def asset(self, name: str, if_none_match: str | None) -> Response:
        asset = self.assets.get(name)
        if asset is None:
            title, line = NOT_A_PAGE
            return self.render("message.html", 404, title=title, lines=[line])
        headers = {
            **SECURITY_HEADERS,
            "ETag": asset.etag,
            "Cache-Control": "public, max-age=86400",
        }
        if if_none_match == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, 200, headers, media_type=asset.media_type)


def _server_timing(started: float) -> str:
    return f"render;dur={(time.perf_counter() - started) * 1000:.1f}"
