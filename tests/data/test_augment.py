"""Augmentation: image and mask move together, the mask stays binary, presets are reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from crackscope.data.augment import PRESETS, augment_pair, dihedral, expand_rot90_flip


def _pair(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """An asymmetric 'L' shape: white in the image exactly where the mask is True."""
    mask = np.zeros((size, size), bool)
    mask[4:24, 6:10] = True
    mask[20:24, 6:20] = True
    image = np.where(mask[..., None], 255, 40).astype(np.uint8).repeat(3, axis=2)
    return image, mask


def test_none_returns_equal_copies() -> None:
    image, mask = _pair()
    out_image, out_mask = augment_pair(image, mask, preset="none", rng=np.random.default_rng(0))
    assert np.array_equal(out_image, image) and np.array_equal(out_mask, mask)
    assert out_image is not image


def test_rot90_flip_moves_mask_with_image_exactly() -> None:
    image, mask = _pair()
    seen = set()
    for seed in range(40):
        out_image, out_mask = augment_pair(image, mask, preset="rot90-flip", rng=np.random.default_rng(seed))
        assert out_mask.dtype == bool
        assert np.array_equal(out_image[..., 0] == 255, out_mask)
        seen.add(out_mask.tobytes())
    assert len(seen) == 8  # all eight rotations/flips of the square occur


def test_keras_v3_mask_follows_image_and_stays_binary() -> None:
    image, mask = _pair(48)
    changed = 0
    for seed in range(20):
        out_image, out_mask = augment_pair(image, mask, preset="keras-v3", rng=np.random.default_rng(seed))
        assert out_image.dtype == np.uint8 and out_image.shape == image.shape
        assert out_mask.dtype == bool and out_mask.shape == mask.shape
        bright = out_image.mean(axis=2) > 147  # halfway between 40 and 255
        agree = (bright == out_mask).mean()
        assert agree > 0.97, (seed, agree)  # only edge pixels may differ (bilinear vs nearest)
        changed += not np.array_equal(out_mask, mask)
    assert changed >= 18  # it really transforms


def test_keras_v3_noise_and_contrast_are_small() -> None:
    flat = np.full((64, 64, 3), 128, np.uint8)
    out, none_mask = augment_pair(flat, None, preset="keras-v3", rng=np.random.default_rng(1))
    assert none_mask is None
    diff = out.astype(float) - 128
    assert abs(diff.mean()) < 0.5 and 2.0 < diff.std() < 3.2  # std 0.01 on 0..1 = 2.55 grey levels


def test_same_rng_seed_same_result_and_bad_arguments() -> None:
    image, mask = _pair()
    a = augment_pair(image, mask, preset="keras-v3", rng=np.random.default_rng(7))
    b = augment_pair(image, mask, preset="keras-v3", rng=np.random.default_rng(7))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="unknown augmentation preset"):
        augment_pair(image, mask, preset="mixup", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="mask shape"):
        augment_pair(image, mask[:-1], preset="none", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        augment_pair(image, mask, preset="none", rng=0)
    assert PRESETS == ("none", "rot90-flip", "keras-v3")


class _Item:
    def __init__(self, key: str, image: np.ndarray, mask: np.ndarray) -> None:
        self.key, self.group, self.label, self.path = key, "g", 1, None
        self._image, self._mask = image, mask

    def load(self) -> np.ndarray:
        return self._image

    def load_mask(self) -> np.ndarray:
        return self._mask


def test_expand_rot90_flip_doubles_deterministically() -> None:
    image, mask = _pair()
    items = [_Item(f"k{i}", image, mask) for i in range(6)]
    expanded = expand_rot90_flip(items, seed=0)
    assert len(expanded) == 12 and expanded[0::2] == items
    assert [e.key for e in expanded] == [e.key for e in expand_rot90_flip(items, seed=0)]
    for copy in expanded[1::2]:
        assert copy.group == "g" and copy.label == 1 and "@r" in copy.key
        assert not np.array_equal(copy.load_mask(), mask)  # never the identity
        assert np.array_equal(copy.load()[..., 0] == 255, copy.load_mask())
        assert np.array_equal(copy.load_mask(), dihedral(mask, copy.k, copy.flip))
