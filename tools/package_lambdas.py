"""Build the three Lambda zips (`make package`).

``dist/<function>.zip`` for python3.12 on manylinux x86_64, from binary wheels only, with
the dependencies uv.lock pins, minus what the function gets elsewhere: boto3 (botocore,
s3transfer) from the Lambda runtime, aws-lambda-powertools from its public layer, and
the ECS handler's web stack, which no Lambda imports. Of the project's own code a zip
holds the modules its handler imports. Zips are deterministic: the same inputs give the
same bytes, so Terraform's ``source_code_hash`` changes only when the code does.

``--python-version`` and ``--platform`` exist so that a test can build the same zips for
the interpreter running it and import the handlers from them.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = "query_service"

FUNCTIONS = {
    "query_entry": "query_service.lambdas.query_entry",
    "query_result": "query_service.lambdas.query_result",
    "stream_processor": "query_service.lambdas.stream_processor",
}
# Pruned from the export with every dependency nothing else needs.
PROVIDED_BY_LAMBDA = ("boto3", "botocore", "s3transfer", "aws-lambda-powertools")
ECS_ONLY = (
    "fastapi",
    "fastapi-offline",
    "uvicorn",
    "uvloop",
    "httptools",
    "aiohttp",
    "jinja2",  # the support console
    "cryptography",  # the console's ALB identity check
)
# Top-level names that must never end up in a zip (checked after installing).
FORBIDDEN_TOP_LEVEL = ("boto3", "botocore", "s3transfer", "aws_lambda_powertools")

DEFAULT_PYTHON = "3.12"
DEFAULT_PLATFORM = "x86_64-manylinux2014"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def find_uv() -> str:
    for candidate in (os.environ.get("UV"), shutil.which("uv"), str(REPO / ".tools/bin/uv")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit("uv not found: run `make package`, which installs it")


def requirements(uv: str) -> str:
    """The locked runtime dependencies of the Lambdas, with their hashes."""
    prune = [arg for name in (*PROVIDED_BY_LAMBDA, *ECS_ONLY) for arg in ("--prune", name)]
    result = subprocess.run(  # noqa: S603 - fixed argv
        [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-header", *prune],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def install(uv: str, requirements_txt: str, target: Path, python: str, platform: str) -> None:
    """Binary wheels of exactly these requirements for ``python`` on ``platform``."""
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(requirements_txt)
        subprocess.run(  # noqa: S603 - fixed argv
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--requirement",
                str(req),
                "--target",
                str(target),
                "--python-version",
                python,
                "--python-platform",
                platform,
                "--only-binary",
                ":all:",
                "--no-deps",  # the export is the whole closure; nothing else comes in
                "--require-hashes",
            ],
            cwd=REPO,
            check=True,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        )
    present = [name for name in FORBIDDEN_TOP_LEVEL if (target / name).exists()]
    if present:
        raise SystemExit(f"{present} would be packaged: the runtime or the layer provides them")


def _module_file(module: str) -> Path:
    base = SRC.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def _imported(module: str, tree: ast.Module) -> Iterator[str]:
    """Project modules ``module`` imports (absolute or relative)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, base] if base else parent)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == PACKAGE and _module_file(name).exists():
                yield name


def project_files(handler: str) -> list[Path]:
    """The source files of ``handler`` and of every project module it reaches."""
    seen: set[str] = set()
    todo = [handler]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        tree = ast.parse(_module_file(module).read_text(), filename=str(_module_file(module)))
        todo.extend(_imported(module, tree))
    return sorted({_module_file(m) for m in seen})


def _dependency_files(site: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(site.rglob("*")):
        relative = path.relative_to(site)
        skipped = "__pycache__" in relative.parts or relative.parts[0] in {"bin", ".lock"}
        if path.is_file() and not skipped:  # bin/: console scripts; .lock: uv's own
            yield relative.as_posix(), path


def write_zip(target: Path, entries: Iterable[tuple[str, Path]]) -> None:
    """A zip whose bytes depend only on the entries' names and contents."""
    with zipfile.ZipFile(target, "w") as archive:
        for name, path in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)


def build(out: Path, python: str, platform: str, uv: str) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    zips: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        install(uv, requirements(uv), site, python, platform)
        dependencies = list(_dependency_files(site))
        for function, handler in FUNCTIONS.items():
            code = [(f.relative_to(SRC).as_posix(), f) for f in project_files(handler)]
            target = out / f"{function}.zip"
            write_zip(target, [*dependencies, *code])
            zips[function] = target
    return zips


def unpacked_size(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="default: dist/")
    parser.add_argument("--python-version", default=DEFAULT_PYTHON, help="default: %(default)s")
    parser.add_argument("--platform", default=DEFAULT_PLATFORM, help="default: %(default)s")
    args = parser.parse_args(argv)
    zips = build(args.out, args.python_version, args.platform, find_uv())
    print(f"Lambda packages for python{args.python_version} on {args.platform}:")
    shown = {p: str(p.relative_to(REPO) if p.is_relative_to(REPO) else p) for p in zips.values()}
    width = max(len(name) for name in shown.values())
    for path, name in shown.items():
        size, unpacked = path.stat().st_size, unpacked_size(path)
        mib = f"{size / 2**20:.1f} MiB, {unpacked / 2**20:.1f} MiB unpacked"
        print(f"  {name:<{width}}  {size:>10,} bytes  ({mib})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
