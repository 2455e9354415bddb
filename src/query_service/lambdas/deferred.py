"""Powertools' re-exporting packages, imported without importing everything they re-export.

``aws_lambda_powertools.event_handler/__init__.py`` imports every resolver it has (AppSync's
brings asyncio, Bedrock's, VPC Lattice's, ...), and ``utilities.data_classes/__init__.py``
every event class (CodePipeline's brings zipfile and tempfile): importing any one submodule,
as ``event_handler.api_gateway``, runs the package's ``__init__`` first, which was about a
third of the Query Lambda's cold start. ``defer`` puts such a package in ``sys.modules``
without running its ``__init__``, and binds each name the ``__init__`` would have bound
from its submodule when something first asks for it (PEP 562's module ``__getattr__``).

Only a package whose ``__init__`` does nothing but that is deferred: a docstring, ``from
<its submodule> import <names>``, ``__all__``, and the statements ``STAND_INS`` knows, each
of which deferring does its own way, at once. Powertools' root package is one: beside its
names (Logger, Metrics, Tracer) it sets up its package logger and botocore's user-agent
hook, and the Logger it imports for the first (with ``jmespath``, ``gzip``, ``random``) was
about 25 M instructions of the Query Lambda's 420 M import. A name that is also its
submodule's (``from .event_source import event_source``) is the name, not the submodule,
as the ``__init__`` would have left it; a package where another submodule's import would
rebind a name is not deferred. Any other (one that runs code of its own) ``defer`` leaves alone, to
be imported as usual: a Powertools release that changes its ``__init__`` can cost the
saving, never the behaviour.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType

# Where each name the package's __init__ binds comes from: (submodule, its name there).
Sources = dict[str, tuple[str, str]]
# What stands in for one statement of an __init__: called with the deferred package and a
# function that binds one of its names (from its submodule) and returns it.
StandIn = Callable[[ModuleType, Callable[[str], object]], None]


def _package_logger(module: ModuleType, resolve: Callable[[str], object]) -> None:
    """``set_package_logger_handler()``: Powertools' own log records go nowhere, unless
    POWERTOOLS_DEBUG asks for them, when the real one (and the Logger it imports) runs."""
    from aws_lambda_powertools.shared.constants import POWERTOOLS_DEBUG_ENV
    from aws_lambda_powertools.shared.functions import strtobool

    if strtobool(os.environ.get(POWERTOOLS_DEBUG_ENV, "0")):  # as the real one asks, unwarned
        resolve("set_package_logger_handler")()  # type: ignore[operator]
        return
    logger = logging.getLogger(module.__name__)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False


def _bind(name: str, value: Callable[[ModuleType, Callable[[str], object]], object]) -> StandIn:
    return lambda module, resolve: setattr(module, name, value(module, resolve))


# Each package's statements (as ``ast.unparse`` writes them) that are neither a docstring,
# a re-export nor ``__all__``, with what deferring the package does for each instead.
STAND_INS: dict[str, dict[str, StandIn]] = {
    "aws_lambda_powertools": {
        "from pathlib import Path": _bind("Path", lambda m, r: Path),
        "__version__ = VERSION": _bind("__version__", lambda m, r: r("VERSION")),
        "__author__ = 'Amazon Web Services'": _bind(
            "__author__", lambda m, r: "Amazon Web Services"
        ),
        "PACKAGE_PATH = Path(__file__).parent": _bind(
            "PACKAGE_PATH", lambda m, r: Path(m.__file__ or "").parent
        ),
        "set_package_logger_handler()": _package_logger,
        "inject_user_agent()": lambda module, resolve: resolve("inject_user_agent")(),  # type: ignore[operator]
    },
}


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
        known = STAND_INS.get(package, {})
        parsed = _parse(package, Path(spec.origin).read_text(encoding="utf-8"), known)
    except (ImportError, OSError, SyntaxError):
        return False  # not there, or no source to read: imported as usual, if at all
    if parsed is None:
        return False
    sources, exported, statements = parsed
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
    for statement in statements:  # in the order the __init__ runs them
        known[statement](module, resolve)
    module.__class__ = _Deferred
    module.__dict__["_deferred_own"] = {name for name in sources if own(name, sources)}
    return True


class _Deferred(ModuleType):
    """A deferred package. Importing its submodule ``x`` binds the submodule as its ``x``,
    where the ``__init__`` (``from .x import x``) would have bound the submodule's ``x``
    over it: that name is bound instead, when the submodule is first imported."""

    def __setattr__(self, name: str, value: object) -> None:
        if (
            isinstance(value, ModuleType)
            and name in self.__dict__.get("_deferred_own", ())
            and value.__name__ == f"{self.__name__}.{name}"
        ):
            value = getattr(value, name)
        super().__setattr__(name, value)


def reexports(
    package: str, source: str, known: Mapping[str, StandIn] | None = None
) -> tuple[Sources, list[str] | None] | None:
    """What ``source``, the ``__init__`` of ``package``, binds and from where, and its
    ``__all__``; None unless binding names from its own submodules (and running the
    statements ``known`` stands in for) is all it does."""
    parsed = _parse(package, source, known or {})
    return None if parsed is None else parsed[:2]


def _parse(
    package: str, source: str, known: Mapping[str, StandIn]
) -> tuple[Sources, list[str] | None, list[str]] | None:
    """``reexports``, and the statements of ``known`` found, in their order."""
    sources: Sources = {}
    exported: list[str] | None = None
    statements: list[str] = []
    for node in ast.parse(source).body:
        submodule = _submodule(package, node) if isinstance(node, ast.ImportFrom) else None
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom) and submodule is not None:
            if any(alias.name == "*" for alias in node.names):
                return None
            for alias in node.names:
                sources[alias.asname or alias.name] = (submodule, alias.name)
        elif _is_all(node):
            exported = ast.literal_eval(node.value)  # type: ignore[attr-defined]
        elif known and (statement := ast.unparse(node)) in known:
            statements.append(statement)
        else:
            return None
    submodules = {submodule.rpartition(".")[2] for submodule, _ in sources.values()}
    if any(own(name, sources) is False for name in submodules & sources.keys()):
        return None  # a name the import of another submodule would rebind: order decides
    return sources, exported, statements


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
