"""Items of a dataset and their train/val/test split for a run (a new seeded split, or a given CSV).

The data of a run is one folder, or several data sources (``crackscope.data.sources.DataSource``): their items
are labelled with the source's name and split within each source (``crackscope.data.splits``).
"""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from crackscope.errors import BadInputError

if TYPE_CHECKING:
    from crackscope.data.items import ItemList, LabelledItem, PhotoCache
    from crackscope.data.sources import DataSource, SourceItems
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


def load_source_items(
    sources: Sequence[DataSource], settings: TrainSettings, *, photo_cache: PhotoCache | None = None
) -> SourceItems:
    """``LabelledItem``s of every data source, labelled with the source's name (see ``load_items``).

    A source's own ``layout`` wins over ``settings.layout``; the patch settings apply to every image + mask
    source. Files that cannot be used, in any source, are in ``.skipped``.

    Raises
    ------
    BadInputError
        If a source cannot be read or holds no labelled sample (naming its folder).
    """
    from dataclasses import replace

    from crackscope.data.sources import source_items
    from crackscope.inputs import odd_entries

    if settings.layout is not None:
        sources = [s if s.layout is not None else replace(s, layout=settings.layout) for s in sources]
    items = source_items(sources, patch_size=settings.patch_size, stride=settings.stride, photo_cache=photo_cache)
    for source in items.sources:
        part = items.parts[source.name]
        if part.dataset is not None:
            used = [p for s in part.dataset.samples for p in (s.path, s.mask_path) if p is not None]
            odd = odd_entries(source.path, [*used, *(p for p, _ in part.skipped)])
            part.skipped.extend(odd)
            items.skipped.extend(odd)
    for path, problem in items.skipped[:20]:
        log.warning("skipped %s: %s", path, problem)
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


def check_two_classes(data: Path | None, labels: Iterable[int], *, skipped: int = 0, where: str = "") -> None:
    """Refuse training data of one class only (a classifier would learn nothing and report 100% accuracy).

    Raises
    ------
    BadInputError
        Naming DATA (None: no one folder, e.g. several sources) and the one class found (``where`` says which
        part, e.g. "in the training split").
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


def _sources_info(items: SourceItems) -> list[dict[str, object]]:
    """What ``config.json["data"]["sources"]`` records of each source: the source, its layout, item counts and
    patch settings."""
    out = []
    for source in items.sources:
        part = items.parts[source.name]
        out.append(
            {
                **source.to_dict(),
                "path": str(source.path.resolve()),
                "layout": part.dataset.layout if part.dataset is not None else source.layout,
                "items": len(part),
                "counts": part.counts(),
                "patch_settings": dict(part.settings),
                "skipped": len(part.skipped),
            }
        )
    return out


def recorded_sources(data_info: Mapping[str, object]) -> tuple[DataSource, ...] | None:
    """The data sources a run recorded in ``config.json["data"]`` (for resuming), or None for a one-folder run.

    Raises
    ------
    ValueError
        If the recorded sources are not a list of sources (a ``config.json`` edited by hand).
    """
    from crackscope.data.sources import DataSource

    recorded = data_info.get("sources")
    if recorded is None:
        return None
    if not isinstance(recorded, list) or not recorded or not all(isinstance(e, dict) for e in recorded):
        raise ValueError(f"data sources must be a non-empty list of sources, got {recorded!r}")
    return tuple(
        DataSource.from_dict({k: e[k] for k in ("path", "name", "weight", "layout") if k in e}) for e in recorded
    )


def load_items_and_split(
    data: Path | Sequence[DataSource],
    out: Path,
    settings: TrainSettings,
    *,
    resume: bool,
    photo_cache: PhotoCache | None = None,
) -> tuple[dict[str, list[LabelledItem]], dict[str, object]]:
    """Items split into train/val/test; the split is written to (or, on resume, read from) RUN/split.csv.

    DATA is one folder, or several data sources: then every item carries its source's name, each source is
    split on its own (grouped and stratified within it) and the parts combined, and ``config.json["data"]``
    gets ``sources`` (each source, its layout, counts and patch settings); its ``root`` is the folder of a
    single source, else None, and ``patch_settings`` those of the first image + mask source.

    Returns the splits (always with the keys train, val and test) and what ``config.json["data"]`` records
    (its ``skipped`` holds the first 100 files left out; all of them are in RUN/skipped.txt).

    Files left out are written to RUN/skipped.txt first, so they are listed even when the data is refused.

    Raises
    ------
    BadInputError
        If DATA (or a source) cannot be read, the samples are of one class only, or a given split CSV is
        missing or names items DATA does not have.
    """
    from crackscope.data.splits import split_items, write_split_csv

    sources_info: list[dict[str, object]] | None = None
    items: ItemList | SourceItems
    if isinstance(data, Path):
        root: Path | None = data
        items = load_items(data, settings, photo_cache=photo_cache)
        patch_settings = dict(items.settings)
    else:
        found = load_source_items(data, settings, photo_cache=photo_cache)
        items, sources_info = found, _sources_info(found)
        root = found.sources[0].path if len(found.sources) == 1 else None
        patch_settings = next((dict(p.settings) for p in found.parts.values() if p.settings), {})
    record_skipped(out, items.skipped, start=True)
    where = "" if root is not None else f" in the sources {', '.join(str(s['name']) for s in sources_info or [])}"
    check_two_classes(root, [it.label for it in items], skipped=len(items.skipped), where=where)
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
        "root": None if root is None else str(root),
        "layout": settings.layout,
        "patch_size": settings.patch_size,
        "stride": settings.stride,
        "items": len(items),
        "split_source": source,
        "patch_settings": patch_settings,
        "skipped": [[str(path), problem] for path, problem in items.skipped][:100],
    }
    if sources_info is not None:
        info["sources"] = sources_info
    return splits, info
