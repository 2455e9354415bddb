"""Build the three Lambda zips (`make package`).

``dist/<function>.zip`` for python3.12 on manylinux x86_64, from binary wheels only, with
the dependencies uv.lock pins, minus what the function gets elsewhere: boto3 (botocore,
s3transfer) and snapshot_restore_py (SnapStart's hooks) from the Lambda runtime,
aws-lambda-powertools from its public layer, and the ECS handler's web stack, which no
Lambda imports. Of the project's own code a zip
holds the modules its handler imports. Zips are deterministic: the same inputs give the
same bytes, so Terraform's ``source_code_hash`` changes only when the code does.

Every ``.py`` in a zip comes with its bytecode, compiled by an interpreter of the runtime's
Python (``--python-version``): Lambda unpacks the zip into a read-only directory, so without
it every cold start compiles each module it imports from the zip, and cannot keep the
result. The bytecode is *checked-hash* (PEP 552): each ``.pyc`` records a hash of its
source, which the interpreter compares on import, so a source changed after the build (the
console's editor, a hand-patched zip) is compiled afresh instead of running stale code, and
an interpreter of another version passes the cache over by its name and magic number.
Timestamp bytecode would not survive the zip (Lambda does not keep the build's mtimes), and
unchecked-hash bytecode would run a stale cache silently; checking costs a read and a hash
of each imported source per cold start.

``--python-version`` and ``--platform`` exist so that a test can build the same zips for
the interpreter running it and import the handlers from them; ``--runtime-out`` installs
beside them what the runtime and the layer provide, to import them with (the test, and the
benchmark's cold start).
"""

from __future__ import annotations

import argparse
import ast
import functools
import glob
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
PROVIDED_BY_LAMBDA = (
    "boto3",
    "botocore",
    "s3transfer",
    "aws-lambda-powertools",
    "snapshot-restore-py",  # SnapStart's runtime hooks, in the managed runtime
)
ECS_ONLY = (
    "fastapi",
    "fastapi-offline",
    "uvicorn",
    "uvloop",
    "httptools",
    "aiohttp",
    "jinja2",  # the support console
    "cryptography",  # the console's ALB identity check
    "pydantic",  # the OpenAPI document's schemas and the page check; the Lambdas validate
    # with the domain's plain-Python rules (domain/rules.py)
)
# Top-level names that must never end up in a zip (checked after installing).
FORBIDDEN_TOP_LEVEL = (
    "boto3",
    "botocore",
    "s3transfer",
    "aws_lambda_powertools",
    "snapshot_restore_py",
)

DEFAULT_PYTHON = "3.12"
DEFAULT_PLATFORM = "x86_64-manylinux2014"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Run by the interpreter that compiles: argv[1] is the tree, stdin the sources in it.
_COMPILE = """
import py_compile, sys
root = sys.argv[1]
for relative in sys.stdin.read().splitlines():
    py_compile.compile(
        f"{root}/{relative}",
        dfile=relative,
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )
"""
_VERSION = (
    "import sys; print('%d.%d' % sys.version_info[:2], sys.implementation.cache_tag, "
    "sys.executable)"
)


