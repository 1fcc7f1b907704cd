"""Items of a dataset and their train/val/test split for a run (a new seeded split, or a given CSV)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from crackscope.errors import BadInputError

if TYPE_CHECKING:
    from crackscope.data.items import ItemList, LabelledItem, PhotoCache
    from crackscope.training.options import TrainSettings

log = logging.getLogger(__name__)

SPLIT_FILE = "split.csv"
SPLIT_NAMES = ("train", "val", "test")


def load_items(data: Path, settings: TrainSettings, *, photo_cache: PhotoCache | None = None) -> ItemList:
    """``LabelledItem``s of DATA (any layout; image+mask sets are cut into labelled patches).

    Patch items decode their photos through ``photo_cache`` (None: one made for these items).

    Raises
    ------
    BadInputError
        If DATA cannot be read or holds no labelled sample.
    """
    from crackscope.data.items import dataset_items

    items = dataset_items(
        data, layout=settings.layout, patch_size=settings.patch_size, stride=settings.stride, photo_cache=photo_cache
    )
    for path, problem in items.skipped[:20]:
        log.warning("skipped %s: %s", path, problem)
    if not items:
        raise BadInputError(data, "no labelled samples found")
    return items


def read_split(path: Path, items: list[LabelledItem]) -> dict[str, list[LabelledItem]]:
    """The split stored in a CSV, as lists of ``items`` (matched by key; unknown keys raise BadInputError)."""
    from crackscope.data.splits import read_split_csv

    return read_split_csv(path, items=items)


def load_items_and_split(
    data: Path, out: Path, settings: TrainSettings, *, resume: bool, photo_cache: PhotoCache | None = None
) -> tuple[dict[str, list[LabelledItem]], dict[str, object]]:
    """Items split into train/val/test; the split is written to (or, on resume, read from) RUN/split.csv.

    Returns the splits (always with the keys train, val and test) and what ``config.json["data"]`` records.

    Raises
    ------
    BadInputError
        If DATA cannot be read, or a given split CSV is missing or names items DATA does not have.
    """
    from crackscope.data.splits import split_items, write_split_csv

    items = load_items(data, settings, photo_cache=photo_cache)
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
