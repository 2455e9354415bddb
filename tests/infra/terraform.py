"""The Terraform of ``infra/terraform`` as Python data, for structural tests.

There is no Terraform binary (nor provider) in CI, so the tests read the configuration
the way ``terraform validate`` would need to: every ``.tf`` parsed with python-hcl2, each
module's blocks indexed, and the simple expressions the brief's numbers hide behind
(``var.x``, ``local.x``, a module input passed from the root) resolved to values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "infra" / "terraform"
ROOT = "root"

_OPTIONS = SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)
_SIMPLE_REF = re.compile(r"\$\{(?:tostring\()?(var|local)\.([A-Za-z0-9_]+)\)?\}")


def parse(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle, serialization_options=_OPTIONS)
    return parsed


@dataclass
class Module:
    """One Terraform module: its blocks by kind, then by type and name."""

    name: str
    path: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)

    def resource(self, type_: str, name: str) -> dict[str, Any]:
        return self.resources[type_][name]

    def of_type(self, type_: str) -> dict[str, dict[str, Any]]:
        return self.resources.get(type_, {})

    def text(self) -> str:
        return "\n".join((self.path / f).read_text() for f in sorted(self.files))


def _index(module: Module, parsed: dict[str, Any]) -> None:
    for block in parsed.get("resource", []):
        for type_, named in block.items():
            module.resources.setdefault(type_, {}).update(named)
    for block in parsed.get("data", []):
        for type_, named in block.items():
            module.data.setdefault(type_, {}).update(named)
    for block in parsed.get("variable", []):
        module.variables.update(block)
    for block in parsed.get("output", []):
        module.outputs.update(block)
    for block in parsed.get("locals", []):
        module.locals.update(block)
    for block in parsed.get("module", []):
        module.calls.update(block)
    module.terraform.extend(parsed.get("terraform", []))


def load_module(name: str, path: Path) -> Module:
    module = Module(name, path)
    for tf in sorted(path.glob("*.tf")):
        parsed = parse(tf)
        module.files[tf.name] = parsed
        _index(module, parsed)
    return module


@cache
def stack() -> Stack:
    return Stack.load()


@dataclass
class Stack:
    """The root module and the modules it calls (``./modules/<name>``)."""

    modules: dict[str, Module]

    @classmethod
    def load(cls) -> Stack:
        modules = {ROOT: load_module(ROOT, TERRAFORM)}
        for path in sorted((TERRAFORM / "modules").iterdir()):
            if path.is_dir():
                modules[path.name] = load_module(path.name, path)
        return cls(modules)

    @property
    def root(self) -> Module:
        return self.modules[ROOT]

    def __getitem__(self, name: str) -> Module:
        return self.modules[name]

    def call_of(self, module: str) -> dict[str, Any]:
        """The root's ``module "<x>"`` block whose source is ./modules/<module>."""
        return self.caller_of(module)[1]

    def caller_of(self, module: str) -> tuple[str, dict[str, Any]]:
        """The module calling ``module`` (the root, or a sibling through ../<module>) and
        its first ``module`` block for it."""
        for call in self.root.calls.values():
            if call["source"] == f"./modules/{module}":
                return ROOT, call
        for name, caller in self.modules.items():
            for call in caller.calls.values():
                if call["source"] == f"../{module}":
                    return name, call
        raise KeyError(module)

    def resolve(self, module: str, value: Any) -> Any:
        """``value`` with var./local. references replaced by what they stand for.

        A child module's variable takes what the root passes, else its default; a root
        variable takes its default. Anything more complex is left as written.
        """
        if isinstance(value, list):
            return [self.resolve(module, v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(module, v) for k, v in value.items()}
        if not isinstance(value, str):
            return value
        whole = _SIMPLE_REF.fullmatch(value)
        if whole:
            resolved = self._reference(module, whole.group(1), whole.group(2))
            if value.startswith("${tostring(") and not isinstance(resolved, str):
                return str(resolved)
            return resolved

        def substitute(match: re.Match[str]) -> str:
            resolved = self._reference(module, match.group(1), match.group(2))
            return str(resolved) if isinstance(resolved, str | int | float) else match.group(0)

        return _SIMPLE_REF.sub(substitute, value)

    def _reference(self, module: str, kind: str, name: str) -> Any:
        mod = self.modules[module]
        if kind == "local":
            return self.resolve(module, mod.locals[name])
        if module != ROOT:
            caller, call = self.caller_of(module)
            if name in call:
                return self.resolve(caller, call[name])
        variable = mod.variables[name]
        if "default" not in variable:
            return f"${{var.{name}}}"
        return self.resolve(module, variable["default"])


def walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from walk_strings(item)


def expressions(value: Any) -> Iterator[str]:
    """The insides of every ``${...}`` in ``value`` (outermost, nested ones included)."""
    for text in walk_strings(value):
        start = text.find("${")
        while start != -1:
            depth, i = 0, start
            while i < len(text):
                if text.startswith("${", i):
                    depth += 1
                    i += 2
                    continue
                if text[i] == "{":
                    depth += 1
                elif text[i] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            yield text[start + 2 : i]
            start = text.find("${", i)


def statements(policy_document: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = policy_document.get("statement", [])
    return found
