"""Powertools' re-exporting packages, imported without importing everything they re-export.

``aws_lambda_powertools.event_handler/__init__.py`` imports every resolver it has (AppSync's
brings asyncio, Bedrock's, VPC Lattice's, ...), and ``utilities.data_classes/__init__.py``
every event class (CodePipeline's brings zipfile and tempfile): importing any one submodule,
as ``event_handler.api_gateway``, runs the package's ``__init__`` first, which was about a
third of the Query Lambda's cold start. ``defer`` puts such a package in ``sys.modules``
without running its ``__init__``, and binds each name the ``__init__`` would have bound
from its submodule when something first asks for it (PEP 562's module ``__getattr__``).

Only a package whose ``__init__`` does nothing but that is deferred: a docstring, ``from
<its submodule> import <names>`` and ``__all__``. A name that is also its submodule's
(``from .event_source import event_source``) is bound at once, as the ``__init__`` would
have left it; a package where another submodule's import would rebind a name is not
deferred. Any other (one that runs code of its own) ``defer`` leaves alone, to be imported
as usual: a Powertools release that changes its ``__init__`` can cost the saving, never
the behaviour.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

# Where each name the package's __init__ binds comes from: (submodule, its name there).
Sources = dict[str, tuple[str, str]]


def defer(*packages: str) -> list[str]:
    """Defer each of ``packages`` that can be; returns those that were."""
    return [package for package in packages if _defer(package)]


def _defer(package: str) -> bool:
    if package in sys.modules:
        return False  # imported already: nothing left to save
    try:
        spec = importlib.util.find_spec(package)  # imports the parents, as importing would
        if spec is None or spec.origin is None or spec.submodule_search_locations is None:
            return False
        parsed = reexports(package, Path(spec.origin).read_text(encoding="utf-8"))
    except (ImportError, OSError, SyntaxError):
        return False  # not there, or no source to read: imported as usual, if at all
    if parsed is None:
        return False
    sources, exported = parsed
    module = importlib.util.module_from_spec(spec)

    def resolve(name: str) -> object:
        if name not in sources:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        submodule, original = sources[name]
        value = getattr(importlib.import_module(submodule), original)
        setattr(module, name, value)
        return value

    module.__getattr__ = resolve  # type: ignore[method-assign]
    module.__dir__ = lambda: sorted({*module.__dict__, *sources})  # type: ignore[method-assign]
    if exported is not None:
        module.__all__ = exported  # type: ignore[attr-defined]
    sys.modules[package] = module
    parent, _, child = package.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    for name in sources:
        if own(name, sources):  # bound now, so that importing the submodule cannot rebind it
            resolve(name)
    return True


def reexports(package: str, source: str) -> tuple[Sources, list[str] | None] | None:
    """What ``source``, the ``__init__`` of ``package``, binds and from where, and its
    ``__all__``; None unless binding names from its own submodules is all it does."""
    sources: Sources = {}
    exported: list[str] | None = None
    for node in ast.parse(source).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom):
            submodule = _submodule(package, node)
            if submodule is None or any(alias.name == "*" for alias in node.names):
                return None
            for alias in node.names:
                sources[alias.asname or alias.name] = (submodule, alias.name)
        elif _is_all(node):
            exported = ast.literal_eval(node.value)  # type: ignore[attr-defined]
        else:
            return None
    submodules = {submodule.rpartition(".")[2] for submodule, _ in sources.values()}
    if any(own(name, sources) is False for name in submodules & sources.keys()):
        return None  # a name the import of another submodule would rebind: order decides
    return sources, exported


def own(name: str, sources: Sources) -> bool:
    """Whether ``name`` comes from the submodule of the same name (``from .x import x``)."""
    return sources[name][0].rpartition(".")[2] == name


def _submodule(package: str, node: ast.ImportFrom) -> str | None:
    """The module ``node`` imports from, if it is one of ``package``'s own."""
    if node.level == 0:
        name = node.module or ""
    elif node.level == 1 and node.module:
        name = f"{package}.{node.module}"
    else:
        return None
    return name if name.startswith(f"{package}.") else None


def _is_all(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["__all__"]
        and isinstance(node.value, ast.List | ast.Tuple)
        and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.value.elts)
    )
