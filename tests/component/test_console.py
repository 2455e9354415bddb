"""The console's pages against a real HTTP server standing in for the internal API.

What a support person would notice: which page a search lands on, what the page says
for each problem the API returns, that stored markup is shown as text, that every
response carries the security headers, and that each lookup is audited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from query_service.config import Settings
from query_service.ecs.app import create_app
from tests.support import Reply, Seen, StubServer, record

XSS_TITLE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def upstream_server() -> Iterator[StubServer]:
    with StubServer().running() as stub:
        yield stub


@pytest.fixture
def upstream(upstream_server: StubServer) -> StubServer:
    upstream_server.reply = lambda _: Reply(200, {"items": [], "next_cursor": None})
    upstream_server.seen.clear()
    return upstream_server


@pytest.fixture(scope="module")
def console(upstream_server: StubServer) -> Iterator[TestClient]:
    app = create_app(Settings(internal_api_url=upstream_server.url, request_timeout=1))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def answer(by_path: dict[str, list[dict[str, Any]]], cursor: str | None = None) -> Any:
    """Upstream replies by query path: records for the paths named, none for the others."""

    def reply(seen: Seen) -> Reply:
        return Reply(200, {"items": by_path.get(seen.path, []), "next_cursor": cursor})

    return reply


def bodies(upstream: StubServer, path: str) -> list[dict[str, Any]]:
    return [orjson.loads(s.body) for s in upstream.seen if s.path == path]


def assert_console_headers(response: Any) -> None:
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_search_that_finds_a_user_goes_to_their_deliveries(
    console: TestClient, upstream: StubServer
) -> None:
    upstream.reply = answer({"/query/user": [record()]})
    response = console.get("/console/search", params={"q": "test_user_001"})
    assert response.status_code == 303
    assert response.headers["location"] == "/console/users/test_user_001?via=search"
    page = console.get(response.headers["location"])
    assert "Found <strong>test_user_001</strong> as a user id" in page.text


def test_a_search_that_finds_a_transaction_goes_to_it(
    console: TestClient, upstream: StubServer
) -> None:
    upstream.reply = answer({"/query/tx": [record(transaction_id="tx_002")]})
    response = console.get("/console/search", params={"q": "tx_002"})
    assert response.headers["location"] == "/console/transactions/tx_002?via=search"


def test_a_search_that_finds_both_says_so(console: TestClient, upstream: StubServer) -> None:
    upstream.reply = answer({"/query/user": [record()], "/query/tx": [record()]})
    response = console.get("/console/search", params={"q": "same_id"})
    assert response.status_code == 200
    assert "a user id" in response.text and "a transaction id" in response.text


def test_a_search_that_finds_nothing_says_so(console: TestClient, upstream: StubServer) -> None:
    response = console.get("/console/search", params={"q": "nobody_here"})
    assert response.status_code == 404
    assert "Nothing found for nobody_here" in response.text


@pytest.mark.parametrize("q", ["", "has space", "x" * 129, "<script>"])
def test_a_search_for_what_is_not_an_id_asks_again(
    console: TestClient, upstream: StubServer, q: str
) -> None:
    response = console.get("/console/search", params={"q": q})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.text
    assert "<script>" not in response.text
    assert upstream.seen == []  # refused by the same rules as the API, before any call


def test_stored_markup_is_shown_as_text(console: TestClient, upstream: StubServer) -> None:
    upstream.reply = answer({"/query/user": [record(notification_title=XSS_TITLE)]})
    response = console.get("/console/users/test_user_001")
    assert response.status_code == 200
    assert XSS_TITLE not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text


def test_the_deliveries_page_shows_status_reason_app_and_a_utc_time(
    console: TestClient, upstream: StubServer
) -> None:
    failed = record(
        transaction_id="tx_002",
        status="FAILED",
        error_msg="Device token invalid",
        ap_id="mobile-app-002",
        created_at=1_795_611_170_575,
    )
    upstream.reply = answer({"/query/user": [failed]})
    text = console.get("/console/users/test_user_001").text
    assert '<span class="status status--failed">' in text and "Failed</span>" in text
    assert "Device token invalid" in text and "mobile-app-002" in text
    assert 'datetime="2026-11-25T12:52:50.575Z"' in text
    assert 'title="2026-11-25 12:52:50 UTC"' in text
    assert 'href="/console/deliveries/tx_002/test_user_001"' in text


def test_the_next_page_link_carries_the_cursor_and_the_filters(
    console: TestClient, upstream: StubServer
) -> None:
    upstream.reply = answer({"/query/user": [record()]}, cursor="abc.def")
    text = console.get("/console/users/test_user_001", params={"window": "7d"}).text
    assert 'href="/console/users/test_user_001?window=7d&amp;cursor=abc.def"' in text
    console.get("/console/users/test_user_001", params={"window": "7d", "cursor": "abc.def"})
    first, second = bodies(upstream, "/query/user")
    assert first["limit"] == 25 and "cursor" not in first
    assert second["cursor"] == "abc.def"
    week_ago = int(time.time() * 1000) - 7 * 24 * 3_600_000
    assert abs(first["since"] - week_ago) < 60_000 and "until" not in first


def test_the_window_all_sends_no_time_bound(console: TestClient, upstream: StubServer) -> None:
    console.get("/console/users/test_user_001")
    [body] = bodies(upstream, "/query/user")
    assert "since" not in body and "until" not in body


def test_an_empty_list_says_what_was_empty(console: TestClient, upstream: StubServer) -> None:
    text = console.get("/console/users/u_without_records").text
    assert "No deliveries to this user" in text
    text = console.get("/console/users/u_without_records", params={"window": "1h"}).text
    assert "No deliveries match these filters" in text


def test_a_bad_id_in_the_address_gets_the_apis_words(console: TestClient) -> None:
    response = console.get("/console/users/bad%20id")
    assert response.status_code == 400
    assert "User id: must be 1-128 characters of letters, digits and _ . : @ -." in response.text


def test_a_cursor_the_service_refuses_asks_to_start_again(
    console: TestClient, upstream: StubServer
) -> None:
    problem = {
        "type": "/problems/invalid-request",
        "title": "Invalid request",
        "status": 400,
        "detail": "The request is not valid: check cursor.",
        "errors": [{"field": "cursor", "message": "is not a cursor this service issued"}],
    }
    upstream.reply = lambda _: Reply(400, problem, content_type="application/problem+json")
    response = console.get("/console/users/test_user_001", params={"cursor": "abc.def"})
    assert response.status_code == 400
    assert "This page link no longer works" in response.text
    assert "Page link: is not a cursor this service issued." in response.text


@pytest.mark.parametrize(("status", "shown"), [(500, 502), (404, 502)])
def test_an_upstream_failure_is_a_page_with_the_request_id(
    console: TestClient, upstream: StubServer, status: int, shown: int
) -> None:
    upstream.reply = lambda _: Reply(status, b"<html>boom</html>", content_type="text/html")
    response = console.get("/console/transactions/tx_002", headers={"X-Request-ID": "req-42"})
    assert response.status_code == shown
    assert "The record service could not answer" in response.text
    assert '<code id="request-id">req-42</code>' in response.text
    for leak in ("boom", "127.0.0.1", "Traceback", "aiohttp"):
        assert leak not in response.text
    assert_console_headers(response)


FUNNEL = {
    "transaction_id": "tx_002",
    "total": 3,
    "by_status": {"SENT": 0, "DELIVERED": 1, "FAILED": 2},
    "by_platform": {"IOS": 2, "ANDROID": 1, "WEBPUSH": 0},
    "top_errors": [{"error_msg": "Device token invalid", "count": 2}],
    "as_of": 1_796_115_536_813,
}


def test_a_transaction_page_shows_its_funnel_beside_its_deliveries(
    console: TestClient, upstream: StubServer
) -> None:
    deliveries = answer({"/query/tx": [record(transaction_id="tx_002", user_id="u1")]})
    upstream.reply = lambda seen: (
        Reply(200, {"stats": FUNNEL}) if seen.path == "/query/stats" else deliveries(seen)
    )
    text = console.get("/console/transactions/tx_002").text
    assert "3 deliveries, counted at" in text
    assert '<span class="reason">Device token invalid</span>: 2' in text
    assert 'href="/console/users/u1"' in text
    assert sorted(s.path for s in upstream.seen) == ["/query/stats", "/query/tx"]
    assert bodies(upstream, "/query/stats") == [{"transaction_id": "tx_002"}]


def test_a_transaction_page_without_its_counts_still_lists_its_deliveries(
    console: TestClient, upstream: StubServer
) -> None:
    deliveries = answer({"/query/tx": [record(transaction_id="tx_002", user_id="u1")]})
    upstream.reply = lambda seen: (
        Reply(503, {"message": "busy"}) if seen.path == "/query/stats" else deliveries(seen)
    )
    response = console.get("/console/transactions/tx_002")
    assert response.status_code == 200
    assert "The counts could not be loaded</strong> (The record service could not answer)" in (
        response.text
    )
    assert 'href="/console/users/u1"' in response.text
    assert "busy" not in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/console/",
        "/console/search?q=test_user_001",
        "/console/users/test_user_001",
        "/console/users/bad%20id",
        "/console/transactions/tx_001",
        "/console/no/such/page",
        "/console/static/console.js",
        "/console/static/nothing.js",
    ],
)
def test_every_console_response_carries_the_security_headers(
    console: TestClient, upstream: StubServer, path: str
) -> None:
    upstream.reply = answer({"/query/user": [record()]})
    assert_console_headers(console.get(path))


def test_pages_are_not_cached_and_assets_revalidate(console: TestClient) -> None:
    assert console.get("/console/").headers["cache-control"] == "no-store"
    script = console.get("/console/static/console.js")
    assert script.headers["content-type"].startswith("text/javascript")
    again = console.get(
        "/console/static/console.js", headers={"If-None-Match": script.headers["etag"]}
    )
    assert again.status_code == 304


def test_no_page_holds_an_inline_script_or_style(console: TestClient, upstream: StubServer) -> None:
    upstream.reply = answer({"/query/user": [record()]}, cursor="abc.def")
    for path in ("/console/", "/console/users/test_user_001", "/console/transactions/tx_001"):
        text = console.get(path).text
        assert "<script>" not in text and "<style" not in text and " style=" not in text
        assert " onclick=" not in text


def test_each_lookup_writes_an_audit_line(
    console: TestClient, upstream: StubServer, caplog: pytest.LogCaptureFixture
) -> None:
    upstream.reply = answer({"/query/user": [record()]})
    with caplog.at_level(logging.INFO, logger="query_service.console.audit"):
        console.get(
            "/console/users/test_user_001",
            params={"window": "24h"},
            headers={"X-Request-ID": "req-audit-1"},
        )
    [line] = [r for r in caplog.records if r.name == "query_service.console.audit"]
    assert line.who == "local-developer"  # type: ignore[attr-defined]
    assert line.lookup == "user" and line.target == "test_user_001"  # type: ignore[attr-defined]
    assert line.filters["window"] == "24h"  # type: ignore[attr-defined]
    assert line.outcome == "1 records"  # type: ignore[attr-defined]
    assert line.request_id == "req-audit-1"  # type: ignore[attr-defined]


def test_console_without_the_slash_redirects(console: TestClient) -> None:
    response = console.get("/console")
    assert response.status_code == 308 and response.headers["location"] == "/console/"
