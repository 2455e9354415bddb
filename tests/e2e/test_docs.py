"""Every curl example in README.md and docs/*.md, run against the session's local stack.

The conventions a doc example follows (docs/README.md explains them to writers):

- Runnable examples live in fenced ``bash``, ``sh``, ``shell`` or ``console`` blocks (a
  ``$ `` prompt is stripped). A ``curl`` there that calls ``localhost`` or ``127.0.0.1`` on
  a port of the local stack (3000 public, 8000 ECS, 4001 internal) is run with that port
  rewritten to the session stack's, through the real ``curl``.
- Each such command ends with ``# → NNN``: the HTTP status it answers. A command without
  it fails this test, so an example cannot be added unchecked.
- A ``json`` block right after the command's block is the body it answers; an ``http``
  block is the status line, the headers shown and the body. Keys must match (recursively),
  lists must have the same length and values must be equal, except: ``created_at``,
  ``updated_at``, an event's ``at``, ``as_of``, ``next_cursor`` and ``cursor`` compare by
  type only
  (timestamps follow the clock), a
  UUID matches any UUID, and the ``date``, ``server`` and ``content-length`` headers only
  need to be present.
- ``<name>`` in a command is filled with the field ``name`` of the JSON the previous
  command of the same file answered (``<next_cursor>`` continues a listing); the previous
  command is run again when its own test has not run first in the same process.
- A curl to the local stack outside a runnable block is an error: it would go unchecked.
"""

from __future__ import annotations

import itertools
import re
import shlex
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = {"bash", "sh", "shell", "console"}
OUTPUT = {"json", "http"}
LOCAL_URL = re.compile(r"\b(?:localhost|127\.0\.0\.1):(3000|8000|4001)\b")
MARKER = re.compile(r"\s+#\s*(?:→|->)\s*(\d{3})\s*$")
PLACEHOLDER = re.compile(r"<([a-z_]+)>")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
BY_TYPE = frozenset({"created_at", "updated_at", "at", "as_of", "next_cursor", "cursor"})
PRESENCE_HEADERS = frozenset({"date", "server", "content-length"})
# At least this many examples: a parser that silently finds none must not pass.
MIN_EXAMPLES = {"README.md": 8, "api.md": 12}


@dataclass
class Block:
    lang: str
    line: int  # of the opening fence, 1-based
    text: str


@dataclass
class Example:
    doc: str
    line: int
    command: str
    status: int | None
    expected: Block | None = None
    runnable: bool = True
    previous: Example | None = field(default=None, repr=False)
    answered: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def fenced_blocks(text: str) -> Iterator[Block]:
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"^(\s*)(`{3,})\s*([\w+-]*)", lines[i])
        if not opening:
            i += 1
            continue
        fence, lang, start = opening.group(2), opening.group(3).lower(), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        yield Block(lang, start + 1, "\n".join(body))
        i += 1


def commands(block: Block) -> Iterator[tuple[int, str]]:
    """(line, command) of each shell command, continuation lines joined."""
    pending: list[str] = []
    first = 0
    for offset, raw in enumerate(block.text.splitlines(), start=1):
        line = raw.rstrip()
        if block.lang == "console":
            if not pending and not line.startswith("$ "):
                continue  # output shown in a console block
            line = line.removeprefix("$ ") if not pending else line
        if not pending:
            first = block.line + offset
            if not line.strip() or line.lstrip().startswith("#"):
                continue
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        yield first, " ".join(part.strip() for part in pending)
        pending = []


def collect(path: Path) -> list[Example]:
    blocks = list(fenced_blocks(path.read_text(encoding="utf-8")))
    examples: list[Example] = []
    for index, block in enumerate(blocks):
        if block.lang not in RUNNABLE:
            if LOCAL_URL.search(block.text) and re.search(r"\bcurl\b", block.text):
                examples.append(Example(path.name, block.line, block.text, None, runnable=False))
            continue
        found = [
            (line, command)
            for line, command in commands(block)
            if re.match(r"^curl\b", command) and LOCAL_URL.search(command)
        ]
        for line, command in found:
            marker = MARKER.search(command)
            status = int(marker.group(1)) if marker else None
            examples.append(Example(path.name, line, command, status))
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if found and following is not None and following.lang in OUTPUT:
            examples[-1].expected = following
    for before, after in itertools.pairwise(examples):
        after.previous = before
    return examples


EXAMPLES = [example for doc in DOCS for example in collect(doc)]


