"""The lock audit's verdict: a vulnerability fails, an audit that looked at nothing says so."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "audit_lock.py"


@pytest.fixture(scope="module")
def audit_lock() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_lock", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CLEAN = {"name": "orjson", "version": "3.10.0", "vulns": []}
SKIPPED = {"name": "uvloop", "skip_reason": "Dependency not found"}
VULNERABLE = {
    "name": "aiohttp",
    "version": "3.9.0",
    "vulns": [{"id": "GHSA-xxxx", "fix_versions": ["3.9.4"], "aliases": []}],
}


def test_a_known_vulnerability_fails_and_is_named(audit_lock: ModuleType) -> None:
    code, lines = audit_lock.verdict({"dependencies": [CLEAN, VULNERABLE]}, strict=False)
    assert code == 1
    assert any("aiohttp" in line and "GHSA-xxxx" in line and "3.9.4" in line for line in lines)


def test_nothing_audited_is_said_plainly_and_fails_when_strict(audit_lock: ModuleType) -> None:
    report = {"dependencies": [SKIPPED, SKIPPED]}
    code, lines = audit_lock.verdict(report, strict=False)
    assert code == 0
    assert "0 audited" in lines[0]
    assert any("NOT AUDITED" in line for line in lines)
    assert audit_lock.verdict(report, strict=True)[0] == 1


def test_all_audited_and_clean_passes(audit_lock: ModuleType) -> None:
    code, lines = audit_lock.verdict({"dependencies": [CLEAN]}, strict=True)
    assert (code, lines[0]) == (
        0,
        "pip-audit: 1 pinned packages, 1 audited, 0 not audited, 0 with known vulnerabilities",
    )


def test_a_partial_audit_lists_what_was_left_out(audit_lock: ModuleType) -> None:
    code, lines = audit_lock.verdict({"dependencies": [CLEAN, SKIPPED]}, strict=False)
    assert code == 0
    assert any("not audited: uvloop" in line for line in lines)
    assert audit_lock.verdict({"dependencies": [CLEAN, SKIPPED]}, strict=True)[0] == 1
