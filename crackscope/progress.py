"""Progress reporting without a user interface: library code calls a callback, the CLI draws the bars.

A callback takes ``(task, done, total)``: a short description of the work (``"mapping"``, ``"tiles of
a.jpg"``), the units finished so far and the total (``None`` when unknown). It is called with ``done == 0``
when a task starts and with ``done == total`` when it ends. A task that stops before its total (a time limit,
an early stop) ends with the count it reached as both ``done`` and ``total`` (``(task, 52, 52)`` after
``(task, 51, 145)``), so that a display shows the true count. ``crackscope.cli.common.ProgressBars`` is the
command line's implementation; :class:`LineProgress` writes plain lines for logs and pipes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO

OnProgress = Callable[[str, int, "int | None"], None]


def report(on_progress: OnProgress | None, task: str, done: int, total: int | None) -> None:
    """Call ``on_progress`` if there is one."""
    if on_progress is not None:
        on_progress(task, done, total)


class LineProgress:
    """An :data:`OnProgress` that writes plain text, one line per update worth telling, for logs and pipes.

    A task gets a line when it starts, when it ends, and in between when it has crossed another ``step`` of its
    total (10 %) and ``interval`` seconds (2) have passed since the last line (for a task without a total: every
    ``interval`` seconds). The start and end lines of a task that runs inside another (the tiles of one photo
    during ``mapping``) are left out, so a batch of many photos stays a short log. No colour, no control codes.

    Examples
    --------
    >>> import io
    >>> lines = io.StringIO()
    >>> log = LineProgress(lines, clock=lambda: 0.0)
    >>> for done in range(0, 146):
    ...     log("epoch 1/12", done, 145)
    >>> print(lines.getvalue(), end="")
    epoch 1/12: 0/145 (0%)
    epoch 1/12: 145/145 (100%) done in 0:00:00
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        interval: float = 2.0,
        step: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval < 0 or not 0 < step <= 1:
            raise ValueError(f"interval must be >= 0 and step in (0, 1], got {interval} and {step}")
        self._stream = stream
        self._interval = interval
        self._step = step
        self._clock = clock
        self._started: dict[str, float] = {}
        self._totals: dict[str, int | None] = {}
        self._told: dict[str, tuple[float, int]] = {}  # task -> (time, step index) of its last line

    def __call__(self, task: str, done: int, total: int | None) -> None:
        now = self._clock()
        first = task not in self._started
        if first:
            self._started[task] = now
        before = self._totals.get(task)
        self._totals[task] = total
        finished = total is not None and done >= total
        inner = any(other != task for other in self._started)  # another task is running around this one
        if finished:
            started = self._started.pop(task)
            self._totals.pop(task, None)
            self._told.pop(task, None)
            stopped = before is not None and total is not None and total < before
            if not inner or stopped:
                self._write(self._line(task, done, before if stopped else total, now - started))
            return
        index = int(done / total / self._step) if total else 0
        last_time, last_index = self._told.get(task, (now, -1))
        due = now - last_time >= self._interval and (total is None or index > last_index)
        if (first and not inner) or (not first and due):
            self._told[task] = (now, index)
            self._write(self._line(task, done, total))
        elif first:
            self._told[task] = (now, index)

    def _line(self, task: str, done: int, total: int | None, elapsed: float | None = None) -> str:
        count = f"{done}" if total is None else f"{done}/{total} ({100 * done / total:.0f}%)" if total else "0/0"
        if elapsed is None:
            return f"{task}: {count}"
        return f"{task}: {count} {'done' if total is None or done >= total else 'stopped'} in {_clock(elapsed)}"

    def _write(self, line: str) -> None:
        stream = self._stream if self._stream is not None else sys.stderr  # the stream of the moment (tests swap it)
        stream.write(line + "\n")
        stream.flush()


def _clock(seconds: float) -> str:
    """``seconds`` as H:MM:SS."""
    whole = max(0, int(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
