"""The progress bar simulate (and the backfill) write with."""

from __future__ import annotations

import io
import re

from query_service.local.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_a_terminal_it_prints_a_line_per_tenth() -> None:
    out = io.StringIO()
    with progress_bar(100, "simulate", out) as advance:
        for _ in range(100):
            advance(1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    assert [line.split()[0] for line in lines] == ["simulate"] * 10
    assert "10/100 writes" in lines[0] and "100/100 writes" in lines[-1]


def test_large_steps_print_one_line_per_step_that_crosses_a_tenth() -> None:
    out = io.StringIO()
    with progress_bar(1000, "backfill", out, unit="records") as advance:
        for _ in range(4):
            advance(250)
    lines = out.getvalue().splitlines()
    assert [line.split()[-4] for line in lines] == ["250/1000", "500/1000", "750/1000", "1000/1000"]
    assert all("records" in line for line in lines)


def test_on_a_terminal_it_redraws_one_bar() -> None:
    out = Terminal()
    with progress_bar(100, "simulate", out) as advance:
        for _ in range(100):
            advance(1)
    drawn = out.getvalue()
    assert "\x1b[?25l" in drawn  # a live display: the cursor hidden while it redraws
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)
    assert "100/100 writes" in text.splitlines()[-1]
    assert drawn.count("\n") <= 2  # one bar redrawn, not a line per step
