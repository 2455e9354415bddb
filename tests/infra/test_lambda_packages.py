"""`make package`: three zips for python3.12 on manylinux x86_64 without boto3 and
Powertools, with checked-hash bytecode for 3.12 beside every source, and each one's handler
imports from its bytecode and answers from the zip alone.

The zips Lambda gets hold CPython 3.12 binaries, which this suite's interpreter may not
load. So the handlers are run from zips the same tool builds for the running interpreter
(``--python-version``/``--platform``), in an isolated interpreter whose path is the
unpacked zip plus what the runtime and the Powertools layer provide: boto3 and
aws-lambda-powertools at their locked versions. A dependency missing from the zips fails
the import there.
"""

from __future__ import annotations

import _imp
import json
import platform
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.tools import run
from tests.support import apigw_event

FUNCTIONS = ("query_entry", "query_result", "stream_processor")
PROVIDED = ("boto3", "botocore", "s3transfer", "aws_lambda_powertools")
ECS_ONLY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "aiohttp",
    "jinja2",
    "markupsafe",
    "cryptography",
    "pydantic",
    "pydantic_core",
)
NATIVE_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
NATIVE_PLATFORM = f"{platform.machine()}-manylinux2014"
# CPython 3.12's importlib MAGIC_NUMBER (3531): a cache with any other is never loaded.
MAGIC_312 = (3531).to_bytes(2, "little") + b"\r\n"
CHECKED_HASH = 0b11  # PEP 552 flags: hash-based, and the source's hash checked on import


