"""Progress on the command line: plain lines when the output is no terminal, bars that fit 80 columns and stop
at the true count (issue 19)."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from rich.progress import Progress

from crackscope.cli.common import DESCRIPTION_WIDTH, ProgressBars, progress_columns
from crackscope.progress import LineProgress

CONTROL = re.compile(r"\x1b|\r")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_are_rate_limited() -> None:
    """One line at the start and at the end, and between them one per 10 % step at most every 2 s."""
    stream, clock = io.StringIO(), Clock()
    log = LineProgress(stream, clock=clock)
    for done in range(1001):
        clock.now = done * 0.1  # 100 s in all: many updates a second
        log("mapping", done, 1000)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "mapping: 0/1000 (0%)"
    assert lines[-1] == "mapping: 1000/1000 (100%) done in 0:01:40"
    assert 10 <= len(lines) <= 12, lines  # the start, the 10 % steps, the end: not 1001 lines
    assert not any(CONTROL.search(line) for line in lines)


def test_plain_lines_wait_for_the_interval() -> None:
    """Fast work gets its first and last line only; a task without a total gets a line every 2 s."""
    stream, clock = io.StringIO(), Clock()
    log = LineProgress(stream, clock=clock)
    for done in range(101):
        clock.now = done * 0.001
        log("fast", done, 100)
    assert stream.getvalue().splitlines() == ["fast: 0/100 (0%)", "fast: 100/100 (100%) done in 0:00:00"]

    stream, clock = io.StringIO(), Clock()
    log = LineProgress(stream, clock=clock)
    for done in range(100):
        clock.now = done * 0.1  # 10 s
        log("reading", done, None)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "reading: 0" and 4 <= len(lines) <= 6, lines


def test_plain_lines_say_where_a_task_stopped_early() -> None:
    """A task that ends below its total (a time limit) reports its true count, not the total."""
    stream, clock = io.StringIO(), Clock()
    log = LineProgress(stream, clock=clock)
    for done in range(53):
        log("epoch 1/12", done, 145)
    clock.now = 61.0
    log("epoch 1/12", 52, 52)
    last = stream.getvalue().splitlines()[-1]
    assert last == "epoch 1/12: 52/145 (36%) stopped in 0:01:01"


def test_plain_lines_leave_out_short_inner_tasks() -> None:
    """The tiles of each photo during ``mapping`` add no line of their own when they are quick."""
    stream, clock = io.StringIO(), Clock()
    log = LineProgress(stream, clock=clock)
    log("mapping", 0, 3)
    for i in range(3):
        for tile in range(5):
            log(f"tiles of {i}.jpg", tile, 4)
        log("mapping", i + 1, 3)
    assert stream.getvalue().splitlines() == ["mapping: 0/3 (0%)", "mapping: 3/3 (100%) done in 0:00:00"]


def test_line_progress_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="interval"):
        LineProgress(io.StringIO(), step=0)


def test_progress_bars_are_plain_lines_when_not_a_terminal() -> None:
    """Piped output gets the lines as the work goes, not rich bars drawn once at the end."""
    stream = io.StringIO()
    with ProgressBars(console=Console(file=stream, force_terminal=False, width=80)) as bars:
        assert bars.plain
        bars("mapping", 0, 2)
        assert stream.getvalue() == "mapping: 0/2 (0%)\n"  # written at once
        bars("mapping", 2, 2)
    text = stream.getvalue()
    assert text.splitlines()[-1].startswith("mapping: 2/2 (100%) done in")
    assert not CONTROL.search(text)


def render(progress: Progress) -> list[str]:
    """The bars as an 80-column terminal shows them."""
    console = Console(width=80, file=io.StringIO(), record=True, force_terminal=True, color_system=None)
    console.print(progress.get_renderable())
    return console.export_text().splitlines()


def test_bars_fit_in_80_columns() -> None:
    progress = Progress(*progress_columns(), console=Console(width=80, file=io.StringIO()), auto_refresh=False)
    progress.add_task("epoch 1/12", total=145, completed=52)
    progress.add_task("tiles of a_photo_with_a_rather_long_file_name_20240101.jpg", total=12345, completed=12344)
    lines = render(progress)
    assert len(lines) == 2
    assert all(len(line) <= 80 for line in lines), lines
    assert lines[0].startswith("epoch 1/12 ") and "52/145" in lines[0]  # not cut to "epoch…"
    assert "12344/12345" in lines[1] and "…" in lines[1]  # a long name is cut, the counts are not
    assert len(lines[1].split(" ")[0]) <= DESCRIPTION_WIDTH


def test_bars_stop_at_the_true_count() -> None:
    """After a time-limit stop (the last call lowers the total to the count reached) the bar says so."""
    console = Console(width=80, file=io.StringIO(), force_terminal=True)
    bars = ProgressBars(console=console)
    assert not bars.plain
    bars("epoch 3/12", 0, 145)
    bars("epoch 3/12", 52, 145)
    bars("epoch 3/12", 52, 52)
    line = render(bars._bar)[0]
    assert "epoch 3/12 (stopped)" in line and "52/52" in line and "145" not in line
