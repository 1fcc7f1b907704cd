"""Errors that name the file and the problem, and the warning class of crackscope."""

from __future__ import annotations

from pathlib import Path


class CrackscopeError(Exception):
    """Base class for errors crackscope raises on purpose."""


class BadInputError(CrackscopeError, ValueError):
    """An input file or folder that cannot be used; the message names it and says why."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


class TooManyPixelsError(BadInputError):
    """An image whose header declares more pixels than the reader's limit (nothing of it was decoded)."""


class DeviceError(CrackscopeError, ValueError):
    """A torch device that is not on this machine, or a name that is no device; the message is one line naming it.

    Raised before any work starts (``crackscope.devices.resolve_device``), so the command line shows it as a usage
    error: ``device 'cuda' is not available on this machine (torch was built without CUDA)``.
    """

    def __init__(self, device: str, problem: str) -> None:
        self.device = device
        self.problem = problem
        super().__init__(f"device {device!r} {problem}")


class CrackscopeWarning(UserWarning):
    """Something usable but doubtful about an input (a lossy mask, a mask that is crack everywhere, ...).

    The message starts with the file it is about.
    """
