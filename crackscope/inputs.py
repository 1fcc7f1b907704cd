"""Batch inputs: expanding files, folders and patterns one input at a time, and reporting the bad ones.

Every batch command (``predict``, ``map``, ``explain``, ``inspect``, ``evaluate``, ``selftrain``, ``train``,
``train-restorer``) goes through these, so one bad input is reported with its reason and never ends the batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from crackscope.errors import BadInputError, CrackscopeError

# What one bad input may raise while it is read or processed: reported for that input, never the end of a batch.
# (PIL's DecompressionBombError is neither an OSError nor a ValueError.)
INPUT_ERRORS: tuple[type[BaseException], ...] = (
    CrackscopeError,
    OSError,
    ValueError,
    RuntimeError,
    MemoryError,
    Image.DecompressionBombError,
)


def sample_paths(paths: Iterable[str | Path], *, max_photos: int, seed: int) -> list[Path]:
    """The distinct ``paths`` in name order, or a seeded sample of ``max_photos`` of them (in name order).

    Raises
    ------
    ValueError
        If ``max_photos`` is below 1.

    Examples
    --------
    >>> [p.name for p in sample_paths(["b.png", "a.png", "b.png"], max_photos=5, seed=0)]
    ['a.png', 'b.png']
    """
    if max_photos < 1:
        raise ValueError(f"max_photos must be at least 1, got {max_photos}")
    chosen = sorted({Path(p) for p in paths})
    if len(chosen) > max_photos:
        rng = np.random.default_rng(seed)
        chosen = sorted(chosen[i] for i in rng.choice(len(chosen), size=max_photos, replace=False))
    return chosen


def problem_of(exc: BaseException) -> str:
    """The reason to report for an input that failed with ``exc`` (a BadInputError's own problem text)."""
    if isinstance(exc, BadInputError):
        return exc.problem
    return f"{type(exc).__name__}: {exc}"


def nothing_usable(
    where: str | Path | None, summary: str, skipped: Sequence[tuple[object, str]], *, limit: int = 50
) -> BadInputError:
    """The error of a batch in which no input could be used: ``summary``, then each input with its problem (the
    first ``limit``), one per line, so the user sees every reason and not only the first."""
    lines = [f"  {path}: {problem}" for path, problem in skipped[:limit]]
    if len(skipped) > limit:
        lines.append(f"  ... and {len(skipped) - limit} more")
    return BadInputError(where, "\n".join([summary + (":" if lines else ""), *lines]))


def odd_entries(folder: str | Path, used: Iterable[Path] = ()) -> list[tuple[Path, str]]:
    """Entries of ``folder`` (and below) named like images that are no image file, with the reason: FIFOs and
    other special files, broken links, link loops, and folders named like images from which no file of
    ``used`` comes. Folder listings pass these over in silence; batch commands report them. Nothing is opened.
    """
    from crackscope.io import is_image_file, list_images

    found = set(used)
    odd: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in sorted([*dirnames, *filenames]):
            path = Path(dirpath) / name
            if not is_image_file(path) or path in found or os.path.isfile(path):
                continue
            try:  # the listing's own refusal says what it is (a FIFO, a link loop, an empty folder, ...)
                inside = list_images([path])
            except INPUT_ERRORS as exc:
                odd.append((path, problem_of(exc)))
                continue
            if not any(f in found for f in inside):
                odd.append((path, "a folder named like an image, not an image file"))
    return odd


def expand_inputs(inputs: Iterable[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The image files of each input (a file, a folder or a glob pattern), and the inputs that name none.

    Each input is expanded on its own (:func:`crackscope.io.list_images`), so one bad input never stops the
    others. Reported, with the reason: a path that does not exist, a FIFO, a broken symbolic link or a link loop
    (never opened, so a FIFO cannot block), a folder or pattern with no image file (a folder named ``x.jpg``
    included), and inside a folder, entries named like images that are none (:func:`odd_entries`). Files are
    not read here; a file listed twice is kept once.
    """
    from crackscope.io import list_images

    paths: list[Path] = []
    problems: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for item in inputs:
        given = Path(str(item))
        try:
            found = list_images([item])
        except INPUT_ERRORS as exc:
            problems.append((given, problem_of(exc)))
            continue
        if os.path.isdir(given):
            problems.extend(odd_entries(given, found))
            if not found:
                problems.append((given, "folder holding no image file"))
        elif not found:
            problems.append((given, "matches no image file"))
        for path in found:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                paths.append(path)
    return paths, problems
