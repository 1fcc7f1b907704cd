"""``predict``: classify image files with a trained run, optionally writing the study's submission CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from crackscope.io import read_image, write_text_atomic
from crackscope.training.run import ClassifierRun, as_run

CLASS_NAMES = {True: "cracked", False: "uncracked"}


class Predictions(list[dict[str, Any]]):
    """Rows ``{"filename", "path", "class", "probability"}`` plus the ``skipped`` files with their problem."""

    def __init__(self, rows: Iterable[dict[str, Any]] = (), skipped: Iterable[tuple[Path, str]] = ()) -> None:
        super().__init__(rows)
        self.skipped: list[tuple[Path, str]] = list(skipped)


def _display_names(paths: list[Path]) -> list[str]:
    """File names as the study's CSV has them; the full path when two inputs share a name."""
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(p) for p in paths]


def predictions_csv(rows: Iterable[dict[str, Any]], *, probability: bool = False) -> str:
    """``filename,class`` (``cracked``/``uncracked``), plus ``probability`` (6 decimals) when asked."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["filename", "class", "probability"] if probability else ["filename", "class"])
    for row in rows:
        values = [row["filename"], row["class"]]
        if probability:
            values.append(f"{row['probability']:.6f}")
        writer.writerow(values)
    return buf.getvalue()


def predict(
    run: ClassifierRun | str | Path,
    inputs: Iterable[str | Path] | str | Path,
    *,
    csv: str | Path | None = None,
    probability: bool = False,
    batch_size: int = 32,
    on_progress: Callable[[int, int], None] | None = None,
) -> Predictions:
    """Classify files, folders and glob patterns of images with RUN at its stored threshold.

    A file that cannot be read or classified, and an input that names no image (a missing path, a folder or
    pattern with no image file, a FIFO, a broken link), is reported in ``.skipped`` and left out; the others are
    still predicted. With ``csv`` the rows are written there (``filename,class`` [``,probability``])
    atomically, after every batch and when the work stops, so finished predictions are never lost (a header-only
    CSV when nothing could be predicted).
    """
    from crackscope.inputs import INPUT_ERRORS, expand_inputs, problem_of
    from crackscope.training.torchdata import photo_input

    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    run = as_run(run)
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    paths, problems = expand_inputs(inputs)
    names = dict(zip(paths, _display_names(paths), strict=True))
    result = Predictions(skipped=problems)
    try:
        for start in range(0, len(paths), batch_size):
            chunk, images = [], []
            for path in paths[start : start + batch_size]:
                try:
                    # fill around a photo painted over, and shrunk to the model's input at once (photo_input)
                    images.append(photo_input(read_image(path), run.image_size))
                    chunk.append(path)
                except INPUT_ERRORS as exc:
                    result.skipped.append((path, problem_of(exc)))
            for path, p in _probabilities(run, chunk, images, result.skipped):
                cls = CLASS_NAMES[bool(p >= run.threshold)]
                result.append({"filename": names[path], "path": str(path), "class": cls, "probability": float(p)})
            if csv is not None and images:
                write_text_atomic(csv, predictions_csv(result, probability=probability))
            if on_progress is not None:
                on_progress(min(start + batch_size, len(paths)), len(paths))
    finally:
        if csv is not None:
            write_text_atomic(csv, predictions_csv(result, probability=probability))
    return result


def _probabilities(
    run: ClassifierRun, paths: list[Path], images: list[np.ndarray], skipped: list[tuple[Path, str]]
) -> list[tuple[Path, float]]:
    """Crack probabilities of a batch; when the batch fails, each image on its own (a bad one is skipped)."""
    from crackscope.inputs import INPUT_ERRORS, problem_of

    if not images:
        return []
    try:
        return list(zip(paths, (float(p) for p in run.predict_proba(images)), strict=True))
    except INPUT_ERRORS:
        pass  # find the image that fails
    out: list[tuple[Path, float]] = []
    for path, image in zip(paths, images, strict=True):
        try:
            out.append((path, float(run.predict_proba([image])[0])))
        except INPUT_ERRORS as exc:
            skipped.append((path, problem_of(exc)))
    return out
