"""Progress reporting without a user interface: library code calls a callback, the CLI draws the bars.

A callback takes ``(task, done, total)``: a short description of the work (``"mapping"``, ``"tiles of
a.jpg"``), the units finished so far and the total (``None`` when unknown). It is called with ``done == 0``
when a task starts and with ``done == total`` when it ends; ``crackscope.cli.common.ProgressBars`` is the
command line's implementation.
"""

from __future__ import annotations

from collections.abc import Callable

OnProgress = Callable[[str, int, "int | None"], None]


def report(on_progress: OnProgress | None, task: str, done: int, total: int | None) -> None:
    """Call ``on_progress`` if there is one."""
    if on_progress is not None:
        on_progress(task, done, total)
