"""Rich progress bars for training: one bar per epoch, with the running loss."""

from __future__ import annotations

from typing import Any

from rich import progress as rp
from rich.console import Console
from rich.progress import TaskID


class TrainingProgress:
    """A thin wrapper over ``rich.progress.Progress`` that can be switched off (tests, libraries)."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.console = Console(stderr=True)
        self._bar = rp.Progress(
            rp.TextColumn("[bold]{task.description}"),
            rp.BarColumn(),
            rp.MofNCompleteColumn(),
            rp.TimeElapsedColumn(),
            rp.TimeRemainingColumn(),
            rp.TextColumn("{task.fields[info]}"),
            console=self.console,
            disable=not enabled,
        )
        self._loss: dict[TaskID, tuple[float, int]] = {}

    def __enter__(self) -> TrainingProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.__exit__(*exc)

    def start_task(self, description: str, *, total: int) -> TaskID:
        return self._bar.add_task(description, total=max(total, 0), info="")

    def update(self, task: TaskID, *, completed: int) -> None:
        self._bar.update(task, completed=completed)

    def advance(self, task: TaskID, *, loss: float | None = None) -> None:
        info = ""
        if loss is not None:
            total, n = self._loss.get(task, (0.0, 0))
            total, n = total + loss, n + 1
            self._loss[task] = (total, n)
            info = f"loss {total / n:.4f}"
        self._bar.update(task, advance=1, info=info)

    def finish_task(self, task: TaskID, *, summary: str = "") -> None:
        self._bar.update(task, completed=self._bar.tasks[task].total or 0, info=summary)

    def print(self, message: str) -> None:
        if self.enabled:
            self._bar.console.print(message, highlight=False)
