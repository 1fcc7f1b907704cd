"""``evaluate``: measure a trained classifier run on any labelled dataset."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from crackscope.errors import BadInputError
from crackscope.training.metrics import binary_metrics
from crackscope.training.run import ClassifierRun, as_run
from crackscope.training.torchdata import resize_square


def run_patch_options(run: ClassifierRun) -> dict[str, Any]:
    """The patch settings the run was trained with (used again for image + mask data)."""
    settings = ((run.config.get("data") or {}).get("patch_settings")) or {}
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
    from crackscope.inputs import INPUT_ERRORS, problem_of

    probabilities, labels, skipped = [], [], []

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
            done += len(chunk)
            if on_progress is not None:
                on_progress(done)
    if not probabilities:
        return np.empty(0), np.empty(0, np.int64), skipped
    return np.concatenate(probabilities), np.concatenate(labels), skipped


def evaluate(
    run: ClassifierRun | str | Path,
    data: str | Path,
    *,
    split: str | None = None,
    layout: str | None = None,
    batch_size: int = 64,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Accuracy, precision, recall, F1, ROC-AUC and confusion matrix of RUN on DATA at the run's threshold.

    DATA may be any layout; image + mask sets are cut into patches with the run's patch settings.
    ``split`` (``train``/``val``/``test``) keeps only the items the run's ``split.csv`` put there. Files that
    cannot be used (also at listing: FIFOs, broken links...) are in ``skipped``; the others are measured.
    """
    from crackscope.data.items import dataset_items
    from crackscope.inputs import nothing_usable, odd_entries

    run = as_run(run)
    data = Path(data)
    found = dataset_items(data, layout=layout, **run_patch_options(run))
    listed = [(str(path), problem) for path, problem in found.skipped]
    if found.dataset is not None:
        used = [p for s in found.dataset.samples for p in (s.path, s.mask_path) if p is not None]
        listed += [(str(p), why) for p, why in odd_entries(data, [*used, *(p for p, _ in found.skipped)])]
    items = list(found)
    if split is not None:
        from crackscope.data.splits import read_split_csv

        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        wanted = {it.key for it in read_split_csv(run.path / "split.csv")[split]}
        items = [it for it in items if it.key in wanted]
    if not items:
        raise BadInputError(data, "no labelled samples to evaluate on")
    total = len(items)
    report = None if on_progress is None else (lambda n: on_progress(n, total))
    probs, labels, skipped = score_items(run, items, batch_size=batch_size, on_progress=report)
    skipped = listed + skipped
    if labels.size == 0:
        raise nothing_usable(data, f"none of the {total} samples could be read", skipped)
    metrics = binary_metrics(labels, probs, threshold=run.threshold)
    metrics.update(
        {
            "run": str(run.path),
            "model": run.name,
            "data": str(data),
            "split": split,
            "skipped": [{"item": key, "problem": problem} for key, problem in skipped],
        }
    )
    return metrics
