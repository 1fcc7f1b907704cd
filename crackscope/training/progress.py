"""Progress of a training run, told to an :data:`crackscope.progress.OnProgress` callback; the caller draws it.

Training draws nothing itself: the command line hands ``train`` its ``ProgressBars``, a script its own callback
(or none). The tasks are ``decoding train``/``val``/``test`` (items decoded into memory) and ``epoch i/N`` (the
training steps of each epoch).
"""

from __future__ import annotations

from collections.abc import Callable

from crackscope.progress import OnProgress, report


class StepProgress:
    """The steps of one task (an epoch), told to ``on_progress`` as ``(task, done, total)``.

    ``start()`` tells ``(task, 0, total)``, ``step()`` one more step done (the last one ``(task, total, total)``:
    the end), ``end()`` the end of a task stopped before its total (a time limit): ``(task, done, done)``, so a
    display shows the true count. Without a callback it only counts.

    Examples
    --------
    >>> calls = []
    >>> steps = StepProgress(lambda *a: calls.append(a), "epoch 1/2", 3)
    >>> steps.start(); steps.step(); steps.end()
    >>> calls
    [('epoch 1/2', 0, 3), ('epoch 1/2', 1, 3), ('epoch 1/2', 1, 1)]
    """

    def __init__(self, on_progress: OnProgress | None, task: str, total: int) -> None:
        self.on_progress = on_progress
        self.task = task
        self.total = max(0, int(total))
        self.done = 0

    def start(self) -> None:
        """Tell that the task starts."""
        report(self.on_progress, self.task, 0, self.total)

    def step(self) -> None:
        """Tell one more step done."""
        self.done += 1
        report(self.on_progress, self.task, self.done, self.total)

    def end(self) -> None:
        """Tell that the task stopped at the count it reached, if that is before its total (else the last step
        told the end)."""
        if self.done < self.total:
            report(self.on_progress, self.task, self.done, self.done)


def counted(on_progress: OnProgress | None, task: str, total: int) -> Callable[[int], None]:
    """A ``count -> None`` callback (as ``ItemDataset`` takes) that tells ``on_progress`` ``(task, count, total)``.

    Examples
    --------
    >>> calls = []
    >>> counted(lambda *a: calls.append(a), "decoding train", 4)(2)
    >>> calls
    [('decoding train', 2, 4)]
    """
    return lambda done: report(on_progress, task, done, total)
