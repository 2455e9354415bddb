"""The ECS handler against a real HTTP server standing in for the internal API."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from query_service.config import Settings
from query_service.ecs.app import create_app
from tests.support import Reply, StubServer, record

OK = {"items": [record()], "next_cursor": None}
USER = {"user_id": "test_user_001", "limit": 10}


@pytest.fixture
def upstream() -> Iterator[StubServer]:
    with StubServer().running() as stub:
        yield stub


def client_for(url: str, timeout: float = 10.0) -> TestClient:
    # No test here waits for a timeout: a generous deadline keeps a loaded machine from
    # turning an answer into a 504 (a full run saw a 502 test get one at 1.0 s).
    return TestClient(create_app(Settings(internal_api_url=url, request_timeout=timeout)))


@pytest.fixture
def api(upstream: StubServer) -> Iterator[TestClient]:
    with client_for(upstream.url) as client:
        yield client


def assert_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status and body["success"] is False
    assert body["request_id"] == response.headers["x-request-id"]  # type: ignore[attr-defined]
    text = response.text  # type: ignore[attr-defined]
    for leak in ("Traceback", "127.0.0.1", "aiohttp", "Exception"):
        assert leak not in text
    return body  # type: ignore[no-any-return]


def test_post_forwards_the_normalised_query_and_shapes_the_answer(
    api: TestClient, upstream: StubServer
) -> None:
    upstream.reply = lambda _: Reply(200, OK)
    response = api.post(
        "/query/user", json={"user_id": "test_user_001"}, headers={"X-Request-ID": "req-abc"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "data": [record()],
        "total_count": 1,
        "next_cursor": None,
        "message": "Found 1 record",
    }
    assert response.headers["x-request-id"] == "req-abc"
    seen = upstream.seen[-1]
    assert (seen.method, seen.path) == ("POST", "/query/user")
    assert orjson.loads(seen.body) == {"user_id": "test_user_001", "limit": 10}
    assert seen.headers["x-request-id"] == "req-abc"


def test_get_form_gives_the_same_answer(api: TestClient, upstream: StubServer) -> None:
    upstream.reply = lambda _: Reply(200, OK)
    post = api.post("/query/fail", json={"transaction_id": "tx_002"})
    get = api.get("/query/fail", params={"transaction_id": "tx_002"})
    assert post.json() == get.json()
    assert [orjson.loads(s.body) for s in upstream.seen] == [
        {"transaction_id": "tx_002", "limit": 10}
    ] * 2


def test_invalid_request_ids_are_replaced(api: TestClient, upstream: StubServer) -> None:
    upstream.reply = lambda _: Reply(200, OK)
    response = api.post("/query/user", json=USER, headers={"X-Request-ID": "bad id\t!"})
    assert response.headers["x-request-id"] != "bad id\t!"
    assert len(response.headers["x-request-id"]) == 36


@pytest.mark.parametrize("path", ["/query/failures", "/failed"])
def test_deprecated_paths_answer_as_fail_with_headers(
    api: TestClient, upstream: StubServer, path: str
) -> None:
    upstream.reply = lambda _: Reply(200, OK)
    response = api.post(path, json={"transaction_id": "tx_002"})
    assert response.status_code == 200
    assert response.headers["deprecation"] == "true"
    assert response.headers["link"] == '</query/fail>; rel="successor-version"'
    assert upstream.seen[-1].path == "/query/fail"


def test_marketing_is_gone(api: TestClient, upstream: StubServer) -> None:
    body = assert_problem(api.post("/query/marketing", json={"marketing_id": "m"}), 410)
    assert "removed" in str(body["detail"])
    assert upstream.seen == []


def test_bad_input_never_reaches_upstream(api: TestClient, upstream: StubServer) -> None:
    body = assert_problem(api.post("/query/user", json={"user_id": "u", "limit": 101}), 400)
    assert body["errors"] == [{"field": "limit", "message": "must be between 1 and 100"}]
    assert_problem(api.post("/query/user", content=b"{oops"), 400)
    assert_problem(api.get("/query/user", params={"user_id": "u", "limit": "x"}), 400)
    assert upstream.seen == []


def test_body_over_16_kib_is_413(api: TestClient, upstream: StubServer) -> None:
    assert_problem(api.post("/query/user", content=b"{" + b" " * 20_000 + b"}"), 413)
    assert upstream.seen == []


def test_upstream_400_problem_is_relayed(api: TestClient, upstream: StubServer) -> None:
    problem = {
        "type": "/problems/invalid-request",
        "title": "Invalid request",
        "status": 400,
        "detail": "The cursor is not valid for this query: start again without it.",
        "request_id": "internal",
        "success": False,
        "errors": [{"field": "cursor", "message": "is not a cursor"}],
    }
    upstream.reply = lambda _: Reply(400, problem, content_type="application/problem+json")
    body = assert_problem(api.post("/query/user", json=USER), 400)
    assert body["detail"] == problem["detail"]
    assert body["errors"] == problem["errors"]


def test_upstream_throttling_is_503_with_retry_after(api: TestClient, upstream: StubServer) -> None:
    problem = {
        "type": "/problems/upstream-unavailable",
        "title": "Upstream unavailable",
        "status": 503,
        "detail": "The record store is busy; retry shortly.",
    }
    upstream.reply = lambda _: Reply(
        503, problem, {"Retry-After": "1"}, content_type="application/problem+json"
    )
    response = api.post("/query/user", json=USER)
    assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"


def test_health_and_readiness(api: TestClient, upstream: StubServer) -> None:
    upstream.reply = lambda _: Reply(200, {"status": "healthy"})
    health = api.get("/health").json()
    assert health["status"] == "healthy" and health["service"] == "query-service"
    assert api.get("/health/ready").json() == {"status": "ready"}
    assert upstream.seen[-1].path == "/health"


def test_unknown_path_and_method_are_problems(api: TestClient) -> None:
    assert_problem(api.get("/nope"), 404)
    for method in ("DELETE", "PUT", "PATCH"):
        for path in ("/query/user", "/query/fail", "/failed", "/query/marketing"):
            response = api.request(method, path)
            assert_problem(response, 405)
            assert response.headers["allow"] == "GET, POST"  # every method of the path
            assert response.json()["detail"] == "This path accepts GET and POST only."
    response = api.post("/health")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"


def test_docs_are_served_without_a_cdn(api: TestClient) -> None:
    page = api.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    for src in ("swagger-ui-bundle.js", "swagger-ui.css"):
        asset = page.text.split(src)[0].rsplit('"', 1)[-1] + src
        assert api.get(asset).status_code == 200, asset
    spec = api.get("/openapi.json").json()
    assert {"/query/user", "/query/fail", "/query/tx", "/health"} <= spec["paths"].keys()
    assert spec["paths"]["/query/failures"]["post"]["deprecated"] is True
    body = spec["paths"]["/query/user"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["required"] == ["user_id"]
    # Errors are documented with the media type they are served with.
    for path in spec["paths"].values():
        for operation in path.values():
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    assert list(response["content"]) == ["application/problem+json"], status
    assert set(spec["paths"]["/query/marketing"]["get"]["responses"]) == {"410"}


def test_one_pooled_connection_serves_every_request(api: TestClient, upstream: StubServer) -> None:
    upstream.reply = lambda _: Reply(200, OK)
    for _ in range(5):
        assert api.post("/query/user", json=USER).status_code == 200
    assert len(upstream.seen) == 5
    assert upstream.connections == 1  # kept alive and reused, not one per request


def test_production_refuses_a_local_internal_api() -> None:
    app = create_app(Settings(environment="production", internal_api_url="http://localhost:4001"))
    with pytest.raises(Exception, match="INTERNAL_API_URL"), TestClient(app):
        pass


def test_no_route_or_dependency_runs_in_a_worker_thread(api: TestClient) -> None:
    """FastAPI runs a plain ``def`` endpoint or dependency in a worker thread: a hop per
    request (it was among the heaviest entries of the handler's profile)."""

    def calls(dependant: Dependant) -> Iterator[Any]:
        yield dependant.call
        for dependency in dependant.dependencies:
            yield from calls(dependency)

    routes = [r for r in api.app.routes if isinstance(r, APIRoute)]  # type: ignore[attr-defined]
    assert len(routes) > 10
    for route in routes:
        for call in calls(route.dependant):
            assert inspect.iscoroutinefunction(call), f"{route.path}: {call}"


def test_a_body_streamed_past_16_kib_without_a_length_is_413(
    api: TestClient, upstream: StubServer
) -> None:
    chunks = iter([b'{"user_id": "u", "pad": "', b" " * 20_000, b'"}'])
    assert_problem(api.post("/query/user", content=chunks), 413)
    assert upstream.seen == []


def test_repeated_query_string_fields_are_refused(api: TestClient, upstream: StubServer) -> None:
    body = assert_problem(api.get("/query/user?user_id=a&user_id=b"), 400)
    assert body["errors"] == [{"field": "user_id", "message": "must be given once"}]
    assert upstream.seen == []


def test_other_methods_on_a_query_path_are_405_problems(api: TestClient) -> None:
    for method in ("PUT", "PATCH"):
        assert_problem(api.request(method, "/query/fail"), 405)
    assert api.head("/query/fail").status_code == 405


class _Broken:
    async def query(self, *_: object) -> None:
        raise RuntimeError("secret detail from deep inside")


def test_an_unexpected_error_on_a_query_path_is_a_500_problem_without_details(
    api: TestClient,
) -> None:
    api.app.state.internal_client = _Broken()  # type: ignore[attr-defined]
    for response in (api.post("/query/user", json=USER), api.get("/query/user?user_id=u")):
        body = assert_problem(response, 500)
        assert "secret" not in response.text and "RuntimeError" not in response.text
        assert body["title"]


DELIVERY = {"transaction_id": "tx_002", "user_id": "test_user_001"}
TIMELINE = [
    {"status": "SENT", "at": 1_700_000_000_000, "error_msg": None},
    {"status": "FAILED", "at": 1_700_000_030_000, "error_msg": "Device token invalid"},
]


def test_a_delivery_is_answered_with_its_timeline(api: TestClient, upstream: StubServer) -> None:
    failed = record(status="FAILED", error_msg="Device token invalid", updated_at=1_700_000_030_000)
    item = {**failed, "events": TIMELINE, "events_truncated": False, "sk": "dropped"}
    upstream.reply = lambda _: Reply(200, {"items": [item], "next_cursor": None})
    response = api.get("/query/delivery", params=DELIVERY)
    assert response.status_code == 200, response.text
    [delivery] = response.json()["data"]
    assert delivery == {**failed, "events": TIMELINE, "events_truncated": False}
    assert orjson.loads(upstream.seen[-1].body) == DELIVERY
    assert upstream.seen[-1].path == "/query/delivery"


def test_no_such_delivery_is_a_404_problem(api: TestClient, upstream: StubServer) -> None:
    upstream.reply = lambda _: Reply(200, {"items": [], "next_cursor": None})
    body = assert_problem(api.post("/query/delivery", json=DELIVERY), 404)
    assert "tx_002" in str(body["detail"]) and "test_user_001" in str(body["detail"])


def test_a_delivery_without_a_timeline_from_upstream_is_a_502(
    api: TestClient, upstream: StubServer
) -> None:
    upstream.reply = lambda _: Reply(200, OK)  # a record, but no events
    assert_problem(api.post("/query/delivery", json=DELIVERY), 502)


def test_filters_are_forwarded_normalised(api: TestClient, upstream: StubServer) -> None:
    upstream.reply = lambda _: Reply(200, OK)
    response = api.get(
        "/query/tx?transaction_id=tx_1&platform=IOS,ANDROID&status=FAILED&status=DELIVERED"
    )
    assert response.status_code == 200, response.text
    assert orjson.loads(upstream.seen[-1].body) == {
        "transaction_id": "tx_1",
        "limit": 10,
        "platform": ["IOS", "ANDROID"],
        "status": ["DELIVERED", "FAILED"],
    }
    body = assert_problem(api.get("/query/user?user_id=u&status=LOST"), 400)
    assert body["errors"] == [
        {"field": "status", "message": "must be one or more of SENT, DELIVERED, FAILED"}
    ]


def test_the_documented_delivery_shape_is_the_one_answered() -> None:
    from query_service.domain.records import Record
    from query_service.domain.timeline import Delivery, Timeline
    from query_service.ecs.schemas import DeliveryBody

    timeline = Timeline.from_stored(TIMELINE, False)
    assert [f.name for f in dataclasses.fields(DeliveryBody)] == list(
        Delivery(Record.from_mapping(record()), timeline).to_dict()
    )
