"""Labelled items for training: whole image files, or labelled patches of image + mask photos.

``dataset_items(root)`` reads any supported layout (``crackscope.data.layouts``). Class-folder and
file-name sets give one item per file; image + mask sets are cut into square patches labelled by
``crackscope.data.patches`` (defaults scale with the photos: patch = a quarter of the median short side,
kept within 64..128 px and never larger than the photo; stride = patch; ``min_crack_pixels`` = 0.5% of the
patch area; margin 8 px). When a patch is the whole photo the item is simply the photo.

Loading patches decodes each photo once and keeps it in a ``PhotoCache``: a least-recently-used cache bounded
in bytes, so iterating over the patches of a photo is cheap. There is no cache at module level: every patch
item holds the cache of the ``dataset_items`` call that made it (one per call unless the caller passes its
own, as the trainer does once per training run), and the cache lives as long as those items.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crackscope.data.layouts import Dataset, Sample, load_dataset
from crackscope.data.patches import Box, label_boxes, patch_boxes
from crackscope.errors import BadInputError
from crackscope.io import read_image, read_mask

log = logging.getLogger("crackscope.data")

DEFAULT_MARGIN = 8
MIN_AUTO_PATCH, MAX_AUTO_PATCH = 64, 128
CRACK_FRACTION = 0.005


DEFAULT_PHOTO_CACHE_BYTES = 256 * 2**20


class PhotoCache:
    """Decoded photos and masks, bounded in bytes; the least recently used go first. Thread-safe.

    Lifetime: its owner's. ``dataset_items`` makes one per call unless it is given one, and the items it
    returns hold it, so the decoded photos are freed with those items; the trainer makes one per training
    run, sized by ``TrainOptions.photo_cache_limit``. A pickled copy (a loader worker's) starts empty.
    Arrays handed out are read-only; ``LabelledItem.load`` returns copies of crops of them.
    """

    def __init__(self, max_bytes: int = DEFAULT_PHOTO_CACHE_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must not be negative, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._data: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, str], load: Callable[[], np.ndarray]) -> np.ndarray:
        """The array stored under ``key``, made with ``load()`` (and kept, if it fits) when missing."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
        value = load()
        value.setflags(write=False)  # crops handed out are copies; the cached array stays intact
        with self._lock:
            self.misses += 1
            if key not in self._data and value.nbytes <= self.max_bytes:
                self._data[key] = value
                self._bytes += value.nbytes
                while self._bytes > self.max_bytes and self._data:
                    _, old = self._data.popitem(last=False)
                    self._bytes -= old.nbytes
        return value

    def image(self, path: Path) -> np.ndarray:
        """The decoded RGB photo at ``path``."""
        return self.get((str(path), "image"), lambda: read_image(path))

    def mask(self, path: Path) -> np.ndarray:
        """The decoded crack mask at ``path``."""
        return self.get((str(path), "mask"), lambda: read_mask(path))

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def clear(self) -> None:
        """Drop every array and reset the hit and miss counts."""
        with self._lock:
            self._data.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def __getstate__(self) -> dict[str, int]:
        return {"max_bytes": self.max_bytes}

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__dict__.update(PhotoCache(state["max_bytes"]).__dict__)


def _crop(array: np.ndarray, box: Box, path: Path) -> np.ndarray:
    y, x, h, w = box
    crop = array[y : y + h, x : x + w]
    if crop.shape[:2] != (h, w):
        raise BadInputError(
            path, f"is {array.shape[1]}x{array.shape[0]} px, too small for patch {box} (did the file change?)"
        )
    return crop.copy()


@dataclass(frozen=True)
class LabelledItem:
    """One training example: a whole image file, or a patch ``box`` (y, x, h, w) of it.

    ``key`` is the path, or ``path#y,x,h,w`` for a patch; ``group`` is the source photo; label 1 = cracked.
    ``photo_cache`` (not part of equality) is where a patch's photo is decoded once; without one, every
    ``load`` of a patch decodes the whole photo. ``source`` names the data source the item comes from when a
    run reads several (``crackscope.data.sources``); ``""`` for a single folder.
    """

    key: str
    group: str
    label: int
    path: Path
    box: Box | None = None
    mask_path: Path | None = None
    photo_cache: PhotoCache | None = field(default=None, compare=False, repr=False)
    source: str = ""

    def with_source(self, source: str) -> LabelledItem:
        """The same item labelled with the data source ``source``."""
        return LabelledItem(
            self.key, self.group, self.label, self.path, self.box, self.mask_path, self.photo_cache, source
        )

    def load(self) -> np.ndarray:
        """The pixels as HxWx3 uint8 RGB (a patch is cut from its photo, decoded once in ``photo_cache``)."""
        if self.box is None:
            return read_image(self.path)
        photo = read_image(self.path) if self.photo_cache is None else self.photo_cache.image(self.path)
        return _crop(photo, self.box, self.path)

    def load_mask(self) -> np.ndarray | None:
        """The crack mask (HxW bool) when the item has one, else None."""
        if self.mask_path is None:
            return None
        if self.box is None:
            return read_mask(self.mask_path)
        mask = read_mask(self.mask_path) if self.photo_cache is None else self.photo_cache.mask(self.mask_path)
        return _crop(mask, self.box, self.mask_path)

    @classmethod
    def from_key(
        cls,
        key: str,
        *,
        group: str,
        label: int,
        mask_path: Path | None = None,
        photo_cache: PhotoCache | None = None,
        source: str = "",
    ) -> LabelledItem:
        """Rebuild an item from its key (``path`` or ``path#y,x,h,w``)."""
        path_text, sep, box_text = key.rpartition("#")
        box: Box | None = None
        if sep:
            try:
                y, x, h, w = (int(v) for v in box_text.split(","))
                box = (y, x, h, w)
            except ValueError:
                path_text, box = key, None  # a '#' that belongs to the file name
        if not sep:
            path_text = key
        return cls(
            key=key,
            group=group,
            label=int(label),
            path=Path(path_text),
            box=box,
            mask_path=mask_path,
            photo_cache=photo_cache,
            source=source,
        )


class ItemList(list[LabelledItem]):
    """``list[LabelledItem]`` plus what was left out: ``skipped`` (path, problem), ``dropped`` (ambiguous
    patches), the ``dataset`` it came from, the patch ``settings`` used (empty for whole-file sets) and the
    ``photo_cache`` its patch items share."""

    def __init__(
        self,
        items: Iterable[LabelledItem] = (),
        *,
        dataset: Dataset | None = None,
        photo_cache: PhotoCache | None = None,
    ) -> None:
        super().__init__(items)
        self.dataset = dataset
        self.photo_cache = photo_cache
        self.skipped: list[tuple[Path, str]] = list(dataset.skipped) if dataset else []
        self.dropped = 0
        self.settings: dict[str, int] = {}

    def counts(self) -> dict[str, int]:
        """Items per class name."""
        cracked = sum(1 for item in self if item.label == 1)
        return {"cracked": cracked, "uncracked": len(self) - cracked}


def _key(path: Path) -> str:
    return str(path.resolve())


def auto_patch_size(shapes: Iterable[tuple[int, int]]) -> int:
    """A quarter of the median short side, kept within 64..128 px (smaller only if the photos are)."""
    sides = [min(s) for s in shapes]
    if not sides:
        raise ValueError("no image sizes to choose a patch size from")
    median = int(np.median(sides))
    return min(int(np.clip(round(median / 4), MIN_AUTO_PATCH, MAX_AUTO_PATCH)), median)


def default_min_crack_pixels(size: int) -> int:
    """0.5% of a size x size patch, at least 1."""
    return max(1, round(CRACK_FRACTION * size * size))


def _photo_mask(sample: Sample, out: ItemList) -> np.ndarray:
    """The mask of an image + mask sample, read after its photo: a photo that cannot be decoded (truncated,
    say) is reported as such, and the mask is checked against the size of the decoded, upright photo."""
    assert sample.mask_path is not None
    photo = read_image(sample.path) if out.photo_cache is None else out.photo_cache.image(sample.path)
    return read_mask(sample.mask_path, shape=photo.shape[:2])


def _patch_items(
    sample: Sample, *, size: int, stride: int, min_crack_pixels: int, margin: int, shrink: bool, out: ItemList
) -> None:
    """Append the labelled patches of one photo; ``shrink`` lets a photo smaller than ``size`` use its short side."""
    assert sample.mask_path is not None
    mask = _photo_mask(sample, out)
    height, width = mask.shape
    if min(height, width) < size:
        if not shrink:
            out.skipped.append((sample.path, f"{width}x{height} px is smaller than the {size} px patch"))
            return
        size = min(height, width)
        stride = min(stride, size)
    boxes = patch_boxes(height, width, size=size, stride=stride)
    labels = label_boxes(mask, boxes, min_crack_pixels=min_crack_pixels, margin=margin)
    base = _key(sample.path)
    for box, label in zip(boxes, labels, strict=True):
        if label is None:
            out.dropped += 1
        elif box == (0, 0, height, width):  # the patch is the whole photo
            out.append(LabelledItem(base, sample.group, label, sample.path, None, sample.mask_path))
        else:
            y, x, h, w = box
            key = f"{base}#{y},{x},{h},{w}"
            out.append(LabelledItem(key, sample.group, label, sample.path, box, sample.mask_path, out.photo_cache))


def _whole_photo_item(sample: Sample, *, min_crack_pixels: int, margin: int, out: ItemList) -> None:
    assert sample.mask_path is not None
    mask = _photo_mask(sample, out)
    label = label_boxes(mask, [(0, 0, *mask.shape)], min_crack_pixels=min_crack_pixels, margin=margin)[0]
    if label is None:
        out.dropped += 1
    else:
        out.append(LabelledItem(_key(sample.path), sample.group, label, sample.path, None, sample.mask_path))


def dataset_items(
    root: str | Path | Dataset,
    *,
    layout: str | None = None,
    patch_size: int | None = None,
    stride: int | None = None,
    min_crack_pixels: int | None = None,
    margin: int = DEFAULT_MARGIN,
    photo_cache: PhotoCache | None = None,
) -> ItemList:
    """Labelled items of a dataset folder (or an already loaded ``Dataset``).

    Image + mask sets are cut into labelled patches (``patch_size=None``: automatic, see the module doc;
    ``patch_size=0``: whole photos labelled by the same rule, with ``min_crack_pixels`` defaulting to 0.5% of
    the automatic patch); other layouts give one item per file and ignore the patch options. Files that
    cannot be used are listed in ``.skipped``, never fatal; ``.dropped`` counts ambiguous patches.
    The patch items decode their photos through ``photo_cache`` (None: a new ``PhotoCache`` of
    ``DEFAULT_PHOTO_CACHE_BYTES`` for this call's items), also found as ``.photo_cache``.

    Raises
    ------
    BadInputError
        If the folder cannot be read as a dataset (see ``crackscope.data.layouts.load_dataset``).
    ValueError
        If ``layout``, ``patch_size`` or ``stride`` is invalid.
    """
    dataset = root if isinstance(root, Dataset) else load_dataset(root, layout=layout)
    if dataset.layout == "image-mask" and photo_cache is None:
        photo_cache = PhotoCache()
    items = ItemList(dataset=dataset, photo_cache=photo_cache if dataset.layout == "image-mask" else None)
    if dataset.layout != "image-mask":
        for s in dataset.samples:
            if s.label is not None:
                items.append(LabelledItem(_key(s.path), s.group, s.label, s.path, None, s.mask_path))
        _log_skipped(items)
        return items
    if patch_size is not None and (int(patch_size) != patch_size or patch_size < 0):
        raise ValueError(f"patch_size must be a whole number >= 0 (0 = whole photos), got {patch_size!r}")
    if stride is not None and (int(stride) != stride or stride < 1):
        raise ValueError(f"stride must be a whole number >= 1, got {stride!r}")
    if patch_size is None or patch_size == 0:  # with 0 the size only sets the default min_crack_pixels
        size = auto_patch_size(s.shape for s in dataset.samples if s.shape)
    else:
        size = int(patch_size)
    step = int(stride) if stride is not None else size
    min_pixels = default_min_crack_pixels(size) if min_crack_pixels is None else min_crack_pixels
    items.settings = {
        "patch_size": 0 if patch_size == 0 else size,
        "stride": 0 if patch_size == 0 else step,
        "min_crack_pixels": int(min_pixels),
        "margin": int(margin),
    }
    for s in dataset.samples:
        try:
            if patch_size == 0:
                _whole_photo_item(s, min_crack_pixels=min_pixels, margin=margin, out=items)
            else:
                _patch_items(
                    s,
                    size=size,
                    stride=step,
                    min_crack_pixels=min_pixels,
                    margin=margin,
                    shrink=patch_size is None,
                    out=items,
                )
        except BadInputError as exc:
            items.skipped.append((exc.path or s.path, exc.problem))
    _log_skipped(items)
    return items


def _log_skipped(items: ItemList) -> None:
    if items.skipped and items.dataset is not None:
        first_path, first_problem = items.skipped[0]
        log.warning(
            "%d file(s) skipped in %s; first: %s: %s", len(items.skipped), items.dataset.root, first_path, first_problem
        )
