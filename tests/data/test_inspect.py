"""Inspection: counts, sizes, modes, files written, and the brightness/contrast shortcut warning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crackscope.data.inspect import image_stats, inspect_dataset, shortcut_check, standardized_mean_difference
from tests.data.helpers import write_image

N_PER_CLASS = 80  # enough that chance alone rarely gives |d| > 0.5 (standard error of d is about 0.16)


def _photo(rng, *, cracked: bool, brightness_shift: float = 0.0, noise_scale: float = 1.0, size: int = 24):
    """Gray concrete-like noise; a cracked photo has a dark 2 px line. Returns (RGB image, mask)."""
    base = rng.uniform(100, 160) + (brightness_shift if cracked else 0.0)
    sigma = rng.uniform(6, 14) * (noise_scale if cracked else 1.0)
    gray = base + rng.normal(0, sigma, (size, size))
    mask = np.zeros((size, size), bool)
    if cracked:
        row = int(rng.integers(3, size - 5))
        mask[row : row + 2, :] = True
        gray[mask] *= 0.4
    gray = np.clip(gray, 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2), mask


def _class_folder_set(root: Path, **confound) -> Path:
    rng = np.random.default_rng(11)
    for i in range(N_PER_CLASS):
        for cracked in (True, False):
            image, _ = _photo(rng, cracked=cracked, **confound)
            write_image(root / ("cracked" if cracked else "uncracked") / f"{i:03d}.png", image)
    return root


def _image_mask_set(root: Path) -> Path:
    rng = np.random.default_rng(12)
    for i in range(2 * N_PER_CLASS):
        image, mask = _photo(rng, cracked=i % 2 == 0)
        write_image(root / "images" / f"{i:03d}.png", image)
        write_image(root / "masks" / f"{i:03d}.png", mask.astype(np.uint8) * 255)
    return root


def test_brightness_confound_is_flagged(tmp_path: Path) -> None:
    root = _class_folder_set(tmp_path / "bright", brightness_shift=40.0)
    summary = inspect_dataset(root, out=tmp_path / "out")
    shortcut = summary["shortcut"]
    assert shortcut["warning"] is True
    assert shortcut["brightness_smd"] > 0.5
    assert any("higher brightness" in m for m in shortcut["messages"])


def test_contrast_confound_is_flagged(tmp_path: Path) -> None:
    root = _class_folder_set(tmp_path / "contrast", noise_scale=2.0)
    shortcut = inspect_dataset(root, out=tmp_path / "out")["shortcut"]
    assert shortcut["warning"] is True and shortcut["contrast_smd"] > 0.5
    assert abs(shortcut["brightness_smd"]) < 0.5


def test_balanced_set_with_masks_is_not_flagged(tmp_path: Path) -> None:
    root = _image_mask_set(tmp_path / "balanced")
    out = tmp_path / "out"
    summary = inspect_dataset(root, out=out)
    assert summary["layout"] == "image-mask"
    assert summary["classes"] == {"cracked": N_PER_CLASS, "uncracked": N_PER_CLASS}
    shortcut = summary["shortcut"]
    assert shortcut["checked"] and shortcut["warning"] is False, shortcut
    assert abs(shortcut["brightness_smd"]) < 0.5 and abs(shortcut["contrast_smd"]) < 0.5
    # the files promised, and the JSON on disk equals the returned summary
    for name in ("summary.json", "samples.png", "histogram_cracked.png", "histogram_uncracked.png", "manifest.json"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert summary["patches"]["patch_size"] == 24


def test_masks_turned_against_their_photos_are_listed(tmp_path: Path) -> None:
    root = _image_mask_set(tmp_path / "turned")
    assert inspect_dataset(root, out=tmp_path / "before")["mask_alignment"]["misaligned"] == []
    # photo 004's crack is rows 8-9 of 24: its mask turned 180 degrees marks rows 14-15, plain surface
    turned = root / "masks" / "004.png"
    mask = np.asarray(Image.open(turned))
    write_image(turned, mask[::-1, ::-1].copy())
    alignment = inspect_dataset(root, out=tmp_path / "out")["mask_alignment"]
    assert alignment["checked"] == N_PER_CLASS  # every mask that marks a crack
    assert [(Path(e["mask"]).name, e["fits"]) for e in alignment["misaligned"]] == [("004.png", "turned 180 degrees")]
    assert alignment["misaligned"][0]["depth_there"] > 20 > alignment["misaligned"][0]["depth"]


def test_counts_sizes_modes_and_skips(tmp_path: Path) -> None:
    root = tmp_path / "set"
    write_image(root / "cracked" / "a.png", np.zeros((10, 20, 3), np.uint8))
    write_image(root / "cracked" / "b.png", np.zeros((10, 20), np.uint8))  # grayscale
    write_image(root / "cracked" / "c.png", np.zeros((10, 20, 4), np.uint8))  # RGBA
    write_image(root / "uncracked" / "d.jpg", np.zeros((30, 30, 3), np.uint8))
    (root / "uncracked" / "bad.jpg").write_bytes(b"garbage")
    summary = inspect_dataset(root, out=tmp_path / "out")
    assert summary["classes"] == {"cracked": 3, "uncracked": 1}
    assert summary["balance"] == {"cracked": 0.75, "uncracked": 0.25} and summary["imbalance_ratio"] == 3.0
    assert summary["sizes"] == [{"width": 20, "height": 10, "count": 3}, {"width": 30, "height": 30, "count": 1}]
    assert summary["modes"] == {"RGB": 2, "L": 1, "RGBA": 1}
    assert [Path(s["path"]).name for s in summary["skipped"]] == ["bad.jpg"]
    assert summary["shortcut"]["checked"] is False  # only one uncracked image


def test_statistics_helpers_exact() -> None:
    image = np.repeat(np.array([[10, 20], [30, 250]], np.uint8)[..., None], 3, axis=2)
    brightness, contrast = image_stats(image)
    assert brightness == pytest.approx(25.0) and contrast == pytest.approx(2 * (85.0 - 25.0))
    exclude = np.array([[False, False], [False, True]])
    assert image_stats(image, exclude) == pytest.approx((20.0, 2 * (25.0 - 20.0)))
    assert standardized_mean_difference([1, 2, 3], [1, 2, 3]) == 0.0
    assert standardized_mean_difference([2, 4], [0, 2]) == pytest.approx(2 / np.sqrt(2))
    verdict = shortcut_check({"cracked": [(100, 10), (102, 11)], "uncracked": [(100, 10), (102, 11)]})
    assert verdict["warning"] is False and verdict["brightness_smd"] == 0.0
