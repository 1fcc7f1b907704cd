"""Synthetic cracks: determinism, exact masks, labels, balance, widths."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from crackscope.data.synth import MAX_WIDTH_PX, generate_pair, synthesize
from crackscope.io import read_image, read_mask


def _pair(seed: int, i: int, size: int = 64, cracked: bool = True):
    return generate_pair(np.random.default_rng([seed, i]), size, cracked=cracked)


def test_generate_pair_types_and_determinism():
    img, mask = _pair(3, 1)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert mask.shape == (64, 64) and mask.dtype == bool
    img2, mask2 = _pair(3, 1)
    np.testing.assert_array_equal(img, img2)
    np.testing.assert_array_equal(mask, mask2)
    img3, _ = _pair(3, 2)
    assert not np.array_equal(img, img3)


def test_uncracked_images_have_no_crack_pixels_but_have_texture():
    for i in range(6):
        img, mask = _pair(0, i, cracked=False)
        assert not mask.any()
        assert img.std() > 2  # textured, not flat


def test_cracked_images_have_a_crack_that_darkens_the_image():
    for i in range(6):
        img, mask = _pair(1, i, size=96)
        assert mask.sum() >= 0.1 * 96
        gray = img.astype(float).mean(axis=2)
        ring = ndimage.binary_dilation(mask, iterations=3) & ~ndimage.binary_dilation(mask, iterations=1)
        assert gray[mask].mean() < gray[ring].mean()


def test_crack_widths_stay_in_range():
    # 2 * max distance-to-background - 1 is the widest crack section (pixel-centred distances)
    for i in range(8):
        _, mask = _pair(2, i, size=128)
        widest = 2 * ndimage.distance_transform_edt(mask).max() - 1
        assert 1 <= widest <= MAX_WIDTH_PX + 1.5


def test_synthesize_writes_exact_masks_and_matching_labels(tmp_path):
    out = synthesize(tmp_path / "set", n=12, size=48, seed=5)
    with open(out / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["filename"] for r in rows] == [f"synth_{i:05d}.png" for i in range(12)]
    classes = [r["class"] for r in rows]
    assert classes.count("cracked") == 6
    for row in rows:
        image = read_image(out / "images" / row["filename"])
        assert image.shape == (48, 48, 3)
        raw = np.asarray(Image.open(out / "masks" / row["filename"]))
        assert raw.dtype == np.uint8 and set(np.unique(raw)) <= {0, 255}
        mask = read_mask(out / "masks" / row["filename"])
        assert (row["class"] == "cracked") == bool(mask.any())


def test_synthesize_is_deterministic_per_seed_and_index(tmp_path):
    a = synthesize(tmp_path / "a", n=3, size=32, seed=9)
    b = synthesize(tmp_path / "b", n=5, size=32, seed=9)
    c = synthesize(tmp_path / "c", n=3, size=32, seed=10)
    for i in range(3):
        name = f"synth_{i:05d}.png"
        assert (a / "images" / name).read_bytes() == (b / "images" / name).read_bytes()
        assert (a / "masks" / name).read_bytes() == (b / "masks" / name).read_bytes()
    assert (a / "images" / "synth_00000.png").read_bytes() != (c / "images" / "synth_00000.png").read_bytes()


@pytest.mark.parametrize("fraction,expected", [(0.5, 10), (0.25, 5), (0.0, 0), (1.0, 20)])
def test_crack_fraction_and_progress(tmp_path, fraction, expected):
    done: list[int] = []
    out = synthesize(tmp_path / "s", n=20, size=32, seed=0, crack_fraction=fraction, progress=done.append)
    assert done == list(range(1, 21))
    classes = [line.split(",")[1] for line in (out / "labels.csv").read_text().splitlines()[1:]]
    assert classes.count("cracked") == expected


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate_pair(np.random.default_rng(0), 8)
    with pytest.raises(ValueError):
        synthesize(tmp_path, n=-1)
    with pytest.raises(ValueError):
        synthesize(tmp_path, n=2, crack_fraction=1.5)