def test_every_document_has_its_examples() -> None:
    counts: dict[str, int] = {}
    for example in EXAMPLES:
        counts[example.doc] = counts.get(example.doc, 0) + 1
    for doc, least in MIN_EXAMPLES.items():
        assert counts.get(doc, 0) >= least, f"{doc}: {counts.get(doc, 0)} curl examples found"


def _argv(example: Example, stack: Stack) -> list[str]:
    ports = {"3000": stack.ports.public, "8000": stack.ports.ecs, "4001": stack.ports.internal}
    command = MARKER.sub("", example.command)
    command = LOCAL_URL.sub(lambda m: f"127.0.0.1:{ports[m.group(1)]}", command)

    def fill(match: re.Match[str]) -> str:
        answered = _answer(example.previous, stack) if example.previous else None
        assert answered is not None, f"{example.id}: <{match.group(1)}> needs a JSON answer before"
        value = answered.get(match.group(1))
        assert isinstance(value, str), f"{example.id}: the previous answer has no {match.group(1)}"
        return value

    command = PLACEHOLDER.sub(fill, command)
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    operators = [t for t in lexer if t and set(t) <= set("();<>|&")]
    assert not operators and "$" not in command, (
        f"{example.id}: keep doc curl calls plain (no pipes, redirects, variables): "
        f"{example.command}"
    )
    return shlex.split(command)


def _run(example: Example, stack: Stack, dump: Path) -> tuple[int, dict[str, str], bytes]:
    """The example's curl: its status, headers and body; a JSON object answered is kept
    for the next example's ``<name>``."""
    argv = [*_argv(example, stack), "-D", str(dump), "--max-time", "20"]
    done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, f"{example.id}: curl failed: {done.stderr.decode()}"
    status, headers = _split_response(dump.read_bytes())
    body = done.stdout
    if re.search(r"\s-\w*i\w*\b|--include\b", example.command):
        body = body.replace(b"\r\n", b"\n").split(b"\n\n", 1)[-1]
    if "json" in headers.get("content-type", ""):
        parsed = orjson.loads(body)  # a JSON answer must parse
        example.answered = parsed if isinstance(parsed, dict) else None
    return status, headers, body


def _answer(example: Example, stack: Stack) -> dict[str, Any] | None:
    """What ``example`` answered: from its own test if that ran first in this process, else
    asked again now (each test stands alone, whatever order or worker runs it)."""
    if example.answered is None and example.runnable:
        with tempfile.TemporaryDirectory() as work:
            _run(example, stack, Path(work) / "headers")
    return example.answered


def _matches(expected: Any, actual: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        assert sorted(actual) == sorted(expected), f"{where}: keys {sorted(actual)}"
        for key, value in expected.items():
            if key in BY_TYPE:
                assert type(actual[key]) is type(value), f"{where}.{key}: {actual[key]!r}"
            else:
                _matches(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        assert len(actual) == len(expected), f"{where}: {len(actual)} items, not {len(expected)}"
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            _matches(want, got, f"{where}[{i}]")
    elif isinstance(expected, str) and UUID.match(expected):
        assert isinstance(actual, str) and UUID.match(actual), f"{where}: {actual!r}"
    else:
        assert actual == expected, f"{where}: {actual!r}, not {expected!r}"


def _check_output(example: Example, status: int, headers: dict[str, str], body: bytes) -> None:
    block = example.expected
    assert block is not None
    text = block.text.strip()
    if block.lang == "http":
        head, _, text = text.partition("\n\n")
        status_line, *header_lines = head.splitlines()
        assert int(status_line.split()[1]) == status, f"{example.id}: status {status}"
        for line in header_lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            assert name in headers, f"{example.id}: no {name} header in {sorted(headers)}"
            if name not in PRESENCE_HEADERS:
                _matches(value, headers[name], f"{example.id} header {name}")
    if text:
        _matches(orjson.loads(text), orjson.loads(body), example.id)


def _split_response(raw: bytes) -> tuple[int, dict[str, str]]:
    """Status and headers of the last response in a ``curl -D`` dump."""
    blocks = [b for b in raw.replace(b"\r\n", b"\n").split(b"\n\n") if b.strip()]
    status_line, *lines = blocks[-1].decode("latin-1").splitlines()
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_doc_example_answers_as_shown(example: Example, stack: Stack, tmp_path: Path) -> None:
    assert example.runnable, (
        f"{example.id}: a curl to the local stack outside a bash/sh/console block"
    )
    assert example.status is not None, (
        f"{example.id}: end the command with '# → <status>' so the doc test can check it"
    )
    status, headers, body = _run(example, stack, tmp_path / "headers")
    assert status == example.status, f"{example.id}: answered {status}: {body[:300]!r}"
    if example.expected is not None:
        _check_output(example, status, headers, body)
