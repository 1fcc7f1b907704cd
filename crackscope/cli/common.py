"""Shared pieces of the command line: console, progress bars, error exit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)
out = Console()

T = TypeVar("T")


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


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar."""
    items = list(items) if total is None else items
    n = len(items) if total is None else total  # type: ignore[arg-type]
    with progress() as bar:
        task = bar.add_task(description, total=n)
        for item in items:
            yield item
            bar.advance(task)
