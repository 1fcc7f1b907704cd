"""Caches with an owner: the photo cache of a ``dataset_items`` call, and mask look-ups that keep no listing."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from crackscope.data.items import PhotoCache, dataset_items
from crackscope.data.layouts import find_mask_for
from tests.data.helpers import write_image


def _seg_set(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_image(root / "images" / f"{name}.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        write_image(root / "masks" / f"{name}.png", np.zeros((8, 8), np.uint8))
    return root


def test_each_call_has_its_own_photo_cache(tmp_path: Path) -> None:
    root = _seg_set(tmp_path / "seg")
    first = dataset_items(root, patch_size=4)
    second = dataset_items(root, patch_size=4)
    assert first.photo_cache is not None and first.photo_cache is not second.photo_cache
    assert all(item.photo_cache is first.photo_cache for item in first if item.box is not None)
    built = first.photo_cache.misses  # the photo and its mask, decoded once while the items were made
    assert built == 2 and second.photo_cache is not None and second.photo_cache.misses == built
    first[0].load()
    assert first.photo_cache.misses == built and second.photo_cache.misses == built  # a hit, in its own cache
    assert first[0] == second[0]  # the cache is not part of an item's identity


def test_photo_cache_is_bounded_and_pickles_empty() -> None:
    cache = PhotoCache(max_bytes=100)
    cache.get(("a", "image"), lambda: np.zeros(60, np.uint8))
    cache.get(("b", "image"), lambda: np.zeros(60, np.uint8))  # pushes "a" out
    assert cache.nbytes == 60
    copy = pickle.loads(pickle.dumps(cache))
    assert copy.max_bytes == 100 and copy.nbytes == 0 and copy.misses == 0


def test_find_mask_for_sees_a_changed_folder(tmp_path: Path) -> None:
    root = _seg_set(tmp_path / "seg")
    image = root / "images" / "a.png"
    assert find_mask_for(image) == root / "masks" / "a.png"
    (root / "masks" / "a.png").unlink()
    assert find_mask_for(image) is None  # no listing is kept between calls
    write_image(root / "masks" / "a_mask.png", np.zeros((8, 8), np.uint8))
    assert find_mask_for(image) == root / "masks" / "a_mask.png"
    assert find_mask_for(tmp_path / "elsewhere" / "a.png") is None
