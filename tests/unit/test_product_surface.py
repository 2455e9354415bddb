"""Nothing in src/ is there only for the tests or the benchmark, and nothing in it is dead.

A public name defined in src/ (a module's function, class or constant; a class's method,
field or attribute) must be read somewhere in the product: src/ itself, tools/, or the
files that run it (infra/, the Dockerfile, pyproject.toml, the Makefile, docker-compose).
A name read only by tests/ or bench/ belongs beside them (tests/harness.py); a name read
nowhere is deleted. Names are matched, not resolved: a name read anywhere in the product
counts as read, so this errs towards passing, never towards a false alarm.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Read by others than our code, through a protocol: the attributes of the Lambda context
# object that Powertools reads (local/lambda_runtime.py stands in for Lambda's).
READ_BY_LIBRARIES = {"LambdaContext"}


def _public(name: str) -> bool:
    return not name.startswith("_")


def _class_members(node: ast.ClassDef) -> Iterator[tuple[str, int]]:
    for item in node.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and _public(item.name):
            decorators = {ast.unparse(d) for d in item.decorator_list}
            if decorators <= {"property", "staticmethod", "classmethod"}:
                yield item.name, item.lineno
        elif (
            isinstance(item, ast.AnnAssign)
            and isinstance(item.target, ast.Name)
            and _public(item.target.id)
        ):
            yield item.target.id, item.lineno
    for sub in ast.walk(node):
        targets = sub.targets if isinstance(sub, ast.Assign) else []
        targets += [sub.target] if isinstance(sub, ast.AnnAssign | ast.AugAssign) else []
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
                and _public(target.attr)
            ):
                yield target.attr, sub.lineno


def definitions(path: Path) -> Iterator[tuple[str, str, int]]:
    """(qualified name, the name as read, line) of what ``path`` defines publicly."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            # A decorated function is registered (a route, a handler): its decorator reads it.
            if not node.decorator_list and _public(node.name):
                yield node.name, node.name, node.lineno
        elif isinstance(node, ast.ClassDef):
            if _public(node.name):
                yield node.name, node.name, node.lineno
            if node.name not in READ_BY_LIBRARIES:
                for name, line in _class_members(node):
                    yield f"{node.name}.{name}", name, line
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and _public(target.id):
                    yield target.id, target.id, node.lineno


def names_read(files: list[Path]) -> set[str]:
    read: set[str] = set()
    for path in files:
        text = path.read_text(errors="replace")
        if path.suffix != ".py":
            read.update(IDENTIFIER.findall(text))
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                read.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                read.add(node.attr)
            elif isinstance(node, ast.alias):
                read.add(node.name.rsplit(".", 1)[-1])
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                read.update(IDENTIFIER.findall(node.value))  # "module:function", getattr
    return read


def product_files() -> list[Path]:
    files = sorted(SRC.rglob("*.py")) + sorted((REPO / "tools").glob("*.py"))
    files += [
        p
        for p in sorted((REPO / "infra").rglob("*"))
        if p.is_file() and p.suffix in {".tf", ".json", ".tpl", ".yml", ".yaml", ".sh"}
    ]
    files += [REPO / name for name in ("Dockerfile", "pyproject.toml", "Makefile")]
    return files + sorted(REPO.glob("docker-compose*.yml"))


def test_every_public_name_in_src_is_read_by_the_product() -> None:
    product = names_read(product_files())
    harness = names_read(
        sorted((REPO / "tests").rglob("*.py")) + sorted(REPO.glob("bench/**/*.py"))
    )
    unread = [
        f"{path.relative_to(REPO)}:{line} {qualified} "
        + ("(only tests/bench read it)" if name in harness else "(nothing reads it)")
        for path in sorted(SRC.rglob("*.py"))
        for qualified, name, line in definitions(path)
        if name not in product
    ]
    assert not unread, "\n".join(unread)


def test_the_check_finds_what_only_a_test_reads(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "class Stack:\n    def __init__(self):\n        self.loaded = 0\n"
        "def free_port():\n    return 0\n"
    )
    found = {name for _, name, _ in definitions(module)}
    assert {"Stack", "loaded", "free_port"} <= found
    assert "loaded" not in names_read([module])  # written, never read


MAX_MODULE_LINES = 300  # a module longer than this holds more than one job: split it


def test_no_module_in_src_is_longer_than_300_lines() -> None:
    long = [
        f"{path.relative_to(REPO)}: {lines} lines"
        for path in sorted(SRC.rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, f"split by concern (at most {MAX_MODULE_LINES} lines):\n" + "\n".join(long)
