"""Errors that name the file and the problem."""

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
