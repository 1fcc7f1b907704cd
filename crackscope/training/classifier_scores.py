"""``evaluate``: measure a trained classifier run on any labelled dataset, or on several data sources."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crackscope.errors import BadInputError
from crackscope.training.metrics import binary_metrics, expected_calibration_error, per_source_metrics
from crackscope.training.run import ClassifierRun, as_run
from crackscope.training.torchdata import resize_square

if TYPE_CHECKING:
    from crackscope.data.items import ItemList
    from crackscope.data.sources import DataSource


def run_patch_options(run: ClassifierRun, source: DataSource | None = None) -> dict[str, Any]:
    """The patch settings the run was trained with (used again for image + mask data).

    With a data ``source`` that the run was trained on (same folder), that source's own patch settings.
    """
    data = run.config.get("data") or {}
    settings = data.get("patch_settings") or {}
    if source is not None:
        for entry in data.get("sources") or []:
            path = entry.get("path") if isinstance(entry, dict) else None
            if path and Path(path).resolve() == source.path.resolve():
                settings = entry.get("patch_settings") or settings
                break
    return {k: int(settings[k]) for k in ("patch_size", "stride") if settings.get(k)}


def score_items(
    run: ClassifierRun,
    items: Sequence[Any],
    *,
    batch_size: int = 64,
    threads: int = 2,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Probabilities and labels of ``items``; unreadable items are skipped and returned with the reason."""
    probabilities, labels, _, skipped = _score_items(
        run, items, batch_size=batch_size, threads=threads, on_progress=on_progress
    )
    return probabilities, labels, skipped


def _score_items(
    run: ClassifierRun,
    items: Sequence[Any],
    *,
    batch_size: int,
    threads: int = 2,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str], list[tuple[str, str]]]:
    """``score_items`` plus the data source of each item scored (``""`` when it names none)."""
    from crackscope.inputs import INPUT_ERRORS, problem_of

    probabilities, labels, skipped = [], [], []
    sources: list[str] = []

    def load(item: Any) -> np.ndarray | None:
        try:
            return resize_square(item.load(), run.image_size)
        except INPUT_ERRORS as exc:
            skipped.append((item.key, problem_of(exc)))
            return None

    done = 0
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for start in range(0, len(items), batch_size):
            chunk = list(items[start : start + batch_size])
            pixels = list(pool.map(load, chunk))
            good = [(p, it) for p, it in zip(pixels, chunk, strict=True) if p is not None]
            if good:
                probabilities.append(run.predict_proba([p for p, _ in good], batch_size=batch_size))
                labels.append(np.array([int(it.label) for _, it in good]))
                sources.extend(it.source for _, it in good)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done)
    if not probabilities:
        return np.empty(0), np.empty(0, np.int64), sources, skipped
    return np.concatenate(probabilities), np.concatenate(labels), sources, skipped


def _found_items(
    run: ClassifierRun, data: Path | Sequence[DataSource], layout: str | None
) -> tuple[list[Any], list[tuple[str, str]]]:
    """The items of DATA (one folder, or several sources labelled with their names) and the files left out."""
    from crackscope.data.items import dataset_items
    from crackscope.inputs import odd_entries

    if isinstance(data, Path):
        parts: list[tuple[Path, ItemList]] = [(data, dataset_items(data, layout=layout, **run_patch_options(run)))]
    else:
        from dataclasses import replace

        from crackscope.data.sources import source_items

        parts = []
        for source in data:
            if source.layout is None and layout is not None:
                source = replace(source, layout=layout)
            found = source_items([source], **run_patch_options(run, source)).parts[source.name]
            parts.append((source.path, found))
    items: list[Any] = []
    listed: list[tuple[str, str]] = []
    for root, found in parts:
        items.extend(found)
        listed += [(str(path), problem) for path, problem in found.skipped]
        if found.dataset is not None:
            used = [p for s in found.dataset.samples for p in (s.path, s.mask_path) if p is not None]
            listed += [(str(p), why) for p, why in odd_entries(root, [*used, *(p for p, _ in found.skipped)])]
    return items, listed


def evaluate(
    run: ClassifierRun | str | Path,
    data: str | Path | Sequence[DataSource],
    *,
    split: str | None = None,
    layout: str | None = None,
    batch_size: int = 64,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Accuracy, precision, recall, F1, ROC-AUC, confusion matrix and ECE of RUN on DATA at the run's threshold.

    DATA may be any layout; image + mask sets are cut into patches with the run's patch settings. DATA may
    also be several data sources (``crackscope.data.sources.read_sources``): the report then has the scores
    of all samples together plus ``sources`` (``{name: {n, cracked, accuracy, precision, recall, f1, roc_auc,
    ece}}``), and a source the run was trained on is cut with that source's patch settings.
    ``split`` (``train``/``val``/``test``) keeps only the items the run's ``split.csv`` put there. Files that
    cannot be used (also at listing: FIFOs, broken links...) are in ``skipped``; the others are measured.

    Raises
    ------
    BadInputError
        If DATA (or a source) cannot be read or has no labelled sample to evaluate on, or none can be read.
    ValueError
        If ``split`` is not train, val or test.
    """
    from crackscope.inputs import nothing_usable

    run = as_run(run)
    several = not isinstance(data, str | Path)
    where: Path | None
    if isinstance(data, str | Path):
        data = where = Path(data)
    else:
        data = tuple(data)
        where = data[0].path if len(data) == 1 else None
    if split is not None and split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    items, listed = _found_items(run, data, layout)
    if split is not None:
        from crackscope.data.splits import read_split_csv

        wanted = {it.key for it in read_split_csv(run.path / "split.csv")[split]}
        items = [it for it in items if it.key in wanted]
    if not items:
        raise BadInputError(where, "no labelled samples to evaluate on")
    total = len(items)
    report = None if on_progress is None else (lambda n: on_progress(n, total))
    probs, labels, sources, skipped = _score_items(run, items, batch_size=batch_size, on_progress=report)
    skipped = listed + skipped
    if labels.size == 0:
        raise nothing_usable(where, f"none of the {total} samples could be read", skipped)
    metrics = binary_metrics(labels, probs, threshold=run.threshold)
    metrics["ece"] = expected_calibration_error(labels, probs)
    if several:
        metrics["sources"] = per_source_metrics(labels, probs, sources, threshold=run.threshold).to_dict()["sources"]
    metrics.update(
        {
            "run": str(run.path),
            "model": run.name,
            "data": str(data) if isinstance(data, Path) else [s.to_dict() for s in data],
            "split": split,
            "skipped": [{"item": key, "problem": problem} for key, problem in skipped],
        }
    )
    return metrics
