"""External tools the infra tests run; a missing one fails its test, never skips it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra.terraform import REPO


def uv() -> str:
    """The uv running this suite (``uv run`` exports UV), else the one make installs."""
    for candidate in (os.environ.get("UV"), shutil.which("uv"), str(REPO / ".tools/bin/uv")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("uv not found: run the suite with `make test` (it installs uv)")


def run(
    args: list[str], timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", **(env or {})}
    return subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