def package(out: Path, *extra: str) -> str:
    result = run([sys.executable, "tools/package_lambdas.py", "--out", str(out), *extra], 600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("dist")
    return out, package(out)


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("native")
    platform_ = ("--python-version", NATIVE_PYTHON, "--platform", NATIVE_PLATFORM)
    package(out, *platform_, "--runtime-out", str(out / "runtime"))
    return out


@pytest.fixture(scope="module")
def runtime(native: Path) -> Path:
    """What the python runtime (boto3) and the Powertools layer put on the path."""
    return native / "runtime"


def top_level(archive: zipfile.ZipFile) -> set[str]:
    return {name.split("/")[0].removesuffix(".py") for name in archive.namelist()}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_production_zip(production: tuple[Path, str], function: str) -> None:
    out, printed = production
    path = out / f"{function}.zip"
    assert re.search(rf"{function}\.zip\s+[\d,]+ bytes", printed), printed
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert f"query_service/lambdas/{function}.py" in names
        assert not top_level(archive) & {*PROVIDED, *ECS_ONLY}
        assert "query_service/ecs/app.py" not in names
        assert "orjson" in top_level(archive)
        assert "urllib3" not in top_level(archive)  # http.client instead; botocore brings its own
        binaries = [n for n in names if n.endswith(".so")]
        assert binaries, "orjson ships compiled code"
        assert all(n.endswith(".cpython-312-x86_64-linux-gnu.so") for n in binaries), binaries
        assert names == sorted(names)
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_production_zip_has_checked_bytecode_for_python312(
    production: tuple[Path, str], function: str
) -> None:
    """Lambda's directory is read-only: a source without usable bytecode is compiled on
    every cold start, and a cache of the wrong version or state is silently passed over."""
    with zipfile.ZipFile(production[0] / f"{function}.zip") as archive:
        names = set(archive.namelist())
        sources = sorted(n for n in names if n.endswith(".py"))
        expected = {_cached(source, "cpython-312") for source in sources}
        assert {n for n in names if n.endswith(".pyc")} == expected
        key = int.from_bytes(MAGIC_312, "little")  # the source hash is keyed by the magic
        for source in sources:
            header = archive.read(_cached(source, "cpython-312"))[:16]
            assert header[:4] == MAGIC_312, source
            assert int.from_bytes(header[4:8], "little") == CHECKED_HASH, source
            assert header[8:] == _imp.source_hash(key, archive.read(source)), source


def _cached(source: str, tag: str) -> str:
    folder, _, name = source.rpartition("/")
    return f"{folder}/__pycache__/{name.removesuffix('.py')}.{tag}.pyc".lstrip("/")


def _invalid_user_query(resource: str) -> dict[str, Any]:
    return apigw_event("POST", "/query/user", '{"user_id": ""}', resource=resource)


def _change_without_new_image() -> dict[str, Any]:
    keys = {"transaction_id": {"S": "tx_001"}, "user_id": {"S": "test_user_001"}}
    record = {
        "eventID": "1",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "ap-southeast-1",
        "dynamodb": {
            "Keys": keys,
            "SequenceNumber": "111",
            "SizeBytes": 26,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": (
            "arn:aws:dynamodb:ap-southeast-1:123456789012:table/command-records/stream/x"
        ),
    }
    return {"Records": [record]}


# Each handler gets an event it answers without calling anything over the network, but
# only after its validation (the domain's rules), serialisation (orjson) and framework code
# ran.
EVENTS = {
    "query_entry": _invalid_user_query("/{proxy+}"),
    "query_result": _invalid_user_query("/query/{kind}"),
    "stream_processor": _change_without_new_image(),
}

# What the interpreter compiles from source because it found no bytecode it may use.
RECORD_COMPILES = """
import importlib.machinery
compiled = []
_source_to_code = importlib.machinery.SourceFileLoader.source_to_code
def _recording(self, data, path, *args, **kwargs):
    compiled.append(path)
    return _source_to_code(self, data, path, *args, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = _recording
"""

CHILD = (
    RECORD_COMPILES
    + """
import importlib, json, sys
zip_dir, runtime_dir, module, event = sys.argv[1:5]
sys.path[:0] = [zip_dir, runtime_dir]
try:
    import fastapi
except ImportError:
    pass
else:
    raise SystemExit("fastapi is importable: this interpreter is not isolated")

class Context:
    function_name = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:test"
    aws_request_id = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    def get_remaining_time_in_millis(self):
        return 10000

handler = importlib.import_module(module).lambda_handler
result = handler(json.loads(event), Context())
origins = {
    name: sys.modules[name].__file__
    for name in ("pydantic", "orjson", "urllib3", "boto3", "aws_lambda_powertools")
    if name in sys.modules
}
print(json.dumps({"result": result, "origins": origins, "compiled": compiled}))
"""
)


def unpack_read_only(archive: Path, target: Path) -> None:
    """As Lambda has it in /var/task: nothing there can be written, caches included."""
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(target)
    for path in [*target.rglob("*"), target]:
        path.chmod(0o555 if path.is_dir() else 0o444)


@pytest.fixture
def task_dir(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "task"
    yield target
    for path in [target, *target.rglob("*")] if target.exists() else []:
        path.chmod(0o755 if path.is_dir() else 0o644)  # so that pytest can delete it


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_runs_from_its_zip_and_the_runtime_alone(
    native: Path, runtime: Path, task_dir: Path, function: str
) -> None:
    unpack_read_only(native / f"{function}.zip", task_dir)
    module = f"query_service.lambdas.{function}"
    # -I -S: no site-packages, no PYTHONPATH, no current directory: only the stdlib.
    # -B: no bytecode written (PYTHONDONTWRITEBYTECODE, which -I would ignore; root would
    # write it into the read-only directory all the same).
    result = run(
        [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-c",
            CHILD,
            str(task_dir),
            str(runtime),
            module,
            json.dumps(EVENTS[function]),
        ],
        120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert "pydantic" not in output["origins"]  # no Lambda imports it (domain/rules.py)
    assert output["origins"]["orjson"].startswith(str(task_dir))
    # Every module of the zip came from the bytecode shipped beside it.
    assert [p for p in output["compiled"] if p.startswith(str(task_dir))] == []
    for name in ("boto3", "aws_lambda_powertools", "urllib3"):
        if name in output["origins"]:
            assert output["origins"][name].startswith(str(runtime)), name

    answer = output["result"]
    if function == "stream_processor":
        assert answer == {"batchItemFailures": [{"itemIdentifier": "111"}]}
    else:
        assert answer["statusCode"] == 400
        body = json.loads(answer["body"])
        assert body["errors"][0]["field"] == "user_id"


STALE_CHILD = (
    RECORD_COMPILES
    + """
import sys
sys.path.insert(0, sys.argv[1])
import query_service.lambdas
print(query_service.lambdas.EDITED, compiled == [query_service.lambdas.__file__])
"""
)


def test_a_source_edited_after_the_build_runs_as_edited(native: Path, task_dir: Path) -> None:
    """Checked-hash bytecode: a source changed in place (Lambda's console editor) is
    compiled afresh, never shadowed by the stale cache beside it."""
    unpack_read_only(native / "query_result.zip", task_dir)
    edited = task_dir / "query_service" / "lambdas" / "__init__.py"
    edited.chmod(0o644)
    edited.write_text(edited.read_text() + "EDITED = 'after the build'\n")
    result = run([sys.executable, "-I", "-S", "-B", "-c", STALE_CHILD, str(task_dir)], 60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["after", "the", "build", "True"]
