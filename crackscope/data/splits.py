"""Reproducible train/val/test splits: stratified by class, grouped by source photo, saved as CSV.

All items of one source photo land in the same split. The source photo of an item is its ``group`` (the file
stem, see :mod:`crackscope.data.layouts`) with a trailing crop number removed (:func:`source_photo`): data sets
publish crops of one photo as ``X-1``, ``X-2``, ... (DeepCrack's ``11116-1`` .. ``11116-4``, SDNET2018's
``7001-1`` ...), and a crop in the training split and its sibling in the test split would leak the photo.
Groups are assigned greedily,
in a random order drawn from the seed, each to the split where it best reduces the gap between the
per-class counts and their targets (``fraction x class total``); a few random orders are tried and the
most balanced result is kept. Same items + same seed -> same split.

Items read from several data sources (``crackscope.data.sources``: each item's ``source`` names its source)
are split **within each source**: every source is split on its own, with its own groups, stratified by its
own classes, and the parts are combined. A photo name that two sources share is two photos, and each
source keeps its train/val/test fractions whatever the sizes of the others. The split CSV then has a fifth
column, ``source``.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

from crackscope.errors import BadInputError
from crackscope.io import write_text_atomic

if TYPE_CHECKING:
    from crackscope.data.items import LabelledItem

SPLITS = ("train", "val", "test")
#: a crop number at the end of a file stem: ``X-1``, ``X-12`` (the ``-`` and the digits)
_CROP_SUFFIX = re.compile(r"-\d+$")
CSV_COLUMNS = ("key", "group", "label", "split")
SOURCE_COLUMN = "source"  # written after CSV_COLUMNS when the items come from named data sources
_TRIALS = 16  # random orders tried; 4 when there are over 2000 groups (balance is then easy)


class SplitItem(Protocol):
    """What splitting needs of an item (``LabelledItem`` has it)."""

    @property
    def key(self) -> str: ...

    @property
    def group(self) -> str: ...

    @property
    def label(self) -> int: ...


ItemT = TypeVar("ItemT", bound=SplitItem)


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3:
        raise ValueError(f"fractions must be (train, val, test), got {tuple(fractions)!r}")
    values = (float(fractions[0]), float(fractions[1]), float(fractions[2]))
    if any(not np.isfinite(f) or f < 0 for f in values) or abs(sum(values) - 1.0) > 1e-6 or values[0] <= 0:
        raise ValueError(f"fractions must be >= 0, sum to 1 and give train a share, got {values!r}")
    return values


def source_photo(group: str) -> str:
    """The photo a group's images come from: ``group`` without a trailing crop number (``-`` and digits).

    Examples
    --------
    >>> source_photo("train_11116-3"), source_photo("7001-12"), source_photo("IMG_6536"), source_photo("-4")
    ('train_11116', '7001', 'IMG_6536', '-4')
    """
    stem = _CROP_SUFFIX.sub("", group)
    return stem or group


def _assign(
    group_counts: list[list[float]],
    targets: list[list[float]],
    scale: list[float],
    order: list[int],
    allowed: list[int],
) -> tuple[list[int], float]:
    """Greedy assignment of groups (per-class counts) to splits; returns (split per group, final cost).

    Cost = sum over splits and classes of ((count - target) / class total)^2. Plain Python on purpose:
    with 2 classes and 3 splits it is several times faster than numpy calls per group.
    """
    n_labels = len(scale)
    filled = [[0.0] * n_labels for _ in targets]
    inv = [1.0 / (v * v) for v in scale]
    choice = [0] * len(group_counts)
    for g in order:
        counts = group_counts[g]
        best, best_gain = allowed[0], float("inf")
        for s in allowed:
            row, goal = filled[s], targets[s]
            gain = 0.0
            for lab in range(n_labels):
                c = counts[lab]
                gain += c * (2.0 * (row[lab] - goal[lab]) + c) * inv[lab]
            if gain < best_gain - 1e-12:
                best, best_gain = s, gain
        choice[g] = best
        row = filled[best]
        for lab in range(n_labels):
            row[lab] += counts[lab]
    cost = sum(
        (filled[s][lab] - targets[s][lab]) ** 2 * inv[lab] for s in range(len(targets)) for lab in range(n_labels)
    )
    return choice, cost


def source_of(item: object) -> str:
    """The data source an item comes from: its ``source`` attribute, ``""`` when it has none."""
    return str(getattr(item, "source", "") or "")


def split_items(
    items: Iterable[ItemT], *, fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0
) -> dict[str, list[ItemT]]:
    """Split items (anything with ``.key``, ``.group``, ``.label``) into ``train``/``val``/``test``.

    Stratified by label and grouped by source photo (:func:`source_photo` of ``group``); items keep their input
    order inside each split. Items of several data sources (a ``source`` attribute, see the module doc) are
    split within each source, with the same ``fractions`` and ``seed``, and combined.

    Raises
    ------
    ValueError
        If ``fractions`` are not three shares >= 0 that sum to 1 with a share for train.

    Examples
    --------
    >>> from collections import namedtuple
    >>> It = namedtuple("It", "key group label source")
    >>> items = [It(f"{s}{i}", f"p{i}", i % 2, s) for s in "ab" for i in range(4)]
    >>> splits = split_items(items, fractions=(0.5, 0.5, 0.0), seed=0)
    >>> sorted((it.source, it.label) for it in splits["train"])
    [('a', 0), ('a', 1), ('b', 0), ('b', 1)]
    """
    items = list(items)
    fracs = _check_fractions(fractions)
    if not items:
        return {name: [] for name in SPLITS}
    by_source: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_source.setdefault(source_of(item), []).append(index)
    if len(by_source) == 1:
        return _split_one_source(items, fracs, seed)
    where = [""] * len(items)
    for indices in by_source.values():
        part = _split_one_source([items[i] for i in indices], fracs, seed)
        chosen = {id(item): name for name, members in part.items() for item in members}
        for i in indices:
            where[i] = chosen[id(items[i])]
    out: dict[str, list[ItemT]] = {name: [] for name in SPLITS}
    for item, name in zip(items, where, strict=True):
        out[name].append(item)
    return out


def _split_one_source(items: list[ItemT], fracs: tuple[float, float, float], seed: int) -> dict[str, list[ItemT]]:
    """The stratified, grouped split of the items of one source (see the module doc)."""
    labels = sorted({int(item.label) for item in items})
    label_index = {lab: i for i, lab in enumerate(labels)}
    group_names = sorted({source_photo(str(item.group)) for item in items})
    group_index = {g: i for i, g in enumerate(group_names)}
    group_counts = np.zeros((len(group_names), len(labels)))
    for item in items:
        group_counts[group_index[source_photo(str(item.group))], label_index[int(item.label)]] += 1
    totals = group_counts.sum(axis=0)
    targets = np.outer(fracs, totals)
    scale = np.maximum(totals, 1.0)
    allowed = [s for s, f in enumerate(fracs) if f > 0]
    rng = np.random.default_rng(seed)
    best_choice, best_cost = None, np.inf
    counts_list, targets_list, scale_list = group_counts.tolist(), targets.tolist(), scale.tolist()
    for _ in range(_TRIALS if len(group_names) <= 2000 else 4):
        order = rng.permutation(len(group_names)).tolist()
        choice, cost = _assign(counts_list, targets_list, scale_list, order, allowed)
        if cost < best_cost - 1e-12:
            best_choice, best_cost = choice, cost
    assert best_choice is not None
    out: dict[str, list[ItemT]] = {name: [] for name in SPLITS}
    for item in items:
        out[SPLITS[best_choice[group_index[source_photo(str(item.group))]]]].append(item)
    return out


def write_split_csv(path: str | Path, splits: Mapping[str, Iterable[SplitItem]]) -> Path:
    """Write ``key,group,label,split`` rows (atomically) for every item of every split.

    When an item names its data source (``source``), every row gets a fifth column ``source``.
    """
    rows = [(item, name) for name, members in splits.items() for item in members]
    with_source = any(source_of(item) for item, _ in rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow((*CSV_COLUMNS, SOURCE_COLUMN) if with_source else CSV_COLUMNS)
    for item, name in rows:
        row: tuple[object, ...] = (item.key, item.group, int(item.label), name)
        writer.writerow((*row, source_of(item)) if with_source else row)
    return write_text_atomic(path, buffer.getvalue())


def read_split_csv(path: str | Path, *, items: Iterable[ItemT] | None = None) -> dict[str, list[ItemT | LabelledItem]]:
    """Read a split CSV back as ``{split: [LabelledItem, ...]}`` (always with train/val/test keys).

    With ``items`` (e.g. from ``dataset_items``) rows are matched to them by key, so masks are kept; a row
    whose key is not among them raises BadInputError naming the CSV. Without ``items``, items are rebuilt
    from their keys (``path`` or ``path#y,x,h,w``), sharing one photo cache (so the patches of a photo decode
    it once; it lives as long as the returned items); their mask is found again when the image sits in an
    ``images/`` folder beside a ``masks/`` folder, and their data source from the ``source`` column if any.
    """
    from crackscope.data.items import LabelledItem, PhotoCache
    from crackscope.data.layouts import find_mask_for

    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "split file not found")
    by_key = {item.key: item for item in items} if items is not None else None
    cache = PhotoCache() if by_key is None else None
    out: dict[str, list[ItemT | LabelledItem]] = {name: [] for name in SPLITS}
    missing: list[str] = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ())[:4] != CSV_COLUMNS:
                raise BadInputError(path, f"not a split file: needs the columns {','.join(CSV_COLUMNS)}")
            for lineno, row in enumerate(reader, start=2):
                try:
                    label = int(row["label"])
                except (TypeError, ValueError):
                    raise BadInputError(path, f"line {lineno}: label {row['label']!r} is not 0 or 1") from None
                key, split = row["key"], row["split"]
                if not key or not split:
                    raise BadInputError(path, f"line {lineno}: empty key or split")
                if by_key is None:
                    rebuilt = LabelledItem.from_key(
                        key, group=row["group"], label=label, photo_cache=cache, source=row.get(SOURCE_COLUMN) or ""
                    )
                    out.setdefault(split, []).append(_with_mask(rebuilt, find_mask_for(rebuilt.path)))
                else:
                    found = by_key.get(key)
                    if found is None:
                        missing.append(key)
                        continue
                    out.setdefault(split, []).append(found)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BadInputError(path, f"unreadable split file ({exc})") from None
    if missing:
        raise BadInputError(
            path, f"{len(missing)} item(s) not found in the dataset (moved or changed?), first: {missing[0]}"
        )
    return out


def _with_mask(item: LabelledItem, mask_path: Path | None) -> LabelledItem:
    from dataclasses import replace

    return item if mask_path is None else replace(item, mask_path=mask_path)


def split_counts(splits: Mapping[str, Sequence[SplitItem]]) -> dict[str, dict[str, int]]:
    """``{split: {"cracked": n, "uncracked": n, "groups": n}}`` for reports (a group is per data source)."""
    out: dict[str, dict[str, int]] = {}
    for name, members in splits.items():
        cracked = sum(1 for item in members if int(item.label) == 1)
        groups: defaultdict[tuple[str, str], int] = defaultdict(int)
        for item in members:
            groups[source_of(item), item.group] += 1
        out[name] = {"cracked": cracked, "uncracked": len(members) - cracked, "groups": len(groups)}
    return out
