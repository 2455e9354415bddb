"""Render the endpoint and schema tables of docs/api.md from the ECS handler's OpenAPI,
and keep docs/openapi.json, the document itself as users get it from /openapi.json, and
docs/openapi-public.json, the public API's (API Gateway's) part of it: what a client of
the public API may call, without the handler's own readiness, docs and console.

    uv run python tools/gen_api_docs.py          # rewrite the generated region and the copy
    uv run python tools/gen_api_docs.py --check  # exit 1 if either is stale

Only the region between the two markers is written; the rest of docs/api.md is prose.
tests/unit/test_api_docs.py fails when the region or the copy and the code disagree, so
a change to the served document is always one somebody meant (and reviews in the diff).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
API_DOC = ROOT / "docs" / "api.md"
OPENAPI_COPY = ROOT / "docs" / "openapi.json"
PUBLIC_COPY = ROOT / "docs" / "openapi-public.json"
BEGIN = "<!-- BEGIN GENERATED: tools/gen_api_docs.py renders this from the OpenAPI; do not edit -->"
END = "<!-- END GENERATED -->"
METHOD_ORDER = ("GET", "POST")

Schema = dict[str, Any]


def openapi() -> Schema:
    """The OpenAPI document the ECS handler serves at /openapi.json."""
    sys.path.insert(0, str(ROOT / "src"))
    from query_service.ecs.app import create_app

    spec: Schema = create_app().openapi()
    return spec


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_of(schema: Schema) -> str:
    if "$ref" in schema:
        return f"[`{_ref_name(schema['$ref'])}`](#{_ref_name(schema['$ref']).lower()})"
    if "anyOf" in schema:
        kinds = [type_of(s) for s in schema["anyOf"]]
        return " or ".join(dict.fromkeys(kinds))
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if schema.get("type") == "array":
        return f"list of {type_of(schema.get('items', {}))}"
    return str(schema.get("type", "any"))


def _rule(schema: Schema) -> str:
    """What a field means, or else its constraints (the non-null branch of an optional one)."""
    branches = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    own = branches[0] if branches else schema
    description = own.get("description") or schema.get("description")
    if description:
        return str(description).replace("|", "\\|")
    parts = []
    if "minimum" in own or "maximum" in own:
        parts.append(f"{own.get('minimum', '…')} to {own.get('maximum', '…')}")
    if "minLength" in own or "maxLength" in own:
        parts.append(f"{own.get('minLength', 0)} to {own.get('maxLength', '…')} characters")
    if "pattern" in own:
        parts.append(f"`{own['pattern']}`")
    return "; ".join(parts)


def _fields(schema: Schema) -> list[str]:
    required = set(schema.get("required", []))
    lines = ["| field | type | required | default | meaning |", "| --- | --- | --- | --- | --- |"]
    for name, prop in schema.get("properties", {}).items():
        default = prop.get("default")
        if isinstance(default, bool):
            default = str(default).lower()  # as JSON writes it
        shown = "" if default is None else f"`{default}`"
        needed = "yes" if name in required else "no"
        lines.append(f"| `{name}` | {type_of(prop)} | {needed} | {shown} | {_rule(prop)} |")
    return lines


def _summary(operation: Schema) -> str:
    text = str(operation.get("description") or operation.get("summary") or "")
    return text.strip().splitlines()[0] if text.strip() else ""


def render(spec: Schema) -> str:
    lines = [
        f"OpenAPI {spec['openapi']}, `{spec['info']['title']}` {spec['info']['version']}: "
        "the ECS handler's own document, also served at `/openapi.json` and `/docs`.",
        "",
        "### Endpoints",
        "",
        "| path | methods | what | answers |",
        "| --- | --- | --- | --- |",
    ]
    bodies: dict[str, tuple[Schema, list[str]]] = {}
    for path, item in spec["paths"].items():
        methods = [m for m in METHOD_ORDER if m.lower() in item]
        first = item[methods[0].lower()]
        statuses = sorted({s for m in methods for s in item[m.lower()]["responses"]})
        what = _summary(first)
        if first.get("deprecated"):
            what = f"**deprecated** — {what}"
        lines.append(f"| `{path}` | {', '.join(methods)} | {what} | {', '.join(statuses)} |")
        post = item.get("post", {})
        body = post.get("requestBody", {}).get("content", {}).get("application/json", {})
        if "schema" in body and body["schema"].get("properties"):
            title = str(body["schema"].get("title", path))
            bodies.setdefault(title, (body["schema"], []))[1].append(path)
    lines += [
        "",
        "### Query fields",
        "",
        "The same fields go in the POST body (JSON) or the GET query string; "
        "unknown fields are refused.",
    ]
    for title, (schema, paths) in bodies.items():
        used = ", ".join(f"`{p}`" for p in paths)
        lines += ["", f"#### `{title}`: {used}", "", *_fields(schema)]
    lines += ["", "### Schemas"]
    for name, schema in sorted(spec["components"]["schemas"].items()):
        lines += ["", f"#### `{name}`", ""]
        if schema.get("description"):
            lines += [str(schema["description"]), ""]
        if "enum" in schema:
            lines.append("One of " + ", ".join(f"`{v}`" for v in schema["enum"]) + ".")
        else:
            lines += _fields(schema)
    return "\n".join(lines)


def snapshot(spec: Schema) -> str:
    """The document as docs/openapi.json keeps it: key order kept, as it is served."""
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"


def regenerate(document: str, generated: str) -> str:
    """``document`` with the text between the markers replaced by ``generated``."""
    before, begin, rest = document.partition(BEGIN)
    _, end, after = rest.partition(END)
    if not begin or not end:
        raise SystemExit(f"{API_DOC}: the markers {BEGIN!r} and {END!r} are missing")
    return f"{before}{BEGIN}\n{generated}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if either file is stale")
    args = parser.parse_args(argv)
    spec = openapi()
    current = API_DOC.read_text(encoding="utf-8")
    from query_service.ecs.openapi import public_document

    wanted = {
        API_DOC: regenerate(current, render(spec)),
        OPENAPI_COPY: snapshot(spec),
        PUBLIC_COPY: snapshot(public_document(spec)),
    }
    if args.check:
        stale = [
            path
            for path, text in wanted.items()
            if not path.is_file() or path.read_text(encoding="utf-8") != text
        ]
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run tools/gen_api_docs.py")
        return 1 if stale else 0
    for path, text in wanted.items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
