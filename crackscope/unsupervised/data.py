"""Crack-free training images for the restorer, from any of three kinds of folder.

- a segmentation set (``images/`` + ``masks/``): square patches with no crack pixel within a margin are
  cut automatically (``crackscope.data.items.dataset_items``, label 0 = uncracked by its margin rule);
- class folders (``cracked/`` + ``uncracked/`` and the other names ``crackscope.data.layouts`` knows):
  the uncracked class;
- a plain folder of images: every image (the folder is taken to be crack-free); a ``labels.csv``, when
  present, narrows it to the uncracked files.

The kind is detected (``crackscope.data.layouts.detect_layout``) unless a ``layout`` is given: ``image-mask`` and
``class-folders`` as above; a given ``filename-labels`` reads the images by that layout's rule (``noncrack_*``
uncracked, any other name cracked, a ``labels.csv`` wins) and keeps the uncracked ones.

Decoded photos are kept in a :class:`~crackscope.data.items.PhotoCache` bounded in bytes (the patches of one
photo share it, and a whole-file source is decoded once, not at every crop), so a training step does not wait
for JPEG decoding; each DataLoader worker keeps its own (a pickled cache starts empty).

Files that cannot be used are never fatal: they are listed in ``CrackFreeSet.skipped`` (with entries named like
images that are no file: FIFOs, broken links, folders), and :func:`readable_sources` decodes each file once
before training so that an unreadable one is left out, not met in the middle of an epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from crackscope.data.items import LabelledItem, PhotoCache
from crackscope.errors import BadInputError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Source:
    """One crack-free training image (a file or a patch of one): ``load()`` -> HxWx3 uint8 RGB; ``path`` is the
    file it comes from (None: not a file)."""

    key: str
    group: str
    load: Callable[[], np.ndarray]
    path: Path | None = None


@dataclass
class CrackFreeSet:
    """The crack-free sources of a folder, how they were found, and what was skipped."""

    root: Path
    layout: str
    sources: list[Source]
    skipped: list[tuple[Path, str]]
    settings: dict[str, object]


def crack_free_sources(
    data: str | Path,
    *,
    patch_size: int,
    stride: int | None = None,
    margin: int = 8,
    layout: str | None = None,
    photo_cache: PhotoCache | None = None,
) -> CrackFreeSet:
    """Every crack-free image of ``data`` (see the module docstring); ``patch_size`` applies to segmentation sets.

    ``layout`` (one of ``crackscope.data.layouts.LAYOUTS``) overrides the detection. ``photo_cache``: where the
    sources keep their decoded photos (None: a segmentation set's patches share a cache of
    ``DEFAULT_PHOTO_CACHE_BYTES``, whole files are decoded at every load).

    Raises
    ------
    BadInputError
        If ``data`` is no dataset folder, does not fit the given ``layout``, or holds no crack-free image.
    ValueError
        If ``layout`` is not a known layout.
    """
    from crackscope.data.items import dataset_items
    from crackscope.data.layouts import LAYOUTS, detect_layout
    from crackscope.inputs import odd_entries

    root = Path(data)
    given = layout
    if given is not None and given not in LAYOUTS:
        raise ValueError(f"unknown layout {given!r}; choose one of {', '.join(LAYOUTS)}")
    layout = detect_layout(root) if given is None else given
    settings: dict[str, object] = {}
    chosen: list[LabelledItem]
    skipped: list[tuple[Path, str]] = []
    if layout == "image-mask":
        items = dataset_items(
            root,
            layout=layout,
            patch_size=int(patch_size),
            stride=int(stride or patch_size),
            margin=int(margin),
            photo_cache=photo_cache,
        )
        settings = dict(items.settings)
        settings["dropped_ambiguous"] = items.dropped
        chosen = [it for it in items if it.label == 0]
        settings["cracked_patches_left_out"] = sum(1 for it in items if it.label == 1)
        skipped = list(items.skipped)
    elif layout == "class-folders":
        items = dataset_items(root, layout=layout)
        chosen = [it for it in items if it.label == 0]
        skipped = list(items.skipped)
    elif given is not None:  # filename-labels, named: the layout's own labels
        items = dataset_items(root, layout=layout)
        chosen, skipped = [it for it in items if it.label == 0], list(items.skipped)
    else:
        chosen, skipped = _plain_folder(root)
    skipped += odd_entries(root, [*(it.path for it in chosen), *(p for p, _ in skipped)])
    sources = [Source(key=it.key, group=it.group, load=_loader(it, photo_cache), path=it.path) for it in chosen]
    if not sources:
        first = f" ({len(skipped)} skipped, first: {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise BadInputError(
            root, f"no crack-free images found (layout {layout}){first}; need uncracked images or patches"
        )
    return CrackFreeSet(root=root, layout=layout, sources=sources, skipped=skipped, settings=settings)


def _loader(item: LabelledItem, cache: PhotoCache | None) -> Callable[[], np.ndarray]:
    """How a source reads its pixels: a whole file through ``cache`` when there is one, else ``item.load``."""
    if cache is None or item.box is not None:  # patches decode through the cache of their item list
        return item.load
    return partial(cache.image, item.path)


def readable_sources(found: CrackFreeSet, *, on_progress: Callable[[int, int], None] | None = None) -> CrackFreeSet:
    """``found`` without the sources whose file cannot be decoded; those files are added to its ``skipped``.

    Each file is decoded once (the patches of one photo share it), so a truncated or otherwise unreadable file
    is left out before training, not met in the middle of an epoch.

    Raises
    ------
    BadInputError
        If no source can be read.
    """
    from crackscope.inputs import INPUT_ERRORS, nothing_usable, problem_of

    bad: dict[Path | str, str] = {}
    checked: set[Path | str] = set()
    for i, source in enumerate(found.sources, 1):
        file = source.path if source.path is not None else source.key
        if file not in checked:
            checked.add(file)
            try:
                source.load()
            except INPUT_ERRORS as exc:
                bad[file] = problem_of(exc)
        if on_progress is not None:
            on_progress(i, len(found.sources))
    sources = [s for s in found.sources if (s.path if s.path is not None else s.key) not in bad]
    skipped = [*found.skipped, *((Path(file), problem) for file, problem in bad.items())]
    if not sources:
        raise nothing_usable(found.root, f"none of the {len(checked)} crack-free image file(s) could be read", skipped)
    return replace(found, sources=sources, skipped=skipped)


def _plain_folder(root: Path) -> tuple[list[LabelledItem], list[tuple[Path, str]]]:
    """A folder of images: all of them, or the uncracked ones when a labels.csv says which; and the files
    skipped."""
    from crackscope.data.items import dataset_items
    from crackscope.data.layouts import load_dataset
    from crackscope.io import list_images

    if (root / "labels.csv").is_file():
        items = dataset_items(load_dataset(root, layout="filename-labels"))
        return [it for it in items if it.label == 0], list(items.skipped)
    files = list_images([root], recursive=False)
    return [LabelledItem(key=str(p.resolve()), group=p.stem, label=0, path=p) for p in files], []


def split_sources(sources: list[Source], *, val_fraction: float, seed: int) -> tuple[list[Source], list[Source]]:
    """Hold out whole source photos (groups) for validation; with a single group, hold out patches."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    groups = sorted({s.group for s in sources})
    if val_fraction == 0 or len(sources) < 2:
        return list(sources), []
    if len(groups) >= 2:
        n_val = max(1, round(val_fraction * len(groups)))
        val_groups = set(rng.permutation(groups)[:n_val].tolist())
        train = [s for s in sources if s.group not in val_groups]
        val = [s for s in sources if s.group in val_groups]
        if train:
            return train, val
    order = rng.permutation(len(sources))
    n_val = max(1, round(val_fraction * len(sources)))
    return [sources[i] for i in order[n_val:]], [sources[i] for i in order[:n_val]]


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator, *, flip: bool = True) -> np.ndarray:
    """A random ``size`` crop at native resolution (mirror-padded if smaller), randomly flipped left-right."""
    image = _at_least(image, size)
    h, w = image.shape[:2]
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    crop = image[y : y + size, x : x + size]
    if flip and rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    image = _at_least(image, size)
    h, w = image.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(image[y : y + size, x : x + size])


def _at_least(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    if h >= size and w >= size:
        return image
    return np.pad(image, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="symmetric")


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 HxWx3 images -> float Nx3xHxW in [-1, 1] (the paper's Normalize(0.5, 0.5))."""
    import torch

    arr = np.stack(images).astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """Generator output (Nx3xHxW in [-1, 1]) back to uint8 NxHxWx3."""
    arr = tensor.detach().permute(0, 2, 3, 1).cpu().numpy()
    return np.asarray(np.clip((arr + 1.0) * 127.5 + 0.5, 0, 255), dtype=np.uint8)
