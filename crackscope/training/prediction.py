"""``predict``: classify image files with a trained run, optionally writing the study's submission CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from crackscope.errors import BadInputError
from crackscope.io import list_images, read_image, write_text_atomic
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

    A file that cannot be read is reported in ``.skipped`` and left out; the others are still predicted.
    With ``csv`` the rows are written there (``filename,class`` [``,probability``]) atomically.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    run = as_run(run)
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    paths = list_images(inputs)
    if not paths:
        raise BadInputError(None, "no image files among the inputs")
    names = dict(zip(paths, _display_names(paths), strict=True))
    result = Predictions()
    for start in range(0, len(paths), batch_size):
        chunk, images = [], []
        for path in paths[start : start + batch_size]:
            try:
                images.append(read_image(path))
                chunk.append(path)
            except BadInputError as exc:
                result.skipped.append((path, exc.problem))
        if images:
            for path, p in zip(chunk, run.predict_proba(images), strict=True):
                cls = CLASS_NAMES[bool(p >= run.threshold)]
                result.append({"filename": names[path], "path": str(path), "class": cls, "probability": float(p)})
        if on_progress is not None:
            on_progress(min(start + batch_size, len(paths)), len(paths))
    if csv is not None:
        write_text_atomic(csv, predictions_csv(result, probability=probability))
    return result