def find_uv() -> str:
    for candidate in (os.environ.get("UV"), shutil.which("uv"), str(REPO / ".tools/bin/uv")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit("uv not found: run `make package`, which installs it")


def _probe(python: str) -> tuple[str, str, str] | None:
    """``(major.minor, cache tag, executable)`` of the interpreter at ``python``, None if it
    does not run. The executable is the interpreter's own path: a pyenv shim found on the
    PATH runs only with the environment that selected it, which the compile step drops."""
    try:
        done = subprocess.run(  # noqa: S603 - an interpreter we were given or found
            [python, "-I", "-c", _VERSION], capture_output=True, text=True, timeout=60
        )
    except OSError:
        return None
    version, tag, executable = [*done.stdout.strip().split(" ", 2), "", ""][:3]
    return (version, tag, executable) if done.returncode == 0 and executable else None


@functools.cache  # one search per process: build() and --runtime-out both ask
def find_python(version: str, given: str | None, uv: str) -> tuple[str, str]:
    """An interpreter of ``version`` to compile the bytecode with, and its cache tag.

    The one given (``--compile-python`` or ``LAMBDA_PYTHON``), else this one if it is that
    version, else ``python<version>`` on the PATH, pyenv's, or one uv knows.
    """
    for candidate in [given] if given else _candidates(version, uv):
        probed = _probe(candidate) if candidate else None
        if probed and probed[0] == version:
            return probed[2], probed[1]
    raise SystemExit(
        f"no python{version} to compile the zips' bytecode with (Lambda's runtime would "
        "ignore any other version's): install one, or name it with --compile-python"
    )


def _candidates(version: str, uv: str) -> Iterator[str | None]:
    yield sys.executable
    yield shutil.which(f"python{version}")
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    yield from sorted(glob.glob(f"{pyenv}/{version}.*/bin/python{version}"), reverse=True)
    found = subprocess.run(  # noqa: S603 - fixed argv
        [uv, "python", "find", "--no-project", version],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    yield found.stdout.strip()


def compile_bytecode(python: str, root: Path) -> None:
    """Checked-hash bytecode beside every ``.py`` under ``root``, by ``python``."""
    sources = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))
    subprocess.run(  # noqa: S603 - fixed argv
        [python, "-I", "-c", _COMPILE, str(root)],
        input="\n".join(sources),
        text=True,
        check=True,
        # Constants such as frozensets are marshalled in hash order: fix the seed.
        env={"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "")},
    )


def _export(uv: str, *options: str) -> str:
    """Requirements from uv.lock, as ``uv export`` writes them."""
    result = subprocess.run(  # noqa: S603 - fixed argv
        [uv, "export", "--frozen", "--no-emit-project", "--no-header", *options],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def _pip_install(uv: str, target: Path, python: str, platform: str, *options: str) -> None:
    """Binary wheels for ``python`` on ``platform`` into ``target``."""
    argv = [uv, "pip", "install", "--quiet", "--target", str(target)]
    argv += ["--python-version", python, "--python-platform", platform]
    subprocess.run(  # noqa: S603 - fixed argv
        [*argv, "--only-binary", ":all:", *options],
        cwd=REPO,
        check=True,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )


def requirements(uv: str) -> str:
    """The locked runtime dependencies of the Lambdas, with their hashes."""
    prune = [arg for name in (*PROVIDED_BY_LAMBDA, *ECS_ONLY) for arg in ("--prune", name)]
    return _export(uv, "--no-dev", *prune)


def install(uv: str, requirements_txt: str, target: Path, python: str, platform: str) -> None:
    """Binary wheels of exactly these requirements for ``python`` on ``platform``."""
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(requirements_txt)
        # --no-deps: the export is the whole closure; nothing else comes in.
        options = ("--requirement", str(req), "--no-deps", "--require-hashes")
        _pip_install(uv, target, python, platform, *options)
    present = [name for name in FORBIDDEN_TOP_LEVEL if (target / name).exists()]
    if present:
        raise SystemExit(f"{present} would be packaged: the runtime or the layer provides them")


def install_runtime(uv: str, target: Path, python: str, platform: str, compiler: str) -> None:
    """What the Lambda runtime (boto3, botocore, s3transfer, snapshot_restore_py) and the
    Powertools layer put on a function's path, at the versions uv.lock pins, with their
    bytecode as they ship it."""
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text(_export(uv, "--no-hashes"))
        # Their dependencies at the locked versions too.
        options = ("--constraint", str(constraints), *PROVIDED_BY_LAMBDA)
        _pip_install(uv, target, python, platform, *options)
    compile_bytecode(compiler, target)


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
        if path.is_file() and relative.parts[0] not in {"bin", ".lock"}:
            yield relative.as_posix(), path  # bin/: console scripts; .lock: uv's own


def _with_bytecode(relative: Path, tag: str) -> list[Path]:
    return [relative, relative.parent / "__pycache__" / f"{relative.stem}.{tag}.pyc"]


def write_zip(target: Path, entries: Iterable[tuple[str, Path]]) -> None:
    """A zip whose bytes depend only on the entries' names and contents."""
    with zipfile.ZipFile(target, "w") as archive:
        for name, path in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)


def build(
    out: Path, python: str, platform: str, uv: str, compile_python: str | None = None
) -> dict[str, Path]:
    compiler, tag = find_python(python, compile_python, uv)
    out.mkdir(parents=True, exist_ok=True)
    zips: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        site, code = Path(tmp) / "site", Path(tmp) / "code"
        install(uv, requirements(uv), site, python, platform)
        own = {h: [f.relative_to(SRC) for f in project_files(h)] for h in FUNCTIONS.values()}
        for relative in {r for files in own.values() for r in files}:
            (code / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SRC / relative, code / relative)
        compile_bytecode(compiler, site)
        compile_bytecode(compiler, code)
        dependencies = list(_dependency_files(site))
        for function, handler in FUNCTIONS.items():
            files = [f for relative in own[handler] for f in _with_bytecode(relative, tag)]
            target = out / f"{function}.zip"
            write_zip(target, [*dependencies, *((f.as_posix(), code / f) for f in files)])
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
    parser.add_argument(
        "--compile-python",
        default=os.environ.get("LAMBDA_PYTHON"),
        help="an interpreter of --python-version to compile the bytecode with "
        "(default: $LAMBDA_PYTHON, else one found on this machine)",
    )
    parser.add_argument(
        "--runtime-out",
        type=Path,
        help="also install here what the runtime and the Powertools layer provide, "
        "to import the handlers with",
    )
    args = parser.parse_args(argv)
    uv = find_uv()
    zips = build(args.out, args.python_version, args.platform, uv, args.compile_python)
    if args.runtime_out:
        compiler, _ = find_python(args.python_version, args.compile_python, uv)
        install_runtime(uv, args.runtime_out, args.python_version, args.platform, compiler)
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
