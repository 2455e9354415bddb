"""checkov (pinned in tools/checkov/uv.lock, installed by uv) on infra/terraform: no failed
check, and every skip carries its reason next to the resource it excuses."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from tests.infra.tools import run, uv

# A skip's reason must say why; checkov fills in this text when there is none.
MIN_REASON_CHARS = 40


# checkov takes ~40 s of CPU on this stack; on a machine shared by several test runs the
# wall time is several times that.
pytestmark = pytest.mark.timeout(900)


@cache
def report() -> dict[str, Any]:
    result = run(
        [
            uv(),
            "run",
            "--project",
            "tools/checkov",
            "--frozen",
            "--quiet",
            "checkov",
            "--directory",
            "infra/terraform",
            "--framework",
            "terraform",
            "--compact",
            "--skip-download",  # no calls to the vendor's platform
            "--output",
            "json",
        ],
        timeout=900,
        # No version check against the package index (and no cache file it keeps).
        env={"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"},
    )
    # checkov exits 1 when a check fails; anything else (or no JSON) is a broken run.
    assert result.returncode in (0, 1), result.stderr[-3000:]
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_checkov_finds_no_failed_check() -> None:
    summary = report()["summary"]
    failed = report()["results"].get("failed_checks", [])
    listing = "\n".join(
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}" for c in failed
    )
    assert summary["failed"] == 0, f"checkov failed checks:\n{listing}"
    assert summary["parsing_errors"] == 0


def test_checkov_really_checked_the_stack() -> None:
    """A run that parsed nothing would also report 0 failures."""
    summary = report()["summary"]
    assert summary["resource_count"] >= 90
    assert summary["passed"] >= 250


def test_every_skip_says_why() -> None:
    skipped = report()["results"].get("skipped_checks", [])
    assert len(skipped) == report()["summary"]["skipped"]
    for check in skipped:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        where = f"{check['check_id']} on {check['resource']}"
        assert len(reason) >= MIN_REASON_CHARS, f"{where}: reason too thin: {reason!r}"
