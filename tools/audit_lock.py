"""pip-audit over every package pinned in uv.lock, with an honest verdict.

pip-audit reports a package it could not look up as a skip, and then says "No known
vulnerabilities found" even when it looked up nothing. This wrapper counts: a known
vulnerability fails; a package that could not be audited is listed, and if the advisory
service answered for none of them the run says so plainly instead of passing quietly.

``AUDIT_STRICT=1`` (for a CI runner with access to the advisory service) makes any
package left unaudited a failure too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def export_lock(target: Path) -> None:
    uv = os.environ.get("UV", "uv")
    with target.open("w", encoding="utf-8") as out:
        subprocess.run(  # noqa: S603 - fixed argv, our own lock
            [
                uv,
                "export",
                "--frozen",
                "--format",
                "requirements-txt",
                "--no-emit-project",
                "--all-groups",
                "--quiet",
            ],
            cwd=REPO,
            check=True,
            stdout=out,
        )


def audit(requirements: Path) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - fixed argv
        [
            sys.executable,
            "-m",
            "pip_audit",
            "-r",
            str(requirements),
            "--require-hashes",
            "--disable-pip",
            "--format",
            "json",
            "--progress-spinner",
            "off",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(done.stderr)
        raise SystemExit("pip-audit gave no report (its own error is above)") from None
    return report


def verdict(report: dict[str, Any], strict: bool) -> tuple[int, list[str]]:
    """Exit code and the lines to print, from pip-audit's JSON report."""
    deps = report.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if "skip_reason" in d]
    audited = len(deps) - len(skipped)
    lines = [
        f"pip-audit: {len(deps)} pinned packages, {audited} audited, "
        f"{len(skipped)} not audited, {len(vulnerable)} with known vulnerabilities"
    ]
    for dep in vulnerable:
        ids = ", ".join(
            v["id"]
            + (f" (fixed in {', '.join(v['fix_versions'])})" if v.get("fix_versions") else "")
            for v in dep["vulns"]
        )
        lines.append(f"  VULNERABLE {dep['name']} {dep.get('version', '')}: {ids}")
    if vulnerable:
        return 1, lines
    if deps and audited == 0:
        lines.append(
            "  NOT AUDITED: the advisory service answered for no package (no access "
            "from this machine?); this run proves nothing about vulnerabilities"
        )
        return (1 if strict else 0), lines
    if skipped:
        lines.extend(f"  not audited: {d['name']}: {d['skip_reason']}" for d in skipped)
        return (1 if strict else 0), lines
    return 0, lines


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        export_lock(requirements)
        code, lines = verdict(audit(requirements), strict=os.environ.get("AUDIT_STRICT") == "1")
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
