"""docs/api.md's generated region is what tools/gen_api_docs.py renders from the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_api_docs", ROOT / "tools/gen_api_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_region_of_api_md_is_current() -> None:
    tool = _tool()
    current = (ROOT / "docs/api.md").read_text(encoding="utf-8")
    wanted = tool.regenerate(current, tool.render(tool.openapi()))
    assert current == wanted, "docs/api.md is stale: run `uv run python tools/gen_api_docs.py`"


def test_generated_region_names_every_path_the_handler_serves() -> None:
    tool = _tool()
    spec = tool.openapi()
    text = tool.render(spec)
    for path in spec["paths"]:
        assert f"| `{path}` |" in text
    assert "**deprecated**" in text


def test_regenerating_keeps_the_prose_around_the_markers() -> None:
    tool = _tool()
    document = f"before\n{tool.BEGIN}\nold\n{tool.END}\nafter\n"
    assert tool.regenerate(document, "new") == f"before\n{tool.BEGIN}\nnew\n{tool.END}\nafter\n"
    with pytest.raises(SystemExit):
        tool.regenerate("no markers", "new")


def test_the_served_openapi_document_is_the_committed_copy() -> None:
    """/openapi.json (and the /docs page built on it) changes only when someone means it:
    regenerate docs/openapi.json with the tool and the diff shows what users will see."""
    from fastapi.testclient import TestClient

    from query_service.ecs.app import create_app

    tool = _tool()
    client = TestClient(create_app())
    served = client.get("/openapi.json")
    assert served.status_code == 200
    copy = (ROOT / "docs/openapi.json").read_text(encoding="utf-8")
    assert tool.snapshot(served.json()) == copy, (
        "/openapi.json changed: if that is meant, run `uv run python tools/gen_api_docs.py`"
    )
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/openapi.json" in page.text


def test_the_public_document_is_the_public_apis_part_of_the_served_one() -> None:
    """docs/openapi-public.json is what a client of API Gateway may call: the handler's
    document without its readiness, docs and console (the public API serves none)."""
    import json

    from query_service.ecs.app import create_app
    from query_service.ecs.openapi import public_document

    tool = _tool()
    served = create_app().openapi()
    public = public_document(served)
    assert (ROOT / "docs/openapi-public.json").read_text(encoding="utf-8") == tool.snapshot(public)
    assert set(served["paths"]) - set(public["paths"]) == {"/health/ready"}
    assert "/query/user" in public["paths"] and "/health" in public["paths"]
    assert public["components"] == json.loads(tool.snapshot(served))["components"]
