"""Shared pieces of the command line: console, progress bars, error exit and the exit status of batch commands.

Exit status, the same for every command:

- 0: the work was done; for a batch command, at least one input succeeded (bad inputs are listed, with reasons);
- 2: a usage or argument error (a bad option, a run or data folder that does not exist or is not one);
- 3: inputs were given but none of them could be used (every file unreadable, a folder with no usable image,
  a data set left with nothing to learn from, such as a single class).

Status 1 is not used for any of these (Python itself exits with 1 on a crash).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

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


EXIT_USAGE = 2
EXIT_NOTHING_USED = 3


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print a clear error (plain text: a file named "[x].png" is printed as it is) and exit with ``code``."""
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def exit_for_batch(done: int, failed: int, *, what: str = "input") -> None:
    """The exit rule of every batch command, called when its work is over and its outputs are written.

    Returns (the command then exits with 0) when at least one input succeeded (``done`` > 0, inputs finished
    by an earlier run included); otherwise prints why and exits with :data:`EXIT_NOTHING_USED` (3).
    """
    if done > 0:
        return
    reason = f"none of the {failed} {what}(s) given could be used" if failed else f"no {what} to work on"
    console.print(
        f"[bold red]error:[/] {reason} (each is listed above with its problem)", highlight=False, soft_wrap=True
    )
    raise typer.Exit(EXIT_NOTHING_USED)


def holds_image_files(folder: str | Path) -> bool:
    """True when ``folder`` (or a folder below it) holds a name with an image extension; nothing is read."""
    from crackscope.io import is_image_file

    return any(is_image_file(name) for _dirpath, _dirnames, names in os.walk(folder) for name in names)


def fail_for_data(exc: BaseException, data: str | Path | None) -> NoReturn:
    """End a command whose library call refused to go on, with the status of :func:`exit_for_batch`'s rule.

    3 (inputs given, none usable) when ``exc`` is about DATA's contents (a BadInputError naming DATA or a file
    in it) and DATA holds image files; 2 (usage) otherwise: a bad option, a missing or empty folder, a folder
    that is no data set, a missing run or weights file.
    """
    fail(str(exc), EXIT_NOTHING_USED if _about_contents(exc, data) else EXIT_USAGE)


def _about_contents(exc: BaseException, data: str | Path | None) -> bool:
    """True when ``exc`` is a BadInputError naming DATA or a file in it, and DATA holds image files."""
    from crackscope.errors import BadInputError

    if not isinstance(exc, BadInputError) or exc.path is None or data is None:
        return False
    return _within(exc.path, Path(data)) and holds_image_files(data)


def _within(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a link loop
        return path.absolute().is_relative_to(folder.absolute())


def print_skipped(entries: list[tuple[str, str]], *, limit: int | None = None, more: str = "") -> None:
    """One ``skipped PATH: PROBLEM`` line per entry on stderr (the first ``limit``; ``more`` says where the rest is)."""
    from rich.markup import escape

    shown = entries if limit is None else entries[:limit]
    for path, problem in shown:  # escaped: a file may be called "[x].png"; never wrapped: one line per file
        console.print(f"[yellow]skipped[/] {escape(str(path))}: {escape(problem)}", highlight=False, soft_wrap=True)
    if len(entries) > len(shown):
        console.print(f"[yellow]... and {len(entries) - len(shown)} more[/]{more}", highlight=False)


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
