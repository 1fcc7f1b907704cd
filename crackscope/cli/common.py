"""Shared pieces of the command line: console, progress bars, error exit."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)
out = Console()


def fail(message: str, code: int = 2) -> None:
    """Print a clear error and exit with ``code``."""
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def progress() -> Progress:
    """A rich progress bar for long work (shown on stderr; quiet when not a terminal)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


class ProgressBars:
    """The command line's progress callback (:data:`crackscope.progress.OnProgress`): one bar per task.

    A task that finishes while another is still running (the tiles of one photo during ``mapping``) is
    removed; the others stay on screen. Use it as a context manager around the work.
    """

    def __init__(self) -> None:
        self._bar = progress()
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressBars:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def __call__(self, task: str, done: int, total: int | None) -> None:
        if task not in self._tasks:
            self._tasks[task] = self._bar.add_task(task, total=total)
        tid = self._tasks[task]
        self._bar.update(tid, completed=done, total=total)
        if total is not None and done >= total:
            running = [t for t in self._bar.tasks if t.id != tid and not t.finished]
            if running:
                self._bar.remove_task(tid)
                del self._tasks[task]
