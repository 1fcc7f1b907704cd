"""Augmentation: image and mask move together, the mask stays binary, presets are reproducible."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from crackscope.data.augment import (
    PRESETS,
    ROBUST_PRESETS,
    RobustAugment,
    augment_pair,
    dihedral,
    expand_rot90_flip,
    robust_augment,
    robust_augment_labels,
)


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
    assert PRESETS == ("none", "rot90-flip", "keras-v3", "robust")


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
        assert copy.group == "g" and copy.label == 1 and "@r" in copy.key and copy.source == ""
        assert not np.array_equal(copy.load_mask(), mask)  # never the identity
        assert np.array_equal(copy.load()[..., 0] == 255, copy.load_mask())
        assert np.array_equal(copy.load_mask(), dihedral(mask, copy.k, copy.flip))


# --- the robust preset ----------------------------------------------------------------------------

#: every step of RobustAugment turned off: the identity
NOTHING = RobustAugment(
    dihedral=False,
    rotation_degrees=0.0,
    scale=(1.0, 1.0),
    shift=0.0,
    gamma=0.0,
    brightness=0.0,
    contrast=0.0,
    colour_cast=0.0,
    blur_probability=0.0,
    noise_probability=0.0,
    jpeg_probability=0.0,
)

#: each step alone, at full strength or probability 1
ONE_STEP = {
    "dihedral": replace(NOTHING, dihedral=True),
    "rotation": replace(NOTHING, rotation_degrees=30.0),
    "scale": replace(NOTHING, scale=(1.3, 1.5)),
    "shift": replace(NOTHING, shift=0.2),
    "gamma": replace(NOTHING, gamma=0.5),
    "brightness": replace(NOTHING, brightness=0.3),
    "contrast": replace(NOTHING, contrast=0.5),
    "colour_cast": replace(NOTHING, colour_cast=0.2),
    "blur": replace(NOTHING, blur_probability=1.0, blur_sigma=(1.0, 2.0)),
    "noise": replace(NOTHING, noise_probability=1.0, noise_std=(4.0, 8.0)),
    "jpeg": replace(NOTHING, jpeg_probability=1.0, jpeg_quality=(20, 40)),
}


def _textured(size: int = 48) -> np.ndarray:
    """A photo-like test image: smooth shading, random texture and the bright 'L' of ``_pair``."""
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:size, 0:size]
    base = 60 + 2 * x + y + rng.integers(0, 40, (size, size))
    image = np.stack([base, base * 0.9 + 10, base * 0.8 + 20], axis=2)
    image[_pair(size)[1]] = 250
    return np.clip(image, 0, 255).astype(np.uint8)


def test_robust_is_a_named_preset_of_the_default_options() -> None:
    assert {"robust": RobustAugment()} == ROBUST_PRESETS
    image, mask = _pair(48)
    by_name = augment_pair(image, mask, preset="robust", rng=np.random.default_rng(3))
    by_value = augment_pair(image, mask, preset=RobustAugment(), rng=np.random.default_rng(3))
    direct = robust_augment(image, mask, rng=np.random.default_rng(3))
    for other in (by_value, direct):
        assert np.array_equal(by_name[0], other[0]) and np.array_equal(by_name[1], other[1])
    assert RobustAugment().to_dict()["scale"] == [0.85, 1.2]


def test_robust_keeps_shape_dtype_and_a_binary_mask_that_follows_the_image() -> None:
    image, mask = _pair(48)
    geometry_only = replace(RobustAugment(), gamma=0, brightness=0, contrast=0, colour_cast=0)
    geometry_only = replace(geometry_only, blur_probability=0, noise_probability=0, jpeg_probability=0)
    for seed in range(12):
        out, out_mask = robust_augment(image, mask, rng=np.random.default_rng(seed))
        assert out.shape == image.shape and out.dtype == np.uint8 and out.flags.c_contiguous
        assert out_mask.shape == mask.shape and out_mask.dtype == bool
        moved, moved_mask = robust_augment(image, mask, options=geometry_only, rng=np.random.default_rng(seed))
        agree = ((moved.mean(axis=2) > 147) == moved_mask).mean()
        assert agree > 0.95, (seed, agree)  # only edge pixels differ (bilinear image, nearest mask)
    out, none_mask = robust_augment(image, None, rng=np.random.default_rng(0))
    assert none_mask is None and out.shape == image.shape


def test_nothing_on_is_the_identity() -> None:
    image, mask = _pair(32)
    out, out_mask = robust_augment(image, mask, options=NOTHING, rng=np.random.default_rng(0))
    assert np.array_equal(out, image) and np.array_equal(out_mask, mask)
    assert out is not image and out_mask is not mask


@pytest.mark.parametrize("step", sorted(ONE_STEP))
def test_each_step_changes_the_image(step: str) -> None:
    image = _textured()
    changed = 0
    for seed in range(8):
        out, _ = robust_augment(image, None, options=ONE_STEP[step], rng=np.random.default_rng(seed))
        assert out.shape == image.shape and out.dtype == np.uint8
        changed += not np.array_equal(out, image)
    # the dihedral step draws the identity one time in eight; every other step changes every draw
    assert changed >= (5 if step == "dihedral" else 8), (step, changed)


def test_photometric_steps_stay_within_their_ranges() -> None:
    grey = np.full((16, 16, 3), 128, np.uint8)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        brighter, _ = robust_augment(grey, None, options=ONE_STEP["brightness"], rng=rng)
        assert (brighter == brighter[0, 0]).all() and 128 * 0.7 - 1 <= brighter[0, 0, 0] <= 128 * 1.3 + 1
        cast, _ = robust_augment(grey, None, options=ONE_STEP["colour_cast"], rng=np.random.default_rng(seed))
        assert all(128 * 0.8 - 1 <= v <= 128 * 1.2 + 1 for v in cast[0, 0])
        # contrast about the mean leaves a flat image as it is
        flat, _ = robust_augment(grey, None, options=ONE_STEP["contrast"], rng=np.random.default_rng(seed))
        assert np.array_equal(flat, grey)
    noisy, _ = robust_augment(grey, None, options=ONE_STEP["noise"], rng=np.random.default_rng(0))
    spread = noisy.astype(float) - 128
    assert abs(spread.mean()) < 1.0 and 4.0 * 0.8 < spread.std() < 8.0 * 1.2
    black = np.zeros((16, 16, 3), np.uint8)
    dark, _ = robust_augment(black, None, options=ONE_STEP["gamma"], rng=np.random.default_rng(0))
    assert np.array_equal(dark, black)  # 0 ** e == 0


def test_robust_is_reproducible_from_the_seed() -> None:
    image, mask = _pair(48)
    a = robust_augment(image, mask, rng=np.random.default_rng(21))
    b = robust_augment(image, mask, rng=np.random.default_rng(21))
    c = robust_augment(image, mask, rng=np.random.default_rng(22))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"brightness": 1.0}, "brightness"),
        ({"gamma": -0.1}, "gamma"),
        ({"rotation_degrees": 200}, "rotation_degrees"),
        ({"scale": (1.2, 0.9)}, "scale"),
        ({"scale": (0.0, 1.0)}, "scale"),
        ({"shift": 0.6}, "shift"),
        ({"blur_probability": 1.5}, "blur_probability"),
        ({"blur_sigma": (1.0,)}, "blur_sigma"),
        ({"noise_std": (-1.0, 2.0)}, "noise_std"),
        ({"jpeg_quality": (30.5, 90)}, "jpeg_quality"),
        ({"jpeg_quality": (0, 90)}, "jpeg_quality"),
        ({"dihedral": 1}, "dihedral"),
        ({"contrast": True}, "contrast"),
    ],
)
def test_robust_options_refuse_bad_values_naming_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be"):
        RobustAugment(**change)  # type: ignore[arg-type]


def test_robust_refuses_bad_input() -> None:
    image, mask = _pair(16)
    with pytest.raises(ValueError, match="Generator"):
        robust_augment(image, mask, rng=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        robust_augment(image.astype(np.float32), mask, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="mask shape"):
        robust_augment(image, mask[1:], rng=np.random.default_rng(0))


def test_labels_move_with_the_image_and_keep_their_values() -> None:
    image, mask = _pair(48)
    labels = np.where(mask, 1, 0).astype(np.uint8)
    labels[40:44, 30:44] = 255  # an unlabelled patch on the dark background
    geometry_only = replace(RobustAugment(), gamma=0, brightness=0, contrast=0, colour_cast=0)
    geometry_only = replace(geometry_only, blur_probability=0, noise_probability=0, jpeg_probability=0)
    for seed in range(12):
        out, moved = robust_augment_labels(image, labels, options=geometry_only, rng=np.random.default_rng(seed))
        assert moved.dtype == np.uint8 and set(np.unique(moved).tolist()) <= {0, 1, 255}
        agree = ((out.mean(axis=2) > 147) == (moved == 1)).mean()
        assert agree > 0.95, (seed, agree)
        # the same draw as a binary mask: the same image, the crack pixels where the mask is
        same, same_mask = robust_augment(image, mask, options=geometry_only, rng=np.random.default_rng(seed))
        assert np.array_equal(out, same) and np.array_equal(moved == 1, same_mask)
    _, kept = robust_augment_labels(image, labels, options=NOTHING, rng=np.random.default_rng(0))
    assert np.array_equal(kept, labels) and kept is not labels


def test_labels_refuse_other_types_and_sizes() -> None:
    image, mask = _pair(16)
    with pytest.raises(ValueError, match="labels must be uint8 of shape"):
        robust_augment_labels(image, mask, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="labels must be uint8 of shape"):
        robust_augment_labels(image, mask[1:].astype(np.uint8), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        robust_augment_labels(image, mask.astype(np.uint8), rng=0)  # type: ignore[arg-type]


def test_options_read_back_from_their_dict() -> None:
    options = replace(RobustAugment(), scale=(0.9, 1.1), jpeg_probability=0.0)
    assert RobustAugment.from_dict(options.to_dict()) == options
    assert RobustAugment.from_dict({"gamma": 0.1}) == replace(RobustAugment(), gamma=0.1)
    with pytest.raises(ValueError, match=r"^unknown augmentation fields: zoom$"):
        RobustAugment.from_dict({"zoom": 2})
    with pytest.raises(ValueError, match=r"^scale must be"):
        RobustAugment.from_dict({"scale": [2.0, 1.0]})
