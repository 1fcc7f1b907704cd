"""Items of a dataset and their train/val/test split for a run (a new seeded split, or a given CSV)."""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from crackscope.errors import BadInputError

if TYPE_CHECKING:
    from crackscope.data.items import ItemList, LabelledItem, PhotoCache
    from crackscope.training.options import TrainSettings

log = logging.getLogger(__name__)

SPLIT_FILE = "split.csv"
SPLIT_NAMES = ("train", "val", "test")
SKIPPED_FILE = "skipped.txt"  # every file a run left out, one ``path<TAB>problem`` line each


def load_items(data: Path, settings: TrainSettings, *, photo_cache: PhotoCache | None = None) -> ItemList:
    """``LabelledItem``s of DATA (any layout; image+mask sets are cut into labelled patches).

    Patch items decode their photos through ``photo_cache`` (None: one made for these items).

    Files that cannot be used are in ``.skipped`` (with entries named like images that are no file: FIFOs,
    broken links, folders).

    Raises
    ------
    BadInputError
        If DATA cannot be read or holds no labelled sample.
    """
    from crackscope.data.items import dataset_items
    from crackscope.inputs import odd_entries

    items = dataset_items(
        data, layout=settings.layout, patch_size=settings.patch_size, stride=settings.stride, photo_cache=photo_cache
    )
    if items.dataset is not None:
        used = [p for s in items.dataset.samples for p in (s.path, s.mask_path) if p is not None]
        items.skipped.extend(odd_entries(data, [*used, *(p for p, _ in items.skipped)]))
    for path, problem in items.skipped[:20]:
        log.warning("skipped %s: %s", path, problem)
    if not items:
        raise BadInputError(data, "no labelled samples found")
    return items


def record_skipped(out: Path, entries: Iterable[tuple[str | Path, str]], *, start: bool = False) -> None:
    """Add files left out to RUN/skipped.txt (``start``: begin the file anew, or remove it if nothing is left out)."""
    from crackscope.io import write_text_atomic

    path = out / SKIPPED_FILE
    lines = "".join(f"{name}\t{problem}\n" for name, problem in entries)
    old = "" if start or not path.is_file() else path.read_text(encoding="utf-8")
    if old + lines:
        write_text_atomic(path, old + lines)
    elif path.exists():
        path.unlink()


def check_two_classes(data: Path, labels: Iterable[int], *, skipped: int = 0, where: str = "") -> None:
    """Refuse training data of one class only (a classifier would learn nothing and report 100% accuracy).

    Raises
    ------
    BadInputError
        Naming DATA and the one class found (``where`` says which part, e.g. "in the training split").
    """
    from crackscope.data.layouts import CLASS_NAMES

    counts = Counter(int(v) for v in labels)
    if len(counts) != 1:
        return
    ((label, n),) = counts.items()
    missing = CLASS_NAMES[1 - label] if label in (0, 1) else "the other class"
    note = f" ({skipped} file(s) skipped as unreadable or unusable)" if skipped else ""
    raise BadInputError(
        data,
        f"one class only{where}: all {n} sample(s) are {CLASS_NAMES.get(label, str(label))}, none {missing}{note}; "
        "training needs both cracked and uncracked samples",
    )


def read_split(path: Path, items: list[LabelledItem]) -> dict[str, list[LabelledItem]]:
    """The split stored in a CSV, as lists of ``items`` (matched by key; unknown keys raise BadInputError)."""
    from crackscope.data.splits import read_split_csv

    return read_split_csv(path, items=items)


def load_items_and_split(
    data: Path, out: Path, settings: TrainSettings, *, resume: bool, photo_cache: PhotoCache | None = None
) -> tuple[dict[str, list[LabelledItem]], dict[str, object]]:
    """Items split into train/val/test; the split is written to (or, on resume, read from) RUN/split.csv.

    Returns the splits (always with the keys train, val and test) and what ``config.json["data"]`` records
    (its ``skipped`` holds the first 100 files left out; all of them are in RUN/skipped.txt).

    Files left out are written to RUN/skipped.txt first, so they are listed even when the data is refused.

    Raises
    ------
    BadInputError
        If DATA cannot be read, holds samples of one class only, or a given split CSV is missing or names items
        DATA does not have.
    """
    from crackscope.data.splits import split_items, write_split_csv

    items = load_items(data, settings, photo_cache=photo_cache)
    record_skipped(out, items.skipped, start=True)
    check_two_classes(data, [it.label for it in items], skipped=len(items.skipped))
    split_csv = out / SPLIT_FILE
    if resume and split_csv.is_file():
        splits = read_split(split_csv, items)
        source = settings.split or "seeded"
    elif settings.split:
        given = Path(settings.split)
        if not given.is_file():
            raise BadInputError(given, "split CSV not found")
        splits = read_split(given, items)
        if given.resolve() != split_csv.resolve():
            out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(given, split_csv)
        source = str(given)
    else:
        splits = split_items(items, fractions=settings.fractions, seed=settings.seed)
        write_split_csv(split_csv, splits)
        source = "seeded"
    splits = {name: list(splits.get(name, [])) for name in SPLIT_NAMES}
    info: dict[str, object] = {
        "root": str(data),
        "layout": settings.layout,
        "patch_size": settings.patch_size,
        "stride": settings.stride,
        "items": len(items),
        "split_source": source,
        "patch_settings": dict(items.settings),
        "skipped": [[str(path), problem] for path, problem in items.skipped][:100],
    }
    return splits, info
