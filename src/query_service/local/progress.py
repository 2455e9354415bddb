"""A progress bar for a long run of writes (``simulate``, ``backfill``).

rich's bar, redrawn in place on a terminal; anywhere else (a log, CI) the same bar printed
as a line at each tenth of the way, since redrawing in place would only be noise there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f}/s")


class _Detail(ProgressColumn):
    def __init__(self, detail: Callable[[], str]) -> None:
        super().__init__()
        self._detail = detail

    def render(self, task: Task) -> Text:
        return Text(self._detail())


@contextmanager
def progress_bar(
    total: int,
    label: str,
    out: IO[str],
    unit: str = "writes",
    detail: Callable[[], str] | None = None,
) -> Iterator[Callable[[int], None]]:
    """``advance(count)`` for a bar of ``total`` ``unit`` on ``out``, labelled ``label``;
    ``detail`` (counts of its own, redrawn with the bar) adds them and the time left."""
    console = Console(file=out)
    extra: list[ProgressColumn] = []
    if detail is not None:
        extra = [_Detail(detail), TextColumn("left"), TimeRemainingColumn()]
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TextColumn(unit),
        _Rate(),
        TimeElapsedColumn(),
        *extra,
        console=console,
        disable=not console.is_terminal,
    )
    task = bar.add_task(label, total=total)
    printed = 0  # tenths printed, without a terminal

    def advance(count: int) -> None:
        nonlocal printed
        bar.advance(task, count)
        if bar.disable and total and bar.tasks[0].completed * 10 >= (printed + 1) * total:
            printed = int(bar.tasks[0].completed * 10 // total)
            console.print(bar.make_tasks_table(bar.tasks))

    with bar:
        yield advance
