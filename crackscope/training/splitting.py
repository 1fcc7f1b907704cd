"""Items of a dataset and their train/val/test split for a run (a new seeded split, or a given CSV)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from crackscope.errors import BadInputError

log = logging.getLogger(__name__)

SPLIT_FILE = "split.csv"
SPLIT_NAMES = ("train", "val", "test")


def load_items(data: Path, settings: dict[str, Any]) -> list[Any]:
    """``LabelledItem``s of DATA (any layout; image+mask sets are cut into labelled patches)."""
    from crackscope.data.items import dataset_items

    kwargs: dict[str, Any] = {"layout": settings.get("layout")}
    for key in ("patch_size", "stride"):
        if settings.get(key) is not None:
            kwargs[key] = int(settings[key])
    items = dataset_items(data, **kwargs)
    for path, problem in getattr(items, "skipped", [])[:20]:
        log.warning("skipped %s: %s", path, problem)
    if not items:
        raise BadInputError(data, "no labelled samples found")
    return items


def read_split(path: Path, items: list[Any]) -> dict[str, list[Any]]:
    """The split stored in a CSV, as lists of ``items`` (matched by key; unknown keys raise BadInputError)."""
    from crackscope.data.splits import read_split_csv

    return read_split_csv(path, items=items)


def load_items_and_split(
    data: Path, out: Path, settings: dict[str, Any], *, resume: bool
) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Items split into train/val/test; the split is written to (or, on resume, read from) RUN/split.csv."""
    from crackscope.data.splits import split_items, write_split_csv

    items = load_items(data, settings)
    split_csv = out / SPLIT_FILE
    if resume and split_csv.is_file():
        splits = read_split(split_csv, items)
        source = str(settings.get("split") or "seeded")
    elif settings.get("split"):
        given = Path(settings["split"])
        if not given.is_file():
            raise BadInputError(given, "split CSV not found")
        splits = read_split(given, items)
        if given.resolve() != split_csv.resolve():
            out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(given, split_csv)
        source = str(given)
    else:
        splits = split_items(items, fractions=tuple(settings["fractions"]), seed=int(settings["seed"]))
        write_split_csv(split_csv, splits)
        source = "seeded"
    splits = {name: list(splits.get(name, [])) for name in SPLIT_NAMES}
    info = {
        "root": str(data),
        "layout": settings.get("layout"),
        "patch_size": settings.get("patch_size"),
        "stride": settings.get("stride"),
        "items": len(items),
        "split_source": source,
        "patch_settings": dict(getattr(items, "settings", {}) or {}),
        "skipped": [[str(path), problem] for path, problem in getattr(items, "skipped", [])][:100],
    }
    return splits, info
