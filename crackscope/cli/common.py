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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column

console = Console(stderr=True)
out = Console()
_STDERR = console  # for the functions with a ``console`` parameter


EXIT_USAGE = 2
EXIT_NOTHING_USED = 3


def print_error(message: str) -> None:
    """Print one error on stderr the way every error of the command line starts: ``error: message``.

    Plain text: a file named "[x].png" is printed as it is.
    """
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print a clear error (:func:`print_error`) and exit with ``code``."""
    print_error(message)
    raise typer.Exit(code)


def exit_for_batch(done: int, failed: int, *, what: str = "input") -> None:
    """The exit rule of every batch command, called when its work is over and its outputs are written.

    Returns (the command then exits with 0) when at least one input succeeded (``done`` > 0, inputs finished
    by an earlier run included); otherwise prints why and exits with :data:`EXIT_NOTHING_USED` (3).
    """
    if done > 0:
        return
    reason = f"none of the {failed} {what}(s) given could be used" if failed else f"no {what} to work on"
    fail(f"{reason} (each is listed above with its problem)", EXIT_NOTHING_USED)


def holds_image_files(folder: str | Path) -> bool:
    """True when ``folder`` (or a folder below it) holds a name with an image extension; nothing is read."""
    from crackscope.io import is_image_file

    return any(is_image_file(name) for _dirpath, _dirnames, names in os.walk(folder) for name in names)


def fail_for_data(exc: BaseException, data: str | Path | Sequence[str | Path] | None) -> NoReturn:
    """End a command whose library call refused to go on, with the status of :func:`exit_for_batch`'s rule.

    3 (inputs given, none usable) when ``exc`` is about DATA's contents (a BadInputError naming DATA or a file
    in it) and DATA holds image files; 2 (usage) otherwise: a bad option, a missing or empty folder, a folder
    that is no data set, a missing run or weights file. DATA may be several folders (the sources of one run):
    then the folder the error names counts.
    """
    fail(str(exc), EXIT_NOTHING_USED if _about_contents(exc, data) else EXIT_USAGE)


def _about_contents(exc: BaseException, data: str | Path | Sequence[str | Path] | None) -> bool:
    """True when ``exc`` is a BadInputError naming a DATA folder or a file in it, and that folder holds image
    files."""
    from crackscope.errors import BadInputError

    if not isinstance(exc, BadInputError) or exc.path is None or data is None:
        return False
    folders = [data] if isinstance(data, str | Path) else list(data)
    return any(_within(exc.path, Path(folder)) and holds_image_files(folder) for folder in folders)


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


DESCRIPTION_WIDTH = 32
"""Widest task description a bar shows (longer ones end in an ellipsis), so that a bar fits in 80 columns."""


def progress_columns() -> tuple[ProgressColumn, ...]:
    """The columns of every bar: at most 32 + 20 + 11 + 7 + 5 characters and four spaces, so 79 columns."""
    return (
        TextColumn(
            "{task.description}",
            style="bold",
            markup=False,  # a file may be called "[x].png"
            table_column=Column(no_wrap=True, overflow="ellipsis", max_width=DESCRIPTION_WIDTH),
        ),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(compact=True),
    )


class ProgressBars:
    """The command line's progress callback (:data:`crackscope.progress.OnProgress`): one bar per task.

    On a terminal, rich bars that fit in 80 columns: a task that finishes while another is still running (the
    tiles of one photo during ``mapping``) is removed, the others stay on screen, and a task that stopped before
    its total (its last call lowers the total to the count reached) is marked "(stopped)" at its true count.
    Otherwise (a pipe, a log file, a test) plain lines through :class:`crackscope.progress.LineProgress`. Use it
    as a context manager around the work.
    """

    def __init__(self, *, console: Console | None = None) -> None:
        from crackscope.progress import LineProgress

        self._console = console if console is not None else _STDERR
        self._bar = Progress(*progress_columns(), console=self._console, transient=False)
        self._lines = None if self._console.is_terminal else LineProgress(self._console.file)
        self._tasks: dict[str, TaskID] = {}

    @property
    def plain(self) -> bool:
        """True when progress is written as plain lines (output is not a terminal)."""
        return self._lines is not None

    def __enter__(self) -> ProgressBars:
        if self._lines is None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lines is None:
            self._bar.stop()

    def __call__(self, task: str, done: int, total: int | None) -> None:
        if self._lines is not None:
            self._lines(task, done, total)
            return
        if task not in self._tasks:
            self._tasks[task] = self._bar.add_task(task, total=total)
        tid = self._tasks[task]
        before = next(t.total for t in self._bar.tasks if t.id == tid)
        stopped = total is not None and before is not None and total < before and done >= total
        self._bar.update(tid, completed=done, total=total, description=f"{task} (stopped)" if stopped else task)
        if total is not None and done >= total:
            running = [t for t in self._bar.tasks if t.id != tid and not t.finished]
            if running:
                self._bar.remove_task(tid)
                del self._tasks[task]


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner with ``message`` on a terminal, one plain line otherwise, for work that reports no progress."""
    if console.is_terminal:
        with console.status(message):
            yield
    else:
        console.print(f"{message} ...", markup=False, highlight=False, soft_wrap=True)
        yield


LAYOUTS_HELP = "class-folders, filename-labels or image-mask"
LAYOUT_OPTION = typer.Option(
    None,
    "--layout",
    metavar="LAYOUT",
    help=f"Data set layout: {LAYOUTS_HELP} (default: detected).",
)
"""The ``--layout`` option of every command that reads a data set (one object, one help text)."""


def check_layout(layout: str | None) -> None:
    """End the command (status 2) when ``layout`` is given and is not one of the layouts crackscope reads."""
    from crackscope.data.layouts import LAYOUTS

    if layout is not None and layout not in LAYOUTS:
        fail(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")


DEVICE_HELP = "Torch device: auto (a CUDA GPU when one is visible, else MPS, else the CPU), cpu, cuda, cuda:N or mps."
DEVICE_OPTION = typer.Option("auto", "--device", metavar="DEVICE", help=DEVICE_HELP)
"""The ``--device`` option of every command that runs a model (one object, one help text)."""


def check_device(device: str) -> str:
    """``device`` as a normalised name (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``), checked to be on this
    machine before any work starts; a device that is not there ends the command (status 2) with one line naming
    it (``error: device 'cuda' is not available on this machine (...)``), never a traceback.

    The name, not the torch device, is what the library is given: ``auto`` stays ``auto`` (under ``torchrun``
    each process then takes the GPU of its ``LOCAL_RANK``).
    """
    from crackscope.devices import check_device_name, resolve_device
    from crackscope.errors import DeviceError

    try:
        resolve_device(device)
        return check_device_name(device)
    except DeviceError as exc:
        fail(str(exc))


def is_main_process() -> bool:
    """False in the processes of a ``torchrun`` run other than the first (rank 0), which alone prints results
    and draws progress; True otherwise."""
    from crackscope.training.distributed import torchrun_environment

    try:
        env = torchrun_environment()
    except ValueError as exc:  # RANK or WORLD_SIZE that is not a number
        fail(str(exc))
    return env is None or env[0] == 0


@contextmanager
def progress_bars(show: bool = True) -> Iterator[ProgressBars | None]:
    """:class:`ProgressBars` around the work when ``show``, else None (no progress: ``--quiet``, or a process of
    a ``torchrun`` run other than the first)."""
    if not show:
        yield None
        return
    with ProgressBars() as bars:
        yield bars
