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
