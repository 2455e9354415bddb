"""The dead-letter file under two writers: the stream tier appends while a replay removes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from query_service.durable import append_line, read_lines, remove_lines


def _append(path: Path, first: int, count: int) -> None:
    for n in range(first, first + count):
        append_line(path, {"letter": n})


def test_removing_lines_keeps_those_appended_meanwhile_by_another_process(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dlq.jsonl"
    _append(path, 0, 50)
    resolved = read_lines(path)[::2]  # every other letter was replayed
    writer = multiprocessing.get_context("spawn").Process(target=_append, args=(path, 50, 300))
    writer.start()
    while len(read_lines(path)) < 60 and writer.is_alive():
        pass  # until it is appending
    removed = sum(remove_lines(path, [line]) for line in resolved)  # 25 rewrites meanwhile
    writer.join(60)
    assert writer.exitcode == 0 and removed == 25
    left = [int(line.split(b":")[1].rstrip(b"}")) for line in read_lines(path)]
    assert left == [n for n in range(350) if n >= 50 or n % 2]


def test_a_line_given_twice_is_removed_twice_and_an_absent_one_not_at_all(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dlq.jsonl"
    for _ in range(3):
        append_line(path, {"same": 1})
    assert remove_lines(path, [b'{"same":1}', b'{"same":1}', b'{"other":2}']) == 2
    assert read_lines(path) == [b'{"same":1}']
    assert remove_lines(tmp_path / "none.jsonl", [b"x"]) == 0
