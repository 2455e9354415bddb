"""Deferring a package that only re-exports: its names still resolve, each from its own
submodule and only when asked; a package whose __init__ does anything else is left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path

import pytest

from query_service.lambdas import DEFERRED
from query_service.lambdas.deferred import STAND_INS, reexports

REEXPORTING = '''
"""A package."""
from pkg.heavy import Heavy
from .light import Light as Renamed, shine
__all__ = ["Heavy", "Renamed", "shine"]
'''


def test_the_names_of_a_reexporting_init_and_where_they_come_from() -> None:
    sources, exported = reexports("pkg", REEXPORTING) or ({}, None)
    assert sources == {
        "Heavy": ("pkg.heavy", "Heavy"),
        "Renamed": ("pkg.light", "Light"),
        "shine": ("pkg.light", "shine"),
    }
    assert exported == ["Heavy", "Renamed", "shine"]


@pytest.mark.parametrize(
    "init",
    [
        REEXPORTING + "setup()\n",  # runs code of its own
        "from os.path import join\n",  # not one of its submodules
        "from .heavy import light\nfrom .light import Light\n",  # pkg.light: which one?
        "from .light import *\n",
        "import pkg.light\n",
        "__all__ = names()\n",
    ],
)
def test_an_init_that_does_anything_else_is_not_deferred(init: str) -> None:
    assert reexports("pkg", init) is None


def run_child(tmp_path: Path, init: str, code: str) -> str:
    """``code`` in a fresh interpreter beside a package ``pkg`` with ``init``, after
    deferring it; prints what ``code`` prints."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(init)
    (package / "heavy.py").write_text("print('heavy imported')\nclass Heavy: pass\n")
    (package / "light.py").write_text("class Light: pass\ndef shine(): return 'light'\n")
    (package / "tool.py").write_text("def tool(): return 'the tool'\n")
    src = Path(__file__).resolve().parents[2] / "src"
    prelude = f"import sys; sys.path[:0] = [{str(tmp_path)!r}, {str(src)!r}]\n"
    prelude += "from query_service.lambdas.deferred import defer\nprint(defer('pkg'))\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_a_deferred_package_imports_a_submodule_only_when_one_of_its_names_is_used(
    tmp_path: Path,
) -> None:
    printed = run_child(
        tmp_path,
        REEXPORTING,
        """
        from pkg import Renamed, shine
        import pkg.light
        print(Renamed is pkg.light.Light, shine(), 'pkg.heavy' in sys.modules)
        from pkg import Heavy
        print(Heavy.__module__, sorted(dir(sys.modules['pkg']))[:1])
        try:
            from pkg import missing
        except ImportError as exc:
            print('ImportError', 'missing' in str(exc))
        """,
    )
    assert printed.splitlines() == [
        "['pkg']",
        "True light False",
        "heavy imported",
        "pkg.heavy ['Heavy']",
        "ImportError True",
    ]


def test_a_name_its_submodule_shares_is_the_name_not_the_submodule(tmp_path: Path) -> None:
    printed = run_child(
        tmp_path,
        REEXPORTING + "from .tool import tool\n",
        """
        import pkg.tool
        from pkg import tool
        print(tool(), 'pkg.heavy' in sys.modules)
        """,
    )
    assert printed.splitlines() == ["['pkg']", "the tool False"]


def test_a_package_that_runs_code_of_its_own_is_imported_as_usual(tmp_path: Path) -> None:
    printed = run_child(tmp_path, REEXPORTING + "print('init ran')\n", "import pkg")
    assert printed.splitlines() == ["[]", "heavy imported", "init ran"]


def test_each_powertools_package_the_lambdas_defer_still_only_reexports() -> None:
    """A Powertools release whose __init__ does more would silently lose the saving."""
    for package in DEFERRED:
        spec = find_spec(package)
        assert spec is not None and spec.origin is not None
        source = Path(spec.origin).read_text()
        assert reexports(package, source, STAND_INS.get(package)) is not None, package


def test_a_statement_with_a_stand_in_does_not_stop_the_deferral(tmp_path: Path) -> None:
    assert reexports("pkg", REEXPORTING + "setup()\n", {"setup()": lambda m, r: None})


# What the Powertools root package leaves behind: its names, its package logger, its hook
# on every botocore session.
ROOT_STATE = """
import logging, sys
import aws_lambda_powertools as root, botocore
from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
package_logger = logging.getLogger("aws_lambda_powertools")
print(root.__version__, root.__author__, root.PACKAGE_PATH, root.Path.__name__)
print([type(h).__name__ for h in package_logger.handlers], package_logger.propagate)
print(package_logger.level, [f.__name__ for f in botocore._INITIALIZERS])
print(Logger.__name__, Metrics.__name__, Tracer.__name__, single_metric.__name__)
"""


@pytest.mark.parametrize("debug", ["0", "1"])
def test_the_deferred_powertools_root_leaves_what_its_init_would(debug: str) -> None:
    """Deferred, the root does what its __init__ does, without importing the Logger
    unless POWERTOOLS_DEBUG asks for the package's own log lines."""
    env = {**os.environ, "POWERTOOLS_DEBUG": debug}

    def state(prelude: str) -> list[str]:
        code = prelude + "loaded = 'aws_lambda_powertools.logging.logger' in sys.modules\n"
        done = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", code + ROOT_STATE + "print(loaded)"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        return done.stdout.splitlines()

    real = state("import sys, aws_lambda_powertools\n")
    deferred = state("import sys, query_service.lambdas\n")
    assert deferred[:-1] == real[:-1]
    assert (real[-1], deferred[-1]) == ("True", "True" if debug == "1" else "False")
